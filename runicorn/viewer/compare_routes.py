"""Several runs side by side: their config and summary values key by key, their metrics grouped, and the
code diff of two of them.

Values are flattened to dotted keys (``opt.lr``) as ``runicorn diff`` shows
them; each key says whether the runs differ, so the page can show "only
differences" (what MLflow users value when comparing parameters) without
deciding equality in JavaScript, where NaN and 1 vs 1.0 would surprise.
"""

from __future__ import annotations

from starlette.requests import Request

from ..compare import diff_code, side_by_side
from .groups import aggregate, check_grouping, group_runs
from .lookup import timeline_signature
from .responses import BadRequest, etag_of, json_response, not_modified
from .run_routes import series_request
from .state import state_of

MAX_RUNS = 50


def run_ids(request: Request, name: str = "runs") -> list[str]:
    ids = [i for i in (request.query_params.get(name) or "").split(",") if i]
    if not ids:
        raise BadRequest(f"{name} must list run ids, separated by commas")
    if len(ids) > MAX_RUNS:
        raise BadRequest(f"at most {MAX_RUNS} runs can be compared at once, not {len(ids)}")
    return list(dict.fromkeys(ids))


def compare_runs(request: Request):
    """GET /api/compare?runs=A,B,...: who the runs are, and their config and summary side by side."""
    views = state_of(request).finder.open_many(run_ids(request))
    return json_response(request, {
        "runs": [{"id": v.id, "path": v.path, "alias": v.alias, "tags": v.tags, "status": v.status,
                  "created_at": v.created_at, "primary_metric": v.primary_metric} for v in views],
        "config": side_by_side([v.run_config.values for v in views]),
        "summary": side_by_side([v.summary for v in views]),
    })


def compare_code(request: Request):
    """GET /api/compare/code?a=RUN&b=RUN: files added, removed and changed between two code snapshots, with a
    unified diff per changed text file, read from the store."""
    state = state_of(request)
    params = request.query_params
    if not params.get("a") or not params.get("b"):
        raise BadRequest("give two runs: a=RUN&b=RUN")
    a, b = state.run(params["a"]), state.run(params["b"])
    diff = diff_code(state.store(), a, b)
    return json_response(request, {"a": a.id, "b": b.id, "available": diff.available, "added": diff.added,
                                   "removed": diff.removed, "changed": diff.changed, "patches": diff.patches})


def compare_groups(request: Request):
    """GET /api/compare/groups?runs=A,B,...&by=path|config.KEY: the runs grouped, each group's metrics as a
    mean line with a min-max band (docs/viewer.md, "Groups")."""
    state = state_of(request)
    views = state.finder.open_many(run_ids(request))
    by = check_grouping(request.query_params.get("by") or "path")
    asked = series_request(request)
    etag = etag_of([timeline_signature(v) for v in views], by, sorted((k, str(v)) for k, v in asked.items()))
    if not_modified(request, etag):
        return json_response(request, None, etag=etag)
    groups = []
    for label, members in group_runs(views, by):
        found = [state.series.get(view, asked["keys"], asked["axis"]) for view in members]
        keys = asked["keys"] or sorted(set().union(*found))
        groups.append({"label": label, "runs": [view.id for view in members], "series": {
            key: aggregate([series[key] for series in found if key in series], width=asked["width"],
                           x0=asked["x0"], x1=asked["x1"], smoothing=asked["smooth"])
            for key in keys}})
    return json_response(request, {"by": by, "x": asked["axis"], "smooth": asked["smooth"], "groups": groups},
                         etag=etag)
