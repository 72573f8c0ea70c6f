"""Who may talk to the viewer, and the headers every answer carries.

The viewer serves a user's experiments to a browser that also runs other
sites' pages, so it defends against (docs/viewer.md, "Security model"):

- DNS rebinding: a foreign page whose host name resolves to 127.0.0.1 reaches
  the server as "same origin". Its requests carry that foreign name in the
  Host header, so only the bound address and the loopback names are accepted.
- Other users on the network: on any address but loopback, every request
  needs a random token, printed at start; the first ``?token=`` visit moves
  it into an HttpOnly cookie and out of the address bar.
- Cross-site reads and writes: no CORS headers ever, only GET and HEAD
  (there is nothing to write), ``SameSite=Strict`` on the cookie.
- Stored markup (an alias that is an ``<img onerror>`` tag): a strict
  Content-Security-Policy without inline scripts, ``nosniff``, and the page
  builds its DOM with ``textContent`` only.

A pure ASGI middleware, so it wraps every route, static files included.
"""

from __future__ import annotations

import hmac
import ipaddress
import socket
from http.cookies import SimpleCookie
from urllib.parse import parse_qsl, urlencode

TOKEN_COOKIE = "runicorn_token"
TOKEN_PARAM = "token"
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})
WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", ""})
# style-src allows inline styles: plotly.js injects its stylesheet and sets style attributes at run time.
# Scripts stay 'self' only, and data reaches the page as text nodes, never as markup or style.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
       "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
)
ALLOWED_METHODS = ("GET", "HEAD")


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` keeps the viewer on this machine (no token needed then)."""
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def allowed_hosts(bound: str) -> frozenset[str]:
    """Host header names accepted for a server bound to ``bound``.

    A wildcard bind (0.0.0.0, ::) is reached by this machine's own name too; any
    other name is a page that rebound its DNS to us.
    """
    bound = bound.strip("[]").lower()
    names = set(LOOPBACK_NAMES) | {bound}
    if bound in WILDCARD_HOSTS:
        names |= {socket.gethostname().lower(), socket.getfqdn().lower()}
    return frozenset(names - {""})


def host_name(header: str) -> str:
    """The name in a Host header, without the port: ``[::1]:8080`` -> ``::1``."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


class Guard:
    """ASGI middleware: method, Host header and token checks, and the security headers on every response."""

    def __init__(self, app, *, host: str, token: str | None):
        self.app = app
        self.hosts = allowed_hosts(host)
        self.token = token

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        send = _with_headers(send)
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if scope["method"] not in ALLOWED_METHODS:
            await _reply(send, 405, "the viewer is read-only: only GET and HEAD are served",
                         [(b"allow", b"GET, HEAD")])
            return
        name = host_name(headers.get("host", ""))
        if name not in self.hosts:
            await _reply(send, 403, f"Host {name!r} is not an address of this viewer (DNS rebinding is refused); "
                                    f"open it as http://127.0.0.1 or by the address it was started on")
            return
        if self.token is not None:
            await self._with_token(scope, receive, send, headers)
            return
        await self.app(scope, receive, send)

    async def _with_token(self, scope, receive, send, headers):
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        offered = dict(query).get(TOKEN_PARAM)
        if offered is not None and self._valid(offered):
            if not scope["path"].startswith("/api/"):
                # A page visit: keep the token in a cookie and take it out of the address bar (and history).
                rest = urlencode([(k, v) for k, v in query if k != TOKEN_PARAM])
                location = scope["path"] + (f"?{rest}" if rest else "")
                cookie = f"{TOKEN_COOKIE}={self.token}; HttpOnly; SameSite=Strict; Path=/"
                await _reply(send, 303, "", [(b"location", location.encode("latin-1")),
                                             (b"set-cookie", cookie.encode("latin-1"))])
                return
            await self.app(scope, receive, send)
            return
        cookie = SimpleCookie()
        try:
            cookie.load(headers.get("cookie", ""))
        except Exception:  # a malformed Cookie header is no token, not a server error
            cookie = SimpleCookie()
        from_cookie = cookie[TOKEN_COOKIE].value if TOKEN_COOKIE in cookie else None
        bearer = headers.get("authorization", "")
        from_header = bearer[7:].strip() if bearer.lower().startswith("bearer ") else None
        if any(value is not None and self._valid(value) for value in (from_cookie, from_header)):
            await self.app(scope, receive, send)
            return
        await _reply(send, 401, "this viewer needs its token: open the address `runicorn viewer` printed "
                                "(it ends in ?token=...), or send `Authorization: Bearer <token>`")

    def _valid(self, offered: str) -> bool:
        return hmac.compare_digest(offered.encode("utf-8", "replace"), self.token.encode("utf-8"))


def _with_headers(send):
    """Wrap ``send`` so every response start carries the security headers (a route's own CSP wins)."""

    async def sender(message):
        if message["type"] == "http.response.start":
            headers = [(k, v) for k, v in message.get("headers", []) if not k.lower().startswith(b"access-control-")]
            present = {k.lower() for k, _ in headers}
            if b"content-security-policy" not in present:
                headers.append((b"content-security-policy", CSP.encode()))
            if b"cache-control" not in present:
                headers.append((b"cache-control", b"no-cache"))
            headers.extend(SECURITY_HEADERS)
            message = {**message, "headers": headers}
        await send(message)

    return sender


async def _reply(send, status: int, text: str, extra: list | None = None) -> None:
    body = (text + "\n").encode("utf-8") if text else b""
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers + (extra or [])})
    await send({"type": "http.response.body", "body": body})
