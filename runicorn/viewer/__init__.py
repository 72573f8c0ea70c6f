"""The web viewer: a read-only browser over runs, served on 127.0.0.1 (SPEC §6, docs/viewer.md).

Top layer, like the CLI: it reads runs only through ``runicorn.api`` and stored
bytes only through ``runicorn.store``, by object id. Its server stack
(Starlette, uvicorn) and chart library (plotly's wheel, which carries
plotly.js) are the optional extra ``runicorn[viewer]``, so this package
imports them lazily: ``missing_dependencies`` lets the CLI say what to install
instead of failing with a traceback.

    app = create_app(Api(root))            # an ASGI app (tests use Starlette's TestClient)
    serve(Api(root), host="127.0.0.1", port=23300)
"""

from __future__ import annotations

import importlib.util

INSTALL_HINT = "pip install 'runicorn[viewer]'"
REQUIRED = ("starlette", "uvicorn", "plotly")
DEFAULT_PORT = 23300  # the port Runicorn 0.7's viewer used, so bookmarks keep working


def missing_dependencies() -> list[str]:
    """The viewer's distributions that are not importable here (none when the extra is installed)."""
    return [name for name in REQUIRED if importlib.util.find_spec(name) is None]


def create_app(api, *, host: str = "127.0.0.1", token: str | None = None, **options):
    """The ASGI app over ``api`` for a server bound to ``host``; ``token`` is required on every request when set."""
    from .app import build_app

    return build_app(api, host=host, token=token, **options)


def serve(api, *, host: str = "127.0.0.1", port: int = DEFAULT_PORT, open_browser: bool = False,
          echo=print) -> None:
    """Run the viewer until Ctrl-C; a token is made and printed when ``host`` is not a loopback address."""
    from .server import run_server

    run_server(api, host=host, port=port, open_browser=open_browser, echo=echo)


__all__ = ["DEFAULT_PORT", "INSTALL_HINT", "create_app", "missing_dependencies", "serve"]
