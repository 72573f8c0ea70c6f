"""The one way Runicorn writes a file: a temp file named for its owner, every byte written, fsync, then one step.

``TempFile`` streams bytes into ``.<stem>~<owner>-<random>.tmp`` in a folder,
refusing short writes, and ends in exactly one of three ways: ``replace``
(rename over the final name: state files, restored files, bundles), ``link``
(link to a final name without ever clobbering it: store objects), or
``discard``. Durable endings fsync the file before and the folder after, so a
crash leaves the old content or the new, never a torn file, and at most a temp
file whose owner (``owner.py``) says whether it is litter.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

from .faults import crash_point
from .owner import TAG_PATTERN, current_owner, owner_alive

TEMP_NAME = re.compile(r"\.(?P<stem>.*)~(?P<owner>" + TAG_PATTERN + r")-[0-9a-f]{8}\.tmp")


def fsync_dir(path: str | os.PathLike) -> None:
    """Make a rename or link inside ``path`` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def temp_leaf(stem: str = "") -> str:
    """A unique temp file name carrying this process's owner tag; the dot keeps it out of listings."""
    return f".{stem}~{current_owner()}-{os.urandom(4).hex()}.tmp"


def write_all(fd: int, data) -> None:
    """Write every byte: ``os.write`` may write less than asked (a full disk shows first as a short write)."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        if written <= 0:
            raise OSError(f"write returned {written}: the disk may be full")
        view = view[written:]


class TempFile:
    """A file being written under a temp name; see the module docstring."""

    __slots__ = ("path", "fd", "size")

    def __init__(self, directory: str | os.PathLike, stem: str = "", mode: int = 0o600, *, nofollow: bool = False):
        self.path = os.path.join(directory, temp_leaf(stem))
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | (os.O_NOFOLLOW if nofollow else 0)
        self.fd = os.open(self.path, flags, mode)
        self.size = 0

    def write(self, data) -> None:
        write_all(self.fd, data)
        count = len(data) if not isinstance(data, memoryview) else data.nbytes
        self.size += count
        crash_point("bytes", count)

    def close(self, *, durable: bool, mode: int | None = None) -> None:
        """fsync (when durable), set the final mode, and close; the name stays a temp name."""
        try:
            if mode is not None:
                os.fchmod(self.fd, mode)
            if durable:
                os.fsync(self.fd)
        finally:
            os.close(self.fd)
            self.fd = -1

    def replace(self, final: str | os.PathLike, *, durable: bool = True, mode: int | None = None) -> None:
        """Become ``final``, replacing what was there."""
        try:
            self.close(durable=durable, mode=mode)
            os.replace(self.path, final)
        except BaseException:
            self.discard()
            raise
        if durable:
            fsync_dir(os.path.dirname(os.fspath(final)) or ".")

    def discard(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass

    def __enter__(self) -> "TempFile":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.discard()


def link_no_clobber(temp_path: str, final: str) -> bool:
    """Give a closed, durable temp file its final name unless that name exists; drop the temp name either way.

    Returns False when another writer published the same name first (its mtime is refreshed instead).
    """
    try:
        os.link(temp_path, final)
        published = True
    except FileExistsError:
        os.utime(final)
        published = False
    os.unlink(temp_path)
    return published


def atomic_write_bytes(path: str | os.PathLike, data: bytes, *, durable: bool = True, mode: int = 0o644) -> None:
    """Replace ``path`` with ``data`` atomically.

    ``durable=False`` skips the fsyncs: for files that are rewritten every few
    seconds (live summaries) where losing the last version to a power cut is
    acceptable but a torn file is not.
    """
    path = os.fspath(path)
    directory, name = os.path.split(path)
    with TempFile(directory or ".", name + ".", mode) as temp:
        temp.write(data)
        temp.replace(path, durable=durable)


def dumps_json(value: Any) -> bytes:
    """Stable, readable JSON: sorted keys, UTF-8, trailing newline."""
    return (json.dumps(value, sort_keys=True, ensure_ascii=False, indent=1) + "\n").encode("utf-8")


def atomic_write_json(path: str | os.PathLike, value: Any, *, durable: bool = True) -> None:
    atomic_write_bytes(path, dumps_json(value), durable=durable)


def stale_temp_files(directory: str | os.PathLike, now: float, stem: str | None = None) -> list[str]:
    """Temp files in ``directory`` whose owner is gone: litter of a crashed writer, safe to delete.

    ``stem`` keeps only the temp files of one final name (``stem`` as given to ``TempFile``), for
    folders that are not ours alone. Names without an owner tag (older versions) are stale after a day.
    """
    stale = []
    try:
        entries = list(os.scandir(directory))
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return stale
    for entry in entries:
        if not (entry.name.startswith(".") and entry.name.endswith(".tmp")):
            continue
        try:
            age = now - entry.stat(follow_symlinks=False).st_mtime
        except FileNotFoundError:
            continue
        match = TEMP_NAME.fullmatch(entry.name)
        if stem is not None and (match is None or match["stem"] != stem):
            continue
        if not owner_alive(match["owner"] if match else "", age):
            stale.append(entry.path)
    return stale
