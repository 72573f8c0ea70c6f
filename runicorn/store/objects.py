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
  ``locate`` answers where an object is without moving anything (for plans and dry runs).
"""

from __future__ import annotations

import contextlib
import os
import stat
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator

from ..errors import CorruptObject, ObjectNotFound, UnsupportedFormat
from .atomic import TempFile, atomic_write_json, fsync_dir, link_no_clobber, stale_temp_files
from .batch import Batch, fsync_dirs
from .config import read_config, write_default_config
from .faults import crash_point
from .ids import ObjectId, hash_bytes, new_hasher
from .leases import Lease
from .streams import CHUNK_SIZE, VerifyingReader, chain_first, hash_stream, read_chunks

_FANOUT = [f"{i:02x}" for i in range(256)]

# Where ``locate`` finds an object.
PUBLISHED = "published"  # a regular file under objects/
PENDING = "pending"      # written in this thread's open batch, not yet published
TRASHED = "trashed"      # moved to trash/ by gc; the next read or write takes it back
DAMAGED = "damaged"      # something that is not a regular file sits at its name (a folder, a symlink)


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
        self.leases_dir = self.root / "leases"
        config_path = self.root / "config.json"
        if config_path.exists():
            self.config = read_config(config_path)
        elif _holds_objects(self.objects_dir) or _holds_objects(self.trash_dir):
            # Recreating the config here could bless the wrong folder (or a damaged store) as a store.
            raise UnsupportedFormat(
                f"{self.root} holds objects but no config.json: it is a damaged store or not a Runicorn store; "
                f"if it is yours, restore config.json from a backup (docs/format.md, section 3 shows its content)")
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
        self._litter_checked = False
        self._config_lock = threading.Lock()
        # Hot paths build object, trash and temp paths by string joins (pathlib costs microseconds each).
        self._objects_prefix = str(self.objects_dir) + os.sep
        self._trash_prefix = str(self.trash_dir) + os.sep
        self._tmp = str(self.tmp_dir)

    # -- layout -------------------------------------------------------------

    def path_for(self, object_id: str) -> Path:
        """The one mapping from id to file; validates the id before building a path."""
        return Path(self._object_path(object_id))

    def _object_path(self, object_id: str) -> str:
        """``path_for`` as a string, for the hot paths (pathlib joins cost microseconds each)."""
        oid = ObjectId.parse(object_id)
        return f"{self._objects_prefix}{oid[:2]}/{oid[2:]}"

    def trash_path_for(self, object_id: str) -> Path:
        return Path(self._trash_path(ObjectId.parse(object_id)))

    def _trash_path(self, oid: ObjectId) -> str:
        return f"{self._trash_prefix}{oid[:2]}/{oid[2:]}"

    # -- presence -----------------------------------------------------------

    def locate(self, object_id: str) -> str | None:
        """Where the object is (``PUBLISHED``, ``PENDING``, ``TRASHED``, ``DAMAGED``) or None; changes nothing."""
        oid = ObjectId.parse(object_id)
        batch = self._current_batch()
        if batch is not None and oid in batch:
            return PENDING
        try:
            mode = os.lstat(self._object_path(oid)).st_mode
            return PUBLISHED if stat.S_ISREG(mode) else DAMAGED
        except FileNotFoundError:
            pass
        try:
            return TRASHED if stat.S_ISREG(os.lstat(self._trash_path(oid)).st_mode) else None
        except FileNotFoundError:
            return None

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

    def take_back(self, object_id: str) -> bool:
        """Move an object gc trashed back into ``objects/``; False when it is not in the trash."""
        return self._recover_from_trash(ObjectId.parse(object_id))

    def _recover_from_trash(self, oid: ObjectId) -> bool:
        trashed = self._trash_path(oid)
        if not os.path.exists(trashed):
            return False
        final = self._object_path(oid)
        try:
            os.link(trashed, final)
        except FileExistsError:
            pass
        except FileNotFoundError:  # a concurrent reader or a purge took it first, or the fan-out folder is gone
            if os.path.exists(trashed):
                os.makedirs(os.path.dirname(final), exist_ok=True)
                return self._recover_from_trash(oid)
            return os.path.exists(final)
        os.utime(final)
        fsync_dir(os.path.dirname(final))
        with contextlib.suppress(FileNotFoundError):
            os.unlink(trashed)
        return True

    # -- writing ------------------------------------------------------------

    def put_bytes(self, data: bytes | bytearray | memoryview, *, batch: Batch | None = None) -> ObjectId:
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
        return self._put_chunks(read_chunks(stream))[0]

    def put_file(self, path: str | os.PathLike) -> ObjectId:
        """Store a file's bytes (one read: hashing while copying)."""
        return self.put_file_sized(path)[0]

    def put_file_sized(self, path: str | os.PathLike, *, batch: Batch | None = None) -> tuple[ObjectId, int]:
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
                return self._put_chunks(chain_first(memoryview(data), stream), batch)
            return self._put_chunks(read_chunks(stream), batch)

    def _new_temp(self) -> TempFile:
        try:
            return TempFile(self._tmp)
        except FileNotFoundError:  # tmp/ removed by hand: recreate it
            self.tmp_dir.mkdir(exist_ok=True)
            return TempFile(self._tmp)

    def _put_chunks(self, chunks, batch: Batch | None = None,
                    known_id: ObjectId | None = None) -> tuple[ObjectId, int]:
        """Copy ``chunks`` to a temp file while hashing them, then publish (or hand to the batch).

        ``known_id``: the caller hashed these bytes and found no such object; they are not hashed again.
        """
        hasher = new_hasher() if known_id is None else None
        with self._new_temp() as temp:  # discarded if anything below raises
            for chunk in chunks:
                if hasher is not None:
                    hasher.update(chunk)
                temp.write(chunk)
            if hasher is None:
                oid = known_id
            else:
                oid = ObjectId(hasher.hexdigest())
                if self.has(oid, freshen=True):
                    temp.discard()
                    return oid, temp.size
            os.fchmod(temp.fd, 0o444)
            if batch is None:  # (not `batch or ...`: an empty Batch is falsy)
                batch = self._current_batch()
            if batch is not None:
                # Made durable in the background while the batch goes on; published at its commit.
                batch.add(oid, temp)
                return oid, temp.size
            temp.close(durable=True)
            self._publish_one(temp.path, oid)
            return oid, temp.size

    def repair(self, object_id: str, stream: BinaryIO) -> None:
        """Replace a damaged object with good bytes (from a bundle or a backup) that hash to its id.

        Whatever sat at its name (corrupt bytes, a folder, a link) is moved aside into ``tmp/``, not deleted.
        """
        oid = ObjectId.parse(object_id)
        hasher = new_hasher()
        with self._new_temp() as temp:
            for chunk in read_chunks(stream):
                hasher.update(chunk)
                temp.write(chunk)
            if hasher.hexdigest() != oid:
                raise CorruptObject(oid, hasher.hexdigest(), detail="the replacement offered does not match either")
            final = self._object_path(oid)
            if os.path.lexists(final) and not stat.S_ISREG(os.lstat(final).st_mode):
                os.rename(final, os.path.join(self._tmp, f".damaged-{oid}-{os.urandom(4).hex()}"))
            temp.replace(final, mode=0o444)

    def _publish_one(self, temp_path: str, oid: ObjectId) -> None:
        final = self._object_path(oid)
        self._link(temp_path, final)
        fsync_dir(os.path.dirname(final))

    def _link(self, temp_path: str, final: str) -> None:
        """Link a durable temp file to its final name, never clobbering (a fan-out folder removed by hand is remade)."""
        try:
            link_no_clobber(temp_path, final)
        except FileNotFoundError:
            os.makedirs(os.path.dirname(final), exist_ok=True)
            fsync_dir(self.objects_dir)
            link_no_clobber(temp_path, final)
        crash_point("objects")

    def _publish_all(self, pending: dict[ObjectId, str]) -> None:
        parents = set()
        for oid, temp_path in pending.items():
            final = self._object_path(oid)
            self._link(temp_path, final)
            parents.add(os.path.dirname(final))
        fsync_dirs(parents, fsync_dir)

    def _current_batch(self) -> Batch | None:
        return getattr(self._local, "batch", None)

    def remove_litter(self) -> int:
        """Delete temp files of writers that are gone (a killed snapshot, save or import); once per store object.

        Returns how many were removed. A live writer's temp files are never touched (``owner``).
        """
        if self._litter_checked:
            return 0
        self._litter_checked = True
        removed = 0
        for path in stale_temp_files(self.tmp_dir, time.time()):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
                removed += 1
        return removed

    def declare_extension(self, name: str) -> None:
        """Add an extension to the store's config before the first object that needs it is written, so a
        Runicorn that does not know it refuses the store instead of misreading it."""
        if name in self.config.get("extensions", []):
            return
        with self._config_lock:
            current = read_config(self.root / "config.json")  # another process may have added one meanwhile
            if name not in current["extensions"]:
                current["extensions"] = sorted(current["extensions"] + [name])
                atomic_write_json(self.root / "config.json", current)
            self.config = current

    def lease(self) -> Lease:
        """A lease to hold while putting objects that a root will name soon (see ``leases``)."""
        return Lease(self.leases_dir)

    def new_batch(self) -> Batch:
        """A batch to hold for a while (a run's images); commit it before naming its objects."""
        return Batch(self._publish_all)

    @contextlib.contextmanager
    def batch(self) -> Iterator["ObjectStore"]:
        """Group the puts of this thread in a ``Batch``, committed when the block ends.

        Objects become visible only at the end of the block; if the block raises,
        none of them does.
        """
        if self._current_batch() is not None:  # nested: the outer batch publishes
            yield self
            return
        batch = self._local.batch = self.new_batch()
        try:
            yield self
        except BaseException:
            batch.discard()
            raise
        finally:
            self._local.batch = None
        batch.commit()

    # -- reading ------------------------------------------------------------

    def open(self, object_id: str, *, take_back: bool = True) -> VerifyingReader:
        """A stream over the object that raises ``CorruptObject`` at EOF if bytes do not match.

        ``take_back=False`` reads a trashed object where it lies instead of moving it back (dry runs, plans).
        """
        oid = ObjectId.parse(object_id)
        path = self._object_path(oid)
        batch = self._current_batch()
        if batch is not None and oid in batch:
            path = batch.temp_path(oid)  # put earlier in this thread's batch: readable before it is published
        try:
            handle = open(path, "rb", buffering=0)
        except FileNotFoundError:
            if not take_back:
                try:
                    return VerifyingReader(oid, open(self._trash_path(oid), "rb", buffering=0))
                except FileNotFoundError:
                    raise self._missing(oid) from None
            if not self._recover_from_trash(oid):
                raise self._missing(oid) from None
            handle = open(path, "rb", buffering=0)
        return VerifyingReader(oid, handle)

    def get(self, object_id: str, *, take_back: bool = True) -> bytes:
        """Whole object in memory: for small objects such as trees and config files."""
        with self.open(object_id, take_back=take_back) as reader:
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
        with open(self._object_path(oid), "rb", buffering=0) as handle:
            actual, _ = hash_stream(handle)
        return None if actual == oid else actual


def _holds_objects(folder: Path) -> bool:
    """Whether a fan-out folder under ``folder`` holds anything (a store, not a fresh folder)."""
    try:
        with os.scandir(folder) as fanout:
            for prefix in fanout:
                if prefix.is_dir(follow_symlinks=False):
                    with os.scandir(prefix.path) as entries:
                        if any(entries):
                            return True
    except (FileNotFoundError, NotADirectoryError):
        return False
    return False


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
