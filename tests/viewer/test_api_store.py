"""Stored content by object id only (trees, text, bytes, diffs), compare, and path traversal attempts."""

from __future__ import annotations

import pytest

pytest.importorskip("starlette", reason="the viewer extra is not installed: pip install -e '.[viewer]'")

from runicorn.api import Api  # noqa: E402
from runicorn.store import walk_tree  # noqa: E402
from viewer_support import get  # noqa: E402


@pytest.fixture(scope="module")
def code_tree(sample):
    return Api(sample.root).run(sample.ids["alpha"]).latest_asset("code").ref.id


def test_browse_the_code_tree_and_read_a_file(client, code_tree):
    top = get(client, f"/api/trees/{code_tree}")
    assert [(e["name"], e["kind"]) for e in top["entries"]] == [("README.md", "file"), ("pkg", "dir"),
                                                               ("train.py", "file")]
    pkg = get(client, f"/api/trees/{code_tree}", path="pkg")
    assert pkg["path"] == "pkg" and [e["name"] for e in pkg["entries"]] == ["model.py"]
    model = pkg["entries"][0]
    text = get(client, f"/api/objects/{model['id']}/text")
    assert text["text"] == "class Model:\n    def forward(self, x):\n        return x * 2\n" and text["not_shown"] is None
    raw = client.get(f"/api/objects/{model['id']}", params={"download": "pkg/model.py"})
    assert raw.content == text["text"].encode() and raw.headers["content-type"] == "application/octet-stream"
    assert raw.headers["content-disposition"].startswith('attachment; filename="model.py"')
    assert raw.headers["x-content-type-options"] == "nosniff"
    plain = client.get(f"/api/objects/{model['id']}", params={"type": "text"})
    assert plain.headers["content-type"] == "text/plain; charset=utf-8"


def test_download_names_cannot_break_the_header(client, code_tree):
    from runicorn.viewer.store_routes import download_name

    assert download_name('../../evil"\r\nSet-Cookie: x=1.txt') == \
        "attachment; filename=\"evil_Set-Cookie: x=1.txt\"; filename*=UTF-8''evil%22Set-Cookie%3A%20x%3D1.txt"
    assert download_name("") == "attachment; filename=\"download\"; filename*=UTF-8''download"
    assert "filename*=UTF-8''%C3%A9t%C3%A9.txt" in download_name("été.txt")


def test_outputs_versions_diff_straight_from_the_store(client, sample):
    versions = get(client, f"/api/runs/{sample.ids['alpha']}/assets")["outputs_versions"]
    store = Api(sample.root).store
    files = [{path: e.id for path, e in walk_tree(store, v["id"]) if e.kind == "file"} for v in versions]
    old, new = files[0]["outputs/ckpt.txt"], files[1]["outputs/ckpt.txt"]
    diff = get(client, "/api/diff", a=old, b=new, name="outputs/ckpt.txt")
    assert diff["patch"] == ("--- a/outputs/ckpt.txt\n+++ b/outputs/ckpt.txt\n@@ -1 +1 @@\n"
                             "-weights v1\n+weights v2\n")
    added = get(client, "/api/diff", b=new, name="ckpt.txt")
    assert "+weights v2" in added["patch"]
    assert get(client, "/api/diff", a=old, b=old)["patch"] == ""
    assert client.get("/api/diff").status_code == 400


def test_compare_config_summary_and_code(client, sample):
    ids = [sample.ids["alpha"], sample.ids["xss"], sample.ids["failed"]]
    compare = get(client, "/api/compare", runs=",".join(ids))
    assert [r["id"] for r in compare["runs"]] == ids
    config = {row["key"]: row for row in compare["config"]}
    assert config["lr"]["values"] == [0.001, 0.01, None] and config["lr"]["differs"] is True
    assert config["opt.name"]["present"] == [True, True, False]
    two = {row["key"]: row for row in get(client, "/api/compare", runs=",".join(ids[:2]))["config"]}
    assert two["epochs"]["differs"] is False and two["lr"]["differs"] is True
    code = get(client, "/api/compare/code", a=ids[0], b=ids[1])
    assert code["available"] is True and code["changed"] == ["pkg/model.py"] and code["added"] == []
    assert "-        return x * 2\n+        return x * 3\n" in code["patches"]["pkg/model.py"]
    assert get(client, "/api/compare/code", a=ids[0], b=ids[2])["available"] is False


@pytest.mark.parametrize("url, status", [
    ("/api/compare", 400), ("/api/compare?runs=" + ",".join(f"r{i}" for i in range(51)), 400),
    ("/api/compare?runs=20990101_000000_ffffff", 404), ("/api/compare/code?a=x", 400),
    ("/api/compare/code?a=20990101_000000_ffffff&b=20990101_000000_eeeeee", 404),
])
def test_bad_compare_requests(client, url, status):
    assert client.get(url).status_code == status


@pytest.mark.parametrize("url, status", [
    ("/api/objects/zzz", 400),
    ("/api/objects/" + "0" * 64, 404),
    ("/api/objects/" + "A" * 64, 400),
    ("/api/objects/sha256:" + "0" * 64, 400),
    ("/api/objects/" + "0" * 64 + "/text", 404),
    ("/api/objects/..%2F..%2F..%2Fetc%2Fpasswd", 404),  # %2F is a "/" by the time routes match: no route
    ("/api/objects/%2Fetc%2Fpasswd/text", 404),
    ("/api/objects/..%252F..%252Fetc%252Fpasswd", 404),
    ("/api/objects/" + "0" * 64 + "?type=html", 400),
    ("/api/trees/..%2Fstore", 404),
    ("/api/trees/..", 404),
    ("/api/diff?a=..%2F..%2Fetc%2Fpasswd", 400),
    ("/api/diff?b=%2Fetc%2Fpasswd", 400),
    ("/static/..%2F__init__.py", 404),
    ("/static/../app.py", 404),
    ("/static/app.py", 404),
    ("/../../etc/passwd", 404),
    ("/vendor/..%2F..%2Fplotly%2F__init__.py", 404),
])
def test_path_traversal_attempts_reach_no_file(client, url, status):
    response = client.get(url)
    assert response.status_code == status, response.text
    assert b"root:" not in response.content and b"import" not in response.content


@pytest.mark.parametrize("path", ["..", "../..", "pkg/../..", "/etc", "pkg/..", "nope", "README.md"])
def test_a_folder_inside_a_tree_is_found_by_entry_names_only(client, code_tree, path):
    response = client.get(f"/api/trees/{code_tree}", params={"path": path})
    assert response.status_code in (400, 404), response.text
    assert "entries" not in response.json()


def test_a_file_is_no_folder(client, code_tree):
    readme = next(e for e in get(client, f"/api/trees/{code_tree}")["entries"] if e["name"] == "README.md")
    response = client.get(f"/api/trees/{readme['id']}")
    assert response.status_code == 400 and "not a stored folder" in response.json()["error"]


def test_a_chunked_file_is_browsed_and_downloaded_whole(tmp_path):
    """A file of 4 MiB or more is stored as a chunk list: the listing names it by the list, which serves the file."""
    import os

    from starlette.testclient import TestClient

    import runicorn as rn
    from runicorn.store import ObjectStore, hash_bytes
    from runicorn.viewer import create_app

    out = tmp_path / "out"
    out.mkdir()
    data = os.urandom(5 << 20)
    (out / "model.pt").write_bytes(data)
    with rn.init(path="chunked", storage=str(tmp_path / "s")) as run:
        run.scan_outputs_once(output_dirs=[out], stable_required=1, min_age_sec=0)
    tree = Api(tmp_path / "s").run(run.id).latest_asset("outputs").ref.id
    with TestClient(create_app(Api(tmp_path / "s")), base_url="http://127.0.0.1") as client:
        [entry] = get(client, f"/api/trees/{tree}", path="out")["entries"]
        assert entry["file_id"] == hash_bytes(data) and entry["id"] != entry["file_id"]  # served by its chunk list
        assert not ObjectStore(tmp_path / "s" / "store").path_for(entry["file_id"]).exists()
        response = client.get(f"/api/objects/{entry['id']}", params={"download": "model.pt"})
        assert response.status_code == 200 and response.content == data
        assert get(client, f"/api/objects/{entry['id']}/text")["size"] == len(data)
