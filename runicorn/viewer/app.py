"""The viewer's Starlette app: every route in one table, the guard around them, our errors as JSON.

Handlers are plain functions, so Starlette runs them in its thread pool: they
read files, and a slow chart must not stall the log tail beside it. The route
table below is the JSON API documented in docs/viewer.md.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.routing import Route

from .._version import __version__
from ..api import Api
from ..errors import RunicornError
from . import compare_routes, run_routes, store_routes
from .responses import error_response, json_response
from .runs_list import RunQuery, available_columns, list_runs
from .security import Guard
from .series import DEFAULT_BUDGET
from .state import ViewerState, state_of
from .static_files import StaticFiles


def info(request: Request):
    """GET /api/info: what is being shown (version, storage root, read-only)."""
    state = state_of(request)
    return json_response(request, {"runicorn_version": __version__, "storage": str(state.api.root),
                                   "exists": state.api.storage.exists(), "read_only": True})


def runs(request: Request):
    """GET /api/runs: one page of the runs table (filters, sort, columns), and with ``tree=1`` every path."""
    state = state_of(request)
    query = RunQuery.from_params(request.query_params)
    if not state.api.storage.exists():
        return json_response(request, {"total": 0, "offset": 0, "limit": query.limit, "rows": [], "paths": [],
                                       "problems": [f"no runs yet: {state.api.root} holds no storage root"]})
    page, views = list_runs(state.api, query, with_paths=request.query_params.get("tree") == "1")
    state.finder.remember(views)
    return json_response(request, page)


def columns(request: Request):
    """GET /api/columns?path=P: the config and summary keys the column picker offers."""
    state = state_of(request)
    if not state.api.storage.exists():
        return json_response(request, {"config": [], "summary": [], "sampled": 0})
    return json_response(request, available_columns(state.api, request.query_params.get("path") or None))


async def our_error(request: Request, exc: Exception):
    return error_response(request, exc)


async def no_route(request: Request, exc: Exception):
    return json_response(request, {"error": f"nothing is served at {request.url.path!r}; docs/viewer.md lists the "
                                            "endpoints", "kind": "NotFound"}, status=404)


def build_app(api: Api, *, host: str = "127.0.0.1", token: str | None = None,
              series_budget: int = DEFAULT_BUDGET) -> Starlette:
    """The ASGI app over ``api``, guarded for a server bound to ``host`` (``token``: required when set)."""
    static = StaticFiles()
    routes = [
        Route("/", static.page),
        Route("/static/{name}", static.static),
        Route("/vendor/plotly.min.js", static.plotly_js),
        Route("/api/info", info),
        Route("/api/runs", runs),
        Route("/api/columns", columns),
        Route("/api/runs/{run}", run_routes.run_detail),
        Route("/api/runs/{run}/series", run_routes.run_series),
        Route("/api/runs/{run}/log", run_routes.run_log),
        Route("/api/runs/{run}/images", run_routes.run_images),
        Route("/api/runs/{run}/assets", run_routes.run_assets),
        Route("/api/compare", compare_routes.compare_runs),
        Route("/api/compare/code", compare_routes.compare_code),
        Route("/api/compare/groups", compare_routes.compare_groups),
        Route("/api/objects/{oid}", store_routes.object_bytes),
        Route("/api/objects/{oid}/text", store_routes.object_text),
        Route("/api/trees/{oid}", store_routes.tree_listing),
        Route("/api/diff", store_routes.object_diff),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(Guard, host=host, token=token), Middleware(GZipMiddleware, minimum_size=1024)],
        exception_handlers={RunicornError: our_error, ValueError: our_error, 404: no_route},
    )
    app.state.viewer = ViewerState.over(api, series_budget=series_budget)
    return app
