"""Opening the run a request names, and telling cheaply whether it changed since the last answer.

``Api.run`` lists every run to resolve one id (0.7 s at 10,000 runs), and a
run page asks for a run many times a second (charts, log, images). The finder
remembers where each run the viewer has listed or opened lives, and opens a
fresh ``RunView`` of that folder per request (run state changes while a run is
live); an id it has not seen, or whose folder moved, goes to ``Api.run``.
Only ids from listings are remembered, never a path from a request.

A run's *signature* is the size and mtime of the run file an answer is made
from: the ETag of a chart or a log tail, so a polling page gets 304 without
the timeline being read.
"""

from __future__ import annotations

import os
import re
import threading

from ..api import Api, RunView
from ..errors import RunNotFound
from ..runfolder import METRICS, TEXT_LOG

# Run ids, and the id prefixes `runicorn show` accepts: the run id rule of docs/format.md section 5.
_RUN_ID = re.compile(r"[A-Za-z0-9_-]{1,100}")
_REMEMBERED_MAX = 200_000


class RunFinder:
    """Run id -> a fresh ``RunView``; thread-safe (requests are served from a thread pool)."""

    def __init__(self, api: Api):
        self.api = api
        self._folders: dict = {}
        self._lock = threading.Lock()

    def remember(self, views) -> None:
        """Note where listed runs live, so opening one of them later costs one folder read."""
        with self._lock:
            if len(self._folders) > _REMEMBERED_MAX:
                self._folders.clear()
            for view in views:
                self._folders[view.id] = view.folder

    def open(self, run_id: str) -> RunView:
        """The run with this id (or unique id prefix); ``RunNotFound`` for anything else."""
        if not isinstance(run_id, str) or not _RUN_ID.fullmatch(run_id):
            raise RunNotFound(f"{run_id!r} is not a run id: ids are letters, digits, '_' and '-' "
                              "(at most 100); the runs page lists them")
        with self._lock:
            folder = self._folders.get(run_id)
        if folder is not None and folder.exists():
            view = RunView(folder)
            if view.id == run_id:
                return view
        view = self.api.run(run_id)
        self.remember([view])
        return view

    def open_many(self, run_ids: list[str]) -> list[RunView]:
        return [self.open(run_id) for run_id in run_ids]


def file_signature(view: RunView, name: str) -> tuple[int, int] | None:
    """(size, mtime in ns) of one run file, None when it is absent."""
    try:
        st = os.stat(view.folder.file_path(name))
    except (FileNotFoundError, NotADirectoryError):
        return None
    return st.st_size, st.st_mtime_ns


def timeline_signature(view: RunView) -> tuple:
    return view.id, file_signature(view, METRICS)


def log_signature(view: RunView) -> tuple:
    return view.id, file_signature(view, TEXT_LOG)
