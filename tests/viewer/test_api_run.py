"""One run's endpoints: details, charts (series), text log, images and assets; bad ids."""

from __future__ import annotations

import math

import pytest

import runicorn as rn
from viewer_support import LOSS, XSS, get

pytest.importorskip("starlette", reason="the viewer extra is not installed: pip install -e '.[viewer]'")


def test_run_details(client, sample):
    alpha = get(client, f"/api/runs/{sample.ids['alpha']}")
    assert alpha["status"] == "finished" and alpha["alias"] == "seed-1" and alpha["path"] == "cv/resnet/baseline"
    assert alpha["config"]["extra"] == {"lr": 0.001, "epochs": 5, "opt": {"name": "adam", "beta": 0.9}}
    assert alpha["summary"]["final_acc"] == 0.9 and alpha["summary"]["note"] == "<script>alert(2)</script>"
    assert alpha["environment"]["python"]["version"] and alpha["primary_metric"]["best"] == 0.9
    assert alpha["problems"] == [] and alpha["error"] is None
    assert get(client, f"/api/runs/{sample.ids['failed']}")["status"] == "failed"
    assert get(client, f"/api/runs/{sample.ids['crashed']}")["status"] == "crashed"
    damaged = get(client, f"/api/runs/{sample.ids['damaged']}")
    assert damaged["status"] == "damaged" and "run.json" in damaged["problems"][0]
    assert get(client, "/api/runs/20250101_1000")["id"] == sample.ids["alpha"]  # a unique id prefix


@pytest.mark.parametrize("run_id, status", [
    ("20990101_000000_ffffff", 404), ("2025", 409), ("..", 404), ("a%2F..%2F..%2Fetc", 404), ("run.json", 404),
    ("x" * 101, 404), ("%3Cimg%3E", 404),
])
def test_bad_run_ids(client, run_id, status):
    for suffix in ("", "/series", "/log", "/images", "/assets"):
        response = client.get(f"/api/runs/{run_id}{suffix}")
        assert response.status_code == status, (suffix, response.text)
        assert response.json()["error"]


def test_series_of_every_key_in_one_answer(client, sample):
    data = get(client, f"/api/runs/{sample.ids['alpha']}/series")
    assert set(data["series"]) == {"loss", "val_acc", "phase"}
    loss = data["series"]["loss"]
    assert loss["x"] == [0, 1, 2, 3, 4] and loss["y"] == LOSS
    assert loss["count"] == 6 and loss["skipped"] == 1 and loss["last"] == "NaN"  # NaN: logged, not drawable
    assert loss["downsampled"] is False and loss["min"] is None and loss["range"] == [0, 4]
    phase = data["series"]["phase"]
    assert phase["x"] == [] and phase["skipped"] == 5 and phase["last"] == "train"


def test_series_options(client, sample):
    url = f"/api/runs/{sample.ids['alpha']}/series"
    one = get(client, url, key="loss", smooth="0.5")["series"]
    assert list(one) == ["loss"]
    expected, state = [], 0.0
    for i, y in enumerate(LOSS):
        state = 0.5 * state + 0.5 * y
        expected.append(state / (1 - 0.5 ** (i + 1)))
    assert one["loss"]["smoothed"] == pytest.approx(expected)
    timed = get(client, url, key="loss", x="time")["series"]["loss"]
    assert len(timed["x"]) == 5 and all(x > 1e9 for x in timed["x"]) and timed["y"] == LOSS
    window = get(client, url, key="loss", x0=2, x1=3)["series"]["loss"]
    assert window["x"] == [1, 2, 3, 4]  # the range and one neighbour on each side
    absent = get(client, url, key="nope")["series"]["nope"]
    assert absent["count"] == 0 and absent["x"] == []


@pytest.mark.parametrize("params", [{"x": "epoch"}, {"smooth": "2"}, {"smooth": "nan"}, {"width": "5"},
                                    {"width": "x"}, {"x0": "inf"}, {"x1": "a"}])
def test_bad_series_parameters(client, sample, params):
    assert client.get(f"/api/runs/{sample.ids['alpha']}/series", params=params).status_code == 400


def test_a_long_series_is_bucketed_per_pixel_with_its_spike_in_the_band(client, sample, tmp_path):
    run = rn.init(path="long/one", storage=str(sample.root))
    for step in range(5000):
        run.log({"loss": 1000.0 if step == 2345 else math.sin(step / 100)}, step=step)
    run.finish()
    data = get(client, f"/api/runs/{run.id}/series", key="loss", width=100, smooth="0.9")["series"]["loss"]
    assert data["downsampled"] is True and data["points"] == 5000 and len(data["x"]) <= 100
    assert max(data["max"]) == 1000.0 and 1000.0 not in data["y"]  # the spike is in the band, not the line
    assert all(lo <= y <= hi for lo, y, hi in zip(data["min"], data["y"], data["max"]))
    assert data["x"][-1] == 4999 and len(data["smoothed"]) == len(data["x"])
    zoomed = get(client, f"/api/runs/{run.id}/series", key="loss", width=100, x0=2340, x1=2350)["series"]["loss"]
    assert zoomed["downsampled"] is False and zoomed["x"] == list(range(2339, 2352))  # full resolution
    assert 1000.0 in zoomed["y"]


def test_series_etag_answers_304_until_the_run_writes(client, sample):
    run = rn.init(path="live/etag", storage=str(sample.root))
    run.log({"loss": 1.0}, step=0)
    run.finish()
    url = f"/api/runs/{run.id}/series"
    first = client.get(url)
    again = client.get(url, headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    resumed = rn.init(run_id=run.id, resume=True, storage=str(sample.root), path="live/etag")
    resumed.log({"loss": 0.5})
    resumed.finish()
    changed = client.get(url, headers={"If-None-Match": first.headers["etag"]})
    assert changed.status_code == 200 and changed.json()["series"]["loss"]["y"] == [1.0, 0.5]


def test_text_log_tail_and_offsets(client, sample):
    url = f"/api/runs/{sample.ids['alpha']}/log"
    log = get(client, url)
    assert log["start"] == 0 and "epoch 2 loss=0.4375" in log["text"] and log["next"] == log["size"]
    assert log["earlier"] is False
    rest = get(client, url, offset=log["next"])
    assert rest["text"] == "" and rest["start"] == log["next"]
    tail = get(client, url, offset=10)
    assert tail["text"] == log["text"][10:]
    reset = get(client, url, offset=10 ** 9)
    assert reset["reset"] is True and reset["start"] == 0
    response = client.get(url)
    assert client.get(url, headers={"If-None-Match": response.headers["etag"]}).status_code == 304
    xss = client.get(f"/api/runs/{sample.ids['xss']}/log")
    assert "<img" not in xss.text and XSS in xss.json()["text"]


def test_images_by_key_and_their_bytes_from_the_store(client, sample):
    images = get(client, f"/api/runs/{sample.ids['alpha']}/images")["keys"]
    assert list(images) == ["samples"] and [i["step"] for i in images["samples"]] == [0, 1, 2]
    first = images["samples"][0]
    assert first["caption"] == "sample 0" and len(first["id"]) == 64 and first["width"] == 8
    response = client.get(f"/api/objects/{first['id']}", params={"type": "png"})
    assert response.status_code == 200 and response.content.startswith(b"\x89PNG")
    assert response.headers["content-type"] == "image/png"
    assert "sandbox" in response.headers["content-security-policy"]
    assert "immutable" in response.headers["cache-control"] and response.headers["etag"] == f'"{first["id"]}"'
    assert client.get(f"/api/objects/{first['id']}", headers={"If-None-Match": f'"{first["id"]}"'}).status_code == 304
    assert get(client, f"/api/runs/{sample.ids['failed']}/images")["keys"] == {}


def test_assets_of_a_run(client, sample):
    assets = get(client, f"/api/runs/{sample.ids['alpha']}/assets")
    code = assets["assets"]["code"][0]
    assert code["type"] == "tree" and len(code["id"]) == 64 and code["files"] == 3
    versions = assets["outputs_versions"]
    assert [v["number"] for v in versions] == [1, 2] and all(v["available"] for v in versions)
    assert versions[0]["no_root_because"] == "superseded (rolling)" and versions[1]["no_root_because"] is None
    assert assets["images"] == 3 and "image" not in assets["assets"]
    bare = get(client, f"/api/runs/{sample.ids['failed']}/assets")
    assert bare["assets"] == {} and bare["outputs_versions"] == []
