"""The runs table's endpoints: /api/info, /api/runs (filters, sort, paging, columns, the path tree), /api/columns."""

from __future__ import annotations

import pytest

from viewer_support import XSS

pytest.importorskip("starlette", reason="the viewer extra is not installed: pip install -e '.[viewer]'")


def runs(client, **params):
    response = client.get("/api/runs", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_info_names_the_storage_root(client, sample):
    info = client.get("/api/info").json()
    assert info["storage"] == str(sample.root) and info["read_only"] is True and info["exists"] is True


def test_every_run_is_listed_with_its_status_crashed_and_damaged_included(client, sample):
    page = runs(client)
    assert page["total"] == 5
    status = {row["id"]: row["status"] for row in page["rows"]}
    assert status == {sample.ids["alpha"]: "finished", sample.ids["xss"]: "finished", sample.ids["failed"]: "failed",
                      sample.ids["crashed"]: "crashed", sample.ids["damaged"]: "damaged"}
    damaged = next(row for row in page["rows"] if row["id"] == sample.ids["damaged"])
    assert "run.json" in damaged["problems"][0]
    alpha = next(row for row in page["rows"] if row["id"] == sample.ids["alpha"])
    assert alpha["primary_metric"] == {"name": "val_acc", "mode": "max", "best": 0.9, "step": 4}
    assert alpha["alias"] == "seed-1" and alpha["tags"] == ["baseline", "cv"] and alpha["duration"] >= 0


def test_newest_first_by_default_and_every_sort_both_ways(client, sample):
    created = [row["id"] for row in runs(client)["rows"] if row["status"] != "damaged"]
    assert created == sorted(created, reverse=True)  # ids are creation times here
    for sort in ("created", "id", "path", "alias", "status", "duration", "primary", "config.lr", "summary.final_acc"):
        down = [row["id"] for row in runs(client, sort=sort)["rows"]]
        up = [row["id"] for row in runs(client, sort=sort, order="asc")["rows"]]
        assert sorted(down) == sorted(up) == sorted(sample.ids.values()), sort
    by_lr = [row["id"] for row in runs(client, sort="config.lr", order="asc")["rows"]]
    assert by_lr[:2] == [sample.ids["alpha"], sample.ids["xss"]]  # 0.001 < 0.01; runs without lr go last


@pytest.mark.parametrize("params, names", [
    ({"q": "seed"}, {"alpha"}),
    ({"q": "ONERROR"}, {"xss"}),
    ({"q": "bbbbbb"}, {"xss"}),
    ({"status": "crashed"}, {"crashed"}),
    ({"status": "failed,damaged"}, {"failed", "damaged"}),
    ({"tag": "nlp"}, {"failed"}),
    ({"tag": "<b>bold</b>"}, {"xss"}),
    ({"path": "cv"}, {"alpha", "xss"}),
    ({"path": "cv/resnet/baseline"}, {"alpha"}),
    ({"path": "cv/res"}, set()),  # a prefix is whole path segments
    ({"path": "nlp", "status": "running"}, set()),
])
def test_filters(client, sample, params, names):
    found = {row["id"] for row in runs(client, **params)["rows"]}
    assert found == {sample.ids[name] for name in names}


def test_paging_and_the_path_tree(client, sample):
    first = runs(client, limit=2, tree=1)
    second = runs(client, limit=2, offset=2)
    third = runs(client, limit=2, offset=4)
    assert first["total"] == second["total"] == 5 and len(first["rows"]) == 2 and len(third["rows"]) == 1
    ids = [row["id"] for page in (first, second, third) for row in page["rows"]]
    assert sorted(ids) == sorted(sample.ids.values())
    assert first["paths"] == [{"path": "cv/resnet/baseline", "runs": 1}, {"path": "cv/resnet/lr-sweep", "runs": 1},
                              {"path": "nlp/bert", "runs": 3}]
    assert "paths" not in second


def test_chosen_columns_from_config_and_summary(client, sample):
    page = runs(client, columns="config.lr,config.opt.name,summary.final_acc,summary.absent")
    alpha = next(row for row in page["rows"] if row["id"] == sample.ids["alpha"])
    assert alpha["columns"] == {"config.lr": 0.001, "config.opt.name": "adam", "summary.final_acc": 0.9,
                                "summary.absent": None}
    offered = client.get("/api/columns").json()
    assert offered["config"] == ["epochs", "lr", "opt.beta", "opt.name"]
    assert offered["summary"] == ["final_acc", "note"]
    assert client.get("/api/columns", params={"path": "nlp"}).json()["config"] == []


@pytest.mark.parametrize("params", [
    {"status": "bogus"}, {"order": "up"}, {"limit": "0"}, {"limit": "501"}, {"offset": "-1"}, {"offset": "x"},
    {"columns": "evil"}, {"columns": "config."}, {"sort": "bogus"}, {"path": "../etc"}, {"path": "a/../../b"},
])
def test_bad_parameters_are_400_with_a_message(client, params):
    response = client.get("/api/runs", params=params)
    assert response.status_code == 400
    assert response.json()["error"]


def test_markup_in_names_is_escaped_in_json(client):
    response = client.get("/api/runs", params={"q": "bbbbbb"})
    assert "<img" not in response.text and "<b>" not in response.text  # no byte of the body reads as a tag
    assert "\\u003cimg src=x onerror=alert(1)\\u003e" in response.text
    row = response.json()["rows"][0]
    assert row["alias"] == XSS and "<b>bold</b>" in row["tags"]


def test_a_root_without_runs_is_an_empty_table(tmp_path):
    from starlette.testclient import TestClient

    from runicorn.api import Api
    from runicorn.viewer import create_app

    with TestClient(create_app(Api(tmp_path / "nothing")), base_url="http://127.0.0.1") as client:
        page = client.get("/api/runs", params={"tree": 1}).json()
        assert page["total"] == 0 and page["rows"] == [] and "no runs yet" in page["problems"][0]
        assert client.get("/api/columns").json()["config"] == []
        assert client.get("/api/runs/20250101_000000_abcdef").status_code == 404
    assert not (tmp_path / "nothing").exists()  # the viewer creates nothing
