"""Tree -> folder: byte-exact, executable bits kept, hashes verified, never outside the target.

Plan, then write. ``check_tree`` reads every tree first and refuses a tree that
cannot be restored whole (a missing object) before a single file is written, so
a refused restore leaves the target as it was; it also yields the byte total a
progress bar needs. Then, while writing (docs/format.md, "Restore"):
- every name is one path component (``parse_tree`` refuses others);
- every folder on the way is one we created or a real folder (never a symlink),
  and files are opened with ``O_NOFOLLOW``, so a pre-existing link in a forced
  target cannot redirect a write;
- symlinks are created last, each only when its target stays inside the target
  folder both lexically and once resolved on disk (a chain of links cannot
  climb out either); a link that would point outside (``data -> /mnt/datasets``)
  is left out and named in ``left_out_links``, and the rest is restored, as
  the snapshot's warning told the user when it stored the link;
- a file is written to a temp name and renamed into place only after its bytes
  hashed to the expected id; temp files a killed restore left in a forced
  target are removed.
"""

from __future__ import annotations

import os
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ObjectNotFound, TargetNotEmpty, UnsafePath
from .atomic import TempFile, stale_temp_files
from .chunked import first_missing, open_file
from .ids import ObjectId
from .objects import ObjectStore
from .progress import NO_PROGRESS, Progress
from .trees import DIR, FILE, SYMLINK, link_stays_inside, read_tree


@dataclass
class MaterializeResult:
    files: int = 0
    bytes: int = 0
    folders: int = 0
    symlinks: int = 0
    left_out_links: list[str] = field(default_factory=list)  # "name -> target" of links pointing outside


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


def check_tree(store: ObjectStore, tree_id: str) -> MaterializeResult:
    """What restoring ``tree_id`` writes, checked before anything is: raises on a missing object."""
    totals = MaterializeResult()
    stack = [("", ObjectId(tree_id))]
    while stack:
        rel, current = stack.pop()
        for entry in read_tree(store, current):
            entry_rel = rel + entry.name
            if entry.kind == DIR:
                totals.folders += 1
                stack.append((entry_rel + "/", entry.id))
            elif entry.kind == FILE:
                missing = first_missing(store, entry.id, entry.chunks)
                if missing is not None:
                    raise ObjectNotFound(f"object {missing} of {entry_rel!r} is not in the store at "
                                         f"{store.root}; nothing was restored. Run `runicorn verify` to see every "
                                         "missing object")
                totals.files += 1
                totals.bytes += entry.size
            elif entry.kind == SYMLINK:
                if link_stays_inside(entry_rel, entry.target):
                    totals.symlinks += 1
                else:
                    totals.left_out_links.append(f"{entry_rel} -> {entry.target}")
    return totals


def materialize_tree(store: ObjectStore, tree_id: str, target: str | os.PathLike, *, force: bool = False,
                     progress: Progress = NO_PROGRESS, checked: MaterializeResult | None = None) -> MaterializeResult:
    """Write the tree's content into ``target``; ``progress`` counts bytes out of the planned total.

    ``checked``: what ``check_tree`` found when the caller planned with it (and started ``progress``), so the
    tree is not checked twice."""
    if checked is None:
        progress.start(check_tree(store, tree_id).bytes, "bytes")
    root = prepare_target(target, force=force)
    result = MaterializeResult()
    links: list[tuple[Path, str, str]] = []
    _write_dir(store, ObjectId(tree_id), root, "", result, progress, links, force)
    taken_back = _create_links(root, links)
    result.left_out_links += taken_back
    result.symlinks = len(links) - len(taken_back)
    return result


def materialize_blob(store: ObjectStore, object_id: str, target_file: str | os.PathLike, *,
                     executable: bool = False, progress: Progress = NO_PROGRESS, chunks: str | None = None) -> int:
    """Write one stored file (a blob, or the file a chunk list ``chunks`` makes) to ``target_file``."""
    target_file = Path(target_file)
    return _write_file(store, ObjectId(object_id), target_file.parent, target_file.name, executable, progress,
                       chunks)


def _write_dir(store: ObjectStore, tree_id: ObjectId, folder: Path, rel: str, result: MaterializeResult,
               progress: Progress, links: list, force: bool) -> None:
    if force:
        for litter in stale_temp_files(folder, time.time()):
            os.unlink(litter)
    for entry in read_tree(store, tree_id):
        path = folder / entry.name
        entry_rel = rel + entry.name
        if entry.kind == DIR:
            make_real_dir(path)
            result.folders += 1
            _write_dir(store, entry.id, path, entry_rel + "/", result, progress, links, force)
        elif entry.kind == FILE:
            _refuse_existing_link_or_dir(path)
            result.bytes += _write_file(store, entry.id, folder, entry.name, entry.executable, progress,
                                        entry.chunks)
            result.files += 1
        elif entry.kind == SYMLINK:
            if not link_stays_inside(entry_rel, entry.target):
                result.left_out_links.append(f"{entry_rel} -> {entry.target}")
                continue
            _refuse_existing_link_or_dir(path, allow_link=True)
            links.append((path, entry_rel, entry.target))


def _create_links(root: Path, links: list[tuple[Path, str, str]]) -> list[str]:
    """Create the links, then take back each that resolves outside ``root`` through other links
    (``y -> d/x/..`` with ``d/x -> ..``); returns those, as "name -> target"."""
    real_root = os.path.realpath(root)
    for path, _, target in links:
        if os.path.lexists(path):
            path.unlink()
        os.symlink(target, path)
    taken_back: list[str] = []
    remaining = list(links)
    while True:  # taking one back can change where another resolves: repeat until all stay inside
        outside = [link for link in remaining if not _resolves_inside(link[0], real_root)]
        if not outside:
            return taken_back
        for path, rel, target in outside:
            path.unlink()
            taken_back.append(f"{rel} -> {target}")
        remaining = [link for link in remaining if link not in outside]


def _resolves_inside(path: Path, real_root: str) -> bool:
    resolved = os.path.realpath(path)
    return resolved == real_root or resolved.startswith(real_root + os.sep)


def make_real_dir(path: Path) -> Path:
    """A folder we may write into: made here, or already a real folder (never through a symlink)."""
    try:
        os.mkdir(path)
    except FileExistsError:
        st = os.lstat(path)
        if not stat.S_ISDIR(st.st_mode):
            raise UnsafePath(f"{path} exists and is not a folder (a symlink or file); refusing to write through it") from None
    return path


def _refuse_existing_link_or_dir(path: Path, allow_link: bool = False) -> None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode) or (stat.S_ISLNK(st.st_mode) and not allow_link):
        raise UnsafePath(f"{path} exists as a folder or symlink where the restore writes a file; remove it first")


def _write_file(store: ObjectStore, oid: ObjectId, folder: Path, name: str, executable: bool,
                progress: Progress, chunks: ObjectId | None = None) -> int:
    with TempFile(folder, name + ".", nofollow=True) as temp, open_file(store, oid, chunks) as reader:
        view = memoryview(bytearray(1 << 20))
        while True:
            count = reader.readinto(view)
            if not count:
                break
            temp.write(view[:count])
            progress.advance(count)
        # Restored files are the user's: no fsync of each (a crash means restoring again), but never torn.
        temp.replace(folder / name, durable=False, mode=0o755 if executable else 0o644)
    return temp.size
