"""The read API: list and open runs, and read everything they recorded.

    api = rn.Api()                       # same storage resolution as rn.init
    for run in api.runs("cv/resnet50", status="finished"):
        print(run.id, run.best, run.history(["val_acc"])[-1])

The CLI and the viewer read through this module only; it reads run folders
only through ``runicorn.runfolder``. A run whose files are damaged is still
listed (status ``damaged``, with ``problems`` saying which file and what is
wrong), so it can be seen and removed; every other run stays usable.
"""

from __future__ import annotations

import functools
import time
from pathlib import Path
from typing import Iterable, Iterator

from .errors import AmbiguousRunId, DamagedRun, RunNotFound, StorageNotFound, UnsupportedFormat
from .runfolder import (CachedRun, Identity, Manifest, ManifestEntry, PrimaryMetric, RunConfig, RunFolder, RunIndex,
                        RunScan, Status, collection_paused, effective_status, scan_runs)
from .storage import StorageRoot
from .store import ObjectStore, Ref

DAMAGED = "damaged"


class RunView:
    """A run as recorded on disk (read-only; open the run again for fresh state values)."""

    def __init__(self, folder: RunFolder, cached: CachedRun | None = None):
        """``cached``: what the run index holds for the folder (checked against it), instead of reading it."""
        self.folder = folder
        self.run_dir = folder.path
        self._cached = cached
        self.problems: list[str] = []  # damage found so far, one sentence per file
        self.unsupported: str | None = None  # written by a newer Runicorn: nothing in it may be trusted
        try:
            self._identity: Identity | None = self._state("identity", folder.read_identity)
            if self._identity is None:
                raise DamagedRun(f"run folder {folder.path} has no run.json")
        except (DamagedRun, UnsupportedFormat) as exc:
            self._identity = None
            self.problems.append(str(exc))
            if isinstance(exc, UnsupportedFormat):
                self.unsupported = str(exc)
        identity = self._identity
        self.id: str = identity.id if identity else folder.location_id
        self.path: str = identity.path if identity else folder.location_path
        self.alias: str | None = identity.alias if identity else None
        self.tags: list[str] = list(identity.tags) if identity else []
        self.created_at: float | None = identity.created_at if identity else None

    def __repr__(self) -> str:
        return f"<RunView {self.id} path={self.path!r} status={self.status}>"

    def _state(self, name: str, read):
        """A state file's content: from the index when it holds it, else read; damage is raised either way."""
        if self._cached is None:
            return read()
        value = getattr(self._cached, name)
        if isinstance(value, (DamagedRun, UnsupportedFormat)):
            raise value
        return value

    def _tolerant(self, read, default):
        """A state value, or ``default`` with the damage noted in ``problems``."""
        try:
            return read()
        except (DamagedRun, UnsupportedFormat) as exc:
            self._note(str(exc))
            return default

    def _note(self, problem: str) -> None:
        """Add a problem once: a file read twice finds its damage twice."""
        if problem not in self.problems:
            self.problems.append(problem)

    # -- identity and state ---------------------------------------------------------

    def check(self) -> list[str]:
        """Read every file of the run folder as the format says; every problem found, one sentence each."""
        _ = self.status, self.summary, self.run_config, self.environment, self.primary, self.pin
        self.read_manifest()
        for problem in self.folder.check_timeline():
            self._note(f"run folder {self.run_dir}: {problem}")
        return self.problems

    @property
    def damaged(self) -> bool:
        """Whether its identity or status cannot be read (the run can still be listed and removed)."""
        _ = self.status_record
        return self._identity is None or self._status_damaged

    @property
    def identity(self) -> dict:
        """All of ``run.json`` (empty when it cannot be read)."""
        return self._identity.to_json() if self._identity else {}

    @property
    def git(self) -> dict | None:
        return self._identity.git if self._identity else None

    def reread(self) -> "RunView":
        """This run's folder read again (fresh status and heartbeat), without listing the root: for a caller
        that polls a live run."""
        return RunView(self.folder)

    @functools.cached_property
    def status_record(self) -> Status:
        self._status_damaged = False
        try:
            return self._state("status", self.folder.read_status) or Status(started_at=self.created_at)
        except (DamagedRun, UnsupportedFormat) as exc:
            self._status_damaged = True
            self.problems.append(str(exc))
            return Status(started_at=self.created_at)

    @functools.cached_property
    def status(self) -> str:
        """finished / failed / interrupted / running; crashed for a running run whose writer is gone;
        damaged when its identity or status cannot be read."""
        record = self.status_record
        if self.damaged:
            return DAMAGED
        return effective_status(record.status, record.started_at, self.folder.heartbeat_time(), record.host,
                                record.pid)

    @property
    def ended_at(self) -> float | None:
        return self.status_record.ended_at

    @property
    def duration(self) -> float | None:
        start = self.status_record.started_at or self.created_at
        if start is None:
            return None
        end = self.ended_at
        if end is None:
            end = time.time() if self.status == "running" else self.folder.last_activity()
        return None if end is None else max(0.0, end - start)

    @property
    def error(self) -> dict | None:
        return self.status_record.error

    @functools.cached_property
    def summary(self) -> dict:
        return self._tolerant(self.folder.read_summary, {})

    @functools.cached_property
    def run_config(self) -> RunConfig:
        return self._tolerant(self.folder.read_config, RunConfig())

    @property
    def config(self) -> dict:
        """``{"args", "extra", "config_files"}`` as ``log_config`` recorded them."""
        return self.run_config.to_json()

    @functools.cached_property
    def environment(self) -> dict | None:
        return self._tolerant(self.folder.read_environment, None)

    @functools.cached_property
    def primary(self) -> PrimaryMetric | None:
        return self._tolerant(lambda: self._state("primary", self.folder.read_primary_metric), None)

    @property
    def primary_metric(self) -> dict | None:
        """``{"name", "mode", "best", "step"}`` or None."""
        return self.primary.to_json() if self.primary else None

    @property
    def best(self):
        return self.primary.best if self.primary else None

    @functools.cached_property
    def pin(self) -> dict | None:
        """``{"pinned_at", "note"}`` when the run is pinned (every retention policy keeps it), else None."""
        return self._tolerant(lambda: self._state("pin", self.folder.read_pin), None)

    @property
    def pinned(self) -> bool:
        return self.pin is not None

    # -- timeline ---------------------------------------------------------------

    def history(self, keys: Iterable[str] | None = None) -> list[dict]:
        """Every timeline row (``_step``, ``_time``, optional ``_stage`` and the metrics), or only chosen keys.

        With ``keys`` (a list, or one key as a string), rows holding none of them are left out.
        """
        return list(self.iter_history(keys))

    def iter_history(self, keys: Iterable[str] | str | None = None) -> Iterator[dict]:
        """``history`` one row at a time, for runs too long to hold as a list of dicts."""
        if isinstance(keys, str):
            keys = [keys]  # not a set of characters
        return self.folder.iter_timeline(keys)

    def iter_history_blocks(self, keys: Iterable[str] | str | None = None) -> Iterator[dict[str, tuple]]:
        """``history`` as column blocks, ``{"_step": (...), "_time": (...), key: (...)}`` one stored record at
        a time (no ``_stage``): for readers of whole series, several times faster than row dicts."""
        if isinstance(keys, str):
            keys = [keys]
        return self.folder.iter_timeline_blocks(keys)

    def metric_keys(self) -> dict[str, dict]:
        """Metric name -> ``{"count", "last"}``."""
        stats: dict[str, dict] = {}
        for block in self.folder.iter_timeline_blocks():
            for key, values in block.items():
                if key.startswith("_"):
                    continue
                entry = stats.get(key)
                if entry is None:
                    stats[key] = {"count": len(values), "last": values[-1]}
                else:
                    entry["count"] += len(values)
                    entry["last"] = values[-1]
        return stats

    def text_log(self) -> str:
        return self.folder.read_text_log()

    def images(self) -> list[dict]:
        return self.folder.read_images()

    # -- assets -----------------------------------------------------------------

    def read_manifest(self) -> Manifest:
        """The manifest as typed entries, with the lines that do not read in ``problems``."""
        manifest = self.folder.read_manifest()
        for problem in manifest.problems:
            self._note(f"run folder {self.run_dir}: {problem}")
        return manifest

    def manifest(self) -> list[ManifestEntry]:
        """Every manifest line that reads, in order (each reads like the JSON object it was written as)."""
        return self.read_manifest().entries

    def assets(self) -> dict[str, list[ManifestEntry]]:
        """Role -> the latest manifest entry of each name (later lines supersede earlier ones)."""
        grouped: dict[str, list[ManifestEntry]] = {}
        for (role, _), entry in self.read_manifest().latest().items():
            grouped.setdefault(role, []).append(entry)
        return grouped

    def dropped(self) -> list[dict]:
        """What retention policies dropped from this run: ``{"role", "name", "reason", "at"}`` per asset (``at``:
        when it was dropped; ``recorded_at``: when the asset was recorded)."""
        return [{"role": entry.role, "name": entry.name, "reason": drop.get("reason") or drop.name, "at": drop.at,
                 "recorded_at": entry.at} for entry, drop in self.read_manifest().dropped()]

    def latest_asset(self, role: str, name: str | None = None) -> ManifestEntry | None:
        entries = self.assets().get(role, [])
        if name is not None:
            entries = [e for e in entries if e.name == name]
        return entries[-1] if entries else None

    def roots(self) -> list[Ref]:
        """Every object this run refers to (its gc roots)."""
        return self.read_manifest().roots()


class Api:
    """Read access to a storage root (resolved like ``rn.init``: argument, $RUNICORN_DIR, config, ./.runicorn)."""

    def __init__(self, storage: str | Path | None = None):
        self.storage = StorageRoot(storage)
        self.root = self.storage.root
        self.problems: list[str] = []  # folders under runs/ the last listing could not read
        self._index = RunIndex(self.storage.runs_dir)

    def require_root(self) -> None:
        """Refuse a folder that is no storage root: a mistyped path is an error, never a new store."""
        if not self.storage.exists():
            raise StorageNotFound(f"no Runicorn storage root at {self.root} (it has no runs/ and no store/): "
                                  "check --storage, $RUNICORN_DIR or `runicorn config`")

    @property
    def store(self) -> ObjectStore:
        """The root's object store. Reading never creates one (see ``require_root``)."""
        self.require_root()
        return self.storage.store

    def scan(self, path: str | None = None) -> RunScan:
        """Every run folder (damaged ones included) and the folders that could not be listed (also kept in
        ``problems``: a run inside one is not listed, and the caller should say so)."""
        scan = scan_runs(self.storage.runs_dir, path)
        self.problems = list(scan.problems)
        return scan

    def runs(self, path: str | None = None, *, status: str | None = None, alias: str | None = None,
             tags: Iterable[str] | None = None) -> list[RunView]:
        """Runs under a path prefix (oldest first), filtered by status, alias and tags (all must be present)."""
        with collection_paused():
            scan, cached = self._index.scan(path)
            views = [RunView(folder, cached.get(str(folder.path))) for folder in scan.folders]
        self.problems = list(scan.problems)
        if status is not None:
            views = [v for v in views if v.status == status]
        if alias is not None:
            views = [v for v in views if v.alias == alias]
        if tags:
            wanted = set(tags)
            views = [v for v in views if wanted <= set(v.tags)]
        return sorted(views, key=lambda v: (v.created_at or 0.0, v.id))

    def run(self, run: str) -> RunView:
        """Open a run by id, unique alias, or unique id prefix."""
        if not isinstance(run, str) or not run:
            raise RunNotFound(f"a run is named by its id, a unique id prefix or a unique alias; got {run!r}")
        self.require_root()
        views = self.runs()
        for matches, what in (([v for v in views if v.id == run], "id"),
                              ([v for v in views if v.alias == run], "alias"),
                              ([v for v in views if v.id.startswith(run)], "id prefix")):
            if len(matches) == 1:
                return matches[0]
            if matches:
                shown = ", ".join(sorted(f"{v.path}/{v.id}" for v in matches)[:5])
                raise AmbiguousRunId(f"{what} {run!r} matches {len(matches)} runs ({shown}); give more of the id")
        hidden = f" ({len(self.problems)} folders under runs/ could not be listed, first: {self.problems[0]})" \
            if self.problems else ""
        raise RunNotFound(f"no run with id, alias or id prefix {run!r} under {self.root}{hidden}; "
                          "`runicorn ls` lists runs")
