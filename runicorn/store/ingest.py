"""Folder -> tree objects, through the stat cache, in one pass and bounded memory.

Symlinks are recorded as links and never followed; sockets, FIFOs and devices
are skipped and reported; empty folders are kept. ``accept`` decides what is
included (ignore rules, size limits) and is asked once per directory entry, so
an ignored folder is pruned without being listed.
"""

from __future__ import annotations

import os
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .chunked import StoredFile, put_file, reuse_file
from .ids import ObjectId, hash_bytes
from .objects import ObjectStore
from .streams import hash_stream
from .statcache import StatCache
from .trees import DIR, FILE, SYMLINK, TreeEntry, link_stays_inside, put_tree, serialize_tree

# accept(relative_path, entry, is_dir) -> include?
AcceptFn = Callable[[str, os.DirEntry, bool], bool]


@dataclass
class IngestResult:
    """What was ingested: the root id (a tree for a folder, a blob for a file) and totals."""

    id: ObjectId
    kind: str  # "dir" or "file"
    files: int = 0
    bytes: int = 0
    hashed_bytes: int = 0  # bytes actually read: 0 when every file hit the stat cache
    chunks: ObjectId | None = None  # a single large file stored as a chunk list
    skipped: list[str] = field(default_factory=list)
    outside_links: list[str] = field(default_factory=list)  # symlinks whose target lies outside the folder


class Ingester:
    """Walks folders and stores (or, with ``store_content=False``, only hashes) their content."""

    def __init__(self, store: ObjectStore, *, stat_cache: StatCache | None = None,
                 accept: AcceptFn | None = None, store_content: bool = True):
        self.store = store
        self.stat_cache = stat_cache
        self.accept = accept
        self.store_content = store_content

    def ingest(self, path: str | os.PathLike) -> IngestResult:
        """Ingest a folder (-> tree) or a single file (-> blob)."""
        path = Path(path)
        st = os.stat(path)
        if not (stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode)):
            raise ValueError(f"{path} is not a regular file or a folder (a FIFO, socket or device); "
                             "only files and folders can be stored")
        self.store.remove_litter()  # what killed ingests left in tmp/
        result = IngestResult(id=None, kind=DIR if stat.S_ISDIR(st.st_mode) else FILE)  # type: ignore[arg-type]
        if self.stat_cache is not None and result.kind == DIR:
            self.stat_cache.prefetch(os.path.abspath(path))
        with self.store.batch():
            if result.kind == DIR:
                result.id, _ = self._ingest_dir(str(path), "", result)
            else:
                stored = self.ingest_file(str(path), st, result)
                result.id, result.chunks = stored.id, stored.chunks
        if self.stat_cache is not None:
            self.stat_cache.commit()
        return result

    def _ingest_dir(self, folder: str, prefix: str, result: IngestResult) -> tuple[ObjectId, int]:
        entries: list[TreeEntry] = []
        total = 0
        with os.scandir(folder) as listing:
            children = sorted(listing, key=lambda e: e.name)
        for entry in children:
            rel = prefix + entry.name
            if not _is_utf8(entry.name):
                result.skipped.append(f"{rel!r}: name is not valid UTF-8")
                continue
            try:
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue  # removed while we were listing: it is simply not in this snapshot
            is_dir = stat.S_ISDIR(st.st_mode)
            if self.accept is not None and not self.accept(rel, entry, is_dir):
                continue
            try:
                if is_dir:
                    oid, size = self._ingest_dir(entry.path, rel + "/", result)
                    entries.append(TreeEntry(entry.name, DIR, size, id=oid))
                elif stat.S_ISREG(st.st_mode):
                    stored = self.ingest_file(entry.path, st, result)
                    size = stored.size
                    entries.append(TreeEntry(entry.name, FILE, size, id=stored.id, chunks=stored.chunks,
                                             executable=bool(st.st_mode & stat.S_IXUSR)))
            except PermissionError:
                result.skipped.append(f"{rel}: permission denied")
                continue
            if stat.S_ISLNK(st.st_mode):
                target = os.readlink(entry.path)
                if not _is_utf8(target):
                    result.skipped.append(f"{rel!r}: symlink target is not valid UTF-8")
                    continue
                if not link_stays_inside(rel, target):
                    result.outside_links.append(f"{rel} -> {target}")  # stored as it is; a restore leaves it out
                entries.append(TreeEntry(entry.name, SYMLINK, len(os.fsencode(target)), target=target))
                size = 0
            elif not (is_dir or stat.S_ISREG(st.st_mode)):
                result.skipped.append(f"{rel}: not a regular file, folder or symlink")
                continue
            total += size
        if self.store_content:
            return put_tree(self.store, entries), total
        return hash_bytes(serialize_tree(entries)), total

    def ingest_file(self, path: str, st: os.stat_result, result: IngestResult) -> StoredFile:
        """One file as stored (a large one as a chunk list): from the stat cache when it matches, else by reading
        it once. Totals are added to ``result``; the caller commits the stat cache."""
        cache_key = os.path.abspath(path)
        if self.stat_cache is not None:
            cached = self.stat_cache.lookup(cache_key, st)
            if cached is not None and (not self.store_content or reuse_file(self.store, cached.id, cached.chunks)):
                result.files += 1
                result.bytes += st.st_size
                return StoredFile(cached.id, st.st_size, cached.chunks if self.store_content else None)
        hashed_at = time.time_ns()
        if self.store_content:
            stored = put_file(self.store, path)
        else:
            with open(path, "rb", buffering=0) as stream:
                stored = StoredFile(*hash_stream(stream))
        result.files += 1
        result.bytes += stored.size
        result.hashed_bytes += stored.size
        if self.stat_cache is not None and stored.size == st.st_size:
            self.stat_cache.record(cache_key, st, stored, hashed_at)
        return stored


def _is_utf8(name: str) -> bool:
    """Names decoded with surrogateescape (undecodable bytes) cannot go into a UTF-8 tree."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
