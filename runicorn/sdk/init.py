"""``rn.init``: the one way a script starts a run."""

from __future__ import annotations

from typing import Any

from .enable import is_enabled
from .noop import NoOpRun
from .run import Run


def init(path: str | None = None, storage: str | None = None, run_id: str | None = None, alias: str | None = None,
         capture_env: bool = False, snapshot_code: bool = False, workspace_root: str | None = None,
         snapshot_format: str = "zip", force_snapshot: bool = False, capture_console: bool = False,
         tqdm_mode: str = "smart", *, tags: list[str] | None = None, resume: bool = False,
         **unknown: Any) -> Run | NoOpRun:
    """Start a run under the storage root and make it the active run.

    ``path`` is the run's family (``"cv/resnet50/baseline"``); ``resume=True``
    with an existing ``run_id`` continues that run. When Runicorn is disabled
    (``rn.set_enabled(False)``, ``RUNICORN_ON=0``, or a non-zero distributed
    rank) this returns a ``NoOpRun`` that accepts the same calls.
    """
    if not is_enabled():
        return NoOpRun()
    return Run(path, storage, run_id, alias, capture_env, snapshot_code, workspace_root, snapshot_format,
               force_snapshot, capture_console, tqdm_mode, tags=tags, resume=resume, **unknown)
