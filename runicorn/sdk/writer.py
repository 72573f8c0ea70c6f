"""The run's background writer: buffered appends to its line files, flushed at least once a second.

``run.log`` only appends a dict to an in-memory list under a lock (no file, no
syscall); this thread encodes and appends the rows, refreshes the heartbeat,
and runs flush hooks (the primary metric file). A kill -9 therefore loses at
most the last flush interval.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Callable

from ..runfolder import (HEARTBEAT_INTERVAL_SECONDS, MANIFEST, MEDIA, METRICS, TEXT_LOG, append_lines,
                         encode_line, touch_heartbeat)
from ..timeline import TimelineEncoder

FLUSH_INTERVAL_SECONDS = 0.5
_JSON_LINE_FILES = (MEDIA, MANIFEST)  # TEXT_LOG lines are already text; METRICS is binary


class RunWriter:
    def __init__(self, folder: Path, timeline: TimelineEncoder):
        self.folder = folder
        self._timeline = timeline
        self.lock = threading.RLock()  # guards the buffers; re-entrant for a SIGTERM handler in the same thread
        self.buffers: dict[str, list] = {METRICS: [], MEDIA: [], MANIFEST: [], TEXT_LOG: []}
        self.flush_hooks: list[Callable[[], None]] = []
        self._flush_lock = threading.RLock()  # one flush at a time: thread, finish, exit hooks
        self._handles: dict[str, object] = {}
        self._stop = threading.Event()
        self._last_beat = 0.0
        self._thread = threading.Thread(target=self._loop, name=f"runicorn-writer-{folder.name}", daemon=True)
        self._thread.start()

    def append(self, name: str, record) -> None:
        with self.lock:
            self.buffers[name].append(record)

    def _loop(self) -> None:
        while not self._stop.wait(FLUSH_INTERVAL_SECONDS):
            try:
                self.flush()
            except OSError:
                pass  # a full or vanished disk must not kill training; finish() reports it

    def flush(self) -> None:
        with self._flush_lock:
            with self.lock:
                pending = {name: buf for name, buf in self.buffers.items() if buf}
                for name in pending:
                    self.buffers[name] = []
            for name, records in pending.items():
                handle = self._handle(name)
                if name == METRICS:
                    handle.write(self._timeline.encode(records, with_magic=handle.tell() == 0))
                else:
                    append_lines(handle, [encode_line(r) for r in records] if name in _JSON_LINE_FILES else records)
            for hook in self.flush_hooks:
                hook()
            now = time.monotonic()
            if now - self._last_beat >= HEARTBEAT_INTERVAL_SECONDS:
                touch_heartbeat(self.folder)
                self._last_beat = now

    def _handle(self, name: str):
        handle = self._handles.get(name)
        if handle is None:
            handle = self._handles[name] = open(self.folder / name, "ab", buffering=0)
        return handle

    def close(self) -> None:
        """Stop the thread, write everything, and make the appended files durable."""
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join()
        self.flush()
        with self._flush_lock:
            for handle in self._handles.values():
                os.fsync(handle.fileno())
                handle.close()
            self._handles.clear()
