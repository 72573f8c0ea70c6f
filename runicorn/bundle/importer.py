"""Import: merge a bundle into a storage root, treating it as hostile, all or nothing.

- Only regular files with names of the three bundle shapes are accepted;
  absolute names, ``..``, links, devices and anything unknown are refused.
- Every object is hashed while it streams into a temp file of the store and
  refused on mismatch; objects are published only after the whole bundle was
  read and checked. An object already here is checked too: a corrupt copy here
  is replaced by the bundle's good one (the repair ``verify`` advises).
- Run files are staged in ``runs/.import-<owner>-<random>/`` with the layout of
  ``runs/`` and read back through the run folder format: an identity that does
  not match its folder, a state file of the wrong shape, a manifest line or a
  timeline record that does not read refuses the bundle. No path is built from
  file content without that check.
- Every run is checked against the root before any is published: a run already
  here with identical files is skipped (importing twice changes nothing); a
  copy held here unfinished of the same run, exported again later (same
  identity, its files a continuation of ours), is replaced by the later state;
  a different run with the same id, an occupied folder, or a run that would
  land inside another run's folder refuses the bundle. Run folders then appear
  (renamed from staging) only after the objects they name are durable.
- On any error nothing stays: staging, temp files, and a storage root the
  import itself created are removed. A killed import leaves a staging folder
  whose owner is gone; the next import (and gc) removes it.
"""

from __future__ import annotations

import filecmp
import json
import os
import shutil
import tarfile
from pathlib import Path

from ..api import Api
from ..storage import GITIGNORE
from ..errors import BundleError, CorruptObject, DamagedRun, UnsupportedFormat
from ..runfolder import (APPEND_ONLY_FILES, HEARTBEAT, IDENTITY, MANIFEST, RUN_FILES, STAGING_PREFIX, RunFolder,
                         make_run_folder, remove_stale_staging, run_folder, scan_runs, validate_path, validate_run_id)
from ..store import (DAMAGED, NO_PROGRESS, PUBLISHED, ObjectId, ObjectStore, Progress, ProgressReader, Walker,
                     crash_point, current_owner, declare_if_chunk_list, fsync_dir, hash_stream)
from .format import BUNDLE_FORMAT, BUNDLE_VERSION, HEADER_NAME, MAX_HEADER_BYTES, BundleReport

_LATEST_MTIME = 4102444800.0  # 2100-01-01: a member's mtime past it (or before 1970) is not kept


class Staging:
    """A dot folder under runs/ (never listed) that holds run folders, laid out as in runs/, until publication."""

    def __init__(self, runs_dir: Path):
        runs_dir.mkdir(parents=True, exist_ok=True)
        remove_stale_staging(runs_dir)
        self.root = runs_dir / f"{STAGING_PREFIX}{current_owner()}-{os.urandom(4).hex()}"
        self.root.mkdir()

    def folder(self, path: str, run_id: str) -> RunFolder:
        return RunFolder(run_folder(self.root, path, run_id), self.root)

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def import_bundle(api: Api, bundle_path: str | os.PathLike, progress: Progress = NO_PROGRESS) -> BundleReport:
    """Merge a bundle into this storage root; on any error the root is left as it was."""
    bundle_path = Path(bundle_path)
    if not bundle_path.is_file():
        raise BundleError(f"bundle {bundle_path} does not exist or is not a file")
    report = BundleReport(bundle_bytes=bundle_path.stat().st_size)
    runs_dir = api.storage.runs_dir
    if api.storage.runs_lost() is not None:
        raise BundleError(f"{api.root} has a store that holds objects but no runs folder ({runs_dir} is missing "
                          "or not a folder: moved or not mounted?); nothing was imported. Find the runs first")
    new_root = not api.storage.exists()
    made_folder = api.storage.prepare()
    staging = Staging(api.storage.runs_dir)
    try:
        store = api.storage.store  # importing into a new root creates it
        store.remove_litter()  # what killed imports left in tmp/
        with store.batch():
            runs = _read_members(bundle_path, store, staging, report, progress)
            for key in runs:
                _validate_run(staging.folder(*key), key)
            _check_complete(store, staging, runs)
            to_publish = _plan_runs(api, staging, runs, report)
        # Objects are durable now (end of batch); only then may manifests name them.
        _publish(api.storage.runs_dir, staging, to_publish)
        report.runs = [run_id for _, run_id, _ in to_publish]
    except (tarfile.TarError, EOFError, OSError, CorruptObject, UnicodeDecodeError) as exc:
        _undo_new_root(api, new_root, made_folder)
        raise BundleError(f"bundle {bundle_path} is damaged: {exc}; nothing was imported") from exc
    except BaseException:
        _undo_new_root(api, new_root, made_folder)
        raise
    finally:
        staging.remove()
    return report


def _undo_new_root(api: Api, new_root: bool, made_folder: bool) -> None:
    """A refused import into a root it created leaves no empty store behind (nor the folder it made)."""
    if new_root:
        for folder in (api.storage.store_dir, api.storage.runs_dir):
            shutil.rmtree(folder, ignore_errors=True)
    if made_folder:
        (api.storage.root / GITIGNORE).unlink(missing_ok=True)
        try:
            api.storage.root.rmdir()  # only when it holds nothing else
        except OSError:
            pass


def _read_members(bundle_path: Path, store: ObjectStore, staging: Staging, report: BundleReport,
                  progress: Progress) -> dict[tuple[str, str], set[str]]:
    """Stage every member; ``progress`` counts bundle bytes (headers and run files too), up to its size."""
    runs: dict[tuple[str, str], set[str]] = {}
    listed: set[tuple[str, str]] | None = None
    progress.start(report.bundle_bytes, "bytes")
    counted = _Counter(progress)
    with tarfile.open(bundle_path, mode="r|") as tar:
        for member in tar:
            _check_member_kind(member)
            name = member.name
            member_file = tar.extractfile(member)
            stream = ProgressReader(member_file, counted)
            if listed is None:
                if name != HEADER_NAME:
                    raise BundleError(f"not a Runicorn bundle: the first entry is {name!r}, not {HEADER_NAME!r}")
                listed = _read_header(stream.read(MAX_HEADER_BYTES + 1))
            else:
                parts = name.split("/")
                if parts[0] == "objects" and len(parts) == 3:
                    declare_if_chunk_list(store, member_file.peek(64))
                    _import_object(store, parts, stream, member.size, report)
                elif parts[0] == "runs" and len(parts) >= 4:
                    runs.setdefault(_stage_run_file(staging, listed, parts, name, stream, member.mtime),
                                    set()).add(parts[-1])
                else:
                    raise BundleError(f"unexpected bundle entry {name!r}; refusing the bundle")
            counted.reach(tar.offset)  # tar.offset: the end of this member's data
        end = tar.offset
    if listed is None:
        raise BundleError(f"{bundle_path} is empty; not a Runicorn bundle")
    _check_end_of_archive(bundle_path, end)
    counted.reach(report.bundle_bytes)  # the end-of-archive blocks
    for key in listed:
        if IDENTITY not in runs.get(key, ()):
            raise BundleError(f"bundle header lists run {key[1]} but the bundle holds no {IDENTITY} for it")
    return runs


class _Counter:
    """Passes bytes read on to ``progress`` and tops it up to an offset (tar headers and padding)."""

    def __init__(self, progress: Progress):
        self._progress = progress
        self.done = 0

    def start(self, total: int, unit: str = "bytes") -> None:
        pass

    def advance(self, amount: int) -> None:
        self.done += amount
        self._progress.advance(amount)

    def reach(self, offset: int) -> None:
        if offset > self.done:
            self.advance(offset - self.done)


def _stage_run_file(staging: Staging, listed: set, parts: list[str], name: str, stream, mtime: float):
    key = (_checked(validate_path, "/".join(parts[1:-2]), name), _checked(validate_run_id, parts[-2], name))
    if key not in listed:
        raise BundleError(f"bundle entry {name!r} belongs to a run the bundle header does not list")
    if parts[-1] not in RUN_FILES:
        raise BundleError(f"bundle entry {name!r} is not a known run file; refusing it")
    folder = staging.folder(*key).path
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / parts[-1]
    with open(target, "xb") as out:
        shutil.copyfileobj(stream, out, 1 << 20)
    if 0 <= mtime <= _LATEST_MTIME:  # keep a heartbeat's age; an absurd mtime is not kept
        os.utime(target, (mtime, mtime))
    return key


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


def _checked(validate, value, name: str) -> str:
    try:
        return validate(value)
    except ValueError as exc:
        raise BundleError(f"bundle entry {name!r}: {exc}") from None


def _read_header(data: bytes) -> set[tuple[str, str]]:
    if len(data) > MAX_HEADER_BYTES:
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


def _import_object(store: ObjectStore, parts: list[str], stream, size: int, report: BundleReport) -> None:
    try:
        expected = ObjectId(parts[1] + parts[2])
    except ValueError:
        raise BundleError(f"bundle entry {'/'.join(parts)!r} is not named like an object") from None
    if len(parts[1]) != 2:
        raise BundleError(f"bundle entry {'/'.join(parts)!r} is not named like an object")
    if store.locate(expected) in (PUBLISHED, DAMAGED) and _damaged_here(store, expected):
        store.repair(expected, stream)  # raises CorruptObject when the bundle's copy is bad too
        report.objects_repaired += 1
        return
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


def _damaged_here(store: ObjectStore, oid: ObjectId) -> bool:
    """Whether this store's copy of an object is unusable (bytes that do not match, or not a file)."""
    try:
        return store.verify_object(oid) is not None
    except OSError:
        return True


def _validate_run(folder: RunFolder, key: tuple[str, str]) -> None:
    """Read a staged run back through the run folder format; refuse the bundle at the first thing that does not read."""
    try:
        folder.read_identity()  # also refuses an identity that does not match where the folder lies
        folder.read_status()
        folder.read_summary()
        folder.read_config()
        folder.read_primary_metric()
        folder.read_environment()
        folder.read_pin()
    except (DamagedRun, UnsupportedFormat) as exc:
        raise BundleError(f"run {key[1]} in the bundle does not read: {exc}; refusing the bundle") from None
    problems = folder.read_manifest().problems + folder.check_timeline()
    if problems:
        raise BundleError(f"run {key[1]} in the bundle does not read: {problems[0]}; refusing the bundle")


def _check_complete(store: ObjectStore, staging: Staging, runs: dict) -> None:
    """Every object an imported run names must be in the bundle or already in this store."""
    refs = [ref for key in runs for ref in staging.folder(*key).read_manifest().roots()]
    reach = Walker(store).walk(refs)
    if reach.missing:
        raise BundleError(f"the bundle lacks {len(reach.missing)} objects its runs reference (first: "
                          f"{min(reach.missing)}); it is incomplete or damaged")
    if reach.damaged:
        first = min(reach.damaged)
        raise BundleError(f"the bundle's runs reference an unreadable object ({first}: {reach.damaged[first]})")


def _plan_runs(api: Api, staging: Staging, runs: dict, report: BundleReport) -> list[tuple[str, str, Path | None]]:
    """Runs to publish, each with the older copy it replaces (or None); every conflict is found first."""
    runs_dir = api.storage.runs_dir
    here: dict[str, list[RunFolder]] = {}
    for folder in scan_runs(runs_dir).folders:
        here.setdefault(folder.location_id, []).append(folder)
    publish = []
    finals = {run_folder(runs_dir, path, run_id) for path, run_id in runs}
    for path, run_id in sorted(runs):
        staged = staging.folder(path, run_id)
        same_id = here.get(run_id, [])
        if same_id:
            if len(same_id) == 1 and _same_files(same_id[0].path, staged.path):
                report.skipped_runs.append(run_id)
                continue
            if len(same_id) == 1 and _later_state(same_id[0], staged):
                publish.append((path, run_id, same_id[0].path))  # a newer export of a run held unfinished here
                report.updated_runs.append(run_id)
                continue
            where = "/".join(same_id[0].path.relative_to(runs_dir).parts)
            raise BundleError(f"a different run with id {run_id} already exists here ({where}); nothing was "
                              "imported. Remove it (`runicorn rm`) or import into another storage root")
        final = run_folder(runs_dir, path, run_id)
        if os.path.lexists(final):
            raise BundleError(f"run {run_id} would land in {final}, which already exists; nothing was imported")
        for parent in final.parents:
            if parent == runs_dir or runs_dir not in parent.parents:
                break
            if parent in finals or any(os.path.lexists(parent / name) for name in (IDENTITY, MANIFEST)):
                raise BundleError(f"run {run_id} would land inside the folder of run {parent.name}; "
                                  "nothing was imported")
        publish.append((path, run_id, None))
    return publish


def _later_state(here: RunFolder, staged: RunFolder) -> bool:
    """Whether the staged run is the same run as ``here``, exported later: ``here`` never finished, the identities
    match (alias and tags may have changed on resume), and each append-only file here is the start of the staged one's."""
    try:
        old, new, status = here.read_identity(), staged.read_identity(), here.read_status()
    except (DamagedRun, UnsupportedFormat):
        return False
    if (status is not None and status.status != "running") or (old.id, old.path, old.created_at, old.extra) != \
            (new.id, new.path, new.created_at, new.extra):
        return False
    for name in APPEND_ONLY_FILES:
        if not _starts_with(staged.path / name, here.path / name):
            return False
    return True


def _starts_with(longer: Path, shorter: Path) -> bool:
    """``shorter``'s bytes are the first bytes of ``longer`` (a missing file is empty), compared in chunks."""
    try:
        with open(shorter, "rb") as a:
            try:
                with open(longer, "rb") as b:
                    while True:
                        chunk = a.read(1 << 20)
                        if not chunk:
                            return True
                        if b.read(len(chunk)) != chunk:
                            return False
            except FileNotFoundError:
                return a.read(1) == b""
    except FileNotFoundError:
        return True


def _publish(runs_dir: Path, staging: Staging, to_publish: list[tuple[str, str, Path | None]]) -> None:
    """Rename staged folders into place (an older copy they replace goes into staging first); if one fails, the
    ones already moved go back (all or nothing)."""
    done: list[tuple[Path, Path]] = []
    try:
        for path, run_id, older in to_publish:
            final = run_folder(runs_dir, path, run_id)
            source = staging.folder(path, run_id).path
            if older is not None:
                aside = staging.root / f".older-{run_id}"
                os.rename(older, aside)
                done.append((aside, older))
            for attempt in range(3):  # a concurrent prune of empty path folders may take the parent just made
                make_run_folder(final.parent, exist_ok=True)
                try:
                    os.rename(source, final)
                    break
                except FileNotFoundError:
                    if attempt == 2:
                        raise
            done.append((final, source))
            fsync_dir(final.parent)
            crash_point("runs")
    except BaseException:
        for final, source in reversed(done):
            os.rename(final, source)
        raise


def _same_files(a: Path, b: Path) -> bool:
    """Same run files with the same bytes (the heartbeat is empty and only its mtime matters)."""
    names = {p.name for p in b.iterdir()} - {HEARTBEAT}
    if names != {p.name for p in a.iterdir() if p.name in RUN_FILES} - {HEARTBEAT}:
        return False
    return all(filecmp.cmp(a / n, b / n, shallow=False) for n in names)
