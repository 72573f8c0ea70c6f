"""The guard: Host header (DNS rebinding), token off loopback, read-only methods, no CORS, security headers;
and the page itself never turns data into markup."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest.importorskip("starlette", reason="the viewer extra is not installed: pip install -e '.[viewer]'")

from starlette.testclient import TestClient  # noqa: E402

from runicorn.api import Api  # noqa: E402
from runicorn.viewer import create_app  # noqa: E402
from runicorn.viewer.security import allowed_hosts, host_name, is_loopback  # noqa: E402
from runicorn.viewer.server import check_free, make_server, page_address  # noqa: E402

STATIC = Path(__file__).resolve().parents[2] / "runicorn" / "viewer" / "static"
TOKEN = "s3cret-token"


@pytest.fixture(scope="module")
def remote(sample):
    """The app as `runicorn viewer --host 192.168.7.7` serves it: a token is required."""
    with TestClient(create_app(Api(sample.root), host="192.168.7.7", token=TOKEN),
                    base_url="http://192.168.7.7:23300", follow_redirects=False) as client:
        yield client


def test_every_answer_carries_the_security_headers(client):
    for url in ("/", "/static/app.js", "/api/runs", "/api/runs/nope", "/vendor/plotly.min.js"):
        headers = client.get(url).headers
        csp = headers["content-security-policy"]
        assert "script-src 'self'" in csp and "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-eval" not in csp and "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]
        assert headers["x-content-type-options"] == "nosniff" and headers["x-frame-options"] == "DENY"
        assert not any(name.lower().startswith("access-control-") for name in headers)


def test_no_cors_even_when_asked(client):
    response = client.get("/api/runs", headers={"Origin": "http://evil.example"})
    assert response.status_code == 200 and "access-control-allow-origin" not in response.headers
    preflight = client.options("/api/runs", headers={"Origin": "http://evil.example",
                                                     "Access-Control-Request-Method": "GET"})
    assert preflight.status_code == 405 and "access-control-allow-origin" not in preflight.headers


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_read_only(client, sample, method):
    response = client.request(method, f"/api/runs/{sample.ids['alpha']}")
    assert response.status_code == 405 and response.headers["allow"] == "GET, HEAD"


@pytest.mark.parametrize("host, status", [
    ("127.0.0.1:23300", 200), ("localhost", 200), ("LOCALHOST:1", 200), ("[::1]:23300", 200),
    ("evil.example", 403), ("evil.example:23300", 403), ("127.0.0.1.evil.example", 403), ("", 403),
    ("192.168.7.7", 403), ("[::2]", 403),
])
def test_foreign_host_headers_are_refused(client, host, status):
    response = client.get("/api/runs", headers={"Host": host})
    assert response.status_code == status
    if status == 403:
        assert "DNS rebinding" in response.text and "rows" not in response.text


def test_the_default_test_host_is_foreign(sample):
    with TestClient(create_app(Api(sample.root))) as client:  # Host: testserver
        assert client.get("/").status_code == 403


def test_without_the_token_nothing_is_served(remote):
    for url in ("/", "/api/runs", "/static/app.js", "/vendor/plotly.min.js", "/api/objects/" + "0" * 64):
        response = remote.get(url)
        assert response.status_code == 401, url
        assert "token" in response.text and "rows" not in response.text
    assert remote.get("/api/runs", params={"token": "wrong"}).status_code == 401
    assert remote.get("/api/runs", headers={"Cookie": "runicorn_token=wrong"}).status_code == 401
    assert remote.get("/api/runs", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert remote.get("/api/runs", headers={"Cookie": "runicorn_token=\x00;;=="}).status_code == 401


def test_the_token_moves_into_an_httponly_cookie(remote):
    visit = remote.get("/", params={"token": TOKEN, "x": "1"})
    assert visit.status_code == 303 and visit.headers["location"] == "/?x=1"  # out of the address bar
    cookie = visit.headers["set-cookie"]
    assert cookie.startswith(f"runicorn_token={TOKEN};") and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert remote.get("/", headers={"Cookie": f"runicorn_token={TOKEN}"}).status_code == 200
    assert remote.get("/api/runs", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    assert remote.get("/api/runs", params={"token": TOKEN}).status_code == 200  # scripts may pass it per call


def test_the_host_check_applies_with_a_token_too(remote):
    response = remote.get("/api/runs", params={"token": TOKEN}, headers={"Host": "evil.example"})
    assert response.status_code == 403


def test_host_rules():
    assert is_loopback("127.0.0.1") and is_loopback("127.1.2.3") and is_loopback("::1") and is_loopback("[::1]")
    assert is_loopback("localhost") and not is_loopback("0.0.0.0") and not is_loopback("192.168.1.2")
    assert host_name("[::1]:8080") == "::1" and host_name("Example.COM:80") == "example.com"
    assert allowed_hosts("10.0.0.5") == {"10.0.0.5", "127.0.0.1", "localhost", "::1"}
    assert {"127.0.0.1", "localhost", "::1"} < allowed_hosts("0.0.0.0")


def test_a_token_exactly_off_loopback(sample):
    api = Api(sample.root)
    assert make_server(api, host="127.0.0.1", port=0)[1] is None
    server, token = make_server(api, host="0.0.0.0", port=0)
    assert token and len(token) >= 32
    assert make_server(api, host="0.0.0.0", port=0)[1] != token  # random per start
    assert page_address("0.0.0.0", 8080, "t") == "http://127.0.0.1:8080/?token=t"
    assert page_address("::1", 1, None) == "http://[::1]:1/"


def test_the_page_never_parses_data_as_html():
    sources = {path.name: path.read_text(encoding="utf-8") for path in STATIC.glob("*.js")}
    assert {"app.js", "dom.js", "runs.js", "run.js", "charts.js", "compare.js", "assets.js", "runtabs.js"} <= set(sources)
    for name, text in sources.items():
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function",
                     "setAttribute(\"style\"", "srcdoc"):
            assert sink not in text, f"{name} uses {sink}"
    html = (STATIC / "index.html").read_text(encoding="utf-8")
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline script in index.html"
    assert " on" not in re.sub(r"<!--.*?-->", "", html).replace("\n", " ").lower().split("<body")[1].split(">")[0]


def test_only_our_static_files_and_plotly_from_its_package(client):
    page = client.get("/")
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert b"/vendor/plotly.min.js" in client.get("/static/dom.js").content  # loaded by pages with charts only
    plotly = client.get("/vendor/plotly.min.js", headers={"Accept-Encoding": "gzip"})
    assert plotly.status_code == 200 and plotly.headers["content-encoding"] == "gzip"
    assert b"plotly" in plotly.content[:2000].lower()  # TestClient decodes the gzip
    assert client.get("/vendor/plotly.min.js", headers={"If-None-Match": plotly.headers["etag"]}).status_code == 304
    for name in ("app.js", "dom.js", "app.css", "favicon.svg"):
        assert client.get(f"/static/{name}").status_code == 200
    assert not any(p.suffix in (".map",) or ".min." in p.name or p.stat().st_size > 64_000 for p in STATIC.iterdir())


def test_a_busy_port_is_one_clear_error():
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(OSError, match=f"cannot listen on 127.0.0.1:{port}: .*choose another --port"):
            check_free("127.0.0.1", port)
