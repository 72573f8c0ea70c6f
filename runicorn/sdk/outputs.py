"""Output archiving: stable files of the output folders go into the object store, once per version.

A file is archived when its size and mtime held over ``stable_required``
consecutive looks and it is older than ``min_age_sec``, so a checkpoint still
being written is left for a later scan. An archived file whose stat has not
changed is never read again. Each scan that archives something records a new
``outputs`` tree (top-level entries: the output folders' names) in the
manifest, with the scan's ``mode``: with ``rolling`` (the default, as in
Runicorn 0.7) only the latest tree is a root, so earlier versions of files
that changed become garbage for gc; with ``overwrite_versions`` every version
stays. Restore takes the latest, or any version still in the store.
``finish()`` makes a last scan that takes every matching file as it is.
"""

from __future__ import annotations

import fnmatch
import os
import stat
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from ..runfolder import ROLLING
from ..store import DIR, FILE, TREE, Ingester, IngestResult, ObjectId, ObjectStore, StatCache, TreeEntry, put_tree
from .warn import warn_user

OVERWRITE_VERSIONS = "overwrite_versions"
MODES = (ROLLING, OVERWRITE_VERSIONS)

DEFAULT_PATTERNS = (
    "*.pt", "*.pth", "*.ckpt", "*.safetensors", "*.bin", "*.h5", "*.onnx", "*.pkl", "*.joblib", "*.npz", "*.npy",
    "*.log", "*.txt", "*.json", "*.jsonl", "*.csv", "*.tsv", "*.yaml", "*.yml",
    "*.png", "*.jpg", "*.jpeg", "*.gif", "*.svg", "*.pdf",
)


@dataclass
class _Seen:
    size: int
    mtime_ns: int
    looks: int
    archived: tuple[int, int, ObjectId, bool, ObjectId | None] | None = None  # (size, mtime_ns, id, exec, chunks)


class OutputsArchiver:
    def __init__(self, store_provider, add_root, rooting, current_step, *, exclude: tuple[str | os.PathLike, ...] = ()):
        self._store_provider = store_provider  # the store is opened on first use
        self._add_root = add_root
        self._current_step = current_step  # the run's step when a version is archived, to find it again by step
        self._rooting = rooting  # a context in which what is put becomes a root before gc may take it
        # Folders never archived (the storage root: an output folder may contain it).
        self._exclude = frozenset(os.path.realpath(p) for p in exclude)
        self._lock = threading.Lock()
        self._seen: dict[tuple[str, str], _Seen] = {}
        self._dirs: list[tuple[str, Path]] = []
        self._patterns: tuple[str, ...] = DEFAULT_PATTERNS
        self._stable_required = 2
        self._min_age = 1.0
        self._mode = ROLLING
        self._last_tree: ObjectId | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._warned_missing: set[Path] = set()
        self._unstorable: set[str] = set()  # names already warned about

    @property
    def folders(self) -> list[Path]:
        return [folder for _, folder in self._dirs]

    @property
    def configured(self) -> bool:
        return bool(self._dirs)

    def configure(self, output_dirs, patterns, stable_required, min_age_sec, mode) -> "OutputsArchiver":
        if isinstance(output_dirs, (str, os.PathLike)):
            output_dirs = [output_dirs]
        if not output_dirs:
            raise ValueError("output_dirs must name at least one folder")
        if isinstance(stable_required, bool) or not isinstance(stable_required, int) or stable_required < 1:
            raise ValueError(f"stable_required must be an integer >= 1, got {stable_required!r}")
        if not isinstance(min_age_sec, (int, float)) or min_age_sec < 0:
            raise ValueError(f"min_age_sec must be a number >= 0, got {min_age_sec!r}")
        if mode not in MODES:
            raise ValueError(f"mode must be 'rolling' (keep the latest archived version of each output) or "
                             f"'overwrite_versions' (keep every version), got {mode!r}")
        with self._lock:
            names: dict[str, int] = {}
            self._dirs = []
            for folder in output_dirs:
                path = Path(folder).resolve()
                base = path.name or "outputs"
                names[base] = names.get(base, 0) + 1
                self._dirs.append((base if names[base] == 1 else f"{base}-{names[base]}", path))
            self._patterns = tuple(patterns) if patterns else DEFAULT_PATTERNS
            self._stable_required = stable_required
            self._min_age = float(min_age_sec)
            self._mode = mode
        return self

    def _matches(self, rel: str, name: str) -> bool:
        return any(fnmatch.fnmatchcase(rel if "/" in p else name, p) for p in self._patterns)

    def scan(self, *, final: bool = False) -> dict:
        """One look at every matching file; archive the stable ones. Returns what happened."""
        with self._lock:
            return self._scan(final)

    def _scan(self, final: bool) -> dict:
        """One look; the returned dict keeps Runicorn 0.7's shape (``scanned``, ``archived`` and ``changed`` counts,
        ``archived_entries``) with more keys: ``pending``, ``unchanged``, ``skipped``, ``bytes_read``, ``tree``."""
        report = {"scanned": 0, "archived": 0, "changed": 0, "archived_entries": [], "pending": [], "unchanged": 0,
                  "skipped": [], "bytes_read": 0, "tree": None, "mode": self._mode}
        if not self._dirs:
            return report
        # A folder the script is about to create is not worth a warning before it had the chance: the first
        # scan that finds it missing says so, once.
        for _, folder in self._dirs:
            if not folder.is_dir() and folder not in self._warned_missing:
                self._warned_missing.add(folder)
                warn_user(f"output folder {folder} does not exist; nothing is archived from it until it appears")
        store: ObjectStore = self._store_provider()
        store.remove_litter()  # what a killed scan left in tmp/
        now_ns = time.time_ns()
        # What this scan archives is recorded only once its batch is committed: a scan that fails (a full
        # disk) leaves no file marked archived whose bytes never reached the store, and the next scan retries.
        archived: dict[tuple[str, str], tuple[int, int, ObjectId, bool, ObjectId | None]] = {}
        with self._rooting(), StatCache(store.cache_dir / "stat.sqlite") as cache:
            with store.batch():
                ingester, totals = Ingester(store, stat_cache=cache), IngestResult(id=None, kind=FILE)
                for name, folder in self._dirs:
                    for rel, path, st in _walk_files(folder, self._exclude):
                        if not self._matches(rel, os.path.basename(rel)):
                            continue
                        if not _storable_name(f"{name}/{rel}"):
                            report["skipped"].append(f"{name}/{rel}")
                            continue
                        report["scanned"] += 1
                        key = (name, rel)
                        seen = self._seen.get(key)
                        if seen is None or (seen.size, seen.mtime_ns) != (st.st_size, st.st_mtime_ns):
                            seen = self._seen[key] = _Seen(st.st_size, st.st_mtime_ns, 0,
                                                           seen.archived if seen else None)
                        seen.looks += 1
                        if seen.archived and seen.archived[:2] == (st.st_size, st.st_mtime_ns):
                            report["unchanged"] += 1
                            continue
                        old_enough = (now_ns - st.st_mtime_ns) / 1e9 >= self._min_age
                        if not final and (seen.looks < self._stable_required or not old_enough):
                            report["pending"].append(f"{name}/{rel}")
                            continue
                        stored = ingester.ingest_file(path, st, totals)
                        oid, size = stored.id, stored.size
                        # The tree records the bytes stored, which differ from the stat when the file grew
                        # while it was read (the last scan takes files as they are); the next scan then
                        # sees a size that differs from the file's and archives it again.
                        archived[key] = (size, st.st_mtime_ns, oid, bool(st.st_mode & stat.S_IXUSR), stored.chunks)
                        report["archived_entries"].append({
                            "key": f"{name}/{rel}", "name": os.path.basename(rel), "kind": "file", "path": str(path),
                            "saved": True, "id": oid.tagged, "size": size, "mode": self._mode,
                            "archived_at": int(time.time()), "fingerprint_kind": "blake3", "fingerprint": oid.tagged,
                            # 0.7 kept a copy per archive; here a whole file is one object (a chunked one has none)
                            "archive_path": None if stored.chunks else str(store.path_for(oid))})
                tree = self._put_outputs_tree(store, archived) if archived else None
                report["bytes_read"] = totals.hashed_bytes
            for key, version in archived.items():
                self._seen[key].archived = version
            if tree is not None:
                self._last_tree = tree
                self._add_root("outputs", "outputs", tree, TREE, mode=self._mode, step=self._current_step(),
                               files=sum(1 for s in self._seen.values() if s.archived))
        unwarned = [item for item in report["skipped"] if item not in self._unstorable]
        if unwarned:
            self._unstorable.update(unwarned)
            warn_user(f"outputs skipped files whose names are not valid UTF-8 (a tree cannot hold them): "
                      f"{', '.join(map(repr, unwarned[:10]))}")
        report["archived"] = report["changed"] = len(report["archived_entries"])
        report["tree"] = self._last_tree.tagged if self._last_tree is not None else None
        return report

    def _put_outputs_tree(self, store: ObjectStore, archived: dict) -> ObjectId:
        """One tree over every archived file (latest version of each, this scan's included), by output folder."""
        nested: dict = {}
        versions = {key: seen.archived for key, seen in self._seen.items() if seen.archived is not None}
        for (name, rel), version in {**versions, **archived}.items():
            node = nested.setdefault(name, {})
            parts = rel.split("/")
            for part in parts[:-1]:
                node = node.setdefault(part, {})
            node[parts[-1]] = version
        return _put_nested(store, nested)[0]

    def watch(self, interval_sec: float) -> None:
        if not isinstance(interval_sec, (int, float)) or interval_sec <= 0:
            raise ValueError(f"interval_sec must be a positive number, got {interval_sec!r}")
        self.stop()
        self._stop.clear()
        self._thread = threading.Thread(target=self._watch_loop, args=(float(interval_sec),),
                                        name="runicorn-outputs", daemon=True)
        self._thread.start()

    def _watch_loop(self, interval: float) -> None:
        reported: set[str] = set()
        while not self._stop.wait(interval):
            try:
                self.scan()
            except Exception as exc:  # a vanished folder, a full disk...: try again next time, training goes on
                if type(exc).__name__ not in reported:
                    reported.add(type(exc).__name__)
                    warn_user(f"outputs watcher: a scan failed ({type(exc).__name__}: {exc}); it keeps trying")

    def stop(self) -> None:
        thread = self._thread
        if thread is not None:
            self._stop.set()
            if thread is not threading.current_thread():
                thread.join()
            self._thread = None

    def close(self) -> None:
        """Stop watching and make the last scan (taking files as they are)."""
        self.stop()
        if self._dirs:
            self.scan(final=True)


def _storable_name(rel: str) -> bool:
    """Tree names are UTF-8: a name decoded with surrogate escapes (undecodable bytes) cannot be stored."""
    try:
        rel.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _walk_files(folder: Path, exclude: frozenset[str] = frozenset()):
    """(relative path, absolute path, stat) of every regular file below ``folder``; links are not followed."""
    stack = [("", str(folder))]
    while stack:
        prefix, current = stack.pop()
        try:
            with os.scandir(current) as listing:
                entries = list(listing)
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            continue
        for entry in entries:
            try:
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            rel = prefix + entry.name
            if stat.S_ISDIR(st.st_mode):
                if not exclude or os.path.realpath(entry.path) not in exclude:
                    stack.append((rel + "/", entry.path))
            elif stat.S_ISREG(st.st_mode):
                yield rel, entry.path, st


def _put_nested(store: ObjectStore, node: dict) -> tuple[ObjectId, int]:
    entries, total = [], 0
    for name, value in node.items():
        if isinstance(value, dict):
            oid, size = _put_nested(store, value)
            entries.append(TreeEntry(name, DIR, size, id=oid))
        else:
            size, _, oid, executable, chunks = value
            entries.append(TreeEntry(name, FILE, size, id=oid, executable=executable, chunks=chunks))
        total += size
    return put_tree(store, entries), total
