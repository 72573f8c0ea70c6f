"""Per-pixel downsampling of one series, and debiased EMA smoothing computed on the full series.

A chart is a few hundred to a few thousand pixels wide; a metric may have
millions of points. The visible x range is cut into one bucket per pixel; each
bucket sends its last point (the line) and its min and max (a band, so a
spike in a million points stays visible), the way W&B's full-fidelity mode
does. A zoomed range is bucketed again from the full series, so zooming in
ends at every logged point. Without a zoom the answer does not depend on how
the series was sampled: TensorBoard's reservoir sampling and smoothing after
sampling make a curve change shape with its length; this does not.

Smoothing is TensorBoard's debiased EMA over *every* point before
bucketing: ``s_i = w s_(i-1) + (1-w) y_i``, shown as ``s_i / (1 - w^(i+1))``.
Only the smoothed values at the bucket ends are sent, and between two of them
``s_b = w^L s_a + (1-w) * sum(w^k y_(b-k))``, a dot product of a slice with a
table of powers of ``w`` that ``sum(map(mul, ...))`` runs at C speed; terms
older than ``w^k < 1e-18`` are below a float's resolution and are left out.

Pure Python on ``array('d')``, because numpy is no dependency of Runicorn: the
per-point work is all in C builtins (``bisect``, ``min``/``max`` over slices,
``map``), about 40 ms for a million points on a small machine.
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_left, bisect_right
from functools import lru_cache
from itertools import accumulate, repeat
from operator import mul

MIN_WIDTH, MAX_WIDTH = 10, 4000
MAX_SMOOTHING = 0.999
_NEGLIGIBLE = 1e-18


def window(xs: array, x0: float | None, x1: float | None) -> tuple[int, int]:
    """Indices [lo, hi) of the points with x in [x0, x1], plus one neighbour on each side so a zoomed line
    runs to the edges of the chart."""
    n = len(xs)
    lo = 0 if x0 is None else max(0, bisect_left(xs, x0) - 1)
    hi = n if x1 is None else min(n, bisect_right(xs, x1) + 1)
    return lo, max(lo, hi)


def bucket_edges(xs: array, lo: int, hi: int, width: int) -> list[int]:
    """Start indices of ``width`` buckets of equal x extent over xs[lo:hi], then ``hi``."""
    first, last = xs[lo], xs[hi - 1]
    if not last > first:
        return [lo, hi]
    step = (last - first) / width
    edges = [lo]
    for k in range(1, width):
        edges.append(bisect_left(xs, first + step * k, edges[-1], hi))
    edges.append(hi)
    return edges


@lru_cache(maxsize=16)
def _powers(weight: float) -> list[float]:
    """w^0, w^1, ... down to where w^k no longer changes a float sum."""
    count = max(1, math.ceil(math.log(_NEGLIGIBLE) / math.log(weight)))
    return list(accumulate(repeat(weight, count - 1), mul, initial=1.0))


def smoothed_at(ys: array, indices, weight: float) -> list[float]:
    """The debiased EMA of ys (from its first point) at each of the ascending ``indices``."""
    if weight <= 0.0:
        return [ys[i] for i in indices]
    pows = _powers(weight)
    horizon = len(pows)
    rest = 1.0 - weight
    state, previous, out = 0.0, -1, []
    for i in indices:
        gap = i - previous
        if gap == 1:
            state = weight * state + rest * ys[i]
        else:
            span = gap if gap < horizon else horizon
            recent = ys[i - span + 1:i + 1]
            recent.reverse()  # newest first, to meet w^0
            state = weight ** gap * state + rest * sum(map(mul, pows, recent))
        previous = i
        out.append(state / (1.0 - weight ** (i + 1)))
    return out


def downsample(xs: array, ys: array, *, width: int, x0: float | None = None, x1: float | None = None,
               smoothing: float = 0.0) -> dict:
    """The chart of one series: every point when the window holds at most ``width`` of them, else one bucket
    per pixel (``x``/``y`` the bucket's last point, ``min``/``max`` its band). ``smoothed``, when asked for, is
    the full-series EMA at the same points."""
    width = min(max(int(width), MIN_WIDTH), MAX_WIDTH)
    lo, hi = window(xs, x0, x1)
    count = hi - lo
    result = {"points": count, "downsampled": False, "x": [], "y": [], "min": None, "max": None,
              "smoothed": None}
    if count == 0:
        return result
    if count <= width:
        indices = range(lo, hi)
        result["x"], result["y"] = xs[lo:hi].tolist(), ys[lo:hi].tolist()
    else:
        edges = bucket_edges(xs, lo, hi, width)
        indices, lows, highs = [], [], []
        for start, end in zip(edges, edges[1:]):
            if end > start:
                part = ys[start:end]
                indices.append(end - 1)
                lows.append(min(part))
                highs.append(max(part))
        result.update(downsampled=True, x=[xs[i] for i in indices], y=[ys[i] for i in indices], min=lows,
                      max=highs)
    if smoothing > 0.0:
        result["smoothed"] = smoothed_at(ys, indices, min(float(smoothing), MAX_SMOOTHING))
    return result
