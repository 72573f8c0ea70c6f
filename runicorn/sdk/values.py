"""Turning what a training script logs into plain JSON scalars, fast, with errors that name the key."""

from __future__ import annotations

import numbers
from typing import Any

PLAIN_TYPES = (float, int, str, bool)


def coerce_scalar(key: str, value: Any) -> float | int | str | bool:
    """Return ``value`` as a Python scalar: numpy/torch scalars and 0-d arrays via ``.item()``."""
    if type(value) in PLAIN_TYPES:
        return value
    if isinstance(value, PLAIN_TYPES):  # subclasses, e.g. numpy.float64 is a float
        for plain in PLAIN_TYPES[::-1]:
            if isinstance(value, plain):
                return plain(value)
    item = getattr(value, "item", None)
    if item is not None and getattr(value, "ndim", None) == 0:
        result = item()
        if type(result) in PLAIN_TYPES:
            return result
    if isinstance(value, numbers.Real):
        return float(value)
    shape = getattr(value, "shape", None)
    detail = f" with shape {tuple(shape)}" if shape is not None else ""
    raise TypeError(
        f"value for key {key!r} is a {type(value).__name__}{detail}; run.log takes numbers, bools and strings "
        "(numpy and torch scalars too: use .item() or log each element under its own key)"
    )


def coerce_step(step: Any) -> int:
    if isinstance(step, bool) or not isinstance(step, numbers.Integral):
        item = getattr(step, "item", None)
        if item is not None and getattr(step, "ndim", None) == 0 and type(item()) is int:  # not a numpy bool
            return item()
        raise TypeError(f"step must be an integer, got {step!r} ({type(step).__name__})")
    return int(step)


MAX_DEPTH = 100


def jsonable(value: Any, _depth: int = 0) -> Any:
    """A JSON-ready copy: scalars as they are (numpy/torch scalars unwrapped), other objects as their repr.

    A structure that contains itself (or nests past ``MAX_DEPTH``) is a ``ValueError``, not a RecursionError.
    """
    if _depth > MAX_DEPTH:
        raise ValueError(f"the value nests more than {MAX_DEPTH} levels deep or contains itself (a circular "
                         "reference); pass plain data")
    if isinstance(value, dict):
        return {str(k): jsonable(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v, _depth + 1) for v in value]
    if value is None or type(value) in PLAIN_TYPES:
        return value
    try:
        return coerce_scalar("", value)
    except TypeError:
        return repr(value)
