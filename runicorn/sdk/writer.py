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
"""

from __future__ import annotations

import collections
import os
import threading
import time
from pathlib import Path
from typing import Callable

from ..runfolder import (HEARTBEAT_INTERVAL_SECONDS, MANIFEST, MEDIA, METRICS, TEXT_LOG, append_lines,
                         encode_line, touch_heartbeat)
from ..timeline import TimelineEncoder

FLUSH_INTERVAL_SECONDS = 0.5
MAX_BUFFERED_ROWS = 25_000
WAKE_ROWS = 4_096  # this many buffered rows wake the thread early, so finish() finds only a short tail
_JSON_LINE_FILES = (MEDIA, MANIFEST)  # TEXT_LOG lines are already text; METRICS is binary


class RunWriter:
    def __init__(self, folder: Path, timeline: TimelineEncoder):
        self.folder = folder
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
        self._handles: dict[str, object] = {}
        self._room = threading.Condition(self.lock)  # notified when the buffers are swapped out
        self._wake = threading.Event()  # flush now: rows are piling up, or the run is closing
        self._stop = False
        self._last_beat = 0.0
        self._thread = threading.Thread(target=self._loop, name=f"runicorn-writer-{folder.name}", daemon=True)
        self._thread.start()

    def append(self, name: str, record) -> None:
        with self.lock:
            self.buffers[name].append(record)

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
                pass  # a full or vanished disk must not kill training; finish() reports it

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
            for hook in self.before_write_hooks:
                hook()
            while self._batches:
                self._write(self._batches.popleft())
            for hook in self.flush_hooks:
                hook()
            now = time.monotonic()
            if now - self._last_beat >= HEARTBEAT_INTERVAL_SECONDS:
                touch_heartbeat(self.folder)
                self._last_beat = now

    def _write(self, pending: dict) -> None:
        for name, records in pending.items():
            handle = self._handle(name)
            if name == METRICS:
                handle.write(self._timeline.encode(records, with_magic=handle.tell() == 0))
            else:
                append_lines(handle, [encode_line(r) for r in records] if name in _JSON_LINE_FILES else records)

    def _handle(self, name: str):
        handle = self._handles.get(name)
        if handle is None:
            handle = self._handles[name] = open(self.folder / name, "ab", buffering=0)
            if name != METRICS and handle.tell() > 0:
                _end_torn_line(self.folder / name, handle)
        return handle

    def close(self) -> None:
        """Stop the thread, write everything, and make the appended files durable.

        The thread is not joined: it may be waiting for the buffer lock that the caller holds (a SIGTERM
        handler running inside ``run.log``). Once closed it writes nothing more.
        """
        self._stop = True
        self._wake.set()
        self.flush()
        with self._flush_lock:
            self._closed = True
            for handle in self._handles.values():
                os.fsync(handle.fileno())
                handle.close()
            self._handles.clear()


def _end_torn_line(path: Path, handle) -> None:
    """A line file continued after a crash may end mid-line: end that line, so the next one stays whole."""
    with open(path, "rb") as existing:
        existing.seek(-1, os.SEEK_END)
        if existing.read(1) != b"\n":
            handle.write(b"\n")
