"""Chunked files: a large file stored as a chunk list (docs/format.md, section 4.3).

The chunks are ordinary blobs, so identical bytes in any two files (or runs)
are stored once; the chunk list is an object too, naming the whole file's id
and size and then each chunk with its length. The file keeps one identity, the
blake3 of its whole content: ``put_file`` returns it with the chunk list's id,
and ``ChunkedReader`` checks it while it streams the chunks back.

Ordering: the chunks are put before the chunk list (in a batch, linked in that
order), so a chunk list never names a chunk that is not stored; the store's
config lists the ``chunks`` extension before the first chunk list is written.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import BinaryIO

from ..errors import CorruptObject, ObjectNotFound
from .chunking import CDC_MAX, MIN_CHUNKED_FILE, chunking_available, cut_points
from .ids import TAG_PREFIX, ObjectId, new_hasher
from .objects import ObjectStore
from .streams import CHUNK_SIZE, VerifyingReader

HEADER = b"runicorn-chunks 1 "
EXTENSION = "chunks"


@dataclass(frozen=True)
class StoredFile:
    """A file as stored: its id (the hash of all its bytes), its size, and its chunk list when chunked."""

    id: ObjectId
    size: int
    chunks: ObjectId | None = None


@dataclass(frozen=True)
class ChunkList:
    file_id: ObjectId
    size: int
    chunks: tuple[tuple[ObjectId, int], ...]

    def serialize(self) -> bytes:
        lines = [HEADER + f"{self.file_id.tagged} {self.size}\n".encode()]
        lines += [f"{oid.tagged} {length}\n".encode() for oid, length in self.chunks]
        return b"".join(lines)

    @classmethod
    def parse(cls, data: bytes, list_id: str = "?") -> "ChunkList":
        """Parse and strictly check a chunk list's bytes (``CorruptObject`` when they are not one)."""
        try:
            text = data.decode("ascii")
        except UnicodeDecodeError:
            raise CorruptObject(list_id, detail="not a chunk list") from None
        if not data.startswith(HEADER) or not text.endswith("\n"):
            raise CorruptObject(list_id, detail="not a chunk list")
        lines = text[:-1].split("\n")
        try:
            file_id, size = _entry(lines[0][len(HEADER):])
            chunks = tuple(_entry(line) for line in lines[1:])
        except ValueError as exc:
            raise CorruptObject(list_id, detail=f"bad chunk list: {exc}") from None
        if not chunks or any(length <= 0 for _, length in chunks) or sum(l for _, l in chunks) != size:
            raise CorruptObject(list_id, detail="chunk lengths do not add up to the file's size")
        return cls(file_id, size, chunks)


def _entry(line: str) -> tuple[ObjectId, int]:
    """``blake3:<hex> <length>``, exactly as ``serialize`` writes it (one canonical form, as for trees)."""
    tagged, _, length = line.partition(" ")
    if not tagged.startswith(TAG_PREFIX) or not length.isdigit() or str(int(length)) != length:
        raise ValueError(f"line {line[:80]!r}")
    return ObjectId.parse(tagged), int(length)


def declare_if_chunk_list(store: ObjectStore, head: bytes) -> None:
    """Before an object that begins with ``head`` is copied in from elsewhere (an import): when it is a chunk
    list, the store's config must say so first, as when the store cut the file itself."""
    if head.startswith(HEADER):
        store.declare_extension(EXTENSION)


def should_chunk(size: int) -> bool:
    return size >= MIN_CHUNKED_FILE and chunking_available()


def put_file(store: ObjectStore, path: str | os.PathLike) -> StoredFile:
    """Store a file: whole when small (or when no compiled chunker is installed), else as a chunk list.

    The cut points are found first (a safetensors or torch zip file by reading its headers, anything else by
    streaming it through FastCDC); then one more read hashes and stores each chunk, and hashes the whole file.
    """
    if not should_chunk(os.stat(path).st_size):
        oid, stored = store.put_file_sized(path)
        return StoredFile(oid, stored)
    # In a batch (the caller's, or one for this file): hundreds of chunks are fsynced in the background and
    # linked in order at the end, the list last, instead of one fsync after another.
    with open(path, "rb", buffering=0) as handle, store.batch():
        return _put_chunked(store, handle, os.fstat(handle.fileno()).st_size)


def _put_chunked(store: ObjectStore, handle: BinaryIO, size: int) -> StoredFile:
    spans = list(cut_points(handle, size))
    whole = new_hasher()
    chunks: list[tuple[ObjectId, int]] = []
    handle.seek(0)
    for _, length in spans:
        data = _read_exactly(handle, length)
        if len(data) < length:
            break  # the file shrank while it was read: store what was there
        whole.update(data)
        chunks.append((store.put_bytes(data), length))
    while tail := _read_exactly(handle, CDC_MAX):  # the file grew while it was read: the rest, as read
        whole.update(tail)
        chunks.append((store.put_bytes(tail), len(tail)))
    stored = sum(length for _, length in chunks)
    file_id = ObjectId(whole.hexdigest())
    if not chunks:  # nothing was there after all
        return StoredFile(store.put_bytes(b""), 0)
    store.declare_extension(EXTENSION)
    listing = ChunkList(file_id, stored, tuple(chunks))
    return StoredFile(file_id, stored, store.put_bytes(listing.serialize()))


def _read_exactly(handle: BinaryIO, length: int) -> bytes:
    parts, left = [], length
    while left:
        data = handle.read(left)
        if not data:
            break
        parts.append(data)
        left -= len(data)
    return b"".join(parts)


def open_file(store: ObjectStore, file_id: str, chunks: str | None = None):
    """A verifying stream over a stored file, whole or chunked."""
    return ChunkedReader(store, chunks) if chunks else store.open(file_id)


_MAX_LIST_PEEK = 4 << 20  # a chunk list of a 1 TiB file at 1 MiB chunks is under 100 MiB; these are far smaller


def stored_file(store: ObjectStore, object_id: str):
    """(size, opener) of the file an object stands for: a chunk list stands for the file it lists, any other
    object for itself. For readers that get ids from a listing (the viewer), where a chunked file's id is its list's."""
    size = store.size(object_id)
    if size <= _MAX_LIST_PEEK:
        with store.open(object_id) as reader:  # the header only: a plain object is read once, by its opener
            is_list = reader.read(len(HEADER)) == HEADER
        if is_list:
            listing = ChunkList.parse(store.get(object_id), object_id)
            return listing.size, lambda: ChunkedReader(store, object_id)
    return size, lambda: store.open(object_id)


def read_chunk_list(store: ObjectStore, list_id: str) -> ChunkList:
    return ChunkList.parse(store.get(list_id), list_id)


def first_missing(store: ObjectStore, file_id: str, chunks: str | None) -> str | None:
    """The first object a stored file needs that the store lacks (its blob, its chunk list or a chunk), or None;
    changes nothing. A restore asks before it writes, so a missing chunk never leaves half a restore."""
    if chunks is None:
        return None if store.locate(file_id) is not None else file_id
    if store.locate(chunks) is None:
        return chunks
    listing = ChunkList.parse(store.get(chunks, take_back=False), chunks)
    return next((chunk for chunk, _ in listing.chunks if store.locate(chunk) is None), None)


def reuse_file(store: ObjectStore, file_id: str, chunks: str | None) -> bool:
    """Whether a file already stored is all there, refreshing every object it needs (chunk list and chunks):
    reusing an object refreshes it, so a gc that runs before the reuser's manifest names it keeps it."""
    if chunks is None:
        return store.has(file_id, freshen=True)
    if not store.has(chunks, freshen=True):
        return False
    try:
        listing = read_chunk_list(store, chunks)
    except (CorruptObject, ObjectNotFound):
        return False
    return all(store.has(chunk, freshen=True) for chunk, _ in listing.chunks)


class ChunkedReader:
    """A stream over a chunked file: each chunk verified as it is read, the whole file's id checked at the end."""

    def __init__(self, store: ObjectStore, list_id: str):
        self.chunk_list = read_chunk_list(store, list_id)
        self.id = self.chunk_list.file_id
        self._store = store
        self._next = 0
        self._current: VerifyingReader | None = None
        self._whole = new_hasher()

    def readinto(self, buffer) -> int:
        view = memoryview(buffer)
        while True:
            if self._current is None:
                if self._next == len(self.chunk_list.chunks):
                    self._check()
                    return 0
                self._current = self._store.open(self.chunk_list.chunks[self._next][0])
                self._next += 1
            count = self._current.readinto(view)
            if count:
                self._whole.update(view[:count])
                return count
            self._current.close()
            self._current = None

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            parts = []
            buffer = bytearray(CHUNK_SIZE)
            while count := self.readinto(buffer):
                parts.append(bytes(buffer[:count]))
            return b"".join(parts)
        buffer = bytearray(size)
        count = self.readinto(buffer)
        return bytes(buffer[:count])

    def _check(self) -> None:
        actual = self._whole.hexdigest()
        if actual != self.id:
            raise CorruptObject(self.id, actual, detail="its chunks do not make up the file")

    def close(self) -> None:
        if self._current is not None:
            self._current.close()
            self._current = None

    def __enter__(self) -> "ChunkedReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
