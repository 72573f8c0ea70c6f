"""All-or-nothing appends to a run's append-only files.

A record (a timeline block, a manifest or log line) is appended with as many
writes as it takes; if the disk fills up part-way, the file is cut back to
where it ended before, so it only ever ends at a record boundary and a later
append (once space came back) is readable. The caller keeps the records that
did not fit and decides whether to retry or give up.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..store import fsync_dir


class Appender:
    """One open append-only file of a run folder; ``end`` is where its last whole record ends."""

    def __init__(self, path: Path):
        self.path = path
        created = not path.exists()
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        if created:
            fsync_dir(path.parent)  # the new name must survive a crash as well as its content
        self.end = os.fstat(self._fd).st_size

    def append(self, data: bytes) -> None:
        """Append ``data`` whole, or raise ``OSError`` with the file as it was."""
        view = memoryview(data)
        written = 0
        try:
            while written < len(view):
                count = os.write(self._fd, view[written:])
                if count <= 0:
                    raise OSError(f"write to {self.path.name} returned {count}: the disk may be full")
                written += count
        except OSError:
            if written:
                try:
                    os.ftruncate(self._fd, self.end)
                except OSError:
                    pass  # readers resynchronise at the next whole record
            raise
        self.end += written

    def sync(self) -> None:
        os.fsync(self._fd)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
