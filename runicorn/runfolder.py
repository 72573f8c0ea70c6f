"""The run folder format: every file under ``runs/<path>/<run id>/``, written and read here only.

State files (identity, status, summary, config, primary metric) are JSON
replaced atomically; the timeline, text log, media and manifest are append-only
lines. Readers are tolerant: a torn last line (a writer killed mid-line) is
ignored and a state file that does not parse reads as absent.
See docs/format.md, section 5.
"""

from __future__ import annotations

import json
import math
import os
import re
import socket
import time
from pathlib import Path
from typing import Any, Iterable, Iterator

from .errors import UnsupportedFormat
from .store.atomic import atomic_write_json

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

RESERVED_KEYS = frozenset({"_step", "_time", "_stage"})
STATUSES = ("running", "finished", "failed", "interrupted")
HEARTBEAT_INTERVAL_SECONDS = 5.0
HEARTBEAT_STALE_SECONDS = 30.0

_SEGMENT = re.compile(r"[A-Za-z0-9_-]+")
MAX_PATH_LENGTH = 200


# -- names --------------------------------------------------------------------

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
    if not isinstance(run_id, str) or not _SEGMENT.fullmatch(run_id) or len(run_id) > 100:
        raise ValueError(
            f"run_id {run_id!r} is invalid: use 1-100 letters, digits, '_' and '-' "
            "(default ids look like 20261126_161738_a1b2c3)"
        )
    return run_id


def new_run_id(now: float | None = None) -> str:
    stamp = time.strftime("%Y%m%d_%H%M%S", time.localtime(now))
    return f"{stamp}_{os.urandom(3).hex()}"


# -- JSON values --------------------------------------------------------------

_NONFINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


def _encode_nonfinite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return {"$float": "nan" if value != value else ("inf" if value > 0 else "-inf")}
    return value


def encode_line(record: dict) -> str:
    """One JSON line; non-finite floats become ``{"$float": ...}`` so the line stays valid JSON."""
    try:
        return json.dumps(record, ensure_ascii=False, allow_nan=False)
    except ValueError:
        return json.dumps({k: _encode_nonfinite(v) for k, v in record.items()}, ensure_ascii=False, allow_nan=False)


def _decode_nonfinite(obj: dict) -> Any:
    if len(obj) == 1 and "$float" in obj:
        return _NONFINITE.get(obj["$float"], math.nan)
    return obj


def decode_line(line: bytes | str) -> Any:
    """The inverse of ``encode_line``."""
    return json.loads(line, object_hook=_decode_nonfinite)


def read_jsonl(path: Path) -> list[dict]:
    """All complete lines of an append-only JSON-lines file (a torn last line is dropped)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    end = data.rfind(b"\n")
    if end < 0:
        return []
    body = data[: end + 1].decode("utf-8", errors="replace")
    hook = _decode_nonfinite if '"$float"' in body else None
    try:
        return json.loads("[" + ",".join(body.splitlines()) + "]", object_hook=hook)
    except ValueError:
        return _read_lines_one_by_one(body, hook)


def _read_lines_one_by_one(body: str, hook) -> list[dict]:
    """Slow path for a file with a damaged line in the middle: keep every line that parses."""
    rows = []
    for line in body.splitlines():
        try:
            rows.append(json.loads(line, object_hook=hook))
        except ValueError:
            continue
    return rows


def read_json(path: Path) -> Any:
    """A state file's content, or None when absent or unreadable (never raises for bad content)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"), object_hook=_decode_nonfinite)
    except (FileNotFoundError, NotADirectoryError, ValueError, UnicodeDecodeError):
        return None


def write_json(path: Path, value: Any, *, durable: bool = True) -> None:
    atomic_write_json(path, _jsonable_tree(value), durable=durable)


def _jsonable_tree(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable_tree(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable_tree(v) for v in value]
    return _encode_nonfinite(value)


# -- folders ------------------------------------------------------------------

def run_folder(runs_dir: Path, path: str, run_id: str) -> Path:
    return runs_dir.joinpath(*path.split("/"), run_id)


def iter_run_folders(runs_dir: Path, prefix: str | None = None) -> Iterator[Path]:
    """Every run folder (one holding run.json) under ``runs_dir``, optionally under a path prefix."""
    start = runs_dir
    if prefix:
        start = runs_dir.joinpath(*validate_path(prefix).split("/"))
    stack = [start]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as listing:
                # Dot folders (runs/.trash, import staging) are never runs.
                entries = [e for e in listing if e.is_dir(follow_symlinks=False) and not e.name.startswith(".")]
        except (FileNotFoundError, NotADirectoryError):
            continue
        if os.path.exists(os.path.join(folder, IDENTITY)):
            yield Path(folder)
            continue
        stack.extend(Path(e.path) for e in entries)


def check_identity(identity: Any, folder: Path) -> dict:
    if not isinstance(identity, dict) or identity.get("format") != RUN_FORMAT:
        raise UnsupportedFormat(f"{folder / IDENTITY} is not a Runicorn run identity")
    if identity.get("version") != RUN_FORMAT_VERSION:
        raise UnsupportedFormat(
            f"run {folder.name} has run format version {identity.get('version')!r}; this Runicorn reads "
            f"version {RUN_FORMAT_VERSION}. Upgrade Runicorn to read it."
        )
    return identity


# -- liveness -----------------------------------------------------------------

def touch_heartbeat(folder: Path) -> None:
    path = folder / HEARTBEAT
    try:
        os.utime(path)
    except FileNotFoundError:
        path.touch()


def effective_status(folder: Path, status: dict | None, now: float | None = None) -> str:
    """The status to show: a 'running' run whose writer (host and pid in status.json) is gone is 'crashed'."""
    recorded = (status or {}).get("status", "running")
    if recorded != "running":
        return recorded
    now = time.time() if now is None else now
    try:
        beat = (folder / HEARTBEAT).stat().st_mtime
    except FileNotFoundError:
        beat = (status or {}).get("started_at") or 0.0
    if now - beat > HEARTBEAT_STALE_SECONDS:
        return "crashed"
    if (status or {}).get("host") == socket.gethostname() and not _pid_alive((status or {}).get("pid")):
        return "crashed"
    return "running"


def _pid_alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return True  # unknown: trust the heartbeat
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def append_lines(handle, lines: Iterable[str]) -> None:
    """Append whole lines in one write, so a kill leaves at most one torn line at the end."""
    data = "".join(line + "\n" for line in lines)
    if data:
        handle.write(data.encode("utf-8"))
        handle.flush()
