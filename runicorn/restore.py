"""Restore what a run stored: code, outputs, a dataset, pretrained weights or config files.

Everything goes through ``materialize_*``: byte-exact, executable bits kept,
hashes verified while writing, and nothing written outside the target folder.
"""

from __future__ import annotations

import os
import posixpath
import stat
from dataclasses import dataclass
from pathlib import Path

from .api import RunView
from .errors import RunError, UnsafePath
from .runfolder import write_json
from .store import ObjectId, ObjectStore, materialize_blob, materialize_tree
from .store.materialize import MaterializeResult, prepare_target
from .store.trees import DIR, check_name, content_bytes, read_tree

KINDS = ("code", "outputs", "dataset", "pretrained", "config")


@dataclass
class RestoreResult:
    kind: str
    name: str | None
    target: Path
    files: int
    bytes: int


def restore(store: ObjectStore, view: RunView, kind: str, target: str | os.PathLike, *, name: str | None = None,
            force: bool = False, progress=None) -> RestoreResult:
    """Write what ``view`` stored into ``target``; ``progress(nbytes)`` is called per file written."""
    target = Path(target)
    if kind == "config":
        result = _restore_config(store, view, target, force)
        return RestoreResult(kind, name, target, result.files, result.bytes)
    oid, is_tree, file_name = _source(store, view, kind, name)
    if is_tree:
        result = materialize_tree(store, oid, target, force=force, progress=progress)
    else:
        folder = prepare_target(target, force=force)
        result = MaterializeResult(files=1, bytes=materialize_blob(store, oid, folder / file_name))
        if progress is not None:
            progress(result.bytes)
    return RestoreResult(kind, name, target, result.files, result.bytes)


def restore_size(store: ObjectStore, view: RunView, kind: str, name: str | None = None) -> int:
    """Bytes ``restore`` will write (0 for config files, which are small), for a progress bar."""
    if kind == "config":
        return 0
    oid, is_tree, _ = _source(store, view, kind, name)
    return content_bytes(read_tree(store, oid)) if is_tree else store.size(oid)


def _source(store: ObjectStore, view: RunView, kind: str, name: str | None) -> tuple[ObjectId, bool, str]:
    """What a restore writes: the object id, whether it is a tree, and a single file's name."""
    if kind not in KINDS:
        raise ValueError(f"cannot restore {kind!r}; choose one of {', '.join(KINDS)}")
    if kind == "outputs":
        return _outputs_tree(store, view, name), True, ""
    entry = _entry(view, kind, name)
    oid = ObjectId.parse(entry["id"])
    if entry.get("type") == "tree":
        return oid, True, ""
    return oid, False, check_name(os.path.basename(entry.get("path") or entry.get("resolved_path") or entry["name"]))


def _entry(view: RunView, kind: str, name: str | None) -> dict:
    entries = [e for e in view.assets().get(kind, []) if name is None or e.get("name") == name]
    stored = [e for e in entries if e.get("id")]
    if not stored:
        known = sorted(e.get("name", "?") for e in view.assets().get(kind, []))
        if kind == "code":
            raise RunError(f"run {view.id} has no code snapshot (it was started without snapshot_code=True)")
        if name is None:
            raise RunError(f"restoring a {kind} needs its name; run {view.id} has: {', '.join(known) or 'none'}")
        hint = "it was recorded as a reference only (save=False)" if entries else f"known: {', '.join(known) or 'none'}"
        raise RunError(f"run {view.id} has no stored {kind} named {name!r}; {hint}")
    return stored[-1]


def _outputs_tree(store: ObjectStore, view: RunView, name: str | None) -> ObjectId:
    """The latest outputs tree, or one output folder of it."""
    entry = view.latest_asset("outputs", "outputs")
    if entry is None:
        raise RunError(f"run {view.id} archived no outputs (use run.scan_outputs_once or run.watch_outputs)")
    tree_id = ObjectId.parse(entry["id"])
    if name is None:
        return tree_id
    folders = {e.name: e for e in read_tree(store, tree_id) if e.kind == DIR}
    if name not in folders:
        raise RunError(f"run {view.id} has no output folder {name!r}; it has: {', '.join(sorted(folders))}")
    return folders[name].id


def _restore_config(store: ObjectStore, view: RunView, target: Path, force: bool) -> MaterializeResult:
    """Config files as they were, plus ``runicorn-config.json`` with the logged args and extra values."""
    config = view.config
    files = [f for f in config.get("config_files", []) if isinstance(f, dict) and f.get("id")]
    if not config.get("args") and not config.get("extra") and not files:
        raise RunError(f"run {view.id} logged no config (run.log_config)")
    placed = _place_config_files(files)
    folder = prepare_target(target, force=force)
    result = MaterializeResult()
    for name, file in placed.items():
        parts = [check_name(part) for part in name.split("/")]
        parent = folder
        for part in parts[:-1]:
            parent = _real_dir(parent / part)
        result.bytes += materialize_blob(store, ObjectId.parse(file["id"]), parent / parts[-1])
        result.files += 1
    write_json(folder / "runicorn-config.json", {"args": config.get("args", {}), "extra": config.get("extra", {})})
    result.files += 1
    return result


def _place_config_files(files: list[dict]) -> dict[str, dict]:
    """Where each config file goes: its name or, when two share a name, its path below their common folder.

    Flat names would let the second of two ``base.yaml`` overwrite the first.
    """
    names = [file.get("name") or os.path.basename(file["path"]) for file in files]
    if len(set(names)) == len(names):
        return dict(zip(names, files))
    parts = [[p for p in posixpath.normpath(str(file.get("path") or name)).split("/") if p not in ("", ".", "..")]
             for file, name in zip(files, names)]
    common = 0
    while all(len(p) > common + 1 for p in parts) and len({p[common] for p in parts}) == 1:
        common += 1
    return {"/".join(p[common:]): file for p, file in zip(parts, files)}  # one path twice: the later record


def _real_dir(path: Path) -> Path:
    """A folder we may write into: made here, or already a real folder (never through a symlink)."""
    try:
        os.mkdir(path)
    except FileExistsError:
        if not stat.S_ISDIR(os.lstat(path).st_mode):
            raise UnsafePath(f"{path} exists and is not a folder (a symlink or file); refusing to write through it") \
                from None
    return path
