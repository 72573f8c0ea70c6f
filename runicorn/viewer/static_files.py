"""The page itself: our own HTML, CSS and JavaScript, and plotly.js read from the installed plotly wheel.

Nothing from another project is copied into this repository and there is no
front-end build: our files are plain ES modules in ``static/``, and
``plotly.min.js`` is served from plotly's own package data, read once, gzipped
once (4.8 MB -> about 1.4 MB) and cached by the browser per plotly version.
Only names found in ``static/`` at start-up are served, so a request path can
never reach another file.
"""

from __future__ import annotations

import gzip
import threading
from importlib import metadata, resources

from starlette.requests import Request
from starlette.responses import Response

from .responses import etag_of_bytes, not_modified

MEDIA_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
               ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml", ".png": "image/png",
               ".ico": "image/x-icon"}


class StaticFiles:
    """Our static files and plotly.js, held in memory (they are small, and plotly's is read once)."""

    def __init__(self):
        self.files: dict[str, tuple[bytes, str, str]] = {}
        for item in resources.files("runicorn.viewer").joinpath("static").iterdir():
            suffix = "." + item.name.rpartition(".")[2]
            if item.is_file() and suffix in MEDIA_TYPES:
                data = item.read_bytes()
                self.files[item.name] = (data, MEDIA_TYPES[suffix], etag_of_bytes(data))
        self._plotly: tuple[bytes, bytes, str] | None = None
        self._lock = threading.Lock()

    def plotly(self) -> tuple[bytes, bytes, str]:
        """(plotly.min.js, its gzip, ETag), read from the installed plotly package on first use."""
        with self._lock:
            if self._plotly is None:
                data = resources.files("plotly").joinpath("package_data", "plotly.min.js").read_bytes()
                version = metadata.version("plotly")
                self._plotly = (data, gzip.compress(data, compresslevel=6, mtime=0), f'"plotly-{version}"')
            return self._plotly

    def page(self, request: Request) -> Response:
        """GET / (and every page address: the app routes by the part after #)."""
        return self._serve(request, "index.html")

    def static(self, request: Request) -> Response:
        """GET /static/{name}: one of our files, by name."""
        return self._serve(request, request.path_params["name"])

    def _serve(self, request: Request, name: str) -> Response:
        if name not in self.files:
            return Response(f"no static file {name!r}\n", status_code=404, media_type="text/plain")
        data, media, etag = self.files[name]
        headers = {"etag": etag, "cache-control": "no-cache"}
        if not_modified(request, etag):
            return Response(status_code=304, headers=headers)
        return Response(data, media_type=media, headers=headers)

    def plotly_js(self, request: Request) -> Response:
        """GET /vendor/plotly.min.js: plotly.js from the installed plotly wheel, gzipped when accepted."""
        data, packed, etag = self.plotly()
        headers = {"etag": etag, "cache-control": "private, max-age=86400", "vary": "accept-encoding"}
        if not_modified(request, etag):
            return Response(status_code=304, headers=headers)
        if "gzip" in request.headers.get("accept-encoding", ""):
            headers["content-encoding"] = "gzip"
            data = packed
        return Response(data, media_type=MEDIA_TYPES[".js"], headers=headers)
