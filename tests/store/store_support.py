"""Helpers shared by the store tests: build folders, describe them, age files, load fixture stores.

A plain module rather than part of conftest.py so that tests (and hypothesis
strategies, which cannot take fixtures) can import the functions directly.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import time
from pathlib import Path

from runicorn.store import BLOB, TREE, ObjectId, ObjectStore, Ref

DATA = Path(__file__).resolve().parent.parent / "data"
HOUR = 3600.0


class Link(str):
    """A symlink's target in a folder spec."""


class Exec(bytes):
    """The content of an owner-executable file in a folder spec."""


def make_folder(root: Path, spec: dict) -> Path:
    """Create ``root`` from ``{name: bytes | Exec | Link | dict}``; returns ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    for name, value in spec.items():
        path = root / name
        if isinstance(value, dict):
            make_folder(path, value)
        elif isinstance(value, Link):
            os.symlink(value, path)
        else:
            path.write_bytes(value)
            os.chmod(path, 0o755 if isinstance(value, Exec) else 0o644)
    return root


def snapshot(root: Path) -> dict[str, tuple]:
    """Everything below ``root``, as a restore must reproduce it.

    ``{relative path: ("dir",) | ("file", bytes, owner-exec) | ("symlink", target)}``; symlinks are never followed.
    """
    found: dict[str, tuple] = {}

    def walk(folder: str, prefix: str) -> None:
        with os.scandir(folder) as listing:
            for entry in listing:
                rel = prefix + entry.name
                st = entry.stat(follow_symlinks=False)
                if stat.S_ISLNK(st.st_mode):
                    found[rel] = ("symlink", os.readlink(entry.path))
                elif stat.S_ISDIR(st.st_mode):
                    found[rel] = ("dir",)
                    walk(entry.path, rel + "/")
                else:
                    found[rel] = ("file", Path(entry.path).read_bytes(), bool(st.st_mode & stat.S_IXUSR))

    walk(os.fspath(root), "")
    return found


def disk_state(root: Path, exclude: Path | None = None) -> dict[str, tuple]:
    """A fingerprint of every entry below ``root`` (content, mode, mtime), to prove nothing was touched."""
    state = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if Path(dirpath) / d != exclude]
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            st = path.lstat()
            if stat.S_ISLNK(st.st_mode):
                content = os.readlink(path)
            elif stat.S_ISREG(st.st_mode):
                content = path.read_bytes()
            else:
                content = None
            state[str(path.relative_to(root))] = (st.st_mode, st.st_mtime_ns, content)
    return state


def backdate(paths, seconds: float) -> None:
    """Set the mtime (and atime) of each path, not following symlinks, to ``seconds`` ago."""
    then = time.time() - seconds
    for path in [paths] if isinstance(paths, (str, os.PathLike)) else paths:
        os.utime(path, (then, then), follow_symlinks=False)


def backdate_tree(root: Path, seconds: float) -> None:
    """Backdate every file and link below ``root`` (folders keep their mtime: nothing reads it)."""
    backdate([p for p in Path(root).rglob("*") if not p.is_dir() or p.is_symlink()], seconds)


def object_files(store: ObjectStore) -> set[str]:
    """The relative paths of every file under ``objects/``."""
    return {str(p.relative_to(store.objects_dir)) for p in store.objects_dir.rglob("*") if not p.is_dir()}


def temp_files(store: ObjectStore) -> list[str]:
    return sorted(os.listdir(store.tmp_dir)) if store.tmp_dir.exists() else []


def tamper(store: ObjectStore, oid: str, data: bytes) -> Path:
    """Overwrite an object's bytes in place (objects are 0444: make it writable first)."""
    path = store.path_for(oid)
    path.chmod(0o644)
    path.write_bytes(data)
    path.chmod(0o444)
    return path


def copy_fixture_store(name: str, destination: Path) -> Path:
    """Copy ``tests/data/stores/<name>`` to ``destination`` and restore what git does not keep."""
    shutil.copytree(DATA / "stores" / name, destination)
    store_dir = destination / "store"
    for folder in ("tmp", "trash", "cache"):
        (store_dir / folder).mkdir(exist_ok=True)
    for path in (store_dir / "objects").rglob("*"):
        if path.is_file():
            path.chmod(0o444)
    return destination


def manifest_roots(storage: Path) -> dict[str, list[Ref]]:
    """Each run's gc roots from its ``manifest.jsonl``, labelled ``<path>/<run id>`` (docs/format.md 5.3)."""
    roots: dict[str, list[Ref]] = {}
    for manifest in sorted((storage / "runs").rglob("manifest.jsonl")):
        label = manifest.parent.relative_to(storage / "runs").as_posix()
        records = [json.loads(line) for line in manifest.read_text(encoding="utf-8").splitlines() if line]
        roots[label] = [Ref(ObjectId.parse(r["id"]), TREE if r["type"] == "tree" else BLOB) for r in records]
    return roots
