"""The runs table: filter, sort and page on the server, so the browser only ever holds one page of rows.

MLflow took a minute to show 500 runs until it paged, and Runicorn 0.7 sent
every run in one response. Here a page is ``limit`` rows (50 by default), and
each row's costly fields (status, primary metric, chosen config and summary
columns) are read only for the rows on the page, unless the filter or the
sort needs them for every run. The run list itself comes from ``Api.runs``
(which keeps its own index; the viewer keeps none).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..api import Api, RunView
from ..compare import flatten
from .responses import BadRequest

STATUSES = ("running", "finished", "failed", "interrupted", "crashed", "damaged")
SORTS = ("created", "id", "path", "alias", "status", "duration", "primary")
COLUMN_SOURCES = ("config", "summary")
DEFAULT_LIMIT, MAX_LIMIT = 50, 500
MAX_COLUMNS = 20


@dataclass
class RunQuery:
    """What the runs table asks for; ``from_params`` checks every parameter and names a bad one."""

    path: str | None = None
    text: str = ""
    statuses: frozenset = frozenset()
    tag: str | None = None
    sort: str = "created"
    descending: bool = True
    offset: int = 0
    limit: int = DEFAULT_LIMIT
    columns: list[str] = field(default_factory=list)

    @classmethod
    def from_params(cls, params) -> "RunQuery":
        statuses = frozenset(s for s in (params.get("status") or "").split(",") if s)
        unknown = statuses - set(STATUSES)
        if unknown:
            raise BadRequest(f"status {sorted(unknown)[0]!r} is not one of {', '.join(STATUSES)}")
        columns = [c for c in (params.get("columns") or "").split(",") if c]
        for column in columns:
            check_column(column)
        check_column(params.get("sort") or "created", allow_builtin=True)
        if len(columns) > MAX_COLUMNS:
            raise BadRequest(f"at most {MAX_COLUMNS} columns can be shown at once, not {len(columns)}")
        order = params.get("order") or "desc"
        if order not in ("asc", "desc"):
            raise BadRequest(f"order {order!r} is not 'asc' or 'desc'")
        return cls(path=(params.get("path") or "").strip("/") or None, text=(params.get("q") or "").strip().lower(),
                   statuses=statuses, tag=params.get("tag") or None, sort=params.get("sort") or "created",
                   descending=order == "desc", offset=int_param(params, "offset", 0, 0, 10 ** 9),
                   limit=int_param(params, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT), columns=columns)


def int_param(params, name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be a whole number, not {raw!r}") from None
    if not low <= value <= high:
        raise BadRequest(f"{name} must be between {low} and {high}, not {value}")
    return value


def check_column(column: str, *, allow_builtin: bool = False) -> str:
    """A column is ``config.<key>`` or ``summary.<key>`` (dotted keys reach into nested values)."""
    if allow_builtin and column in SORTS:
        return column
    source, _, key = column.partition(".")
    if source not in COLUMN_SOURCES or not key:
        extra = f" or one of {', '.join(SORTS)}" if allow_builtin else ""
        raise BadRequest(f"column {column!r} is not config.<key> or summary.<key>{extra}")
    return column


def column_value(view: RunView, column: str):
    source, _, key = column.partition(".")
    values = view.run_config.values if source == "config" else view.summary
    return flatten(values).get(key) if isinstance(values, dict) else None


def in_prefix(path: str, prefix: str | None) -> bool:
    return prefix is None or path == prefix or path.startswith(prefix + "/")


def matches(view: RunView, query: RunQuery) -> bool:
    if query.tag is not None and query.tag not in view.tags:
        return False
    if query.text:
        haystack = " ".join([view.id, view.path, view.alias or "", *view.tags]).lower()
        if query.text not in haystack:
            return False
    return not query.statuses or view.status in query.statuses


def _rank(value) -> tuple:
    """Sort key for mixed values: numbers, then text, then anything else (missing values go last anyway)."""
    if isinstance(value, (int, float)):
        return (0, float(value), "") if value == value else (0, float("inf"), "")
    if isinstance(value, str):
        return (1, 0.0, value.lower())
    return (2, 0.0, repr(value))


def _sort_value(view: RunView, sort: str):
    if sort == "created":
        return view.created_at
    if sort in ("id", "path", "status", "duration"):
        return getattr(view, sort)
    if sort == "alias":
        return view.alias
    if sort == "primary":
        return view.best
    return column_value(view, sort)


def order_runs(views: list[RunView], query: RunQuery) -> list[RunView]:
    """Sorted by the query; runs without a value go last in either order, ties by id."""
    keyed = [(_sort_value(v, query.sort), v) for v in views]
    present = [(value, v) for value, v in keyed if value is not None]
    absent = [v for value, v in keyed if value is None]
    present.sort(key=lambda pair: (_rank(pair[0]), pair[1].id), reverse=query.descending)
    return [v for _, v in present] + sorted(absent, key=lambda v: v.id)


def row(view: RunView, columns: list[str]) -> dict:
    """One table row (the fields ``runicorn ls --json`` has, and the chosen columns)."""
    return {"id": view.id, "path": view.path, "alias": view.alias, "tags": view.tags, "status": view.status,
            "created_at": view.created_at, "ended_at": view.ended_at, "duration": view.duration,
            "primary_metric": view.primary_metric, "pinned": view.pinned, "problems": view.problems[:3],
            "columns": {column: column_value(view, column) for column in columns}}


def path_counts(views: list[RunView]) -> list[dict]:
    """Every run path with its number of runs, sorted (the page draws them as a tree)."""
    counts: dict[str, int] = {}
    for view in views:
        counts[view.path] = counts.get(view.path, 0) + 1
    return [{"path": path, "runs": counts[path]} for path in sorted(counts)]


def list_runs(api: Api, query: RunQuery, *, with_paths: bool = False) -> tuple[dict, list[RunView]]:
    """One page of the runs table, and every run listed (the caller remembers where they live)."""
    views = api.runs() if with_paths else api.runs(query.path)
    result: dict = {"paths": path_counts(views)} if with_paths else {}
    chosen = [v for v in views if in_prefix(v.path, query.path) and matches(v, query)]
    ordered = order_runs(chosen, query)
    page = ordered[query.offset:query.offset + query.limit]
    result.update(total=len(chosen), offset=query.offset, limit=query.limit, sort=query.sort,
                  order="desc" if query.descending else "asc", rows=[row(v, query.columns) for v in page],
                  problems=list(api.problems))
    return result, views


def available_columns(api: Api, path: str | None, *, sample: int = 500) -> dict:
    """Config and summary keys of the latest ``sample`` runs under a path: what the column picker offers."""
    views = api.runs(path)[-sample:]
    config: set[str] = set()
    summary: set[str] = set()
    for view in views:
        config.update(flatten(view.run_config.values))
        summary.update(flatten(view.summary))
    return {"config": sorted(config), "summary": sorted(summary), "sampled": len(views)}
