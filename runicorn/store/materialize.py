"""Tree -> folder: byte-exact, executable bits kept, hashes verified, never outside the target.

Safety rules (docs/format.md, "Restore"):
- every name is one path component (``parse_tree`` refuses others);
- every folder on the way is one we created or a real folder (never a symlink),
  and files are opened with ``O_NOFOLLOW``, so a pre-existing link in a forced
  target cannot redirect a write;
- symlinks are created last, each only when its target stays inside the target
  folder both lexically and once resolved on disk (a chain of links cannot
  climb out either);
- a file is written to a temp name and renamed into place only after its bytes
  hashed to the expected id.
"""

from __future__ import annotations

import os
import posixpath
import stat
from dataclasses import dataclass
from pathlib import Path

from ..errors import TargetNotEmpty, UnsafePath
from .atomic import temp_name
from .ids import ObjectId
from .objects import ObjectStore
from .trees import DIR, FILE, SYMLINK, read_tree


@dataclass
class MaterializeResult:
    files: int = 0
    bytes: int = 0
    folders: int = 0
    symlinks: int = 0


def prepare_target(target: str | os.PathLike, *, force: bool) -> Path:
    """Create ``target`` if needed; refuse a non-empty one unless ``force``."""
    target = Path(target)
    if target.is_symlink():
        raise UnsafePath(f"restore target {target} is a symlink; give a real folder")
    if target.exists():
        if not target.is_dir():
            raise TargetNotEmpty(f"restore target {target} exists and is not a folder")
        if not force and any(target.iterdir()):
            raise TargetNotEmpty(
                f"restore target {target} is not empty; choose an empty folder or pass --force to overwrite"
            )
    else:
        target.mkdir(parents=True)
    return target


def materialize_tree(store: ObjectStore, tree_id: str, target: str | os.PathLike, *,
                     force: bool = False, progress=None) -> MaterializeResult:
    """Write the tree's content into ``target``; ``progress(nbytes)`` is called per file."""
    root = prepare_target(target, force=force)
    result = MaterializeResult()
    links: list[tuple[Path, str, str]] = []
    _write_dir(store, ObjectId(tree_id), root, "", result, progress, links)
    _create_links(root, links)
    result.symlinks = len(links)
    return result


def materialize_blob(store: ObjectStore, object_id: str, target_file: str | os.PathLike, *,
                     executable: bool = False) -> int:
    """Write one object to ``target_file`` (verified, atomic)."""
    target_file = Path(target_file)
    return _write_file(store, ObjectId(object_id), target_file.parent, target_file.name, executable)


def _write_dir(store: ObjectStore, tree_id: ObjectId, folder: Path, rel: str,
               result: MaterializeResult, progress, links: list) -> None:
    for entry in read_tree(store, tree_id):
        path = folder / entry.name
        entry_rel = rel + entry.name
        if entry.kind == DIR:
            _make_real_dir(path)
            result.folders += 1
            _write_dir(store, entry.id, path, entry_rel + "/", result, progress, links)
        elif entry.kind == FILE:
            _refuse_existing_link_or_dir(path)
            written = _write_file(store, entry.id, folder, entry.name, entry.executable)
            result.files += 1
            result.bytes += written
            if progress is not None:
                progress(written)
        elif entry.kind == SYMLINK:
            _check_link_target(entry_rel, entry.target)
            _refuse_existing_link_or_dir(path, allow_link=True)
            links.append((path, entry_rel, entry.target))


def _create_links(root: Path, links: list[tuple[Path, str, str]]) -> None:
    real_root = os.path.realpath(root)
    for path, _, target in links:
        if os.path.lexists(path):
            path.unlink()
        os.symlink(target, path)
    for path, rel, target in links:
        resolved = os.path.realpath(path)
        if resolved != real_root and not resolved.startswith(real_root + os.sep):
            for created, _, _ in links:
                created.unlink(missing_ok=True)
            raise UnsafePath(f"symlink {rel!r} -> {target!r} resolves outside the restore folder; refusing to restore it")


def _check_link_target(link_rel: str, target: str) -> None:
    if posixpath.isabs(target):
        raise UnsafePath(f"symlink {link_rel!r} points to the absolute path {target!r}; refusing to restore it")
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(link_rel), target))
    if resolved == ".." or resolved.startswith("../"):
        raise UnsafePath(f"symlink {link_rel!r} -> {target!r} points outside the restore folder; refusing to restore it")


def _make_real_dir(path: Path) -> None:
    try:
        os.mkdir(path)
    except FileExistsError:
        st = os.lstat(path)
        if not stat.S_ISDIR(st.st_mode):
            raise UnsafePath(f"{path} exists and is not a folder (a symlink or file); refusing to write through it") from None


def _refuse_existing_link_or_dir(path: Path, allow_link: bool = False) -> None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode) or (stat.S_ISLNK(st.st_mode) and not allow_link):
        raise UnsafePath(f"{path} exists as a folder or symlink where the restore writes a file; remove it first")


def _write_file(store: ObjectStore, oid: ObjectId, folder: Path, name: str, executable: bool) -> int:
    tmp = temp_name(folder, name + ".")
    written = 0
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with store.open(oid) as reader:
            buffer = bytearray(1 << 20)
            view = memoryview(buffer)
            while True:
                count = reader.readinto(view)
                if not count:
                    break
                chunk = view[:count]
                while chunk:
                    chunk = chunk[os.write(fd, chunk):]
                written += count
        os.fchmod(fd, 0o755 if executable else 0o644)
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    os.close(fd)
    os.replace(tmp, folder / name)
    return written
