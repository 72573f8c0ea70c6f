"""The names of a run folder: its files, the run path and id rules, and where a run's folder is."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

RUN_FORMAT = "runicorn-run"
RUN_FORMAT_VERSION = 1

IDENTITY = "run.json"
STATUS = "status.json"
HEARTBEAT = "heartbeat"
METRICS = "timeline.bin"
MEDIA = "media.jsonl"
TEXT_LOG = "logs.txt"
SUMMARY = "summary.json"
PRIMARY_METRIC = "primary_metric.json"
CONFIG = "config.json"
ENVIRONMENT = "environment.json"
MANIFEST = "manifest.jsonl"
PIN = "pin.json"

# Every file a run folder may hold; nothing else belongs to a run (bundles carry exactly these).
RUN_FILES = (IDENTITY, STATUS, HEARTBEAT, METRICS, MEDIA, TEXT_LOG, SUMMARY, PRIMARY_METRIC, CONFIG, ENVIRONMENT,
             MANIFEST, PIN)
APPEND_ONLY_FILES = (METRICS, MEDIA, TEXT_LOG, MANIFEST)
# Files whose presence makes a folder a run folder, whatever state the others are in.
MARKER_FILES = (IDENTITY, MANIFEST, STATUS)

RESERVED_KEYS = frozenset({"_step", "_time", "_stage"})

_SEGMENT = re.compile(r"[A-Za-z0-9_-]+")
MAX_PATH_LENGTH = 200
MAX_RUN_ID_LENGTH = 100


def validate_path(path: str | None) -> str:
    """Normalize and check a run path (``None`` -> ``"default"``); raise ValueError naming the rule."""
    if path is None:
        return "default"
    if not isinstance(path, str):
        raise ValueError(f"path must be a string like 'cv/resnet50/baseline', got {type(path).__name__}")
    if len(path) > MAX_PATH_LENGTH:
        raise ValueError(f"path {path[:40]!r}... is {len(path)} characters; the limit is {MAX_PATH_LENGTH}")
    segments = path.strip("/").split("/")
    for segment in segments:
        if segment == "..":
            raise ValueError(f"path {path!r} contains '..'; a path is a family name, not a file path")
        if not _SEGMENT.fullmatch(segment):
            raise ValueError(
                f"path {path!r} is invalid: use '/'-separated segments of letters, digits, '_' and '-' "
                "(for example 'cv/resnet50/baseline')"
            )
    return "/".join(segments)


def validate_run_id(run_id: str) -> str:
    if not isinstance(run_id, str) or not _SEGMENT.fullmatch(run_id) or len(run_id) > MAX_RUN_ID_LENGTH:
        raise ValueError(
            f"run_id {run_id!r} is invalid: use 1-{MAX_RUN_ID_LENGTH} letters, digits, '_' and '-' "
            "(default ids look like 20261126_161738_a1b2c3)"
        )
    return run_id


def new_run_id(now: float | None = None) -> str:
    stamp = time.strftime("%Y%m%d_%H%M%S", time.localtime(now))
    return f"{stamp}_{os.urandom(3).hex()}"


def run_folder(runs_dir: Path, path: str, run_id: str) -> Path:
    """Where the run ``run_id`` of family ``path`` lives (both already validated)."""
    return runs_dir.joinpath(*path.split("/"), run_id)
