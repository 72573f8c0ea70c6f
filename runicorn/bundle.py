"""Export bundles: one self-contained tar file with runs and exactly the objects they reference.

Format (docs/format.md, section 10): an uncompressed POSIX tar whose first
member is ``runicorn-bundle.json`` (format, version, the runs), then the run
folders' files under ``runs/<path>/<id>/``, then ``objects/ab/<62 hex>``.

Import is hostile-input safe and all-or-nothing:
- only regular files with names of exactly those three shapes are accepted;
  absolute names, ``..``, links, devices and anything unknown are refused;
- every object is hashed while it streams into a temp file of the store and
  refused on mismatch; objects are published only after the whole bundle was
  read and checked, and run folders appear (renamed from a staging folder)
  only after the objects they name are durable;
- a run already present with identical files is skipped (importing twice
  changes nothing); a different run with the same id is an error.
"""

from __future__ import annotations

import filecmp
import io
import json
import os
import shutil
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from . import __version__
from .api import Api, RunView
from .errors import BundleError, CorruptObject
from .runfolder import (CONFIG, ENVIRONMENT, HEARTBEAT, IDENTITY, MANIFEST, MEDIA, METRICS, PRIMARY_METRIC, STATUS,
                        SUMMARY, TEXT_LOG, run_folder, validate_path, validate_run_id)
from .store import ObjectId, Root, mark
from .store.atomic import fsync_dir, temp_name
from .store.objects import hash_stream

BUNDLE_FORMAT = "runicorn-bundle"
BUNDLE_VERSION = 1
HEADER_NAME = "runicorn-bundle.json"
RUN_FILES = frozenset({IDENTITY, STATUS, HEARTBEAT, METRICS, MEDIA, TEXT_LOG, SUMMARY, PRIMARY_METRIC, CONFIG,
                       ENVIRONMENT, MANIFEST})
_MAX_HEADER_BYTES = 64 << 20


@dataclass
class BundleReport:
    runs: list[str] = field(default_factory=list)
    skipped_runs: list[str] = field(default_factory=list)
    objects: int = 0
    object_bytes: int = 0
    objects_already_present: int = 0
    bundle_bytes: int = 0


# -- export ------------------------------------------------------------------------


@dataclass
class ExportPlan:
    """What an export will write: the runs and every object they reach, with the bytes (for a progress bar)."""

    views: list[RunView]
    sizes: dict[ObjectId, int]  # every object to write, in id order, with its size

    @property
    def object_bytes(self) -> int:
        return sum(self.sizes.values())


def plan_export(api: Api, views: list[RunView]) -> ExportPlan:
    """Select the objects of ``views``; refuse when any is missing (the bundle would not restore)."""
    if not views:
        raise BundleError("nothing to export: no runs selected")
    views = list({str(v.run_dir): v for v in views}.values())  # a run named twice is exported once
    store = api.store
    roots: list[Root] = [root for view in views for root in view.roots()]
    reachable, missing = mark(store, roots)
    if missing:
        raise BundleError(f"the selected runs reference {len(missing)} missing objects (first: {missing[0]}); "
                          "run `runicorn verify` to see the damage before exporting")
    return ExportPlan(views, {oid: store.size(oid) for oid in sorted(reachable)})


def export_runs(api: Api, plan: ExportPlan, out_path: str | os.PathLike,
                progress: Callable[[int], None] | None = None) -> BundleReport:
    """Write the plan's runs and objects to ``out_path`` (atomically: temp file, then rename)."""
    store = api.store
    views = plan.views
    out_path = Path(out_path)
    report = BundleReport(runs=[v.id for v in views])
    header = {"format": BUNDLE_FORMAT, "version": BUNDLE_VERSION, "created_at": time.time(),
              "runicorn_version": __version__, "runs": [{"id": v.id, "path": v.path} for v in views],
              "objects": len(plan.sizes)}
    tmp = temp_name(out_path.parent or Path("."), out_path.name + ".")
    try:
        with open(tmp, "wb") as handle, tarfile.open(fileobj=handle, mode="w", format=tarfile.PAX_FORMAT) as tar:
            header_bytes = json.dumps(header, indent=1, sort_keys=True).encode("utf-8")
            _add_stream(tar, HEADER_NAME, io.BytesIO(header_bytes), len(header_bytes), time.time())
            for view in views:
                for file in sorted(view.run_dir.iterdir()):
                    if file.name in RUN_FILES and file.is_file():
                        with open(file, "rb") as source:
                            st = os.fstat(source.fileno())
                            _add_stream(tar, f"runs/{view.path}/{view.id}/{file.name}", source, st.st_size, st.st_mtime)
            for oid, size in plan.sizes.items():
                with store.open(oid) as reader:
                    _add_stream(tar, f"objects/{oid[:2]}/{oid[2:]}", reader, size, time.time())
                    reader.read(1)  # reach EOF: the reader verifies the hash there
                report.objects += 1
                report.object_bytes += size
                if progress is not None:
                    progress(size)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, out_path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    report.bundle_bytes = out_path.stat().st_size
    return report


def _add_stream(tar: tarfile.TarFile, name: str, stream, size: int, mtime: float) -> None:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o644
    info.mtime = mtime  # run files keep theirs: a heartbeat's age is how liveness is judged
    tar.addfile(info, stream)


# -- import ------------------------------------------------------------------------


class _Staging:
    """A dot folder under runs/ (never listed) that holds run folders until publication."""

    def __init__(self, runs_dir: Path):
        runs_dir.mkdir(parents=True, exist_ok=True)
        self.root = runs_dir / f".import-{os.urandom(6).hex()}"
        self.root.mkdir()

    def run_dir(self, path: str, run_id: str) -> Path:
        return self.root / path.replace("/", "__") / run_id

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def import_bundle(api: Api, bundle_path: str | os.PathLike,
                  progress: Callable[[int], None] | None = None) -> BundleReport:
    """Merge a bundle into this storage root; on any error the root is left as it was."""
    bundle_path = Path(bundle_path)
    if not bundle_path.is_file():
        raise BundleError(f"bundle {bundle_path} does not exist or is not a file")
    report = BundleReport(bundle_bytes=bundle_path.stat().st_size)
    staging = _Staging(api.storage.runs_dir)
    store = api.storage.store  # importing into a new root creates it
    try:
        with store.batch():
            runs = _read_members(bundle_path, store, staging, report, progress)
            _check_complete(store, staging, runs)
            to_publish = _plan_runs(api, staging, runs, report)
        # Objects are durable now (end of batch); only then may manifests name them.
        for path, run_id in to_publish:
            final = run_folder(api.storage.runs_dir, path, run_id)
            final.parent.mkdir(parents=True, exist_ok=True)
            os.rename(staging.run_dir(path, run_id), final)
            fsync_dir(final.parent)
            report.runs.append(run_id)
    except (tarfile.TarError, EOFError, OSError, CorruptObject, UnicodeDecodeError) as exc:
        raise BundleError(f"bundle {bundle_path} is damaged: {exc}; nothing was imported") from exc
    finally:
        staging.remove()
    return report


def _read_members(bundle_path: Path, store, staging: _Staging, report: BundleReport, progress) -> dict:
    """Stage every member; ``progress(n)`` counts bundle bytes (headers and run files too), up to its size."""
    runs: dict[tuple[str, str], set[str]] = {}
    listed: set[tuple[str, str]] | None = None
    done = 0
    with tarfile.open(bundle_path, mode="r|") as tar:
        for member in tar:
            _check_member_kind(member)
            name = member.name
            if listed is None:
                if name != HEADER_NAME:
                    raise BundleError(f"not a Runicorn bundle: the first entry is {name!r}, not {HEADER_NAME!r}")
                listed = _read_header(tar.extractfile(member).read(_MAX_HEADER_BYTES + 1))
                continue
            parts = name.split("/")
            if parts[0] == "objects" and len(parts) == 3:
                _import_object(store, parts, tar.extractfile(member), member.size, report)
            elif parts[0] == "runs" and len(parts) >= 4:
                key = (_checked(validate_path, "/".join(parts[1:-2]), name), _checked(validate_run_id, parts[-2], name))
                if key not in listed:
                    raise BundleError(f"bundle entry {name!r} belongs to a run the bundle header does not list")
                if parts[-1] not in RUN_FILES:
                    raise BundleError(f"bundle entry {name!r} is not a known run file; refusing it")
                folder = staging.run_dir(*key)
                folder.mkdir(parents=True, exist_ok=True)
                with open(folder / parts[-1], "xb") as out:
                    shutil.copyfileobj(tar.extractfile(member), out, 1 << 20)
                os.utime(folder / parts[-1], (member.mtime, member.mtime))
                runs.setdefault(key, set()).add(parts[-1])
            else:
                raise BundleError(f"unexpected bundle entry {name!r}; refusing the bundle")
            if progress is not None:  # tar.offset: the end of this member's data
                progress(tar.offset - done)
                done = tar.offset
        end = tar.offset
    if listed is None:
        raise BundleError(f"{bundle_path} is empty; not a Runicorn bundle")
    _check_end_of_archive(bundle_path, end)
    if progress is not None:
        progress(report.bundle_bytes - done)  # the end-of-archive blocks
    for key in listed:
        if IDENTITY not in runs.get(key, ()):
            raise BundleError(f"bundle header lists run {key[1]} but the bundle holds no {IDENTITY} for it")
    return runs


def _check_end_of_archive(bundle_path: Path, end: int) -> None:
    """A complete tar ends with two zero blocks after its last member.

    tarfile ends a listing quietly at a missing, torn or garbage header, so a bundle
    cut at (or inside) a header would otherwise import with the runs' later files lost.
    """
    with open(bundle_path, "rb") as handle:
        handle.seek(end)
        trailer = handle.read(2 * tarfile.BLOCKSIZE)
    if trailer != bytes(2 * tarfile.BLOCKSIZE):
        raise BundleError(f"bundle {bundle_path} is truncated or damaged after byte {end} "
                          "(no end-of-archive marker); nothing was imported")


def _check_member_kind(member: tarfile.TarInfo) -> None:
    name = member.name
    if not member.isreg() or member.issparse():
        kind = "link" if member.issym() or member.islnk() else "fifo" if member.isfifo() else \
            "device" if member.isdev() else "folder" if member.isdir() else "special entry"
        raise BundleError(f"bundle entry {name!r} is a {kind}; bundles hold regular files only")
    if name.startswith("/") or "\\" in name or "\0" in name or any(p in ("", ".", "..") for p in name.split("/")):
        raise BundleError(f"bundle entry {name!r} has an unsafe name (absolute, '..' or empty parts); refusing it")


def _checked(validate, value: str, name: str) -> str:
    try:
        return validate(value)
    except ValueError as exc:
        raise BundleError(f"bundle entry {name!r}: {exc}") from None


def _read_header(data: bytes) -> set[tuple[str, str]]:
    if len(data) > _MAX_HEADER_BYTES:
        raise BundleError("bundle header is too large")
    try:
        header = json.loads(data)
    except ValueError as exc:
        raise BundleError(f"bundle header is not JSON: {exc}") from None
    if not isinstance(header, dict) or header.get("format") != BUNDLE_FORMAT:
        raise BundleError("not a Runicorn bundle (header format is missing)")
    if header.get("version") != BUNDLE_VERSION:
        raise BundleError(f"bundle version {header.get('version')!r} is not known to this Runicorn "
                          f"(it reads version {BUNDLE_VERSION}); upgrade Runicorn")
    runs = header.get("runs")
    if not isinstance(runs, list) or not all(isinstance(r, dict) for r in runs):
        raise BundleError("bundle header has no valid run list")
    listed = {(_checked(validate_path, r.get("path"), HEADER_NAME), _checked(validate_run_id, r.get("id"), HEADER_NAME))
              for r in runs}
    ids = sorted(run_id for _, run_id in listed)
    for run_id, following in zip(ids, ids[1:]):
        if run_id == following:  # two runs with one id could never be told apart again
            raise BundleError(f"bundle header lists run id {run_id} under two paths; refusing the bundle")
    return listed


def _import_object(store, parts: list[str], stream, size: int, report: BundleReport) -> None:
    try:
        expected = ObjectId(parts[1] + parts[2])
    except ValueError:
        raise BundleError(f"bundle entry {'/'.join(parts)!r} is not named like an object") from None
    if len(parts[1]) != 2:
        raise BundleError(f"bundle entry {'/'.join(parts)!r} is not named like an object")
    present = store.has(expected, freshen=True)
    if present:  # checked, not copied: importing a bundle again writes no temp files
        actual, _ = hash_stream(stream)
    else:
        actual = store.put_stream(stream)
    if actual != expected:
        raise BundleError(f"object {expected} in the bundle is corrupt: its bytes hash to {actual}")
    if present:
        report.objects_already_present += 1
    else:
        report.objects += 1
        report.object_bytes += size


def _check_complete(store, staging: _Staging, runs: dict) -> None:
    """Every object an imported run names must be in the bundle or already in this store."""
    roots = []
    for path, run_id in runs:
        view = RunView(staging.run_dir(path, run_id), {"id": run_id, "path": path})
        roots += view.roots()
    _, missing = mark(store, roots)
    if missing:
        raise BundleError(f"the bundle lacks {len(missing)} objects its runs reference (first: {missing[0]}); "
                          "it is incomplete or damaged")


def _plan_runs(api: Api, staging: _Staging, runs: dict, report: BundleReport) -> list[tuple[str, str]]:
    """Runs to publish; identical runs already here are skipped, conflicting ones refused."""
    existing = {v.id: v for v in api.runs()}
    publish = []
    for path, run_id in sorted(runs):
        here = existing.get(run_id)
        if here is None:
            publish.append((path, run_id))
        elif _same_files(here.run_dir, staging.run_dir(path, run_id)):
            report.skipped_runs.append(run_id)
        else:
            raise BundleError(f"a different run with id {run_id} already exists here ({here.path}); "
                              "nothing was imported. Remove it (`runicorn rm`) or import into another storage root")
    return publish


def _same_files(a: Path, b: Path) -> bool:
    """Same run files with the same bytes (the heartbeat is empty and only its mtime matters)."""
    names = {p.name for p in b.iterdir()} - {HEARTBEAT}
    if names != {p.name for p in a.iterdir() if p.name in RUN_FILES} - {HEARTBEAT}:
        return False
    return all(filecmp.cmp(a / n, b / n, shallow=False) for n in names)

