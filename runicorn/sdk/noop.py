"""``NoOpRun``: what ``rn.init`` returns when Runicorn is disabled; every ``Run`` method, doing nothing.

Its methods are generated from ``Run``'s, so the two can never drift apart in
names or signatures.
"""

from __future__ import annotations

import functools
import inspect
import logging

from .run import Run

_RESULTS = {
    "log_image": lambda: "",
    "scan_outputs_once": dict,
    "get_logging_handler": logging.NullHandler,
}


def _noop_method(name: str, original):
    make_result = _RESULTS.get(name, lambda: None)

    @functools.wraps(original)
    def method(self, *args, **kwargs):
        return self if name == "__enter__" else make_result()

    return method


class NoOpRun:
    """A disabled run: accepts every call a ``Run`` does and writes nothing."""

    id = None
    path = None
    alias = None
    tags: list = []
    run_dir = None
    storage_root = None
    workspace_root = None
    is_finished = False
    status = "disabled"

    def __init__(self, *args, **kwargs):
        pass

    def __repr__(self) -> str:
        return "<NoOpRun (Runicorn is disabled)>"


for _name, _member in inspect.getmembers(Run, inspect.isfunction):
    if (not _name.startswith("_") or _name in ("__enter__", "__exit__")) and _name not in vars(NoOpRun):
        setattr(NoOpRun, _name, _noop_method(_name, _member))
