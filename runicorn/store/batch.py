"""Objects written now and published together later, each durable before its name appears.

A flush per object dominates when thousands of small files are stored (a code
snapshot) or images arrive one by one. In a batch each temp file is fsynced by
a small thread pool as soon as it is written, so durability overlaps with the
caller's work; ``commit`` waits for those fsyncs, links every object into place
and fsyncs the touched fan-out folders. Until then the objects are invisible to
other threads and processes. Thread-safe.
"""

from __future__ import annotations

import contextlib
import os
import threading
from typing import Callable, Iterable

from .atomic import TempFile
from .ids import ObjectId

FSYNC_THREADS = 4  # concurrent fsyncs share journal commits; more threads only contend on small machines


class Batch:
    """See the module docstring. ``publish(pending)`` links the temp files of ``{id: temp path}`` into place."""

    def __init__(self, publish: Callable[[dict[ObjectId, str]], None]):
        self._publish = publish
        self._lock = threading.Lock()
        self._pending: dict[ObjectId, str] = {}  # id -> its temp file
        self._syncer: _Syncer | None = None

    def __contains__(self, oid: str) -> bool:
        return oid in self._pending

    def __len__(self) -> int:
        return len(self._pending)

    def temp_path(self, oid: ObjectId) -> str:
        return self._pending[oid]

    def add(self, oid: ObjectId, temp: TempFile) -> None:
        """Take over a written temp file (its descriptor is closed after its fsync)."""
        with self._lock:
            if oid in self._pending:
                temp.discard()
                return
            if self._syncer is None:
                self._syncer = _Syncer()
            fd, temp.fd = temp.fd, -1
            self._syncer.fsync_and_close(fd)
            self._pending[oid] = temp.path

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
        self._publish(pending)

    def discard(self) -> None:
        pending, syncer = self._take()
        if syncer is not None:
            with contextlib.suppress(OSError):
                syncer.close()
        _remove(pending)


def _remove(pending: dict[ObjectId, str]) -> None:
    for temp_path in pending.values():
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_path)


class _Syncer:
    """fsyncs and closes file descriptors on a few threads, with a bound on how many are open."""

    def __init__(self):
        from concurrent.futures import ThreadPoolExecutor  # here, not at import: most runs never batch

        self._pool = ThreadPoolExecutor(max_workers=FSYNC_THREADS, thread_name_prefix="runicorn-fsync")
        self._slots = threading.BoundedSemaphore(4 * FSYNC_THREADS)
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


def fsync_dirs(folders: Iterable[str], fsync_dir: Callable[[str], None]) -> None:
    """fsync several folders, on a few threads when there are many (each one waits for the disk)."""
    folders = list(folders)
    if len(folders) > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=FSYNC_THREADS) as pool:
            list(pool.map(fsync_dir, folders))
    elif folders:
        fsync_dir(folders[0])
