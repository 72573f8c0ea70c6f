"""Stat cache: (path, device, inode, size, mtime_ns) -> object id, so unchanged files are not re-read.

It is an accelerator only. An entry is used when every stat field matches, the
object still exists, and the file's mtime was already older than the racy
window when it was hashed (a write in the same timestamp tick could otherwise
keep size and mtime while changing bytes: git's "racy clean" problem). The
database may be deleted at any time; a damaged or locked database is rebuilt
or bypassed, never trusted.
"""

from __future__ import annotations

import os
from pathlib import Path

from .chunked import StoredFile
from .ids import ObjectId

# Filesystems with sub-second timestamps tick at most every jiffy (<= 10 ms);
# a whole-second mtime may come from a coarse one (FAT ticks 2 s).
_FINE_RACY_WINDOW_NS = 100_000_000
_COARSE_RACY_WINDOW_NS = 3_000_000_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY,
    dev INTEGER NOT NULL, ino INTEGER NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
    oid TEXT NOT NULL
)
"""


def racy_window_ns(mtime_ns: int) -> int:
    return _COARSE_RACY_WINDOW_NS if mtime_ns % 1_000_000_000 == 0 else _FINE_RACY_WINDOW_NS


class StatCache:
    """One SQLite file under ``store/cache/``; safe for several processes at once."""

    def __init__(self, path: str | os.PathLike):
        import sqlite3  # here, not at import: a run that logs only metrics never opens the cache

        self._sqlite = sqlite3
        self.path = Path(path)
        self._pending: list[tuple] = []
        self._prefetched: dict[str, tuple] = {}
        self._prefetched_prefix: str | None = None
        self._db = self._connect()

    def _connect(self):
        for attempt in range(2):
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                db = self._sqlite.connect(self.path, timeout=2.0, isolation_level=None, check_same_thread=False)
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=OFF")  # losing recent entries only costs a re-hash
                db.execute(_SCHEMA)
                return db
            except self._sqlite.DatabaseError:
                if attempt == 0:
                    for suffix in ("", "-wal", "-shm"):
                        Path(str(self.path) + suffix).unlink(missing_ok=True)
            except OSError:
                return None
        return None

    def prefetch(self, folder: str) -> None:
        """Load every entry below ``folder`` with one range query instead of one query per file."""
        if self._db is None:
            return
        prefix = folder.rstrip("/") + "/"
        try:
            rows = self._db.execute(
                "SELECT path, dev, ino, size, mtime_ns, oid FROM files WHERE path >= ? AND path < ?",
                (prefix, prefix[:-1] + "0"),  # "0" sorts right after "/": the range is exactly the folder
            ).fetchall()
        except self._sqlite.Error:
            return
        self._prefetched = {row[0]: row[1:] for row in rows}
        self._prefetched_prefix = prefix

    def lookup(self, path: str, st: os.stat_result) -> StoredFile | None:
        """How ``path`` was stored (its id, and its chunk list when chunked) if its stat still matches, else None."""
        if self._db is None:
            return None
        if self._prefetched_prefix is not None and path.startswith(self._prefetched_prefix):
            row = self._prefetched.get(path)
        else:
            try:
                row = self._db.execute(
                    "SELECT dev, ino, size, mtime_ns, oid FROM files WHERE path = ?", (path,)
                ).fetchone()
            except self._sqlite.Error:
                return None
        if row is None or row[:4] != (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns):
            return None
        try:
            file_id, _, chunks = row[4].partition("+")  # "<file id>" or "<file id>+<chunk list id>"
            return StoredFile(ObjectId(file_id), st.st_size, ObjectId(chunks) if chunks else None)
        except ValueError:  # a damaged row is a miss, never an error
            return None

    def record(self, path: str, st: os.stat_result, stored: StoredFile, hashed_at_ns: int) -> None:
        """Remember how a file was stored unless it was modified too recently to trust its mtime."""
        if hashed_at_ns - st.st_mtime_ns <= racy_window_ns(st.st_mtime_ns):
            return
        value = stored.id + (f"+{stored.chunks}" if stored.chunks else "")
        self._pending.append((path, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, value))

    def commit(self) -> None:
        pending, self._pending = self._pending, []
        if self._db is None or not pending:
            return
        try:
            with self._db:
                self._db.execute("BEGIN")
                self._db.executemany("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?)", pending)
        except self._sqlite.Error:
            pass  # an accelerator: a busy or broken cache only means re-hashing next time

    def close(self) -> None:
        self.commit()
        if self._db is not None:
            self._db.close()
            self._db = None

    def __enter__(self) -> "StatCache":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
