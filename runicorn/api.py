"""The read API: list and open runs, and read everything they recorded.

    api = rn.Api()                       # same storage resolution as rn.init
    for run in api.runs("cv/resnet50", status="finished"):
        print(run.id, run.best, run.history(["val_acc"])[-1])

The CLI and the viewer read through this module only.
"""

from __future__ import annotations

import functools
import time
from pathlib import Path
from typing import Iterable, Iterator

from .errors import AmbiguousRunId, RunicornError, RunNotFound
from .runfolder import (CONFIG, ENVIRONMENT, IDENTITY, MANIFEST, MEDIA, METRICS, PRIMARY_METRIC, STATUS, SUMMARY,
                        TEXT_LOG, effective_status, iter_run_folders, read_json, read_jsonl)
from .storage import StorageRoot
from .timeline import iter_rows
from .store import ObjectId, Root


class RunView:
    """A run as recorded on disk (read-only; re-read the files for fresh values)."""

    def __init__(self, folder: Path, identity: dict):
        self.run_dir = folder
        self.identity = identity
        self.id: str = identity.get("id") or folder.name
        self.path: str = identity.get("path") or ""
        self.alias: str | None = identity.get("alias")
        self.tags: list[str] = list(identity.get("tags") or [])
        self.created_at: float | None = identity.get("created_at")

    def __repr__(self) -> str:
        return f"<RunView {self.id} path={self.path!r} status={self.status}>"

    # -- state ------------------------------------------------------------------

    @functools.cached_property
    def status_record(self) -> dict:
        return read_json(self.run_dir / STATUS) or {}

    @functools.cached_property
    def status(self) -> str:
        """finished / failed / interrupted / running, or crashed for a running run whose writer is gone."""
        return effective_status(self.run_dir, self.status_record)

    @property
    def ended_at(self) -> float | None:
        return self.status_record.get("ended_at")

    @property
    def duration(self) -> float | None:
        start = self.status_record.get("started_at") or self.created_at
        if start is None:
            return None
        end = self.ended_at
        if end is None:
            end = time.time() if self.status == "running" else _mtime(self.run_dir / "heartbeat")
        return None if end is None else max(0.0, end - start)

    @property
    def error(self) -> dict | None:
        return self.status_record.get("error")

    @functools.cached_property
    def summary(self) -> dict:
        return read_json(self.run_dir / SUMMARY) or {}

    @functools.cached_property
    def config(self) -> dict:
        return read_json(self.run_dir / CONFIG) or {}

    @functools.cached_property
    def environment(self) -> dict | None:
        return read_json(self.run_dir / ENVIRONMENT)

    @functools.cached_property
    def primary_metric(self) -> dict | None:
        """``{"name", "mode", "best", "step"}`` or None."""
        record = read_json(self.run_dir / PRIMARY_METRIC)
        return record if isinstance(record, dict) and record.get("name") else None

    @property
    def best(self):
        return (self.primary_metric or {}).get("best")

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
        return iter_rows(self.run_dir / METRICS, keys)

    def metric_keys(self) -> dict[str, dict]:
        """Metric name -> ``{"count", "last"}``."""
        stats: dict[str, dict] = {}
        for row in iter_rows(self.run_dir / METRICS):
            for key, value in row.items():
                if key.startswith("_"):
                    continue
                entry = stats.get(key)
                if entry is None:
                    stats[key] = {"count": 1, "last": value}
                else:
                    entry["count"] += 1
                    entry["last"] = value
        return stats

    def text_log(self) -> str:
        try:
            return (self.run_dir / TEXT_LOG).read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def images(self) -> list[dict]:
        return read_jsonl(self.run_dir / MEDIA)

    # -- assets -----------------------------------------------------------------

    def manifest(self) -> list[dict]:
        """Every manifest line, in order."""
        return read_jsonl(self.run_dir / MANIFEST)

    def assets(self) -> dict[str, list[dict]]:
        """Role -> the latest manifest entry of each name (later lines supersede earlier ones)."""
        latest: dict[tuple[str, str], dict] = {}
        for entry in self.manifest():
            latest[(entry.get("role", "?"), entry.get("name", ""))] = entry
        grouped: dict[str, list[dict]] = {}
        for (role, _), entry in latest.items():
            grouped.setdefault(role, []).append(entry)
        return grouped

    def latest_asset(self, role: str, name: str | None = None) -> dict | None:
        entries = self.assets().get(role, [])
        if name is not None:
            entries = [e for e in entries if e.get("name") == name]
        return entries[-1] if entries else None

    def roots(self) -> list[Root]:
        """Every object this run refers to (gc roots): one per manifest line that names a stored object."""
        roots = []
        for entry in self.manifest():
            tagged = entry.get("id")
            if isinstance(tagged, str):
                try:
                    roots.append(Root(ObjectId.parse(tagged), entry.get("type") == "tree"))
                except ValueError:
                    continue  # a damaged line names nothing we can keep
        return roots


class Api:
    """Read access to a storage root (resolved like ``rn.init``: argument, $RUNICORN_DIR, config, ./.runicorn)."""

    def __init__(self, storage: str | Path | None = None):
        self.storage = StorageRoot(storage)
        self.root = self.storage.root

    @property
    def store(self):
        """The root's object store. Reading never creates one: a mistyped root is an error, not a new folder."""
        if not self.storage.exists():
            raise RunicornError(f"no Runicorn storage root at {self.root} (it has no runs/ and no store/): "
                                "check --storage, $RUNICORN_DIR or `runicorn config`")
        return self.storage.store

    def _views(self, path: str | None = None) -> list[RunView]:
        views = []
        for folder in iter_run_folders(self.storage.runs_dir, path):
            identity = read_json(folder / IDENTITY)
            if isinstance(identity, dict):
                views.append(RunView(folder, identity))
        return views

    def runs(self, path: str | None = None, *, status: str | None = None, alias: str | None = None,
             tags: Iterable[str] | None = None) -> list[RunView]:
        """Runs under a path prefix (oldest first), filtered by status, alias and tags (all must be present)."""
        views = self._views(path)
        if status is not None:
            views = [v for v in views if v.status == status]
        if alias is not None:
            views = [v for v in views if v.alias == alias]
        if tags:
            wanted = set(tags)
            views = [v for v in views if wanted <= set(v.tags)]
        return sorted(views, key=lambda v: (v.created_at or 0.0, v.id))

    def run(self, run_id: str) -> RunView:
        """Open a run by id or unique id prefix."""
        if not isinstance(run_id, str) or not run_id:
            raise RunNotFound(f"run id must be a non-empty string, got {run_id!r}")
        views = self._views()
        exact = [v for v in views if v.id == run_id]
        matches = exact or [v for v in views if v.id.startswith(run_id)]
        if not matches:
            raise RunNotFound(f"no run with id or id prefix {run_id!r} under {self.root}; `runicorn ls` lists runs")
        if len(matches) > 1:
            shown = ", ".join(sorted(v.id for v in matches)[:5])
            raise AmbiguousRunId(f"{run_id!r} matches {len(matches)} runs ({shown}); give more of the id")
        return matches[0]


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return None
