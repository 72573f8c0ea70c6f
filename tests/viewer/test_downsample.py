"""Per-pixel buckets and the debiased EMA on the full series, against plain loops."""

from __future__ import annotations

import math
import random
from array import array

import pytest

from runicorn.viewer.downsample import bucket_edges, downsample, smoothed_at, window


def ema(ys, weight):
    out, state = [], 0.0
    for i, y in enumerate(ys):
        state = weight * state + (1 - weight) * y
        out.append(state / (1 - weight ** (i + 1)))
    return out


@pytest.mark.parametrize("weight", [0.0, 0.3, 0.9, 0.99, 0.999])
def test_smoothing_at_any_points_equals_the_full_recurrence(weight):
    rng = random.Random(7)
    ys = array("d", (rng.gauss(0, 1) for _ in range(60_000)))
    reference = ema(ys, weight) if weight else list(ys)
    indices = sorted(rng.sample(range(len(ys)), 300)) + [len(ys) - 1]
    got = smoothed_at(ys, indices, weight)
    assert got == pytest.approx([reference[i] for i in indices], rel=1e-9, abs=1e-12)


def test_buckets_keep_the_last_point_and_the_extremes():
    xs = array("d", range(10_000))
    ys = array("d", (math.sin(x / 50) for x in range(10_000)))
    ys[5000], ys[7000] = 50.0, -50.0
    chart = downsample(xs, ys, width=200)
    assert chart["downsampled"] and len(chart["x"]) <= 200 and chart["points"] == 10_000
    assert max(chart["max"]) == 50.0 and min(chart["min"]) == -50.0
    assert chart["x"][-1] == 9999 and chart["y"][-1] == ys[-1]
    edges = bucket_edges(xs, 0, len(xs), 200)
    for start, end, x, low, high in zip(edges, edges[1:], chart["x"], chart["min"], chart["max"]):
        assert x == xs[end - 1] and low == min(ys[start:end]) and high == max(ys[start:end])


def test_the_shape_does_not_depend_on_the_length_of_the_series():
    """TensorBoard samples before smoothing, so a curve changes with its length; these buckets do not."""
    short = downsample(array("d", range(1000)), array("d", (x % 7 for x in range(1000))), width=100, smoothing=0.6)
    xs = array("d", range(1000))
    ys = array("d", (x % 7 for x in range(1000)))
    again = downsample(xs, ys, width=100, smoothing=0.6)
    assert short == again
    full = ema(ys, 0.6)
    assert again["smoothed"] == pytest.approx([full[int(x)] for x in again["x"]])


def test_window_and_small_series():
    xs = array("d", [0, 1, 2, 3, 4, 5])
    assert window(xs, 2, 3) == (1, 5) and window(xs, None, None) == (0, 6) and window(xs, 10, 20) == (5, 6)
    chart = downsample(xs, array("d", [5, 4, 3, 2, 1, 0]), width=100)
    assert chart["x"] == [0, 1, 2, 3, 4, 5] and not chart["downsampled"] and chart["smoothed"] is None
    assert downsample(array("d"), array("d"), width=100)["points"] == 0
    same_x = downsample(array("d", [3] * 50), array("d", range(50)), width=10)
    assert same_x["x"] == [3] and same_x["y"] == [49] and same_x["max"] == [49]
