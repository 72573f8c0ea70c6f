"""The one reachability walk: from references to every object they reach, without changing the store.

gc, verify, du and export all ask this walk, so they agree on what is reachable,
missing and damaged:

- a reference names an object and how to read it (``Ref``): a blob's bytes are
  a file's content, a tree's entries name further objects. ``children`` is the
  one place that knows how an object kind refers to others; a new kind (chunk
  lists, pack files) is added there.
- an object is *reached* when it exists: published, pending in this thread's
  batch, or in the trash (``trashed``: the next read takes it back, so it is not
  lost, but a plan must take it back before it sweeps).
- *missing*: named and absent. *damaged*: named but unreadable: not a regular
  file, a tree whose bytes do not hash to its id or do not parse, or a file we
  may not read. The references inside a damaged tree are unknown, so gc does
  not sweep after a walk with damage (or anything missing).

The walk never moves an object out of the trash and never writes: a dry run of
any command leaves every file and mtime as it was.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from typing import Iterable

from ..errors import ObjectNotFound, RunicornError
from .ids import ObjectId
from .objects import DAMAGED, PUBLISHED, TRASHED, ObjectStore, StoredObject
from .progress import NO_PROGRESS, Progress
from .chunked import ChunkList
from .trees import DIR, content_bytes, parse_tree

BLOB = "blob"
TREE = "tree"
CHUNKS = "chunks"  # a chunk list (docs/format.md 4.3): a file stored as chunks, which it reaches
KINDS = (BLOB, TREE, CHUNKS)


@dataclass(frozen=True)
class Ref:
    """A reference to an object, and what kind of object the referrer says it is."""

    id: ObjectId
    kind: str = BLOB

    @classmethod
    def parse(cls, object_id: str, kind: str) -> "Ref":
        """From a manifest's tagged id and type; raises ``ValueError`` naming what is wrong."""
        if kind not in KINDS:
            raise ValueError(f"object type {kind!r} is not one of {', '.join(KINDS)}")
        return cls(ObjectId.parse(object_id), kind)


@dataclass
class Reach:
    """What a walk found (see the module docstring)."""

    reached: set[ObjectId] = field(default_factory=set)
    missing: set[ObjectId] = field(default_factory=set)
    trashed: set[ObjectId] = field(default_factory=set)
    damaged: dict[ObjectId, str] = field(default_factory=dict)  # id -> what is wrong
    unreadable: set[ObjectId] = field(default_factory=set)  # damaged ones whose file could not be read at all


@dataclass(frozen=True)
class Damage:
    """Why an object's references cannot be read. ``unreadable``: its file could not be read at all (not a
    regular file, no permission); else its bytes do not hash to its id or do not parse."""

    why: str
    unreadable: bool


class Listing:
    """One listing of ``objects/`` and ``trash/``: ids with sizes and mtimes, taken once per plan."""

    def __init__(self, store: ObjectStore):
        self.objects: dict[ObjectId, StoredObject] = {o.id: o for o in store.iter_objects()}
        self.trash: dict[ObjectId, StoredObject] = {o.id: o for o in store.iter_trash()}

    @property
    def object_bytes(self) -> int:
        return sum(o.size for o in self.objects.values())


class Walker:
    """Walks references through one store; keeps what it learned (locations, sizes, tree children) across walks.

    With a ``Listing``, objects it lists are located without a system call; others (written after
    the listing) are looked up on disk.
    """

    def __init__(self, store: ObjectStore, listing: Listing | None = None):
        self.store = store
        self.listing = listing
        self._where: dict[ObjectId, tuple[str | None, int]] = {}  # id -> (location, size)
        self._children: dict[ObjectId, list[Ref] | Damage] = {}  # tree id -> its references, or what is wrong
        self._content: dict[ObjectId, int] = {}  # tree id -> bytes a restore of it writes

    def walk(self, refs: Iterable[Ref], reach: Reach | None = None, progress: Progress = NO_PROGRESS) -> Reach:
        """Everything ``refs`` reach, added to ``reach`` (a new one by default); ``progress`` advances per object."""
        reach = Reach() if reach is None else reach
        # Visited as (id, kind): the same bytes may be a blob to one referrer and a tree to another,
        # and only the tree reference reaches the children.
        visited: set[Ref] = set()
        stack = list(refs)
        while stack:
            ref = stack.pop()
            if ref in visited:
                continue
            visited.add(ref)
            location, _ = self._locate(ref.id)
            if location is None:
                reach.missing.add(ref.id)
                continue
            if ref.id not in reach.reached:
                reach.reached.add(ref.id)
                if self.listing is None or ref.id in self.listing.objects:  # never past a total of listed objects
                    progress.advance(1)
            if location == TRASHED:
                reach.trashed.add(ref.id)
            if location == DAMAGED:
                children = Damage("not a regular file", unreadable=True)
            else:
                children = self.children(ref)
            if isinstance(children, Damage):
                reach.damaged[ref.id] = children.why
                if children.unreadable:
                    reach.unreadable.add(ref.id)
            else:
                stack.extend(child for child in children if child not in visited)
        return reach

    def children(self, ref: Ref) -> list[Ref] | Damage:
        """The references an object holds, or why they cannot be read.

        The one place that knows how each kind of object refers to others."""
        if ref.kind == BLOB:
            return []
        known = self._children.get(ref.id)
        if known is None:
            parse = self._tree_children if ref.kind == TREE else self._chunk_list_children
            try:
                known = parse(ref.id, self.store.get(ref.id, take_back=False))
            except (ObjectNotFound, OSError) as exc:
                known = Damage(f"cannot be read: {exc}", unreadable=True)
            except RunicornError as exc:  # bytes that do not hash to the id, or do not parse
                known = Damage(str(exc).split("; run `runicorn verify`")[0], unreadable=False)
            self._children[ref.id] = known
        return known

    def _chunk_list_children(self, list_id: ObjectId, data: bytes) -> list[Ref]:
        chunk_list = ChunkList.parse(data, list_id)
        self._content[list_id] = chunk_list.size
        return [Ref(oid, BLOB) for oid, _ in chunk_list.chunks]

    def _tree_children(self, tree_id: ObjectId, data: bytes) -> list[Ref]:
        entries = parse_tree(data, tree_id)
        self._content[tree_id] = content_bytes(entries)
        return [Ref(e.id, TREE) if e.kind == DIR else Ref(e.chunks, CHUNKS) if e.chunks is not None else Ref(e.id, BLOB)
                for e in entries if e.id is not None]

    def _locate(self, oid: ObjectId) -> tuple[str | None, int]:
        known = self._where.get(oid)
        if known is not None:
            return known
        listing = self.listing
        if listing is not None and oid in listing.objects:
            known = (PUBLISHED, listing.objects[oid].size)
        elif listing is not None and oid in listing.trash:
            known = (TRASHED, listing.trash[oid].size)
        else:
            location = self.store.locate(oid)
            known = (location, self._disk_size(oid, location))
        self._where[oid] = known
        return known

    def _disk_size(self, oid: ObjectId, location: str | None) -> int:
        if location == PUBLISHED:
            path = self.store.path_for(oid)
        elif location == TRASHED:
            path = self.store.trash_path_for(oid)
        else:
            return 0
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return 0
        return st.st_size if stat.S_ISREG(st.st_mode) else 0

    def size(self, oid: ObjectId) -> int:
        """Bytes the object takes in the store (0 when missing or damaged)."""
        return self._locate(oid)[1]

    def content_size(self, ref: Ref) -> int:
        """Bytes a restore of ``ref`` writes: a blob's size, the file a chunk list makes, or a tree's files."""
        if ref.kind == BLOB:
            return self.size(ref.id)
        if isinstance(self.children(ref), Damage):
            return 0
        return self._content[ref.id]
