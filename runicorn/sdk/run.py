"""``Run``: one execution of a training script, and everything it writes.

Timeline data (``log``, ``log_text``, ``log_image``) is buffered and written by
the run's ``RunWriter`` thread; state (status, summary, config, manifest) is
written as it changes, through the run's ``RunFolder``. Assets that are bytes
go into the object store through ``RunAssets``. ``rn.init`` is the one way in;
it returns a ``NoOpRun`` with the same methods when Runicorn is disabled.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from pathlib import Path
from typing import Any

from ..errors import DamagedRun, RunExists, RunNotFound
from ..runfolder import (METRICS, RESERVED_KEYS, TEXT_LOG, Identity, PrimaryMetric, RunConfig, RunFolder, Status,
                         TimelineEncoder, new_run_id, scan_runs, validate_path, validate_run_id)
from ..storage import StorageRoot
from . import exithooks
from .console import TQDM_MODES, ConsoleCapture
from .textlog import RunLogHandler, log_timestamp, stamped_lines
from .values import PLAIN_TYPES, coerce_scalar, coerce_step, jsonable
from .warn import warn_user
from .writer import MAX_BUFFERED_ROWS, WAKE_ROWS, RunWriter

STATUS_ALIASES = {
    "finished": "finished", "completed": "finished", "complete": "finished", "success": "finished",
    "succeeded": "finished", "done": "finished", "ok": "finished",
    "failed": "failed", "crashed": "failed", "error": "failed", "errored": "failed", "failure": "failed",
    "interrupted": "interrupted", "killed": "interrupted", "cancelled": "interrupted", "canceled": "interrupted",
    "aborted": "interrupted", "stopped": "interrupted", "terminated": "interrupted",
}

_active_run: "Run | None" = None


def get_active_run() -> "Run | None":
    """The most recently started run that is not finished, or None."""
    return _active_run


class Run:
    """A run being written. Create it with ``rn.init(...)``."""

    def __init__(self, path: str | None = None, storage: str | None = None, run_id: str | None = None,
                 alias: str | None = None, capture_env: bool = False, snapshot_code: bool = False,
                 workspace_root: str | None = None, snapshot_format: str = "zip", force_snapshot: bool = False,
                 capture_console: bool = False, tqdm_mode: str = "smart", *, tags: list[str] | None = None,
                 resume: bool = False, **unknown: Any):
        global _active_run
        for name in unknown:
            warn_user(f"rn.init: argument {name!r} is not used by this version of Runicorn and is ignored")
        if snapshot_format != "zip":
            warn_user("rn.init: snapshot_format is ignored; code snapshots are stored as trees in the "
                      "object store")
        if tqdm_mode not in TQDM_MODES:
            raise ValueError(f"tqdm_mode must be one of {TQDM_MODES}, got {tqdm_mode!r}")
        if alias is not None and not isinstance(alias, str):
            raise TypeError(f"alias must be a string, got {type(alias).__name__}")
        tags = _check_tags(tags)
        root = StorageRoot(storage)
        root.prepare()
        self.storage_root = root.root
        self.runs_dir = root.runs_dir
        self._finished = False
        self._warned: set[str] = set()
        self._step = 0
        self._primary: PrimaryMetric | None = None
        self._summary: dict = {}
        config = RunConfig()

        if resume:
            if run_id is None:
                raise ValueError("resume=True needs the run_id of the run to continue")
            folder, identity, status = self._open_existing(validate_run_id(run_id), path, alias, tags)
            self._step = folder.last_step() or 0
            self._summary = folder.read_summary()
            config = folder.read_config()
            self._primary = folder.read_primary_metric()
            timeline = folder.continue_timeline()
            status.pid, status.host = os.getpid(), socket.gethostname()
            folder.write_status(status)
        else:
            identity = Identity.new(validate_run_id(run_id) if run_id is not None else new_run_id(),
                                    validate_path(path), alias, tags, time.time())
            if run_id is not None and any(f.location_id == run_id for f in scan_runs(self.runs_dir).folders):
                raise RunExists(f"run {run_id!r} already exists; pass resume=True to continue it, "
                                "or choose another run_id")
            status = Status(started_at=identity.created_at, pid=os.getpid(), host=socket.gethostname())
            folder = RunFolder.create(self.runs_dir, identity, status)  # writes the status once
            timeline = TimelineEncoder()
        self._folder = folder
        self.run_dir = folder.path
        self.id, self.path, self.alias, self.tags = identity.id, identity.path, identity.alias, identity.tags
        self._status = status
        folder.touch_heartbeat()

        self._folder_gone = False
        self._writer = RunWriter(folder, timeline, self._on_folder_gone)
        self._lock = self._writer.lock  # one lock: a row can never slip past a buffer swap
        self._writer.flush_hooks.append(self._persist_primary_metric)
        self._console = ConsoleCapture(self._emit_console_line, tqdm_mode) if capture_console else None
        exithooks.register(self)
        _active_run = self

        from .assets import RunAssets  # the store is opened only by runs that use it
        self._assets = RunAssets(store=lambda: root.store, folder=folder, writer=self._writer,
                                 storage_root=self.storage_root,
                                 workspace_root=Path(workspace_root).resolve() if workspace_root else None,
                                 config=config, current_step=lambda: self._step, write_state=self._write_state)
        try:
            self._assets.start(snapshot_code=snapshot_code, force_snapshot=force_snapshot, capture_env=capture_env)
        except BaseException as exc:
            self._close("failed", exc)
            raise

    def _on_folder_gone(self) -> None:
        """The run's folder was deleted while it was live (``runicorn rm --force``): say so once, stop writing."""
        if not self._folder_gone:
            self._folder_gone = True
            warn_user(f"run {self.id}: its folder {self.run_dir} was deleted while the run was live (runicorn rm "
                      "--force?); it stops writing, and what it logs from now on is lost")

    def _check_roots(self) -> None:
        """Something deleted objects this run saved while it was live (a gc run by hand on the store files?)."""
        if self._folder_gone:
            return
        missing = self._assets.missing_roots()
        if missing:
            self._status.extra["missing_objects"] = [ref.id.tagged for ref in missing]
            warn_user(f"run {self.id}: {len(missing)} objects it saved are no longer in the store (first: "
                      f"{missing[0].id}); run `runicorn verify` to see what is damaged")

    def _write_state(self, write) -> None:
        """Write a state file, unless the run's folder is gone (then note it once instead of failing the script)."""
        if self._folder_gone:
            return
        try:
            write()
        except (FileNotFoundError, DamagedRun):  # a file, or the identity read before a rewrite, is gone
            if self._folder.exists():
                raise
            self._on_folder_gone()

    @property
    def workspace_root(self) -> Path | None:
        """The folder a code snapshot was (or would be) taken of."""
        return self._assets.workspace_root

    # -- resume ------------------------------------------------------------------

    def _open_existing(self, run_id: str, path: str | None, alias: str | None,
                       tags: list[str]) -> tuple[RunFolder, Identity, Status]:
        matches = [f for f in scan_runs(self.runs_dir).folders if f.location_id == run_id]
        if not matches:
            raise RunNotFound(f"cannot resume run {run_id!r}: no such run under {self.runs_dir}")
        folder = matches[0]
        identity = folder.read_identity()
        if path is not None and validate_path(path) != identity.path:
            raise ValueError(f"run {run_id!r} is under path {identity.path!r}, not {path!r}; "
                             "pass its path or omit path to resume it")
        if (alias is not None and alias != identity.alias) or (tags and tags != identity.tags):
            # A new alias or tags given on resume are the run's from now on: ls and the viewer show them.
            identity.alias = alias if alias is not None else identity.alias
            identity.tags = tags or identity.tags
            folder.write_identity(identity)
        status = folder.read_status() or Status(started_at=identity.created_at)
        status.status, status.ended_at, status.error = "running", None, None
        if status.started_at is None:
            status.started_at = identity.created_at
        status.resumed_at = status.resumed_at + [time.time()]
        return folder, identity, status

    # -- the hot path ----------------------------------------------------------

    def log(self, data: dict | None = None, *, step: int | None = None, stage: Any = None, **kwargs: Any) -> None:
        """Append one timeline row (``data`` merged with ``kwargs``); costs microseconds."""
        if self._finished:
            self._warn_after_finish("log")
            return
        if data is None:
            items = kwargs
        elif type(data) is dict:
            items = {**data, **kwargs} if kwargs else data
        elif hasattr(data, "items"):
            items = {**dict(data.items()), **kwargs}
        else:
            raise TypeError(f"run.log takes a dict of metrics, got {type(data).__name__}")
        row = {}
        for key, value in items.items():
            if type(key) is not str or key in RESERVED_KEYS:
                _bad_key(key)
            row[key] = value if type(value) in PLAIN_TYPES else coerce_scalar(key, value)
        if stage is not None and type(stage) is not str:
            stage = str(stage)
        with self._lock:
            self._step = current = self._step + 1 if step is None else coerce_step(step)
            rows = self._writer.buffers[METRICS]  # under the writer's lock
            rows.append((current, time.time(), stage, row))
            primary = self._primary
            if primary is not None and primary.name in row:
                primary.offer(row[primary.name], current)
            if len(rows) == WAKE_ROWS:
                self._writer.wake()
            elif len(rows) >= MAX_BUFFERED_ROWS:
                self._writer.wait_for_room()

    # -- text ----------------------------------------------------------------

    def log_text(self, text: str) -> None:
        """Append timestamped lines to the run's text log."""
        if self._finished:
            self._warn_after_finish("log_text")
            return
        self._write_log_lines(stamped_lines(text))

    def _emit_console_line(self, line: str) -> None:
        # No _finished check: finish() marks the run finished before it releases the console, and the
        # release emits the last partial line (a bar still open, a print without newline).
        self._writer.append(TEXT_LOG, f"[{log_timestamp()}] {line}")

    def _write_log_lines(self, lines: list[str]) -> None:
        with self._writer.lock:
            self._writer.buffers[TEXT_LOG].extend(lines)

    def get_logging_handler(self, level: int = logging.INFO, fmt: str | None = None) -> logging.Handler:
        """A ``logging.Handler`` that writes records to this run's text log (until the run finishes)."""
        handler = RunLogHandler(self._write_log_lines, lambda: self._finished, level)
        handler.setFormatter(logging.Formatter(fmt or "%(levelname)s %(name)s: %(message)s"))
        return handler

    # -- summary and primary metric ---------------------------------------------

    def set_primary_metric(self, metric_name: str, mode: str = "max") -> None:
        """Track the best value of ``metric_name`` (``mode``: "max" or "min")."""
        if self._finished:
            return self._warn_after_finish("set_primary_metric")
        if not isinstance(metric_name, str) or not metric_name:
            raise ValueError(f"metric_name must be a non-empty string, got {metric_name!r}")
        if mode not in ("max", "min"):
            raise ValueError(f"mode must be 'max' or 'min', got {mode!r}")
        with self._lock:
            current = self._primary
            if current is not None and (current.name, current.mode) == (metric_name, mode):
                return
            self._primary = primary = PrimaryMetric(metric_name, mode)
        # Rows logged before this call count too (new rows are offered live meanwhile; offering twice is harmless).
        self._writer.flush()
        for row in self._folder.iter_timeline([metric_name]):
            if metric_name in row:
                primary.offer(row[metric_name], row["_step"])
        self._persist_primary_metric()

    def _persist_primary_metric(self) -> None:
        primary = self._primary
        if primary is not None and primary.dirty:
            primary.dirty = False
            self._write_state(lambda: self._folder.write_primary_metric(primary))

    def summary(self, update: dict) -> None:
        """Merge ``update`` into the run's summary (written atomically)."""
        if self._finished:
            self._warn_after_finish("summary")
            return
        if not isinstance(update, dict):
            raise TypeError(f"summary takes a dict, got {type(update).__name__}")
        with self._lock:
            self._summary.update(jsonable(update))
            self._write_state(lambda: self._folder.write_summary(self._summary))

    # -- assets (runicorn.sdk.assets) -----------------------------------------------

    def log_config(self, *, args: Any = None, extra: dict | None = None, config_files: list | None = None) -> None:
        """Record the run's configuration; config files' contents go into the object store."""
        if self._finished:
            return self._warn_after_finish("log_config")
        self._assets.log_config(args=args, extra=extra, config_files=config_files)

    def log_dataset(self, name: str, root_or_uri: Any, *, context: str = "train", save: bool = False,
                    description: str | None = None, force_save: bool = False,
                    max_archive_bytes: int = 5 * 1024 ** 3, max_archive_files: int = 2_000_000) -> dict | None:
        """Record a dataset reference (with a content fingerprint); ``save=True`` stores its files."""
        if self._finished:
            return self._warn_after_finish("log_dataset")
        return self._assets.log_reference("dataset", name, root_or_uri, context=context, save=save,
                                          description=description, force_save=force_save,
                                          max_archive_bytes=max_archive_bytes, max_archive_files=max_archive_files)

    def log_pretrained(self, name: str, *, path_or_uri: Any = None, save: bool = False, source_type: str = "unknown",
                       description: str | None = None, force_save: bool = False,
                       max_archive_bytes: int = 5 * 1024 ** 3, max_archive_files: int = 2_000_000) -> dict | None:
        """Record pretrained weights (with a content fingerprint for local paths); ``save=True`` stores them."""
        if self._finished:
            return self._warn_after_finish("log_pretrained")
        return self._assets.log_reference("pretrained", name, path_or_uri, source_type=source_type, save=save,
                                          description=description, force_save=force_save,
                                          max_archive_bytes=max_archive_bytes, max_archive_files=max_archive_files)

    def log_image(self, key: str, image: Any, step: int | None = None, caption: str | None = None,
                  format: str = "png", quality: int = 90) -> str:
        """Store an image in the object store and add a timeline row that names it; returns its object id."""
        if self._finished:
            self._warn_after_finish("log_image")
            return ""
        with self._lock:
            row_step = self._step if step is None else coerce_step(step)
        return self._assets.log_image(key, image, row_step, caption, format, quality)

    def scan_outputs_once(self, *, output_dirs: list, patterns: list[str] | None = None, stable_required: int = 2,
                          min_age_sec: float = 1.0, mode: str = "rolling", log_snapshot_interval_sec: float = 60.0,
                          state_gc_after_sec: float = 604800) -> dict:
        """Archive stable matching files of the output folders into the object store; returns what was archived."""
        if self._finished:
            self._warn_after_finish("scan_outputs_once")
            return {}
        archiver = self._assets.outputs.configure(output_dirs, patterns, stable_required, min_age_sec, mode)
        self._leave_outputs_out_of_code(archiver)
        report = archiver.scan()
        return {"run_id": self.id, **report}

    def watch_outputs(self, *, output_dirs: list, interval_sec: float = 10.0, patterns: list[str] | None = None,
                      stable_required: int = 2, min_age_sec: float = 1.0, mode: str = "rolling",
                      log_snapshot_interval_sec: float = 60.0, state_gc_after_sec: float = 604800) -> None:
        """Scan the output folders every ``interval_sec`` in a background thread until finish or stop."""
        if self._finished:
            return self._warn_after_finish("watch_outputs")
        archiver = self._assets.outputs.configure(output_dirs, patterns, stable_required, min_age_sec, mode)
        self._leave_outputs_out_of_code(archiver)
        archiver.watch(interval_sec)

    def _leave_outputs_out_of_code(self, archiver) -> None:
        for folder in archiver.folders:
            self._assets.leave_out_of_code(folder, "an output folder of this run")

    def stop_outputs_watch(self) -> None:
        self._assets.outputs.stop()

    # -- the end -------------------------------------------------------------------

    @property
    def is_finished(self) -> bool:
        return self._finished

    @property
    def status(self) -> str:
        return self._status.status

    def finish(self, status: str = "finished") -> None:
        """Flush everything, archive outputs a last time, and record the final status. Idempotent."""
        if self._finished:
            return
        final = STATUS_ALIASES.get(str(status).lower())
        if final is None:
            raise ValueError(f"unknown status {status!r}; use 'finished', 'failed' or 'interrupted'")
        self._close(final, None)

    def _finish_from_hook(self, status: str, error: BaseException | None) -> None:
        if not self._finished:
            self._close(status, error)

    def _close(self, status: str, error: BaseException | None) -> None:
        global _active_run
        with self._lock:
            if self._finished:
                return
            self._finished = True
        with exithooks.closing(self):  # a SIGTERM meanwhile waits until the status is written
            try:
                self._assets.close()
            finally:
                if self._console is not None:
                    self._console.stop()
                self._status.status, self._status.ended_at = status, time.time()
                if error is not None:
                    self._status.error = {"type": type(error).__name__, "message": str(error)[:2000]}
                lost = self._writer.close()
                if lost:  # the disk refused part of what was logged: the status says what never landed
                    self._status.extra["lost"] = lost
                self._check_roots()
                self._assets.release_leases(final=True)
                self._write_state(lambda: self._folder.write_status(self._status))
                exithooks.unregister(self)
                if _active_run is self:
                    _active_run = None

    def __enter__(self) -> "Run":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self._finish_from_hook("finished", None)
        elif issubclass(exc_type, KeyboardInterrupt):
            self._finish_from_hook("interrupted", exc)
        elif issubclass(exc_type, SystemExit) and exc.code in (None, 0):
            self._finish_from_hook("finished", None)
        else:
            self._finish_from_hook("failed", exc)

    def _warn_after_finish(self, method: str) -> None:
        if method not in self._warned:
            self._warned.add(method)
            warn_user(f"run.{method}() called after run {self.id} finished; ignored")

    def __repr__(self) -> str:
        return f"<Run {self.id} path={self.path!r} status={self.status}>"


def _bad_key(key: Any) -> None:
    if type(key) is not str:
        raise TypeError(f"metric names must be strings, got {key!r}")
    raise ValueError(f"{key!r} is reserved for Runicorn's own columns; rename the metric")


def _check_tags(tags: Any) -> list[str]:
    if tags is None:
        return []
    if isinstance(tags, str):
        return [tags]
    if not all(isinstance(tag, str) for tag in tags):
        raise TypeError(f"tags must be a list of strings, got {tags!r}")
    return list(tags)
