"""The run index: a cache of what listing runs needs, so ``ls``, the read API and the viewer answer fast at
10,000 runs. It is only a cache, kept in the user's cache folder (``$XDG_CACHE_HOME/runicorn/index/``, one
SQLite file per storage root) so that reading a root never writes into it: rebuilt from the run folders when
missing, checked against them on every use, safe to delete, never the source of truth (gc, verify and import
walk the folders).

What it keeps, per folder under ``runs/``: the folder's stamp (its mtime and inode) and what it holds (sub
folders, and whether it is a run folder); per run folder, its stamp, the stamps of the state files it caches,
and their content as read (identity, status, primary metric, pin, or the damage each read found).

Why a stamp is enough: every Runicorn writer replaces a state file by renaming a temp file over it, which
changes the folder's mtime, and a run or path folder added or removed changes its parent's; the state files'
own mtimes catch a hand edit made in place. A stamp younger than ``RACY_SECONDS`` is not trusted (a change in
the same clock tick would keep it), as git does with its index. Liveness (heartbeats) is never cached.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import marshal
import os
import sys
import threading
import time
from pathlib import Path

from ..errors import DamagedRun, UnsupportedFormat
from .discovery import RunScan, attempt, list_folder
from .folder import RunFolder
from .names import IDENTITY, PIN, PRIMARY_METRIC, STATUS, validate_path
from .records import Identity, PrimaryMetric, Status

INDEX_VERSION = f"1-marshal{marshal.version}-py{sys.version_info[0]}.{sys.version_info[1]}"  # rows are marshal
RACY_SECONDS = 2.0
_CACHED_FILES = (IDENTITY, STATUS, PRIMARY_METRIC, PIN)

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)",
    "CREATE TABLE IF NOT EXISTS dirs (folder TEXT PRIMARY KEY, stamp TEXT NOT NULL, content BLOB NOT NULL)",
    "CREATE TABLE IF NOT EXISTS runs (folder TEXT PRIMARY KEY, stamp TEXT NOT NULL, content BLOB NOT NULL)",
)


class CachedRun:
    """What the index knows of one run folder: each state file as read, or the damage its read found."""

    __slots__ = ("identity", "status", "primary", "pin")

    def __init__(self, identity=None, status=None, primary=None, pin=None):
        self.identity: Identity | DamagedRun | UnsupportedFormat | None = identity
        self.status: Status | DamagedRun | None = status
        self.primary: PrimaryMetric | DamagedRun | None = primary
        self.pin: dict | DamagedRun | None = pin

    @classmethod
    def read(cls, folder: RunFolder, absent: frozenset = frozenset()) -> "CachedRun":
        """Read from the folder; files in ``absent`` (just found missing) are not opened, except run.json, whose
        absence is damage that the read names."""
        return cls(_attempt(folder.read_identity),
                   *(None if name in absent else _attempt(read) for name, read in (
                       (STATUS, folder.read_status), (PRIMARY_METRIC, folder.read_primary_metric),
                       (PIN, folder.read_pin))))

    def to_json(self) -> dict:
        return {name: _encode(getattr(self, name)) for name in ("identity", "status", "primary", "pin")}

    @classmethod
    def from_json(cls, data: dict) -> "CachedRun":
        return cls(_decode(data["identity"], Identity), _decode(data["status"], Status),
                   _decode(data["primary"], PrimaryMetric), _decode(data["pin"], dict))


def _attempt(read):
    try:
        return read()
    except (DamagedRun, UnsupportedFormat) as exc:
        return exc


def _encode(value) -> dict | None:
    if value is None:
        return None
    if isinstance(value, UnsupportedFormat):
        return {"unsupported": str(value)}
    if isinstance(value, DamagedRun):
        return {"damaged": str(value)}
    return {"value": value if isinstance(value, dict) else value.to_json()}


def _decode(data: dict | None, kind):
    """The cached value back; it was checked when it was read, so it is parsed again only to rebuild the type."""
    if data is None:
        return None
    if "unsupported" in data:
        return UnsupportedFormat(data["unsupported"])
    if "damaged" in data:
        return DamagedRun(data["damaged"])
    return data["value"] if kind is dict else kind.parse(data["value"])


class RunIndex:
    """The index of one ``runs/`` folder; ``scan`` lists run folders as ``scan_runs`` does, from the cache
    where it still holds, and brings the cache up to date. A long-lived index (the viewer's) also keeps what
    it last saw in memory, so a request costs a stat per file instead of a load of the SQLite file."""

    def __init__(self, runs_dir: Path):
        self.runs_dir = runs_dir
        self.path = index_path(runs_dir)
        self._memory: tuple[dict, dict] | None = None  # (dirs, runs) as the last scan left them
        self._lock = threading.Lock()

    def scan(self, prefix: str | None = None) -> tuple[RunScan, dict[str, CachedRun]]:
        """The run folders under a prefix, and what the index holds for each (by folder path).

        One scan at a time: a listing that arrives during another (the viewer's first page while it warms up)
        waits for it and then finds everything in memory, instead of reading every folder a second time."""
        with self._lock:
            return self._scan(prefix)

    def _scan(self, prefix: str | None) -> tuple[RunScan, dict[str, CachedRun]]:
        now = time.time()
        memory = self._memory
        db = None
        if memory is None:
            db = self._open()
            memory = self._load(db)
        dirs, runs = memory
        seen_dirs, seen_runs, new_dirs, new_runs = {}, {}, {}, {}
        scan, cached = RunScan(), {}
        start = self.runs_dir.joinpath(*validate_path(prefix).split("/")) if prefix else self.runs_dir
        stack, visited = [str(start)], set()
        while stack:
            folder = stack.pop()
            visited.add(folder)
            st = attempt(os.stat, folder, scan.problems)
            if st is None:
                continue
            stamp, trusted = _stamp(st, now)
            held = dirs.get(folder)
            if held is not None and trusted and held[0] == stamp:
                subdirs, is_run = held[1]
                seen_dirs[folder] = held
            else:
                listed = attempt(list_folder, folder, scan.problems)
                if listed is None:
                    continue
                subdirs, is_run = listed
                if trusted:
                    seen_dirs[folder] = new_dirs[folder] = (stamp, (subdirs, is_run))
            stack.extend(os.path.join(folder, name) for name in subdirs)
            if is_run:
                run_folder = RunFolder(Path(folder), self.runs_dir)
                scan.folders.append(run_folder)
                cached[folder] = self._run(run_folder, stamp, runs, seen_runs, new_runs, now)
        if prefix is None:
            gone = (set(dirs) - visited, set(runs) - set(cached))
        else:  # a part of the tree was walked: what lies outside it stays as it was
            gone = (set(), set())
            seen_dirs, seen_runs = {**dirs, **seen_dirs}, {**runs, **seen_runs}
        self._memory = (seen_dirs, seen_runs)
        if new_dirs or new_runs or gone[0] or gone[1]:
            self._save(db or self._open(), new_dirs, new_runs, gone)
        elif db is not None:
            db.close()
        return scan, cached

    def _run(self, folder: RunFolder, folder_stamp: str, runs: dict, seen: dict, new: dict, now: float) -> CachedRun:
        key = str(folder.path)
        stamps, trusted, absent = [folder_stamp], True, set()
        for name in _CACHED_FILES:
            try:
                stamp, fresh = _stamp(os.stat(os.path.join(key, name)), now)
            except (FileNotFoundError, NotADirectoryError):
                stamp, fresh = "-", True
                absent.add(name)
            except OSError:
                stamp, fresh = "?", False
            stamps.append(stamp)
            trusted = trusted and fresh
        stamp = "|".join(stamps)
        held = runs.pop(key, None)  # taken out as it is used: the raw rows of a loaded index go as they turn into entries
        if held is not None and trusted and held[0] == stamp:
            entry = held[1]
            if isinstance(entry, CachedRun):  # from memory
                seen[key] = held
                return entry
            try:  # from the SQLite file
                entry = CachedRun.from_json(entry)
                seen[key] = (stamp, entry)
                return entry
            except (ValueError, KeyError, TypeError, DamagedRun, UnsupportedFormat):
                pass  # a damaged cache row: read the folder again
        entry = CachedRun.read(folder, frozenset(absent))
        if trusted:
            seen[key] = new[key] = (stamp, entry)
        return entry

    # -- the SQLite file: any failure means no cache, never an error --------------------------------------

    def _open(self):
        import sqlite3  # here: only listings use the index

        if not self.runs_dir.is_dir():
            return None  # nothing to index (and a mistyped root gets no cache file)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=1.0, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=OFF")  # a lost update costs a re-read, nothing else
            for statement in _SCHEMA:
                db.execute(statement)
            row = db.execute("SELECT value FROM meta WHERE key = 'version'").fetchone()
            if row is None or row[0] != str(INDEX_VERSION):
                db.execute("DELETE FROM dirs")
                db.execute("DELETE FROM runs")
                db.execute("INSERT OR REPLACE INTO meta VALUES ('version', ?)", (str(INDEX_VERSION),))
            return db
        except (sqlite3.Error, OSError):
            _remove_damaged(self.path)
            return None

    @staticmethod
    def _load(db) -> tuple[dict, dict]:
        if db is None:
            return {}, {}
        try:
            loads = marshal.loads
            dirs = {folder: (stamp, loads(content)) for folder, stamp, content in db.execute("SELECT * FROM dirs")}
            runs = {folder: (stamp, loads(content)) for folder, stamp, content in db.execute("SELECT * FROM runs")}
        except Exception:  # noqa: BLE001 - a cache that does not read is a cache miss, whatever the reason
            return {}, {}
        return dirs, runs

    @staticmethod
    def _save(db, new_dirs: dict, new_runs: dict, gone: tuple[set, set]) -> None:
        """Store what was read, and forget folders a full listing no longer found (so the cache never grows)."""
        if db is None:
            return
        try:
            with db:
                db.execute("BEGIN")
                db.executemany("INSERT OR REPLACE INTO dirs VALUES (?, ?, ?)",
                               [(k, s, marshal.dumps(c)) for k, (s, c) in new_dirs.items()])
                db.executemany("INSERT OR REPLACE INTO runs VALUES (?, ?, ?)",
                               [(k, s, marshal.dumps(c.to_json())) for k, (s, c) in new_runs.items()])
                db.executemany("DELETE FROM dirs WHERE folder = ?", [(k,) for k in gone[0]])
                db.executemany("DELETE FROM runs WHERE folder = ?", [(k,) for k in gone[1]])
        except Exception:  # noqa: BLE001 - busy or damaged: the next listing reads the folders again
            pass
        finally:
            db.close()


@contextlib.contextmanager
def collection_paused():
    """Pause Python's cyclic garbage collector while a listing builds its objects: at 10,000 runs they trigger
    full collections over everything alive (the previous listing too) that cost as much as the listing itself
    (0.4 s of 0.9 s measured). None of these objects form cycles; reference counting frees them."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def index_path(runs_dir: Path) -> Path:
    """Where the index of a ``runs/`` folder lives: the user's cache folder, named for the folder's real path."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    name = hashlib.blake2b(os.path.realpath(runs_dir).encode("utf-8", "surrogateescape"), digest_size=12).hexdigest()
    return Path(base) / "runicorn" / "index" / f"{name}.sqlite"


def _stamp(st: os.stat_result, now: float) -> tuple[str, bool]:
    """A file or folder's stamp, and whether it is old enough to trust (not changed in the last moments)."""
    return f"{st.st_mtime_ns}:{st.st_ino}:{st.st_size}", now - st.st_mtime > RACY_SECONDS


def _remove_damaged(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        try:
            os.unlink(f"{path}{suffix}")
        except OSError:
            pass
