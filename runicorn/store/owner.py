"""Who made a temp file or a staging folder, so that litter of a crashed process can be told from work in flight.

An owner tag is ``<host hash>-<pid>-<process start>``: the start time (clock
ticks since boot, from ``/proc``; 0 where there is none) tells a live process
from a later one that reused its pid. A tag of this host is judged exactly; a
tag of another host (a shared filesystem) cannot be, so it counts as alive
until its file is older than ``FOREIGN_OWNER_SECONDS``.
"""

from __future__ import annotations

import functools
import os
import re
import socket

import blake3

FOREIGN_OWNER_SECONDS = 24 * 3600.0
TAG_PATTERN = r"[0-9a-f]{6}-\d+-\d+"
_TAG = re.compile(r"(?P<host>[0-9a-f]{6})-(?P<pid>\d+)-(?P<start>\d+)")

_cached: tuple[int, str] | None = None  # (pid, tag): recomputed in a forked child


@functools.lru_cache(maxsize=1)
def host_hash() -> str:
    return blake3.blake3(socket.gethostname().encode("utf-8", "surrogateescape")).hexdigest()[:6]


def process_start(pid: int) -> int:
    """Clock ticks from boot to the start of ``pid`` (Linux), 0 where unknown; None when there is no such process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
    except FileNotFoundError:
        return None if os.path.isdir("/proc/self") else 0
    except OSError:
        return 0
    # The command name (field 2) may hold spaces and parentheses: count fields after its last ')'.
    fields = stat[stat.rfind(b")") + 2:].split()
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return 0


def current_owner() -> str:
    """This process's tag."""
    global _cached
    pid = os.getpid()
    if _cached is None or _cached[0] != pid:
        _cached = (pid, f"{host_hash()}-{pid}-{process_start(pid) or 0}")
    return _cached[1]


def owner_alive(tag: str, age_seconds: float) -> bool:
    """Whether the process that wrote ``tag`` may still be at work (``age_seconds``: how old its file is)."""
    match = _TAG.fullmatch(tag)
    if match is None:
        return age_seconds < FOREIGN_OWNER_SECONDS  # not ours to judge
    if match["host"] != host_hash():
        return age_seconds < FOREIGN_OWNER_SECONDS
    pid, start = int(match["pid"]), int(match["start"])
    if not pid_alive(pid):
        return False
    actual = process_start(pid)
    return actual is not None and (start == 0 or actual == 0 or actual == start)


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this host (one owned by another user counts)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
