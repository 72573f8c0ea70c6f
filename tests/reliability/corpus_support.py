"""Helpers for the hostile-input tests: the corpus of tests/data/corpus, tar surgery, damage, and what to look at after.

The corpus holds damaged run files (``run-files/<case>/<run file>``; a name ending in
``.append`` is appended to the run's file, any other replaces it) and a small real
bundle. They are applied here to a run folder in place or to a run's files inside a
bundle, so one damaged file serves both kinds of test.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import os
import shutil
import struct
import tarfile
import zlib
from pathlib import Path

CORPUS = Path(__file__).resolve().parents[1] / "data" / "corpus"
SMALL_BUNDLE = CORPUS / "bundles" / "small.rnbundle"
RUN_FILE_CASES = CORPUS / "run-files"
APPEND = ".append"
TIMELINE_MAGIC = b"RNTL\x00\x00\x00\x01"
TWO_DAYS = 2 * 86400


# -- the corpus ------------------------------------------------------------------------------------------


def run_file_cases() -> list[str]:
    return sorted(p.name for p in RUN_FILE_CASES.iterdir() if p.is_dir())


def run_file_case(case: str) -> dict[str, bytes]:
    """{run file name, with ``.append`` when it is appended: bytes} of one corpus case."""
    folder = RUN_FILE_CASES / case
    if not folder.is_dir():
        raise FileNotFoundError(f"corpus case {case!r} is missing: run python tests/data/corpus/make_corpus.py")
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def damage_folder(folder: Path, files: dict[str, bytes]) -> None:
    """Put damaged run files into a run folder in place (replaced whole, or appended to)."""
    for name, data in files.items():
        if name.endswith(APPEND):
            with open(folder / name[: -len(APPEND)], "ab") as handle:
                handle.write(data)
        else:
            (folder / name).write_bytes(data)


def damage_members(members: list, run_id: str, files: dict[str, bytes]) -> list:
    """The same damage applied to a run's files inside a bundle (a file the run lacks is added)."""
    members = list(members)
    for name, data in files.items():
        base = name[: -len(APPEND)] if name.endswith(APPEND) else name
        index = run_member_index(members, run_id, base)
        if index is None:
            prefix = members[run_member_index(members, run_id, "run.json")][0].name.rsplit("/", 1)[0]
            members.insert(1, (_info(f"{prefix}/{base}"), data))
            continue
        info, old = members[index]
        members[index] = (info, old + data if name.endswith(APPEND) else data)
    return members


# -- timeline records (docs/format.md section 5.1), written without Runicorn's encoder -------------------


def frame(payload: bytes) -> bytes:
    return struct.pack("<II", len(payload), zlib.crc32(payload)) + payload


# -- tar surgery -----------------------------------------------------------------------------------------


def _info(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mode = 0o644
    return info


def run_member_index(members: list, run_id: str, name: str) -> int | None:
    for index, (info, _) in enumerate(members):
        if info.name.startswith("runs/") and info.name.endswith(f"/{run_id}/{name}"):
            return index
    return None


def header(members: list) -> dict:
    assert members[0][0].name == "runicorn-bundle.json"
    return json.loads(members[0][1])


def with_header(members: list, value: dict) -> list:
    return [(members[0][0], json.dumps(value).encode()), *members[1:]]


def rehome(members: list, run_id: str, new_path: str, new_id: str, **identity) -> list:
    """Move one run of a bundle to another path and id: its member names, the header's run list, and its run.json
    (``id``/``path`` follow the move unless ``identity`` says otherwise; other keys of ``identity`` are set too)."""
    value = header(members)
    old_path = next(r["path"] for r in value["runs"] if r["id"] == run_id)
    value["runs"] = [r for r in value["runs"] if r["id"] != run_id] + [{"id": new_id, "path": new_path}]
    old_prefix, new_prefix = f"runs/{old_path}/{run_id}/", f"runs/{new_path}/{new_id}/"
    moved = []
    for info, data in members[1:]:
        if info.name.startswith(old_prefix):
            name = info.name[len(old_prefix):]
            if name == "run.json":
                record = json.loads(data)
                record.update({"id": new_id, "path": new_path, **identity})
                data = json.dumps(record).encode()
            moved.append((_info(new_prefix + name), data))
        else:
            moved.append((info, data))
    return with_header(members[:1] + moved, value)


def set_mtime(members: list, index: int, pax_mtime: str) -> list:
    """One member whose pax header says ``mtime=<pax_mtime>`` (its ustar field says 0)."""
    members = list(members)
    info, data = members[index]
    fresh = _info(info.name)
    fresh.mtime = 0
    fresh.pax_headers = {"mtime": pax_mtime}
    members[index] = (fresh, data)
    return members


# -- looking at results ---------------------------------------------------------------------------------


def assert_no_traceback(result) -> None:
    output = result.stdout + result.stderr
    assert "Traceback" not in output and "This is a bug in Runicorn" not in output, output


def error_line(result) -> str:
    """The one line a refused command prints on stderr (no traceback, nothing else)."""
    assert_no_traceback(result)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"wanted one error line, got:\n{result.stderr}"
    return lines[0]


def outside(state: dict, *inside: str) -> dict:
    """A ``disk_state`` without the entries below the named top-level folders (the root, a restore target ...)."""
    return {path: value for path, value in state.items()
            if not any(path == top or path.startswith(top + "/") for top in inside)}


def objects_of(state: dict) -> dict:
    """The object files of a ``disk_state`` taken at a storage root."""
    return {path: value for path, value in state.items()
            if path.startswith("store/objects/") and value != "dir"}


def manifest_ids(run_dir: Path) -> dict[str, str]:
    """Manifest entry name -> object id (hex) of a run folder whose manifest reads."""
    ids = {}
    for line in (run_dir / "manifest.jsonl").read_text().splitlines():
        record = json.loads(line)
        if "id" in record:
            ids[record["name"]] = record["id"].split(":", 1)[1]
    return ids


# -- copies of a storage root ---------------------------------------------------------------------------


def copy_root(source: Path, target: Path) -> Path:
    """A copy of a storage root without its empty fan-out folders (a store makes all 256 up front; copying them
    is most of the cost of a copy, and a writer remakes one it misses)."""

    def empty_fanout(folder: str, names: list[str]) -> list[str]:
        if os.path.basename(folder) not in ("objects", "trash"):
            return []
        return [n for n in names if len(n) == 2 and not os.listdir(os.path.join(folder, n))]

    shutil.copytree(source, target, symlinks=True, ignore=empty_fanout)
    return target


# -- damage to a store ----------------------------------------------------------------------------------


def plant_garbage(root: Path, data: bytes = b"garbage: no manifest names this object\n") -> str:
    """An unreferenced object two days old: a gc that does not refuse must delete it, one that refuses must not."""
    from runicorn.store import ObjectStore

    store = ObjectStore(root / "store", create=False)
    oid = store.put_bytes(data)
    old = os.stat(store.path_for(oid)).st_mtime - TWO_DAYS
    os.utime(store.path_for(oid), (old, old))
    return oid


def flip_byte(path: Path, offset: int) -> None:
    """Bit rot in a (read-only) object file: one byte flipped, same length."""
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    mode = os.stat(path).st_mode
    os.chmod(path, 0o644)
    path.write_bytes(bytes(data))
    os.chmod(path, mode)


@contextlib.contextmanager
def unlistable(monkeypatch, folder: Path):
    """``folder`` cannot be listed (EACCES), as a chmod 000 folder would for a user who is not root."""
    real = os.scandir
    blocked = str(folder)

    def scandir(path="."):
        if os.fspath(path) == blocked:
            raise PermissionError(13, "Permission denied", blocked)
        return real(path)

    with monkeypatch.context() as patch:
        patch.setattr(os, "scandir", scandir)
        yield


@contextlib.contextmanager
def unreadable_file(monkeypatch, path: Path):
    """Opening ``path`` for reading fails with EACCES inside the object store (a file of another user, mode 0600)."""
    import runicorn.store.objects as objects_module

    real = builtins.open
    blocked = str(path)

    def opener(file, *args, **kwargs):
        if isinstance(file, (str, os.PathLike)) and os.fspath(file) == blocked:
            raise PermissionError(13, "Permission denied", blocked)
        return real(file, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(objects_module, "open", opener, raising=False)
        yield
