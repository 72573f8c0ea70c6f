"""``RunFolder``: one run's folder under ``runs/``, and the only code that opens a run's files by name.

State files (identity, status, summary, config, primary metric, environment)
are JSON replaced atomically; the timeline, text log, media and manifest are
append-only (``Appender``). Reads are tolerant where the format allows (a torn
end of an append-only file is ignored) and strict where it does not: a state
file that does not parse, or parses to the wrong shape, raises ``DamagedRun``
naming the file and the problem, and an identity of an unknown format or
version raises ``UnsupportedFormat``. Callers decide what a damaged run means
to them (listed as damaged, refused by gc, removable by rm).
See docs/format.md, section 5.
"""

from __future__ import annotations

import os
import time
from functools import partial
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from ..errors import DamagedRun, RunExists, UnsupportedFormat
from .appender import Appender
from .jsonio import Unreadable, encode_line, read_lines, read_state, write_state
from .names import (APPEND_ONLY_FILES, CONFIG, ENVIRONMENT, HEARTBEAT, IDENTITY, MANIFEST, MARKER_FILES, MEDIA, METRICS, PIN,
                    PRIMARY_METRIC, RUN_FILES, STATUS, SUMMARY, TEXT_LOG, run_folder)
from .records import Identity, Manifest, ManifestEntry, PrimaryMetric, RunConfig, Status, json_object
from .timeline import TimelineEncoder, iter_column_blocks, iter_rows, last_step
from .timeline import check as check_timeline


class RunFolder:
    """A run's folder; ``runs_dir`` (when known) lets the folder check that its identity matches where it lies."""

    def __init__(self, path: Path, runs_dir: Path | None = None):
        self.path = path if isinstance(path, Path) else Path(path)  # a listing of 10,000 runs passes Paths
        self.runs_dir = runs_dir

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    # -- where it is --------------------------------------------------------------------

    @property
    def location_id(self) -> str:
        """The run id its folder name says (what a damaged run is known by)."""
        return self.path.name

    @property
    def location_path(self) -> str:
        """The run path its place under ``runs/`` says ('' when unknown)."""
        if self.runs_dir is None:
            return ""
        parent, base = os.path.dirname(self.path), str(self.runs_dir)  # strings: 10,000 runs ask this per listing
        if parent == base:
            return ""
        return parent[len(base) + 1:].replace(os.sep, "/") if parent.startswith(base + os.sep) else ""

    def exists(self) -> bool:
        return self.path.is_dir()

    def present_files(self) -> list[str]:
        """The run files this folder holds (a bundle carries exactly these)."""
        return [name for name in RUN_FILES if os.path.isfile(self.path / name)]

    def file_path(self, name: str) -> Path:
        """The path of one of the run files, for copying it whole (bundles); ``name`` must be a run file."""
        if name not in RUN_FILES:
            raise ValueError(f"{name!r} is not a run file")
        return self.path / name

    @classmethod
    def create(cls, runs_dir: Path, identity: Identity, status: Status) -> "RunFolder":
        """Make a new run's folder, refusing an existing run and a path that runs through another run's folder."""
        path = run_folder(runs_dir, identity.path, identity.id)
        _refuse_nesting(runs_dir, path, identity)
        try:
            make_run_folder(path, exist_ok=False)
        except FileExistsError:
            raise RunExists(f"run {identity.id!r} already exists at {path}; pass resume=True to continue it, "
                            "or choose another run_id") from None
        folder = cls(path, runs_dir)
        folder.write_identity(identity)
        folder.write_status(status)
        return folder

    # -- state files ------------------------------------------------------------------------

    def _read(self, name: str, parse: Callable[[Any], Any] | None = None) -> Any:
        try:
            raw = read_state(self.path / name)
        except Unreadable as exc:
            raise DamagedRun(f"run folder {self.path}: {exc}") from None
        if raw is None or parse is None:
            return raw
        try:
            return parse(raw)
        except UnsupportedFormat as exc:
            raise UnsupportedFormat(f"run folder {self.path}: {name} has {exc}") from None
        except ValueError as exc:
            raise DamagedRun(f"run folder {self.path}: {name} is damaged: {exc}") from None

    def read_identity(self) -> Identity:
        identity = self._read(IDENTITY, Identity.parse)
        if identity is None:
            raise DamagedRun(f"run folder {self.path} has no {IDENTITY}")
        if identity.id != self.location_id or (self.runs_dir is not None and identity.path != self.location_path):
            raise DamagedRun(f"run folder {self.path}: {IDENTITY} names run {identity.id!r} of path "
                             f"{identity.path!r}, which does not match where the folder lies")
        return identity

    def write_identity(self, identity: Identity) -> None:
        write_state(self.path / IDENTITY, identity.to_json())

    def read_status(self) -> Status | None:
        return self._read(STATUS, Status.parse)

    def write_status(self, status: Status, *, durable: bool = True) -> None:
        write_state(self.path / STATUS, status.to_json(), durable=durable)

    def read_summary(self) -> dict:
        return self._read(SUMMARY, partial(json_object, what="the summary")) or {}

    def write_summary(self, summary: dict) -> None:
        write_state(self.path / SUMMARY, summary)

    def read_config(self) -> RunConfig:
        return self._read(CONFIG, RunConfig.parse) or RunConfig()

    def write_config(self, config: RunConfig) -> None:
        write_state(self.path / CONFIG, config.to_json())

    def read_primary_metric(self) -> PrimaryMetric | None:
        return self._read(PRIMARY_METRIC, PrimaryMetric.parse)

    def write_primary_metric(self, metric: PrimaryMetric) -> None:
        # Rewritten at most once per flush while a run is live: losing the last one to a power cut is fine.
        write_state(self.path / PRIMARY_METRIC, metric.to_json(), durable=False)

    def read_pin(self) -> dict | None:
        """``{"pinned_at", "note"}`` when the run is pinned (kept by every retention policy), else None."""
        return self._read(PIN, partial(json_object, what="the pin"))

    def write_pin(self, note: str | None) -> None:
        write_state(self.path / PIN, {"pinned_at": time.time(), "note": note})

    def remove_pin(self) -> None:
        try:
            os.unlink(self.path / PIN)
        except FileNotFoundError:
            pass

    def append_manifest(self, entry: ManifestEntry) -> None:
        """Append one line to a run's manifest from outside the run (a retention policy), durably."""
        appender = self.appender(MANIFEST)
        try:
            appender.append((encode_line(entry.to_json()) + "\n").encode("utf-8"))
            appender.sync()
        finally:
            appender.close()

    def read_environment(self) -> dict | None:
        return self._read(ENVIRONMENT, partial(json_object, what="the environment"))

    def write_environment(self, environment: dict) -> None:
        write_state(self.path / ENVIRONMENT, environment)

    # -- liveness ---------------------------------------------------------------------------

    def heartbeat_time(self) -> float | None:
        try:
            return (self.path / HEARTBEAT).stat().st_mtime
        except (FileNotFoundError, NotADirectoryError):
            return None

    def last_activity(self) -> float | None:
        """When the run last wrote anything: its heartbeat, or a flush of its append-only files (a run killed between
        heartbeats still shows how long it lived)."""
        times = [self.heartbeat_time()]
        for name in APPEND_ONLY_FILES:
            try:
                times.append((self.path / name).stat().st_mtime)
            except (FileNotFoundError, NotADirectoryError):
                continue
        known = [t for t in times if t is not None]
        return max(known) if known else None

    def touch_heartbeat(self) -> None:
        path = self.path / HEARTBEAT
        try:
            os.utime(path)
        except FileNotFoundError:
            path.touch()

    # -- append-only files ------------------------------------------------------------------

    def read_manifest(self) -> Manifest:
        """The manifest's entries; lines that do not read are listed in ``problems``, never raised."""
        try:
            lines = read_lines(self.path / MANIFEST)
        except OSError as exc:
            return Manifest(problems=[f"{MANIFEST} cannot be read: {exc.strerror or exc}"])
        manifest = Manifest()
        for number, value in lines:
            if isinstance(value, Unreadable):
                manifest.problems.append(f"{MANIFEST}: {value}")
                continue
            try:
                manifest.entries.append(ManifestEntry.parse(value))
            except ValueError as exc:
                manifest.problems.append(f"{MANIFEST}: line {number} is damaged: {exc}")
        return manifest

    def read_images(self) -> list[dict]:
        """The image rows that read (a damaged line is skipped: images are never gc roots by this file alone)."""
        lines = read_lines(self.path / MEDIA)
        return [row for _, row in lines if isinstance(row, dict) and isinstance(row.get("key"), str)
                and isinstance(row.get("id"), str)]

    def read_text_log(self) -> str:
        try:
            return (self.path / TEXT_LOG).read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    @property
    def text_log_path(self) -> Path:
        return self.path / TEXT_LOG

    def iter_timeline(self, keys: Iterable[str] | None = None) -> Iterator[dict]:
        return iter_rows(self.path / METRICS, keys)

    def iter_timeline_blocks(self, keys: Iterable[str] | None = None) -> Iterator[dict[str, tuple]]:
        return iter_column_blocks(self.path / METRICS, keys)

    def last_step(self) -> int | None:
        return last_step(self.path / METRICS)

    def check_timeline(self) -> list[str]:
        """What readers of the timeline skip (damaged spans, records that do not read), one sentence each."""
        return [f"{METRICS}: {problem}" for problem in check_timeline(self.path / METRICS)]

    def continue_timeline(self) -> TimelineEncoder:
        """An encoder for appending to this run's timeline (resume): a torn end is cut off first."""
        return TimelineEncoder.continuing(self.path / METRICS)

    def appender(self, name: str) -> Appender:
        """An open append-only file; a line file whose last line was torn by a crash gets that line ended first."""
        if name not in APPEND_ONLY_FILES:
            raise ValueError(f"{name!r} is not an append-only run file")
        appender = Appender(self.path / name)
        if name != METRICS and appender.end > 0 and not _ends_with_newline(self.path / name):
            appender.append(b"\n")
        return appender


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as existing:
        existing.seek(-1, os.SEEK_END)
        return existing.read(1) == b"\n"


def make_run_folder(path: Path, *, exist_ok: bool) -> None:
    """``mkdir -p``, again if a concurrent prune of empty path folders took a parent in between."""
    for attempt in range(3):
        try:
            path.mkdir(parents=True, exist_ok=exist_ok)
            return
        except FileNotFoundError:
            if attempt == 2:
                raise


def holds_run_files(path: Path) -> bool:
    return any(os.path.lexists(path / name) for name in MARKER_FILES)


def _refuse_nesting(runs_dir: Path, path: Path, identity: Identity) -> None:
    """A run folder inside another run's folder would be hidden from listings and taken along by its rm."""
    folder = path.parent
    while folder != runs_dir and runs_dir in folder.parents:
        if holds_run_files(folder):
            parent = "/".join(folder.relative_to(runs_dir).parts)
            raise ValueError(f"path {identity.path!r} runs through the folder of run {parent!r}: a run's folder "
                             "cannot hold other runs. Use a path beside it, for example "
                             f"{identity.path.replace(parent, parent + '-children', 1)!r}")
        folder = folder.parent
