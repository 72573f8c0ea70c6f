"""The JSON endpoints of one run: details, charts, text log, images and assets (docs/viewer.md lists them).

Every handler opens the run through the finder (read API) and answers from
what ``RunView`` returns; the chart and log endpoints answer 304 from the run
file's size and mtime alone, so a page polling a live run costs a ``stat``
until the run writes.
"""

from __future__ import annotations

from starlette.requests import Request

from ..errors import InvalidObjectId
from ..restore import output_versions
from ..store import ObjectId
from .downsample import MAX_SMOOTHING, MAX_WIDTH, MIN_WIDTH, downsample
from .lookup import log_signature, timeline_signature
from .responses import BadRequest, etag_of, json_response, not_modified
from .runs_list import int_param
from .series import AXES
from .state import state_of

DEFAULT_WIDTH = 1000
LOG_TAIL = 256 * 1024  # characters of a long log shown at first; older text is fetched on request
LOG_CHUNK = 1024 * 1024


def run_detail(request: Request):
    """GET /api/runs/{run}: identity, status, config, summary, environment, primary metric, problems."""
    view = state_of(request).run(request.path_params["run"])
    identity = view.identity
    detail = {
        "id": view.id, "path": view.path, "alias": view.alias, "tags": view.tags, "status": view.status,
        "created_at": view.created_at, "ended_at": view.ended_at, "duration": view.duration, "error": view.error,
        "primary_metric": view.primary_metric, "pin": view.pin, "summary": view.summary,
        "config": view.config, "environment": view.environment, "git": view.git,
        "host": identity.get("host"), "argv": identity.get("argv"), "python": identity.get("python"),
        "runicorn_version": identity.get("runicorn_version"), "dropped": view.dropped(),
    }
    detail["problems"] = list(view.problems)
    return json_response(request, detail)


def float_param(request: Request, name: str) -> float | None:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return None
    try:
        value = float(raw)
    except ValueError:
        raise BadRequest(f"{name} must be a number, not {raw!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise BadRequest(f"{name} must be a finite number, not {raw!r}")
    return value


def series_request(request: Request) -> dict:
    """The chart parameters, checked: keys (repeat ``key``; none: every key), x, width, smooth, x0, x1."""
    params = request.query_params
    axis = params.get("x") or "step"
    if axis not in AXES:
        raise BadRequest(f"x must be one of {', '.join(AXES)}, not {axis!r}")
    smooth = float_param(request, "smooth") or 0.0
    if not 0.0 <= smooth <= MAX_SMOOTHING:
        raise BadRequest(f"smooth must be between 0 and {MAX_SMOOTHING}, not {smooth}")
    keys = params.getlist("key") or None
    return {"keys": keys, "axis": axis, "smooth": smooth, "x0": float_param(request, "x0"),
            "x1": float_param(request, "x1"), "width": int_param(params, "width", DEFAULT_WIDTH, MIN_WIDTH, MAX_WIDTH)}


def run_series(request: Request):
    """GET /api/runs/{run}/series: downsampled charts of some or all metrics, one timeline read for all."""
    state = state_of(request)
    view = state.run(request.path_params["run"])
    asked = series_request(request)
    etag = etag_of(timeline_signature(view), sorted((k, str(v)) for k, v in asked.items()))
    if not_modified(request, etag):
        return json_response(request, None, etag=etag)
    found = state.series.get(view, asked["keys"], asked["axis"])
    charts = {}
    for key, series in found.items():
        chart = downsample(series.xs, series.ys, width=asked["width"], x0=asked["x0"], x1=asked["x1"],
                           smoothing=asked["smooth"])
        chart.update(count=series.count, skipped=series.skipped, last=series.last,
                     range=[series.xs[0], series.xs[-1]] if series.xs else None)
        charts[key] = chart
    return json_response(request, {"run": view.id, "x": asked["axis"], "smooth": asked["smooth"],
                                   "series": charts}, etag=etag)


def run_log(request: Request):
    """GET /api/runs/{run}/log: the text log's tail, or what follows ``offset`` (a live tail polls with it)."""
    view = state_of(request).run(request.path_params["run"])
    params = request.query_params
    offset = int_param(params, "offset", 0, 0, 10 ** 12) if params.get("offset") else None  # None: the tail
    etag = etag_of(log_signature(view), offset)
    if not_modified(request, etag):
        return json_response(request, None, etag=etag)
    text = view.text_log()
    total = len(text)
    reset = offset is not None and offset > total  # the log was replaced (or the offset is wrong): start over
    if offset is None or reset:
        start = max(0, total - LOG_TAIL)
        if start:
            start = text.find("\n", start) + 1 or start  # begin at a whole line
    else:
        start = offset
    chunk = text[start:start + LOG_CHUNK]
    return json_response(request, {"run": view.id, "start": start, "next": start + len(chunk), "size": total,
                                   "text": chunk, "earlier": start > 0, "reset": reset}, etag=etag)


def _object_id(value) -> str | None:
    try:
        return ObjectId.parse(value)
    except (InvalidObjectId, TypeError):
        return None


def run_images(request: Request):
    """GET /api/runs/{run}/images: image key -> every logged image (step, object id, caption, size), by step."""
    view = state_of(request).run(request.path_params["run"])
    keys: dict[str, list] = {}
    for image in view.images():
        oid = _object_id(image.get("id"))
        if oid is None:
            continue
        keys.setdefault(image["key"], []).append({
            "step": image.get("_step"), "time": image.get("_time"), "id": oid, "format": image.get("format"),
            "width": image.get("width"), "height": image.get("height"), "caption": image.get("caption")})
    for images in keys.values():
        images.sort(key=lambda image: (image["step"] is None, image["step"] or 0))
    return json_response(request, {"run": view.id, "keys": keys})


def _entry_json(entry) -> dict:
    record = {k: v for k, v in entry.to_json().items() if k not in ("id", "type")}
    record["id"] = entry.ref.id if entry.ref is not None else None
    record["type"] = entry.ref.kind if entry.ref is not None else None
    return record


def run_assets(request: Request):
    """GET /api/runs/{run}/assets: the latest manifest entry of each role and name, every outputs version,
    and what retention dropped. Images are listed by /images."""
    state = state_of(request)
    view = state.run(request.path_params["run"])
    grouped = view.assets()
    grouped.pop("image", None)  # one entry per image: the images endpoint lists them
    versions = []
    if any(role == "outputs" for role in grouped):
        versions = [{"number": v.number, "step": v.step, "at": v.entry.at, "id": v.entry.ref.id,
                     "files": v.entry.get("files"), "mode": v.entry.get("mode"),
                     "no_root_because": v.no_root_because, "available": v.available}
                    for v in output_versions(state.store(), view)]
    return json_response(request, {
        "run": view.id, "assets": {role: [_entry_json(e) for e in entries] for role, entries in grouped.items()},
        "outputs_versions": versions, "dropped": view.dropped(), "images": len(view.images()),
        "config_files": [{**file, "id": _object_id(file.get("id"))} for file in view.run_config.config_files],
        "problems": list(view.problems)})
