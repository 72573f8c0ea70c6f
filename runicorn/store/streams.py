"""Streams of object bytes: chunked reading in bounded memory, hashing, verify-on-read, and progress by bytes."""

from __future__ import annotations

from typing import BinaryIO, Iterator

from ..errors import CorruptObject
from .faults import crash_point
from .ids import ObjectId, new_hasher
from .progress import Progress

CHUNK_SIZE = 1 << 20


def read_chunks(stream: BinaryIO) -> Iterator[memoryview]:
    """Yield chunks into one reused buffer: the consumer must use each before the next."""
    buffer = bytearray(CHUNK_SIZE)
    view = memoryview(buffer)
    readinto = getattr(stream, "readinto", None)
    while True:
        if readinto is not None:
            count = readinto(view)
            if not count:
                return
            yield view[:count]
        else:
            data = stream.read(CHUNK_SIZE)
            if not data:
                return
            yield memoryview(data)


def chain_first(first: memoryview, stream: BinaryIO) -> Iterator[memoryview]:
    """A file that grew past one chunk while being read: what was read, then the rest."""
    yield first
    yield from read_chunks(stream)


def hash_stream(stream: BinaryIO) -> tuple[ObjectId, int]:
    """The id a stream's bytes would have, and their count, without storing them."""
    hasher = new_hasher()
    size = 0
    for chunk in read_chunks(stream):
        hasher.update(chunk)
        size += len(chunk)
    return ObjectId(hasher.hexdigest()), size


class VerifyingReader:
    """A read-only binary stream over an object that re-hashes what it returns and checks at EOF."""

    def __init__(self, oid: ObjectId, handle: BinaryIO):
        self.id = oid
        self._handle = handle
        self._hasher = new_hasher()
        self._checked = False

    def read(self, size: int = -1) -> bytes:
        if size == 0:  # not EOF: checking here would judge a partial hash
            return b""
        if size is None or size < 0:
            data = self._handle.readall()
        else:
            data = self._handle.read(size)
        if data:
            self._hasher.update(data)
        if not data or size is None or size < 0:
            self._check()
        return data

    def readinto(self, buffer) -> int:
        count = self._handle.readinto(buffer)
        if count:
            self._hasher.update(memoryview(buffer)[:count])
        elif memoryview(buffer).nbytes:  # an empty buffer reads nothing without being at EOF
            self._check()
        return count

    def _check(self) -> None:
        if self._checked:
            return
        self._checked = True
        actual = self._hasher.hexdigest()
        if actual != self.id:
            raise CorruptObject(self.id, actual)

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> "VerifyingReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class ProgressReader:
    """Wraps a stream and reports every byte read, so one large file moves a bar smoothly."""

    def __init__(self, stream: BinaryIO, progress: Progress):
        self._stream = stream
        self._progress = progress

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        if data:
            self._progress.advance(len(data))
            crash_point("bytes", len(data))
        return data

    def readinto(self, buffer) -> int:
        count = self._stream.readinto(buffer)
        if count:
            self._progress.advance(count)
            crash_point("bytes", count)
        return count
