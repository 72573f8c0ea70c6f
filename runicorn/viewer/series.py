"""A run's metric series as float arrays: read once per timeline change, kept in a bounded cache.

Reading a timeline is the expensive part of a chart (about 0.6 s for a
million rows through ``RunView.iter_history``); bucketing it again for a zoom
or a new smoothing weight is cheap. So each (run, x axis, key) is read once
and kept as two ``array('d')`` (16 bytes a point) until the timeline file's
size or mtime changes (a live run appended rows) or the cache needs the room
(least recently used first, within a budget of points). One read collects
every key asked for, so a run page's grid of charts costs one pass.

Only values a chart can draw are kept: finite ints, floats and bools. NaN,
infinities and text are counted in ``skipped`` (the chart says so) but never
drawn. Points are sorted by x; steps logged out of order are sorted once.
"""

from __future__ import annotations

import math
import sys
import threading
from array import array
from collections import OrderedDict
from dataclasses import dataclass, field
from itertools import islice
from operator import le

from ..api import RunView
from ..runfolder import RESERVED_KEYS
from .lookup import timeline_signature

AXES = ("step", "time")
DEFAULT_BUDGET = 4_000_000  # points: 64 MB of x and y values


@dataclass
class Series:
    """One metric of one run along one x axis: what a chart draws, and what it could not."""

    xs: array = field(default_factory=lambda: array("d"))
    ys: array = field(default_factory=lambda: array("d"))
    skipped: int = 0  # NaN, infinities and text: logged, not drawable
    last: object = None  # the last value logged, whatever its type

    @property
    def count(self) -> int:
        return len(self.xs) + self.skipped


def read_series(view: RunView, keys: list[str] | None, axis: str) -> dict[str, Series]:
    """Every wanted key (``None``: every key) of a run's timeline, in one pass.

    A stored record at a time, as columns (``RunView.iter_history_blocks``): a block whose values are all
    finite numbers is appended to the arrays whole, at C speed; only a block holding NaN, infinities or
    text goes value by value.
    """
    x_name = "_time" if axis == "time" else "_step"
    wanted = None if keys is None else list(keys) + (["_time"] if axis == "time" else [])
    found: dict[str, Series] = {}
    for block in view.iter_history_blocks(wanted):
        xs = block.get(x_name)
        if xs is None:
            continue
        if type(xs) is not array:  # steps: one conversion per block, then every key's extend is a copy
            try:
                xs = array("d", xs)
            except (TypeError, OverflowError):  # a step beyond float range, in a JSON row
                continue
        for key, values in block.items():
            if key in RESERVED_KEYS:
                continue
            series = found.get(key)
            if series is None:
                series = found[key] = Series()
            series.last = values[-1]
            _extend(series, xs, values)
    for series in found.values():
        _sort(series)
    if keys is not None:
        return {key: found.get(key) or Series() for key in keys}
    return found


def _drawable(value) -> bool:
    """A finite float, an int within float range, or a bool."""
    kind = type(value)
    if kind is float:
        return value - value == 0.0  # false for NaN and infinities
    if kind is int:
        return -_FLOAT_MAX <= value <= _FLOAT_MAX
    return kind is bool


_FLOAT_MAX = sys.float_info.max


def _extend(series: Series, xs: array, values) -> None:
    try:
        total = sum(values, 0.0)  # C speed: NaN or inf if any value is (or the sum overflows: the slow path)
    except (TypeError, OverflowError):  # text, or an int beyond float range
        total = math.nan
    if total - total == 0.0:
        series.xs.extend(xs)
        series.ys.extend(values)
        return
    for x, value in zip(xs, values):
        if _drawable(value):
            series.xs.append(x)
            series.ys.append(value)
        else:
            series.skipped += 1


def _sort(series: Series) -> None:
    """Order points by x (stable: equal steps keep their logged order), when they are not already."""
    xs = series.xs
    if all(map(le, xs, islice(xs, 1, None))):
        return
    order = sorted(range(len(xs)), key=xs.__getitem__)
    series.xs = array("d", [xs[i] for i in order])
    series.ys = array("d", [series.ys[i] for i in order])


class SeriesCache:
    """(run, axis, key) -> ``Series``, valid while the run's timeline file is unchanged; thread-safe."""

    def __init__(self, budget: int = DEFAULT_BUDGET):
        self.budget = budget
        self._entries: OrderedDict = OrderedDict()  # (run id, axis, key) -> (signature, Series)
        self._key_lists: dict = {}  # (run id, axis) -> (signature, keys): what reading every key found
        self._points = 0
        self._lock = threading.Lock()
        self._run_locks: dict[str, threading.Lock] = {}

    def get(self, view: RunView, keys: list[str] | None, axis: str) -> dict[str, Series]:
        """The series of ``keys`` (``None``: every key the run logged), reading the timeline at most once."""
        if axis not in AXES:
            raise ValueError(f"x axis {axis!r} is not one of {', '.join(AXES)}")
        with self._run_lock(view.id):
            signature = timeline_signature(view)
            if keys is None:
                known = self._key_lists.get((view.id, axis))
                if known is None or known[0] != signature:
                    return self._read(view, None, axis, signature)
                keys = list(known[1])
            found, missing = {}, []
            with self._lock:
                for key in keys:
                    entry = self._entries.get((view.id, axis, key))
                    if entry is not None and entry[0] == signature:
                        self._entries.move_to_end((view.id, axis, key))
                        found[key] = entry[1]
                    else:
                        missing.append(key)
            if missing:
                found.update(self._read(view, missing, axis, signature))
            return {key: found[key] for key in keys}

    def _read(self, view: RunView, keys: list[str] | None, axis: str, signature) -> dict[str, Series]:
        found = read_series(view, keys, axis)
        with self._lock:
            if keys is None:
                self._key_lists[(view.id, axis)] = (signature, tuple(found))
            for key, series in found.items():
                old = self._entries.pop((view.id, axis, key), None)
                if old is not None:
                    self._points -= len(old[1].xs)
                self._entries[(view.id, axis, key)] = (signature, series)
                self._points += len(series.xs)
            while self._points > self.budget and len(self._entries) > 1:
                _, (_, evicted) = self._entries.popitem(last=False)
                self._points -= len(evicted.xs)
        return found

    def _run_lock(self, run_id: str) -> threading.Lock:
        """One reader per run at a time: a second request for the same run waits and then finds it cached."""
        with self._lock:
            lock = self._run_locks.get(run_id)
            if lock is None:
                if len(self._run_locks) > 10_000:
                    self._run_locks.clear()
                lock = self._run_locks[run_id] = threading.Lock()
            return lock
