"""Collect the metrics of every repetition and print them side by side.

A cell shows the median over the repetitions and, when there are several,
[min–max]. The ratio is ours / peer of the medians: below 1 is better for
times and bytes, above 1 for rates and the dedup ratio.
"""

import math
import statistics
from dataclasses import dataclass, field

SIDES = ("ours", "peer")


@dataclass
class Metric:
    unit: str
    values: dict[str, list] = field(default_factory=lambda: {side: [] for side in SIDES})


class Results:
    """Metrics per workload, in the order they were first reported."""

    def __init__(self) -> None:
        self.workloads: dict[str, dict[str, Metric]] = {}

    def add(self, workload_id: str, side: str, metrics: list[tuple[str, object, str]]) -> None:
        table = self.workloads.setdefault(workload_id, {})
        for name, value, unit in metrics:
            metric = table.setdefault(name, Metric(unit))
            metric.unit = unit or metric.unit  # an error row of one side carries no unit
            metric.values[side].append(value)

    def as_json(self) -> list[dict]:
        return [
            {"workload": workload_id, "metric": name, "unit": metric.unit, **metric.values}
            for workload_id, table in self.workloads.items()
            for name, metric in table.items()
        ]


def render_table(results: Results) -> str:
    rows = [("workload", "metric", "ours", "peer", "ours/peer")]
    for workload_id, table in results.workloads.items():
        for index, (name, metric) in enumerate(table.items()):
            ours, peer = (metric.values[side] for side in SIDES)
            rows.append((
                workload_id if index == 0 else "", name,
                format_cell(ours, metric.unit), format_cell(peer, metric.unit), format_ratio(ours, peer),
            ))
    widths = [max(len(row[col]) for row in rows) for col in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def format_cell(values: list, unit: str) -> str:
    if not values:
        return "—"
    if not all(_is_number(v) for v in values):
        text = next(str(v) for v in values if not _is_number(v))
        return text if len(text) <= 70 else text[:67] + "..."
    median = format_value(statistics.median(values), unit)
    if len(values) == 1:
        return median
    return f"{median} [{format_value(min(values), unit)}–{format_value(max(values), unit)}]"


def format_ratio(ours: list, peer: list) -> str:
    if not ours or not peer or not all(_is_number(v) for v in ours + peer):
        return ""
    peer_median = statistics.median(peer)
    if peer_median == 0:
        return ""
    return significant(statistics.median(ours) / peer_median)


def format_value(value: float, unit: str) -> str:
    if unit == "s":
        for scale, suffix in ((1, "s"), (1e-3, "ms"), (1e-6, "µs")):
            if abs(value) >= scale or suffix == "µs":
                return f"{significant(value / scale)} {suffix}"
    if unit in ("bytes", "bytes/s"):
        per_second = "/s" if unit == "bytes/s" else ""
        for power, suffix in ((3, "GiB"), (2, "MiB"), (1, "KiB")):
            if abs(value) >= 1024**power:
                return f"{significant(value / 1024**power)} {suffix}{per_second}"
        return f"{value:,.0f} B{per_second}"
    if unit == "rate":
        return f"{significant(value)}/s"
    if unit == "ratio":
        return f"{significant(value)}×"
    if unit == "count":
        return f"{value:,.0f}"
    return str(value)


def significant(value: float, digits: int = 3) -> str:
    """`value` to `digits` significant digits, without exponent notation."""
    if value == 0 or not math.isfinite(value):
        return str(value)
    rounded = float(f"{value:.{digits}g}")  # first, so that 0.9996 becomes 1.00, not 1.000
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(rounded))))
    return f"{rounded:,.{decimals}f}"


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
