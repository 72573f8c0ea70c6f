"""The one way Runicorn writes a whole file: temp file, fsync, rename, fsync directory.

Used for store objects' metadata, the store config, and every JSON state file in
a run folder, so a crash leaves either the old or the new content, never a torn one.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any


def fsync_dir(path: str | os.PathLike) -> None:
    """Make a rename or link inside ``path`` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def temp_name(directory: str | os.PathLike, stem: str = "") -> Path:
    """A unique name for a temp file; the dot prefix keeps it out of every listing."""
    return Path(directory) / temp_leaf(stem)


def temp_leaf(stem: str = "") -> str:
    """The file name part of ``temp_name``, for hot paths that join strings instead of paths."""
    return f".{stem}{secrets.token_hex(8)}.tmp"


def atomic_write_bytes(path: str | os.PathLike, data: bytes, *, durable: bool = True, mode: int = 0o644) -> None:
    """Replace ``path`` with ``data`` atomically.

    ``durable=False`` skips the fsyncs: for files that are rewritten every few
    seconds (heartbeats, live summaries) where losing the last version to a
    power cut is acceptable but a torn file is not.
    """
    path = Path(path)
    tmp = temp_name(path.parent, path.name + ".")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        if durable:
            os.fsync(fd)
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    os.close(fd)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if durable:
        fsync_dir(path.parent)


def dumps_json(value: Any) -> bytes:
    """Stable, readable JSON: sorted keys, UTF-8, trailing newline."""
    return (json.dumps(value, sort_keys=True, ensure_ascii=False, indent=1) + "\n").encode("utf-8")


def atomic_write_json(path: str | os.PathLike, value: Any, *, durable: bool = True) -> None:
    atomic_write_bytes(path, dumps_json(value), durable=durable)
