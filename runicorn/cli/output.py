"""Formatting for people (tables, sizes, times) and for scripts (JSON), and progress bars on terminals."""

from __future__ import annotations

import contextlib
import json
import math
import re
import shutil
import sys
import time
from typing import Any, Iterator

import click

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class Duration(click.ParamType):
    """A number with a unit: 0s, 90s, 30m, 1h, 2d."""

    name = "DURATION"

    def convert(self, value, param, ctx) -> float:
        if isinstance(value, (int, float)):
            return float(value)
        match = _DURATION.match(str(value))
        if not match:
            self.fail(f"{value!r} is not a duration; use a number with a unit: 0s, 90s, 30m, 1h, 2d", param, ctx)
        return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


class PathPrefix(click.ParamType):
    """A run path prefix such as cv/resnet50: a malformed one is a usage error (exit 2), not a failed lookup."""

    name = "PATH_PREFIX"

    def convert(self, value, param, ctx) -> str:
        from ..runfolder import validate_path

        try:
            return validate_path(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


def human_bytes(count: int | None) -> str:
    if count is None:
        return "-"
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{count} B"


def human_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def plural(count: int, noun: str) -> str:
    """``1 object``, ``2 objects``."""
    return f"{count:,} {noun}" + ("" if count == 1 else "s")


def human_time(timestamp: float | None) -> str:
    return "-" if timestamp is None else time.strftime("%Y-%m-%d %H:%M", time.localtime(timestamp))


def human_value(value: Any) -> str:
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) and abs(value) < 1e-4 and value != 0 else f"{value:.6g}"
    return "-" if value is None else str(value)


def table(headers: list[str], rows: list[list[Any]], max_width: int = 48, droppable: tuple[str, ...] = ()) -> str:
    """A plain-text table: columns padded to their widest cell (cut at ``max_width``).

    On a terminal it fits the terminal's width: the ``droppable`` columns go first, least important first,
    then the widest cells are cut. Piped output keeps every column (scripts should use --json anyway).
    """
    cells = [[_cut(str(c), max_width) for c in row] for row in rows]
    columns = list(range(len(headers)))
    room = shutil.get_terminal_size().columns if sys.stdout.isatty() else None

    def widths() -> dict[int, int]:
        return {i: max([len(headers[i])] + [len(r[i]) for r in cells]) for i in columns}

    if room is not None:
        for name in droppable:
            if sum(widths().values()) + 2 * (len(columns) - 1) <= room:
                break
            columns = [i for i in columns if headers[i] != name]
        while sum(widths().values()) + 2 * (len(columns) - 1) > room:
            current = widths()
            widest = max(columns, key=lambda i: current[i])
            if current[widest] <= max(8, len(headers[widest])):
                break  # as narrow as it can usefully get
            cells = [[_cut(c, current[widest] - 1) if i == widest else c for i, c in enumerate(r)] for r in cells]
    final = widths()
    lines = ["  ".join(headers[i].ljust(final[i]) for i in columns).rstrip()]
    lines += ["  ".join(row[i].ljust(final[i]) for i in columns).rstrip() for row in cells]
    return "\n".join(lines)


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _json_default(value: Any) -> Any:
    return repr(value)


def json_safe(value: Any) -> Any:
    """JSON has no NaN or infinity: write them as strings so the output stays valid JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def _json_text(value: Any) -> str:
    return json.dumps(json_safe(value), indent=2, sort_keys=True, default=_json_default, allow_nan=False)


def echo_json(value: Any, *, err: bool = False) -> None:
    """``value`` as indented JSON. A list is written an item at a time (the same text), so `ls --json` of
    10,000 runs never holds the whole document twice over."""
    if not isinstance(value, list) or not value:
        click.echo(_json_text(value), err=err)
        return
    click.echo("[", err=err)
    last = len(value) - 1
    for index, item in enumerate(value):
        text = "  " + _json_text(item).replace("\n", "\n  ")
        click.echo(text + ("," if index < last else ""), err=err)
    click.echo("]", err=err)


class ProgressBar:
    """The CLI's side of the store's progress protocol: a bar on stderr (when it is a terminal), drawn
    once the work announces its total."""

    def __init__(self, label: str):
        self._label = label
        self._bar = None

    def start(self, total: int, unit: str = "bytes") -> None:
        self.close()
        if sys.stderr.isatty() and total > 0:
            self._bar = click.progressbar(length=total, label=self._label, file=sys.stderr)
            self._bar.__enter__()

    def advance(self, amount: int) -> None:
        if self._bar is not None:
            self._bar.update(amount)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None


@contextlib.contextmanager
def progress(label: str) -> Iterator[ProgressBar]:
    """A ``ProgressBar`` for the work inside the block, closed when it ends."""
    bar = ProgressBar(label)
    try:
        yield bar
    finally:
        bar.close()
