"""The content-addressed object store: write-once, read-only blobs named by their blake3.

Layout under the store folder (docs/format.md has the full tree)::

    config.json   objects/ab/<62 hex>   tmp/   trash/ab/<62 hex>   cache/

Invariants kept here:
- An object appears under its final name only complete and durable: bytes go to
  a temp file in ``tmp/`` (same filesystem), are fsynced, and are then *linked*
  into place, so a concurrent writer of the same bytes never clobbers a
  published object and a crash leaves at most a stray temp file.
- Putting an object that exists writes nothing and refreshes its mtime, so the
  gc grace period protects an object a writer is about to reference.
- An object missing from ``objects/`` but present in ``trash/`` (gc put it there)
  is moved back on first use: readers and writers never lose it to the gc race.
"""

from __future__ import annotations

import contextlib
import os
import stat
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator

from ..errors import CorruptObject, ObjectNotFound
from .atomic import fsync_dir, temp_leaf
from .config import read_config, write_default_config
from .ids import ObjectId, hash_bytes, new_hasher

CHUNK_SIZE = 1 << 20
_FSYNC_THREADS = 4  # concurrent fsyncs share journal commits; more threads only contend on small machines
_FANOUT = [f"{i:02x}" for i in range(256)]


@dataclass(frozen=True)
class StoredObject:
    """An object as listed from disk."""

    id: ObjectId
    size: int
    mtime: float


class ObjectStore:
    """A store folder; one instance may be shared between threads."""

    def __init__(self, root: str | os.PathLike, *, create: bool = True):
        self.root = Path(root)
        self.objects_dir = self.root / "objects"
        self.tmp_dir = self.root / "tmp"
        self.trash_dir = self.root / "trash"
        self.cache_dir = self.root / "cache"
        config_path = self.root / "config.json"
        if config_path.exists():
            self.config = read_config(config_path)
        elif create:
            for folder in (self.objects_dir, self.tmp_dir, self.trash_dir, self.cache_dir):
                folder.mkdir(parents=True, exist_ok=True)
            # All fan-out folders up front: publishing never has to create (and fsync) one.
            for prefix in _FANOUT:
                (self.objects_dir / prefix).mkdir(exist_ok=True)
            fsync_dir(self.objects_dir)
            self.config = write_default_config(config_path)
        else:
            raise ObjectNotFound(f"no Runicorn store at {self.root} (no config.json)")
        self._local = threading.local()  # .batch: the Batch of a `with store.batch()` in this thread
        # Hot paths build object, trash and temp paths by string joins (pathlib costs microseconds each).
        self._objects_prefix = str(self.objects_dir) + os.sep
        self._trash_prefix = str(self.trash_dir) + os.sep
        self._tmp_prefix = str(self.tmp_dir) + os.sep

    # -- layout -------------------------------------------------------------

    def path_for(self, object_id: str) -> Path:
        """The one mapping from id to file; validates the id before building a path."""
        return Path(self._object_path(object_id))

    def _object_path(self, object_id: str) -> str:
        """``path_for`` as a string, for the hot paths (pathlib joins cost microseconds each)."""
        oid = ObjectId.parse(object_id)
        return f"{self._objects_prefix}{oid[:2]}/{oid[2:]}"

    def trash_path_for(self, oid: ObjectId) -> Path:
        return Path(self._trash_path(oid))

    def _trash_path(self, oid: ObjectId) -> str:
        return f"{self._trash_prefix}{oid[:2]}/{oid[2:]}"

    # -- presence -----------------------------------------------------------

    def has(self, object_id: str, *, freshen: bool = False) -> bool:
        """True if the object exists (taking it back from the trash if gc put it there)."""
        oid = ObjectId.parse(object_id)
        path = self._object_path(oid)
        batch = self._current_batch()
        if batch is not None and oid in batch:
            return True
        try:
            if freshen:
                os.utime(path)
            else:
                os.stat(path)
            return True
        except FileNotFoundError:
            return self._recover_from_trash(oid)

    def _missing(self, object_id: str) -> ObjectNotFound:
        return ObjectNotFound(f"object {object_id} is not in the store at {self.root} (nor in its trash); "
                              "run `runicorn verify` to list every missing object and the runs that need it")

    def freshen(self, object_id: str) -> None:
        """Refresh an existing object's mtime so a concurrent gc keeps it; raise if absent."""
        if not self.has(object_id, freshen=True):
            raise self._missing(object_id)

    def _recover_from_trash(self, oid: ObjectId) -> bool:
        trashed = self._trash_path(oid)
        if not os.path.exists(trashed):
            return False
        final = self.path_for(oid)
        final.parent.mkdir(exist_ok=True)
        try:
            os.link(trashed, final)
        except FileExistsError:
            pass
        except FileNotFoundError:  # a concurrent reader or a purge took it first
            return final.exists()
        os.utime(final)
        fsync_dir(final.parent)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(trashed)
        return True

    # -- writing ------------------------------------------------------------

    def put_bytes(self, data: bytes | bytearray | memoryview, *, batch: "Batch | None" = None) -> ObjectId:
        """Store bytes held in memory: hashed first, so an existing object costs no temp file.

        With ``batch``, the object is published when that batch is committed.
        """
        view = memoryview(data)
        oid = hash_bytes(view)
        if self.has(oid, freshen=True) or (batch is not None and oid in batch):
            return oid
        # bytes cannot change between hashing and copying, so they are not hashed twice
        # (a bytearray or a view of a mapped file could: those are hashed again as they are copied).
        return self._put_chunks([view], batch, known_id=oid if isinstance(data, bytes) else None)[0]

    def put_stream(self, stream: BinaryIO) -> ObjectId:
        """Store everything ``stream`` yields, in bounded memory."""
        return self._put_chunks(_read_chunks(stream))[0]

    def put_file(self, path: str | os.PathLike) -> ObjectId:
        """Store a file's bytes (one read: hashing while copying)."""
        return self.put_file_sized(path)[0]

    def put_file_sized(self, path: str | os.PathLike, *, batch: "Batch | None" = None) -> tuple[ObjectId, int]:
        """Store a file and return its id with the number of bytes actually stored.

        The size can differ from an earlier stat when the file is being written.
        """
        with open(path, "rb", buffering=0) as stream:
            if os.fstat(stream.fileno()).st_size <= CHUNK_SIZE:
                # Small files (most of a code snapshot): hash first, so an existing object costs
                # no temp file, and no 1 MiB buffer is allocated per file.
                data = stream.readall()
                if len(data) <= CHUNK_SIZE:
                    return self.put_bytes(data, batch=batch), len(data)
                return self._put_chunks(_chain_first(memoryview(data), stream), batch)
            return self._put_chunks(_read_chunks(stream), batch)

    def _put_chunks(self, chunks, batch: "Batch | None" = None,
                    known_id: ObjectId | None = None) -> tuple[ObjectId, int]:
        """Copy ``chunks`` to a temp file while hashing them, then publish (or hand to the batch).

        ``known_id``: the caller hashed these bytes and found no such object; they are not hashed again.
        """
        tmp = self._tmp_prefix + temp_leaf()
        hasher = new_hasher() if known_id is None else None
        size = 0
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileNotFoundError:  # tmp/ removed by hand: recreate it
            self.tmp_dir.mkdir(exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            for chunk in chunks:
                if hasher is not None:
                    hasher.update(chunk)
                size += len(chunk)
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view):]
            if hasher is None:
                oid = known_id
            else:
                oid = ObjectId(hasher.hexdigest())
                if self.has(oid, freshen=True):
                    os.close(fd)
                    fd = -1
                    os.unlink(tmp)
                    return oid, size
            os.fchmod(fd, 0o444)
            if batch is None:  # (not `batch or ...`: an empty Batch is falsy)
                batch = self._current_batch()
            if batch is not None:
                # Made durable in the background while the batch goes on; published at its commit.
                batch.add(oid, tmp, fd)  # takes over the descriptor
                fd = -1
                return oid, size
            os.fsync(fd)
            os.close(fd)
            fd = -1
            self._publish(tmp, oid)
            fsync_dir(self._object_path(oid).rpartition("/")[0])
            return oid, size
        except BaseException:
            if fd >= 0:
                os.close(fd)
            _unlink_quietly(tmp)
            raise

    def _publish(self, tmp: str, oid: ObjectId) -> None:
        """Link a durable temp file to its final name, never clobbering, then drop the temp."""
        final = self._object_path(oid)
        try:
            os.link(tmp, final)
        except FileNotFoundError:
            os.makedirs(os.path.dirname(final), exist_ok=True)
            fsync_dir(self.objects_dir)
            try:
                os.link(tmp, final)
            except FileExistsError:
                os.utime(final)
        except FileExistsError:
            os.utime(final)  # another writer published the same bytes first
        os.unlink(tmp)

    def _current_batch(self) -> "Batch | None":
        return getattr(self._local, "batch", None)

    def new_batch(self) -> "Batch":
        """A batch to hold for a while (a run's images); commit it before naming its objects."""
        return Batch(self)

    @contextlib.contextmanager
    def batch(self) -> Iterator["ObjectStore"]:
        """Group the puts of this thread in a ``Batch``, committed when the block ends.

        Objects become visible only at the end of the block; if the block raises,
        none of them does.
        """
        if self._current_batch() is not None:  # nested: the outer batch publishes
            yield self
            return
        batch = self._local.batch = Batch(self)
        try:
            yield self
        except BaseException:
            batch.discard()
            raise
        finally:
            self._local.batch = None
        batch.commit()

    def _publish_all(self, pending: dict[ObjectId, str]) -> None:
        parents = set()
        for oid, tmp in pending.items():
            self._publish(tmp, oid)
            parents.add(self._object_path(oid).rpartition("/")[0])
        if len(parents) > 1:
            with ThreadPoolExecutor(max_workers=_FSYNC_THREADS) as pool:
                list(pool.map(fsync_dir, parents))
        elif parents:
            fsync_dir(parents.pop())

    # -- reading ------------------------------------------------------------

    def open(self, object_id: str) -> "VerifyingReader":
        """A stream over the object that raises ``CorruptObject`` at EOF if bytes do not match."""
        oid = ObjectId.parse(object_id)
        path = self.path_for(oid)
        batch = self._current_batch()
        if batch is not None and oid in batch:
            path = batch.temp_path(oid)  # put earlier in this thread's batch: readable before it is published
        try:
            handle = open(path, "rb", buffering=0)
        except FileNotFoundError:
            if not self._recover_from_trash(oid):
                raise self._missing(oid) from None
            handle = open(path, "rb", buffering=0)
        return VerifyingReader(oid, handle)

    def get(self, object_id: str) -> bytes:
        """Whole object in memory: for small objects such as trees and config files."""
        with self.open(object_id) as reader:
            return reader.read()

    def size(self, object_id: str) -> int:
        path = self.path_for(object_id)
        try:
            return path.stat().st_size
        except FileNotFoundError:
            if self._recover_from_trash(ObjectId.parse(object_id)):
                return path.stat().st_size
            raise self._missing(object_id) from None

    def iter_objects(self) -> Iterator[StoredObject]:
        """Every published object with its size and mtime (unsorted)."""
        yield from _iter_fanout(self.objects_dir)

    def iter_trash(self) -> Iterator[StoredObject]:
        yield from _iter_fanout(self.trash_dir)

    def verify_object(self, object_id: str) -> ObjectId | None:
        """Re-hash one object in place; return the actual id when it differs, else None."""
        oid = ObjectId.parse(object_id)
        with open(self.path_for(oid), "rb", buffering=0) as handle:
            actual, _ = hash_stream(handle)
        return None if actual == oid else actual


class VerifyingReader:
    """A read-only binary stream that re-hashes what it returns and checks at EOF."""

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


def _chain_first(first: memoryview, stream: BinaryIO) -> Iterator[memoryview]:
    """A file that grew past one chunk while being read: what was read, then the rest."""
    yield first
    yield from _read_chunks(stream)


def hash_stream(stream: BinaryIO) -> tuple[ObjectId, int]:
    """The id a stream's bytes would have, and their count, without storing them."""
    hasher = new_hasher()
    size = 0
    for chunk in _read_chunks(stream):
        hasher.update(chunk)
        size += len(chunk)
    return ObjectId(hasher.hexdigest()), size


def _read_chunks(stream: BinaryIO) -> Iterator[memoryview]:
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


class Batch:
    """Objects written now and published together later, each durable before its name appears.

    A flush per object dominates when thousands of small files are stored (a
    code snapshot) or images arrive one by one. In a batch each temp file is
    fsynced by a small thread pool as soon as it is written, so durability
    overlaps with the caller's work; ``commit`` waits for those fsyncs, links
    every object into place and fsyncs the touched fan-out folders. Until then
    the objects are invisible to other threads and processes. Thread-safe.
    """

    def __init__(self, store: ObjectStore):
        self._store = store
        self._lock = threading.Lock()
        self._pending: dict[ObjectId, str] = {}  # id -> its temp file
        self._syncer: _Syncer | None = None

    def __contains__(self, oid: str) -> bool:
        return oid in self._pending

    def __len__(self) -> int:
        return len(self._pending)

    def temp_path(self, oid: ObjectId) -> Path:
        return Path(self._pending[oid])

    def add(self, oid: ObjectId, tmp: str, fd: int) -> None:
        """Take over a written temp file (and its open descriptor, closed after its fsync)."""
        with self._lock:
            if oid in self._pending:
                os.close(fd)
                os.unlink(tmp)
                return
            if self._syncer is None:
                self._syncer = _Syncer()
            self._syncer.fsync_and_close(fd)
            self._pending[oid] = tmp

    def _take(self) -> tuple[dict[ObjectId, str], "_Syncer | None"]:
        with self._lock:
            taken = self._pending, self._syncer
            self._pending, self._syncer = {}, None
        return taken

    def commit(self) -> None:
        """Publish everything added so far; on a failed fsync nothing of it is published."""
        pending, syncer = self._take()
        if syncer is None:
            return
        try:
            syncer.close()
        except BaseException:
            _remove(pending)
            raise
        self._store._publish_all(pending)

    def discard(self) -> None:
        pending, syncer = self._take()
        if syncer is not None:
            with contextlib.suppress(OSError):
                syncer.close()
        _remove(pending)


def _remove(pending: dict[ObjectId, str]) -> None:
    for tmp in pending.values():
        _unlink_quietly(tmp)


def _unlink_quietly(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


class _Syncer:
    """fsyncs and closes file descriptors on a few threads, with a bound on how many are open."""

    def __init__(self):
        self._pool = ThreadPoolExecutor(max_workers=_FSYNC_THREADS, thread_name_prefix="runicorn-fsync")
        self._slots = threading.BoundedSemaphore(4 * _FSYNC_THREADS)
        self._errors: list[BaseException] = []

    def fsync_and_close(self, fd: int) -> None:
        self._slots.acquire()
        self._pool.submit(self._run, fd)

    def _run(self, fd: int) -> None:
        try:
            os.fsync(fd)
        except OSError as exc:
            self._errors.append(exc)
        finally:
            os.close(fd)
            self._slots.release()

    def close(self) -> None:
        """Wait for every fsync; raise the first failure (a full or failing disk)."""
        self._pool.shutdown(wait=True)
        if self._errors:
            raise self._errors[0]


def _iter_fanout(base: Path) -> Iterator[StoredObject]:
    try:
        fanout = list(os.scandir(base))
    except FileNotFoundError:
        return
    for prefix in fanout:
        if len(prefix.name) != 2 or not prefix.is_dir(follow_symlinks=False):
            continue
        try:
            entries = list(os.scandir(prefix.path))
        except FileNotFoundError:
            continue
        for entry in entries:
            name = prefix.name + entry.name
            try:
                oid = ObjectId(name)
                st = entry.stat(follow_symlinks=False)
            except (ValueError, FileNotFoundError):
                continue  # foreign files are verify's business, not a listing's
            if stat.S_ISREG(st.st_mode):
                yield StoredObject(oid, st.st_size, st.st_mtime)
