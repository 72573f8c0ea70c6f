"""Compare with groups (/api/compare/groups): runs grouped by path or a config value, each group's mean,
min-max band and run count, exact on hand-picked values; misaligned steps, per-pixel sampling, smoothing."""

from __future__ import annotations

import math

import pytest

import runicorn as rn
from viewer_support import get

pytest.importorskip("starlette", reason="the viewer extra is not installed: pip install -e '.[viewer]'")

# Three seeds at sweep/a (lr 0.1) on steps 0..4, two at sweep/b (lr 0.01) on other steps; one stops early.
SEEDS_A = {"a1": [1.0, 2.0, 3.0, 4.0, 5.0], "a2": [3.0, 4.0, 5.0, 6.0, 7.0], "a3": [2.0, 2.0, 2.0, 2.0, 2.0]}
STEPS_B = {"b1": [0, 2, 4, 6], "b2": [1, 3]}  # b2 stops at step 3


@pytest.fixture(scope="module")
def grouped(tmp_path_factory):
    from starlette.testclient import TestClient

    from runicorn.api import Api
    from runicorn.viewer import create_app

    root = tmp_path_factory.mktemp("groups") / "storage"
    ids = {}
    for number, (alias, losses) in enumerate(SEEDS_A.items()):
        run = rn.init(path="sweep/a", storage=str(root), run_id=f"20250301_00000{number}_a0a0a{number}", alias=alias)
        run.log_config(extra={"lr": 0.1, "seed": number})
        for step, loss in enumerate(losses):
            run.log({"loss": loss, "acc": step / 10}, step=step)
        run.finish()
        ids[alias] = run.id
    for number, (alias, steps) in enumerate(STEPS_B.items()):
        run = rn.init(path="sweep/b", storage=str(root), run_id=f"20250302_00000{number}_b0b0b{number}", alias=alias)
        run.log_config(extra={"lr": 0.01, "seed": number})
        for step in steps:
            run.log({"loss": 10.0 * (number + 1) + step}, step=step)
        run.finish()
        ids[alias] = run.id
    with TestClient(create_app(Api(root)), base_url="http://127.0.0.1") as client:
        yield client, ids


def groups_of(client, ids, names, **params):
    answer = get(client, "/api/compare/groups", runs=",".join(ids[n] for n in names), **params)
    return answer, {group["label"]: group for group in answer["groups"]}


def test_seeds_grouped_by_path_give_the_mean_and_the_band_of_their_runs(grouped):
    client, ids = grouped
    answer, groups = groups_of(client, ids, ["a1", "b1", "a2", "a3", "b2"], by="path")
    assert answer["by"] == "path" and list(groups) == ["sweep/a", "sweep/b"]  # in the order runs were given
    assert groups["sweep/a"]["runs"] == [ids["a1"], ids["a2"], ids["a3"]]
    loss = groups["sweep/a"]["series"]["loss"]
    assert loss["x"] == [0, 1, 2, 3, 4] and loss["runs"] == [3] * 5
    assert loss["y"] == [2.0, 8 / 3, 10 / 3, 4.0, 14 / 3]
    assert loss["min"] == [1.0, 2.0, 2.0, 2.0, 2.0] and loss["max"] == [3.0, 4.0, 5.0, 6.0, 7.0]
    assert loss["group"] is True and loss["downsampled"] is False and loss["points"] == 15 and loss["count"] == 15
    assert set(groups["sweep/a"]["series"]) == {"loss", "acc"}
    assert groups["sweep/a"]["series"]["acc"]["min"] == groups["sweep/a"]["series"]["acc"]["max"]  # seeds agree


def test_misaligned_steps_carry_each_run_forward_only_within_its_own_steps(grouped):
    client, ids = grouped
    _, groups = groups_of(client, ids, ["b1", "b2"], by="path")
    loss = groups["sweep/b"]["series"]["loss"]
    # b1: 10, 12, 14, 16 at steps 0, 2, 4, 6; b2: 21, 23 at steps 1, 3 and nothing after step 3.
    assert loss["x"] == [0, 1, 2, 3, 4, 6]
    assert loss["runs"] == [1, 2, 2, 2, 1, 1]
    assert loss["y"] == [10.0, (10 + 21) / 2, (12 + 21) / 2, (12 + 23) / 2, 14.0, 16.0]
    assert loss["min"] == [10.0, 10.0, 12.0, 12.0, 14.0, 16.0] and loss["max"] == [10.0, 21.0, 21.0, 23.0, 14.0, 16.0]


def test_grouping_by_a_config_value_and_by_a_key_no_run_has(grouped):
    client, ids = grouped
    names = ["a1", "a2", "b1"]
    _, groups = groups_of(client, ids, names, by="config.lr")
    assert list(groups) == ["lr=0.1", "lr=0.01"] and groups["lr=0.01"]["runs"] == [ids["b1"]]
    _, groups = groups_of(client, ids, names, by="config.opt.name")
    assert list(groups) == ["opt.name not set"] and len(groups["opt.name not set"]["runs"]) == 3
    _, groups = groups_of(client, ids, names, by="config.seed")
    assert list(groups) == ["seed=0", "seed=1"] and groups["seed=0"]["runs"] == [ids["a1"], ids["b1"]]


def test_a_window_wider_than_the_chart_is_sampled_once_per_pixel(grouped):
    client, ids = grouped
    _, groups = groups_of(client, ids, ["a1", "a2", "a3"], by="path", width=10, key="loss")
    loss = groups["sweep/a"]["series"]["loss"]
    assert loss["downsampled"] is False and loss["x"] == [0, 1, 2, 3, 4]  # 15 points, 5 shared steps: they fit
    _, groups = groups_of(client, ids, ["b1", "b2", "a1"], by="config.seed", width=10, key="loss")
    assert groups["seed=0"]["series"]["loss"]["x"] == [0, 1, 2, 3, 4, 6]  # b1 and a1: 6 distinct steps fit
    _, groups = groups_of(client, ids, ["b1", "b2"], by="config.lr", width=10, key="loss", x0=0, x1=6)
    assert groups["lr=0.01"]["series"]["loss"]["downsampled"] is False


def test_more_distinct_steps_than_pixels_are_sampled_evenly():
    from array import array

    from runicorn.viewer.groups import aggregate
    from runicorn.viewer.series import Series

    every = Series(array("d", range(100)), array("d", [float(i) for i in range(100)]))
    odd = Series(array("d", range(1, 100, 2)), array("d", [100.0] * 50))
    chart = aggregate([every, odd], width=13)
    assert chart["downsampled"] is True and len(chart["x"]) == 13
    assert chart["x"][0] == 0 and chart["x"][-1] == 99
    assert chart["runs"][0] == 1 and set(chart["runs"][1:]) == {2}  # odd starts at step 1
    step = 99 / 12
    for x, y, low, high in zip(chart["x"][1:], chart["y"][1:], chart["min"][1:], chart["max"][1:]):
        carried = math.floor(x)  # every: the last step at or before x
        assert (low, high, y) == (carried, 100.0, (carried + 100.0) / 2)
    assert chart["x"][1] == pytest.approx(step)


def test_smoothing_is_the_mean_of_each_runs_smoothed_series(grouped):
    client, ids = grouped
    names = ["a1", "a2", "a3"]
    _, groups = groups_of(client, ids, names, by="path", smooth=0.6, key="loss")
    group = groups["sweep/a"]["series"]["loss"]
    per_run = [get(client, f"/api/runs/{ids[n]}/series", smooth=0.6, key="loss")["series"]["loss"]["smoothed"]
               for n in names]
    assert all(math.isclose(g, sum(column) / 3, rel_tol=1e-12) for g, column in zip(group["smoothed"], zip(*per_run)))
    assert group["y"] == [2.0, 8 / 3, 10 / 3, 4.0, 14 / 3]  # the raw mean stays beside it


def test_zoom_key_filter_and_etag(grouped):
    client, ids = grouped
    runs = ",".join(ids[n] for n in ["a1", "a2"])
    zoomed = get(client, "/api/compare/groups", runs=runs, key="loss", x0=1, x1=2)["groups"][0]["series"]
    assert list(zoomed) == ["loss"] and zoomed["loss"]["x"] == [0, 1, 2, 3]  # one neighbour each side
    first = client.get("/api/compare/groups", params={"runs": runs})
    assert first.status_code == 200 and first.headers["etag"]
    again = client.get("/api/compare/groups", params={"runs": runs}, headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304


@pytest.mark.parametrize("params, says", [
    ({"by": "lr"}, "group by 'path' or 'config.<key>'"),
    ({"by": "config."}, "group by 'path' or 'config.<key>'"),
    ({"width": "3"}, "width"),
    ({"x": "epoch"}, "x must be one of"),
])
def test_bad_group_requests_say_what_to_give(grouped, params, says):
    client, ids = grouped
    answer = get(client, "/api/compare/groups", status=400, runs=ids["a1"], **params)
    assert says in answer["error"]


def test_unknown_runs_are_404(grouped):
    client, _ = grouped
    assert client.get("/api/compare/groups", params={"runs": "20990101_000000_ffffff"}).status_code == 404
    assert client.get("/api/compare/groups").status_code == 400
