"""Group aggregation for compare: runs that differ by seed, drawn as one mean line with a min–max band.

Runs are grouped by their path (where a sweep's seeds usually live:
``cv/resnet50/baseline`` with aliases ``seed-1``, ``seed-2``) or by one config
value. Their steps need not line up. A group is sampled at the union of its
runs' x values when that fits the chart's width (seeds logged at the same
steps share them), else at one point per pixel;
at each sample x a run contributes the value of its last point at or before x,
and only between its own first and last point (a run that stopped early is
not carried to the end). The group shows the mean of the runs present, their
min and max (the band) and how many there were. Smoothing is each run's
debiased EMA over its full series (``downsample.smoothed_at``), averaged the
same way: a group's smoothed line is the mean of its runs' smoothed lines, as
W&B draws grouped runs.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right

from ..api import RunView
from ..compare import flatten
from .downsample import MAX_SMOOTHING, MAX_WIDTH, MIN_WIDTH, smoothed_at, window
from .responses import BadRequest
from .series import Series

CONFIG_PREFIX = "config."


def check_grouping(by: str) -> str:
    """``path`` or ``config.<dotted key>``; anything else is refused with what to give instead."""
    if by == "path" or (by.startswith(CONFIG_PREFIX) and len(by) > len(CONFIG_PREFIX)):
        return by
    raise BadRequest(f"group by 'path' or 'config.<key>' (a dotted config key such as config.opt.lr), not {by!r}")


def group_label(view: RunView, by: str) -> str:
    if by == "path":
        return view.path
    key = by[len(CONFIG_PREFIX):]
    values = flatten(view.run_config.values)
    if key not in values:
        return f"{key} not set"
    return f"{key}={values[key]}"


def group_runs(views: list[RunView], by: str) -> list[tuple[str, list[RunView]]]:
    """(label, runs) in the order each group's first run was given."""
    groups: dict[str, list[RunView]] = {}
    for view in views:
        groups.setdefault(group_label(view, by), []).append(view)
    return list(groups.items())


def _sample_points(members: list[Series], x0: float | None, x1: float | None,
                   width: int) -> tuple[list[float], int, bool]:
    """Where a group is sampled, how many points its runs have in the window, and whether it is sampled per
    pixel (rather than at every x a run logged)."""
    spans = [(series.xs, *window(series.xs, x0, x1)) for series in members]
    spans = [(xs, lo, hi) for xs, lo, hi in spans if hi > lo]
    points = sum(hi - lo for _, lo, hi in spans)
    if not spans:
        return [], 0, False
    if all(hi - lo <= width for _, lo, hi in spans):  # else the union cannot fit: no need to build it
        union = sorted({x for xs, lo, hi in spans for x in xs[lo:hi]})
        if len(union) <= width:
            return union, points, False
    first, last = min(xs[lo] for xs, lo, _ in spans), max(xs[hi - 1] for xs, _, hi in spans)
    if not last > first:
        return [first], points, True
    step = (last - first) / (width - 1)
    return [first + step * k for k in range(width - 1)] + [last], points, True


def aggregate(members: list[Series], *, width: int, x0: float | None = None, x1: float | None = None,
              smoothing: float = 0.0) -> dict:
    """One chart of a group: ``y`` the mean, ``min``/``max`` the band, ``runs`` how many runs each point has;
    ``smoothed`` the mean of the runs' smoothed values when ``smoothing`` is asked for."""
    width = min(max(int(width), MIN_WIDTH), MAX_WIDTH)
    weight = min(float(smoothing), MAX_SMOOTHING)
    xs, points, per_pixel = _sample_points(members, x0, x1, width)
    count = len(xs)
    sums, lows, highs, present = [0.0] * count, [math.inf] * count, [-math.inf] * count, [0] * count
    smooth_sums = [0.0] * count if weight > 0.0 else None
    for series in members:
        if not series.xs:
            continue
        start, end = bisect_left(xs, series.xs[0]), bisect_right(xs, series.xs[-1])
        indices = [bisect_right(series.xs, x) - 1 for x in xs[start:end]]
        smoothed = smoothed_at(series.ys, indices, weight) if smooth_sums is not None else None
        for offset, index in enumerate(indices):
            at = start + offset
            value = series.ys[index]
            sums[at] += value
            lows[at] = min(lows[at], value)
            highs[at] = max(highs[at], value)
            present[at] += 1
            if smoothed is not None:
                smooth_sums[at] += smoothed[offset]
    kept = [i for i in range(count) if present[i]]
    return {
        "points": points, "downsampled": per_pixel, "group": True,
        "x": [xs[i] for i in kept], "y": [sums[i] / present[i] for i in kept],
        "min": [lows[i] for i in kept], "max": [highs[i] for i in kept], "runs": [present[i] for i in kept],
        "smoothed": None if smooth_sums is None else [smooth_sums[i] / present[i] for i in kept],
        "count": sum(series.count for series in members), "skipped": sum(series.skipped for series in members),
        "last": None,
        "range": [xs[kept[0]], xs[kept[-1]]] if kept else None,
    }
