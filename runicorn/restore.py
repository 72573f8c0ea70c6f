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
from .store.trees import DIR, check_name, read_tree

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
    if kind not in KINDS:
        raise ValueError(f"cannot restore {kind!r}; choose one of {', '.join(KINDS)}")
    target = Path(target)
    if kind == "config":
        result = _restore_config(store, view, target, force)
    elif kind == "outputs":
        result = _restore_outputs(store, view, target, name, force, progress)
    else:
        entry = _entry(view, kind, name)
        result = _restore_entry(store, entry, target, force, progress)
    return RestoreResult(kind, name, target, result.files, result.bytes)


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


def _restore_entry(store: ObjectStore, entry: dict, target: Path, force: bool, progress) -> MaterializeResult:
    oid = ObjectId.parse(entry["id"])
    if entry.get("type") == "tree":
        return materialize_tree(store, oid, target, force=force, progress=progress)
    folder = prepare_target(target, force=force)
    file_name = check_name(os.path.basename(entry.get("path") or entry.get("resolved_path") or entry["name"]))
    written = materialize_blob(store, oid, folder / file_name)
    return MaterializeResult(files=1, bytes=written)


def _restore_outputs(store: ObjectStore, view: RunView, target: Path, name: str | None, force: bool,
                     progress) -> MaterializeResult:
    entry = view.latest_asset("outputs", "outputs")
    if entry is None:
        raise RunError(f"run {view.id} archived no outputs (use run.scan_outputs_once or run.watch_outputs)")
    tree_id = ObjectId.parse(entry["id"])
    if name is not None:
        folders = {e.name: e for e in read_tree(store, tree_id) if e.kind == DIR}
        if name not in folders:
            raise RunError(f"run {view.id} has no output folder {name!r}; it has: {', '.join(sorted(folders))}")
        tree_id = folders[name].id
    return materialize_tree(store, tree_id, target, force=force, progress=progress)


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
