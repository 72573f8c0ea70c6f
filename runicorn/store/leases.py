"""Leases: a writer's promise that the objects it puts from now on will be named by a root soon.

The grace period protects fresh objects only for as long as it lasts; with
``gc --grace 0s`` beside a live run, an object put a moment ago and not yet
named by a manifest line would be garbage. A writer therefore takes a lease
(a small file in ``leases/`` holding its owner tag and start time) before it
puts objects, and drops it once the root naming them is written. gc treats
every object younger than the oldest live lease as fresh, whatever the grace
period: objects a writer puts or reuses (reuse refreshes the mtime) under a
lease are never collected before the writer could name them. A lease whose
owner is gone is litter, removed by the next gc.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from .owner import current_owner, owner_alive

# File times may be coarser than the clock (a second on some filesystems): a lease covers that much before it.
CLOCK_MARGIN_SECONDS = 2.0


class Lease:
    """Held from ``acquire`` to ``release`` (or as a ``with`` block) by one holder; each lease is its own file."""

    def __init__(self, folder: Path):
        self._folder = folder
        self._path: str | None = None

    def acquire(self) -> None:
        if self._path is not None:
            return
        self._folder.mkdir(exist_ok=True)
        path = os.path.join(self._folder, f"{current_owner()}-{os.urandom(4).hex()}.lease")
        with open(path, "x") as handle:
            handle.write(f"{time.time()!r}\n")
        self._path = path

    def release(self) -> None:
        if self._path is None:
            return
        try:
            os.unlink(self._path)
        except FileNotFoundError:
            pass
        self._path = None

    def __enter__(self) -> "Lease":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def scan_leases(folder: Path, now: float) -> tuple[float | None, list[str]]:
    """The start of the oldest live lease (minus the clock margin), and the lease files whose owner is gone."""
    oldest: float | None = None
    dead: list[str] = []
    try:
        entries = list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return None, dead
    for entry in entries:
        if not entry.name.endswith(".lease"):
            continue
        owner = entry.name[: -len(".lease")].rpartition("-")[0]
        try:
            age = now - entry.stat(follow_symlinks=False).st_mtime
            with open(entry.path) as handle:
                started = float(handle.read().strip() or "nan")
        except FileNotFoundError:
            continue  # released meanwhile
        except (OSError, ValueError):
            started = now - max(age, 0.0)  # unreadable content: its mtime is when it was taken
        if not owner_alive(owner, age):
            dead.append(entry.path)
            continue
        if started != started:
            started = now - max(age, 0.0)
        start = started - CLOCK_MARGIN_SECONDS
        oldest = start if oldest is None else min(oldest, start)
    return oldest, dead
