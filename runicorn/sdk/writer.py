"""The run's background writer: buffered appends to its line files, flushed at least once a second.

``run.log`` only appends a dict to an in-memory list under a lock (no file, no
syscall); this thread encodes and appends the rows, refreshes the heartbeat,
and runs flush hooks (the primary metric file). A kill -9 therefore loses at
most the last flush interval.

A script that logs faster than this thread can encode (a tight loop) would
otherwise pile up rows without bound, in memory and in what a kill loses: once
``MAX_BUFFERED_ROWS`` timeline rows wait, ``run.log`` wakes the thread and waits
until it has taken them (backpressure). At most twice that many rows are in
memory: the buffer, and the batch the thread is encoding.

Appends are all-or-nothing (``Appender``). When the disk is full, what did not
fit stays in memory and is tried again at every flush, so training goes on and
nothing is lost if space comes back; past ``MAX_HELD_RECORDS`` the oldest held
records are dropped and counted. The run warns once, and ``lost`` says at
finish what never reached the disk.
"""

from __future__ import annotations

import collections
import threading
import time
from typing import Callable

from ..runfolder import (HEARTBEAT_INTERVAL_SECONDS, MANIFEST, MEDIA, METRICS, TEXT_LOG, Appender, RunFolder,
                         TimelineEncoder, encode_line)
from .warn import warn_user

FLUSH_INTERVAL_SECONDS = 0.5
MAX_BUFFERED_ROWS = 25_000
WAKE_ROWS = 4_096  # this many buffered rows wake the thread early, so finish() finds only a short tail
MAX_HELD_RECORDS = 200_000  # records kept for a retry while the disk refuses them
_JSON_LINE_FILES = (MEDIA, MANIFEST)  # TEXT_LOG lines are already text; METRICS is binary
LOSS_NAMES = {METRICS: "timeline rows", TEXT_LOG: "log lines", MEDIA: "image rows", MANIFEST: "manifest lines"}


class RunWriter:
    def __init__(self, folder: RunFolder, timeline: TimelineEncoder, on_folder_gone: Callable[[], None]):
        self.folder = folder
        self._on_folder_gone = on_folder_gone
        self.folder_gone = False  # deleted under the live run (rm --force): nothing is written any more
        self._timeline = timeline
        self.lock = threading.RLock()  # guards the buffers; re-entrant for a SIGTERM handler in the same thread
        self.buffers: dict[str, list] = {METRICS: [], MEDIA: [], MANIFEST: [], TEXT_LOG: []}
        self.flush_hooks: list[Callable[[], None]] = []
        # Run before queued lines are written: publishes objects those lines name (the image batch).
        self.before_write_hooks: list[Callable[[], None]] = []
        # Swapped-out buffers wait here, in swap order, for whoever holds _flush_lock to write them. The
        # buffer lock is never held while waiting for _flush_lock (nor the reverse), so a SIGTERM handler
        # that finishes the run while the main thread is inside run.log (holding the buffer lock) cannot
        # deadlock with this thread.
        self._batches: collections.deque = collections.deque()
        self._flush_lock = threading.RLock()  # one writer of the files at a time: thread, finish, exit hooks
        self._closed = False
        self._appenders: dict[str, Appender] = {}
        self._room = threading.Condition(self.lock)  # notified when the buffers are swapped out
        self._wake = threading.Event()  # flush now: rows are piling up, or the run is closing
        self._stop = False
        self._last_beat = 0.0
        self.failure: OSError | None = None  # the last error the disk gave, while records are held back
        self.lost: dict[str, int] = {}  # file name -> records dropped for good
        self._warned = False
        self._thread = threading.Thread(target=self._loop, name=f"runicorn-writer-{folder.path.name}", daemon=True)
        self._thread.start()

    def append(self, name: str, record) -> None:
        with self.lock:
            self.buffers[name].append(record)

    @property
    def holding(self) -> bool:
        """Records the disk refused wait for a retry."""
        return bool(self._batches)

    def has_pending(self, name: str) -> bool:
        """Records of one file are buffered or waiting (not yet written)."""
        with self.lock:
            return bool(self.buffers[name]) or any(name in batch for batch in self._batches)

    def wake(self) -> None:
        self._wake.set()

    def wait_for_room(self) -> None:
        """Backpressure for ``run.log``, called with ``lock`` held once MAX_BUFFERED_ROWS rows wait.

        Waiting releases the lock, so the thread can swap the buffers out (a SIGTERM handler may run
        meanwhile: it flushes from this same thread without deadlock, see ``flush``).
        """
        if self._closed or not self._thread.is_alive():
            return
        self._wake.set()
        self._room.wait_for(lambda: len(self.buffers[METRICS]) < MAX_BUFFERED_ROWS or self._closed
                            or not self._thread.is_alive(), timeout=5.0)

    def _loop(self) -> None:
        next_flush = time.monotonic() + FLUSH_INTERVAL_SECONDS
        while True:
            self._wake.wait(max(0.0, next_flush - time.monotonic()))
            self._wake.clear()
            if self._stop:
                return
            next_flush = time.monotonic() + FLUSH_INTERVAL_SECONDS  # the interval runs from swap to swap
            try:
                self.flush()
            except OSError:
                pass  # a vanished folder or a failing disk must not kill training; finish() reports it

    def flush(self) -> None:
        with self.lock:
            pending = {name: buf for name, buf in self.buffers.items() if buf}
            for name in pending:
                self.buffers[name] = []
            if pending:
                self._batches.append(pending)
                self._room.notify_all()
        with self._flush_lock:
            if self._closed:
                return
            if self.folder_gone:
                self._batches.clear()  # dropped: there is no folder to write them to
                return
            for hook in self.before_write_hooks:
                hook()
            self._write_batches()
            for hook in self.flush_hooks:
                hook()
            now = time.monotonic()
            if now - self._last_beat >= HEARTBEAT_INTERVAL_SECONDS:
                try:
                    self.folder.touch_heartbeat()
                except FileNotFoundError:
                    if not self._gone():
                        raise
                self._last_beat = now

    def _write_batches(self) -> None:
        """Write every waiting batch in order; on a refused write keep the rest for the next flush."""
        while self._batches:
            batch = self._batches[0]
            for name in list(batch):
                try:
                    self._write(name, batch[name])
                except OSError as exc:
                    if not self._gone():
                        self._hold_back(exc)
                    return
                del batch[name]
            self._batches.popleft()
        if self.failure is not None:
            warn_user(f"run {self.folder.path.name}: its files are written again ({self._lost_text() or 'nothing lost'})")
            self.failure = None

    def _write(self, name: str, records: list) -> None:
        appender = self._appenders.get(name)
        if appender is None:
            appender = self._appenders[name] = self.folder.appender(name)
        if name == METRICS:
            state = self._timeline.checkpoint()
            try:
                appender.append(self._timeline.encode(records, with_magic=appender.end == 0))
            except BaseException:
                self._timeline.rollback(state)  # the schemas it just defined never reached the file
                raise
        else:
            lines = [encode_line(r) for r in records] if name in _JSON_LINE_FILES else records
            appender.append("".join(line + "\n" for line in lines).encode("utf-8"))

    def _gone(self) -> bool:
        """Whether the run's folder was deleted (then stop writing, and tell the run once)."""
        if self.folder.exists():
            return False
        self.folder_gone = True
        self._batches.clear()
        self._on_folder_gone()
        return True

    def _hold_back(self, error: OSError) -> None:
        """The disk refused a write: keep what waits (up to a bound), warn once, retry at the next flush."""
        self.failure = error
        held = sum(len(records) for batch in self._batches for records in batch.values())
        while held > MAX_HELD_RECORDS and len(self._batches) > 1:
            dropped = self._batches.popleft()
            held -= self._count_lost(dropped)
        if not self._warned:
            self._warned = True
            warn_user(f"run {self.folder.path.name}: cannot write to {self.folder.path} ({error.strerror or error}); "
                      f"what it logs is held in memory and written once the disk takes it again")

    def _count_lost(self, batch: dict) -> int:
        """Add a batch the disk never took to ``lost``; returns how many records it held."""
        count = 0
        for name, records in batch.items():
            self.lost[name] = self.lost.get(name, 0) + len(records)
            count += len(records)
        return count

    def _lost_text(self) -> str:
        return ", ".join(f"{count} {LOSS_NAMES[name]}" for name, count in sorted(self.lost.items()) if count)

    def close(self) -> dict[str, int]:
        """Stop the thread, write everything, and make the appended files durable; returns what was lost.

        The thread is not joined: it may be waiting for the buffer lock that the caller holds (a SIGTERM
        handler running inside ``run.log``). Once closed it writes nothing more.
        """
        self._stop = True
        self._wake.set()
        self.flush()
        with self._flush_lock:
            self._closed = True
            for batch in self._batches:  # the disk still refuses them: they are lost
                self._count_lost(batch)
            self._batches.clear()
            try:
                if not self.folder_gone:
                    for appender in self._appenders.values():
                        appender.sync()
            finally:
                for appender in self._appenders.values():
                    appender.close()
                self._appenders.clear()
        lost = {LOSS_NAMES[name]: count for name, count in self.lost.items() if count}
        if lost:
            warn_user(f"run {self.folder.path.name}: the disk refused part of what it logged; lost for good: "
                      f"{self._lost_text()} ({self.failure.strerror if self.failure else 'write failed'})")
        return lost
