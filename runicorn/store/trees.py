"""Tree objects: the canonical serialization of one folder's sorted entries.

A tree is UTF-8 text: the header line ``runicorn-tree 1`` and then one line per
entry, each a JSON object with sorted keys and no spaces, entries sorted by the
UTF-8 bytes of their names. Sub-folders are trees of their own, nested like
git's, so an unchanged sub-folder has the same id in every snapshot.

Parsing is strict: a tree that is not exactly what ``serialize`` would write
(wrong order, duplicate or unsafe names, unknown kinds or keys) is refused,
because tree names become paths on restore.
"""

from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass
from typing import Iterator

from ..errors import CorruptObject, UnsafePath, UnsupportedFormat
from .ids import ObjectId
from .objects import ObjectStore

TREE_HEADER = b"runicorn-tree 1\n"
FILE, DIR, SYMLINK = "file", "dir", "symlink"
_KEYS = {
    FILE: {"kind", "name", "size", "id", "exec"},
    DIR: {"kind", "name", "size", "id"},
    SYMLINK: {"kind", "name", "size", "target"},
}


@dataclass(frozen=True)
class TreeEntry:
    """One name in a folder. ``size`` of a dir is the total bytes of the files below it."""

    name: str
    kind: str
    size: int
    id: ObjectId | None = None
    executable: bool = False
    target: str | None = None
    chunks: ObjectId | None = None  # a file stored as a chunk list (its id stays the whole content's hash)

    def to_json(self) -> dict:
        record = {"kind": self.kind, "name": self.name, "size": self.size}
        if self.kind == SYMLINK:
            record["target"] = self.target
        else:
            record["id"] = ObjectId(self.id).tagged  # validates a plain str id too
        if self.kind == FILE:
            record["exec"] = self.executable
            if self.chunks is not None:
                record["chunks"] = ObjectId(self.chunks).tagged
        return record


def check_name(name: str) -> str:
    """A tree name must be one path component: refuse what could escape a folder."""
    if not isinstance(name, str) or name in ("", ".", "..") or "/" in name or "\0" in name:
        raise UnsafePath(f"unsafe name {name!r} in a tree: a name must be one path component (no '/', '..' or NUL)")
    return name


def link_stays_inside(link_rel: str, target: str) -> bool:
    """Whether a symlink at ``link_rel`` whose text is ``target`` stays, read as text, inside the folder its
    path is relative to (the snapshot's workspace, the restore's target)."""
    if posixpath.isabs(target):
        return False
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(link_rel), target))
    return resolved != ".." and not resolved.startswith("../")


def serialize_tree(entries: list[TreeEntry]) -> bytes:
    """The canonical bytes of a tree; entries may come in any order."""
    ordered = sorted(entries, key=lambda e: e.name.encode("utf-8"))
    lines = [TREE_HEADER]
    previous = None
    for entry in ordered:
        check_name(entry.name)
        if entry.name == previous:
            raise ValueError(f"duplicate name {entry.name!r} in a tree")
        previous = entry.name
        lines.append(_entry_line(entry))
        lines.append(b"\n")
    return b"".join(lines)


def _entry_line(entry: TreeEntry) -> bytes:
    return json.dumps(entry.to_json(), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def parse_tree(data: bytes, tree_id: str = "?") -> list[TreeEntry]:
    """Parse and strictly check a tree's bytes."""
    if not data.startswith(TREE_HEADER):
        header, newline, _ = data.partition(b"\n")
        if newline and header.startswith(b"runicorn-tree ") and header[len(b"runicorn-tree "):].isdigit():
            raise UnsupportedFormat(f"tree {tree_id} has header {header[:40]!r}; this Runicorn reads 'runicorn-tree 1'")
        raise CorruptObject(tree_id, detail="not a tree object")
    body = data[len(TREE_HEADER):]
    if body and not body.endswith(b"\n"):
        raise CorruptObject(tree_id, detail="truncated tree")
    entries: list[TreeEntry] = []
    previous: bytes | None = None
    for line in body.split(b"\n")[:-1] if body else []:
        try:
            record = json.loads(line)
        except ValueError as exc:
            raise CorruptObject(tree_id, detail=f"bad tree entry: {exc}") from None
        except RecursionError:
            raise CorruptObject(tree_id, detail="a tree entry nests too deeply to read") from None
        entry = _entry_from_json(record, tree_id)
        # Only the canonical bytes are a tree: otherwise one folder could have many ids.
        try:
            canonical = _entry_line(entry) == line
        except UnicodeEncodeError:  # a lone surrogate written as a \u escape
            canonical = False
        if not canonical:
            raise CorruptObject(tree_id, detail=f"entry {entry.name!r} is not in canonical form")
        key = entry.name.encode("utf-8")
        if previous is not None and key <= previous:
            raise CorruptObject(tree_id, detail=f"entries out of order or duplicated at {entry.name!r}")
        previous = key
        entries.append(entry)
    return entries


def _entry_from_json(record: object, tree_id: str) -> TreeEntry:
    kind = record.get("kind") if isinstance(record, dict) else None
    if not isinstance(kind, str) or kind not in _KEYS:
        raise UnsupportedFormat(f"tree {tree_id} has an entry of unknown kind {kind!r}; upgrade Runicorn to read it")
    keys = set(record)
    if keys != _KEYS[kind] and not (kind == FILE and keys == _KEYS[FILE] | {"chunks"}):
        raise UnsupportedFormat(f"tree {tree_id} entry has keys {sorted(record)}; expected {sorted(_KEYS[kind])}")
    name = check_name(record["name"])
    size = record["size"]
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise CorruptObject(tree_id, detail=f"bad size for {name!r}")
    if kind == SYMLINK:
        target = record["target"]
        if not isinstance(target, str) or not target or "\0" in target:
            raise UnsafePath(f"symlink {name!r} in tree {tree_id} has an invalid target {target!r}")
        return TreeEntry(name, kind, size, target=target)
    oid = ObjectId.parse(record["id"])
    executable = record.get("exec", False)
    if not isinstance(executable, bool):
        raise CorruptObject(tree_id, detail=f"bad exec flag for {name!r}")
    chunks = ObjectId.parse(record["chunks"]) if "chunks" in record else None
    return TreeEntry(name, kind, size, id=oid, executable=executable, chunks=chunks)


def put_tree(store: ObjectStore, entries: list[TreeEntry]) -> ObjectId:
    return store.put_bytes(serialize_tree(entries))


def read_tree(store: ObjectStore, tree_id: str) -> list[TreeEntry]:
    return parse_tree(store.get(tree_id), tree_id)


def content_bytes(entries: list[TreeEntry]) -> int:
    """Bytes a materialize of these entries writes: a folder entry's size already totals its subtree."""
    return sum(e.size for e in entries if e.kind != SYMLINK)


def prune_tree(store: ObjectStore, tree_id: str, paths: list[str]) -> ObjectId:
    """The tree without the entries at ``paths`` ('/'-joined, relative to it): the folders on the way are
    rewritten (their sizes too); every other subtree keeps its id. Paths that are not in the tree are ignored."""
    by_first: dict[str, list[str]] = {}
    for path in paths:
        first, _, rest = path.strip("/").partition("/")
        by_first.setdefault(first, []).append(rest)
    entries = []
    for entry in read_tree(store, tree_id):
        below = by_first.get(entry.name)
        if below is None:
            entries.append(entry)
        elif "" in below:
            continue  # the entry itself goes
        elif entry.kind == DIR:
            pruned = prune_tree(store, entry.id, below)
            if pruned != entry.id:
                entry = TreeEntry(entry.name, DIR, content_bytes(read_tree(store, pruned)), id=pruned)
            entries.append(entry)
        else:
            entries.append(entry)
    return put_tree(store, entries)


def walk_tree(store: ObjectStore, tree_id: str, prefix: str = "") -> Iterator[tuple[str, TreeEntry]]:
    """Every entry below a tree, depth first, with its '/'-joined relative path."""
    for entry in read_tree(store, tree_id):
        path = prefix + entry.name
        yield path, entry
        if entry.kind == DIR:
            yield from walk_tree(store, entry.id, path + "/")
