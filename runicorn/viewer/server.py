"""Serving the app with uvicorn: the bind address, the token for non-loopback binds, the printed address.

On 127.0.0.1 (the default) only this machine's users can connect, and the
Host check keeps other sites' pages out. Any other address also needs a
token: 192 random bits, printed once in the address to open, never stored.
"""

from __future__ import annotations

import secrets
import socket
import threading
import webbrowser

from ..api import Api
from .app import build_app
from .security import WILDCARD_HOSTS, is_loopback


def new_token() -> str:
    return secrets.token_urlsafe(24)


def page_address(host: str, port: int, token: str | None) -> str:
    """The address to open: a wildcard bind is opened on loopback; IPv6 literals in brackets."""
    shown = "127.0.0.1" if host.strip("[]") in WILDCARD_HOSTS else host.strip("[]")
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/" + (f"?token={token}" if token else "")


def make_server(api: Api, *, host: str, port: int):
    """A uvicorn server for the viewer, and its token (None on loopback)."""
    import uvicorn

    token = None if is_loopback(host) else new_token()
    app = build_app(api, host=host, token=token)
    config = uvicorn.Config(app, host=host.strip("[]"), port=port, log_level="warning", access_log=False,
                            server_header=False, proxy_headers=False, lifespan="off")
    return uvicorn.Server(config), token


def check_free(host: str, port: int) -> None:
    """Refuse a port another program listens on, in one line (uvicorn would log and exit with code 3)."""
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host.strip("[]"), port))
        except OSError as exc:
            raise OSError(f"cannot listen on {host}:{port}: {exc.strerror or exc}; choose another --port") from None


def run_server(api: Api, *, host: str, port: int, open_browser: bool = False, echo=print) -> None:
    """Serve until Ctrl-C, after saying where (and, off loopback, with which token)."""
    check_free(host, port)
    server, token = make_server(api, host=host, port=port)
    address = page_address(host, port, token)
    echo(f"Runicorn viewer for {api.root}" + ("" if api.storage.exists() else " (no runs yet: they appear as they start)"))
    echo(f"  open {address}")
    if host.strip("[]") in WILDCARD_HOSTS:
        echo(f"  or, from another machine, {page_address(socket.gethostname(), port, token)}")
    if token:
        echo("  bound beyond loopback: every request needs the token above (kept in a cookie after the first visit)")
    echo("  read-only; Ctrl-C stops it")
    if open_browser:
        threading.Timer(0.5, webbrowser.open, args=(address,)).start()
    threading.Thread(target=_warm_up, args=(api,), name="runicorn-index-warm-up", daemon=True).start()
    server.run()


def _warm_up(api: Api) -> None:
    """List the runs once while the server starts, so the first page finds the run index in memory."""
    try:
        api.runs()
    except Exception:  # noqa: BLE001 - only a head start: the page's own listing reports any problem
        pass
