"""The read API: rn.Api lists and opens runs; RunView reads what they recorded."""

from __future__ import annotations

import json
import math
import os
import time

import pytest

import runicorn as rn
from runicorn import AmbiguousRunId, RunNotFound, RunView
from runicorn.errors import StorageNotFound
from runicorn.sdk import exithooks


@pytest.fixture(autouse=True)
def finish_leftover_runs():
    """Runs a test leaves open are finished after it (module fixtures keep theirs)."""
    before = list(exithooks._live_runs)
    yield
    for run in list(exithooks._live_runs):
        if run not in before:
            run.finish()


@pytest.fixture
def storage(tmp_path):
    return tmp_path / "storage"


def make_run(path="proj", run_id=None, *, status="finished", alias=None, tags=None, rows=(), **init):
    run = rn.init(path=path, run_id=run_id, alias=alias, tags=tags, **init)
    for row in rows:
        run.log(row)
    if status is not None:
        run.finish(status)
    return run


# -- opening runs by id -------------------------------------------------------------------------------

def test_open_by_exact_id_and_unique_prefix(storage):
    for run_id in ("abc-1", "abc-10", "abd", "xyz_42"):
        make_run(run_id=run_id)
    api = rn.Api(storage)
    assert api.run("xyz_42").id == "xyz_42"
    assert api.run("x").id == "xyz_42"
    assert api.run("abd").id == "abd"
    assert api.run("abc-1").id == "abc-1", "an exact id wins over a longer id it is a prefix of"
    assert api.run("abc-10").id == "abc-10"
    assert isinstance(api.run("abd"), RunView)


@pytest.mark.parametrize("prefix, count", [("ab", 3), ("abc", 2), ("a", 3)])
def test_ambiguous_prefix(storage, prefix, count):
    for run_id in ("abc-1", "abc-2", "abd"):
        make_run(run_id=run_id)
    with pytest.raises(AmbiguousRunId, match=f"matches {count} runs") as info:
        rn.Api(storage).run(prefix)
    assert isinstance(info.value, ValueError)
    assert "abc-1" in str(info.value)


@pytest.mark.parametrize("query", ["nope", "abc-1x", "", None, 3])
def test_no_match_is_run_not_found(storage, query):
    make_run(run_id="abc-1")
    with pytest.raises(RunNotFound) as info:
        rn.Api(storage).run(query)
    assert isinstance(info.value, KeyError)


def test_generated_ids_share_a_date_prefix(storage):
    first, second = make_run(), make_run()
    api = rn.Api(storage)
    with pytest.raises(AmbiguousRunId):
        api.run(first.id[:9])  # YYYYMMDD_
    assert api.run(first.id).id == first.id
    assert api.run(second.id).id == second.id


def test_runs_are_found_under_any_path(storage):
    make_run("a/b/c/d", run_id="deep")
    make_run("top", run_id="shallow")
    api = rn.Api(storage)
    assert api.run("deep").path == "a/b/c/d"
    assert api.run("deep").run_dir == storage / "runs" / "a" / "b" / "c" / "d" / "deep"


# -- listing and filters ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def population(tmp_path_factory):
    """Runs with every kind of status, path, alias and tags; created in this order. Read-only."""
    root = tmp_path_factory.mktemp("population")
    make_run("cv/resnet/base", "r1", alias="seed-1", tags=["baseline", "gpu"], storage=root)
    make_run("cv/resnet/aug", "r2", alias="seed-2", tags=["gpu"], status="failed", storage=root)
    make_run("cv/vit", "r3", alias="seed-1", tags=["baseline"], status="interrupted", storage=root)
    make_run("cvx", "r4", alias="seed-1", storage=root)
    running = make_run("nlp/bert", "r5", tags=["baseline", "gpu", "big"], status=None, storage=root)
    # r6: what a kill -9 leaves on disk: status "running", written by a pid that is gone from this host
    crashed = make_run("nlp/gpt", "r6", storage=root)
    record = json.loads((crashed.run_dir / "status.json").read_text())
    record.update(status="running", ended_at=None, pid=2 ** 22 + 4321)
    (crashed.run_dir / "status.json").write_text(json.dumps(record))
    yield rn.Api(root)
    running.finish()


def ids(views) -> list[str]:
    return [v.id for v in views]


def test_list_everything_oldest_first(population):
    assert ids(population.runs()) == ["r1", "r2", "r3", "r4", "r5", "r6"]
    created = [v.created_at for v in population.runs()]
    assert created == sorted(created)


@pytest.mark.parametrize("path, expected", [
    ("cv", ["r1", "r2", "r3"]),  # by whole segments: not cvx
    ("cv/", ["r1", "r2", "r3"]),
    ("cv/resnet", ["r1", "r2"]),
    ("cv/resnet/base", ["r1"]),
    ("cvx", ["r4"]),
    ("nlp", ["r5", "r6"]),
    ("none", []),
    ("cv/res", []),
])
def test_filter_by_path_prefix(population, path, expected):
    assert ids(population.runs(path)) == expected


def test_bad_path_filter_is_a_value_error(population):
    with pytest.raises(ValueError):
        population.runs("../outside")


@pytest.mark.parametrize("status, expected", [
    ("finished", ["r1", "r4"]), ("failed", ["r2"]), ("interrupted", ["r3"]), ("running", ["r5"]),
    ("crashed", ["r6"]), ("unknown", []),
])
def test_filter_by_status(population, status, expected):
    assert ids(population.runs(status=status)) == expected


def test_filter_by_alias_and_tags(population):
    assert ids(population.runs(alias="seed-1")) == ["r1", "r3", "r4"]
    assert ids(population.runs(alias="nobody")) == []
    assert ids(population.runs(tags=["gpu"])) == ["r1", "r2", "r5"]
    assert ids(population.runs(tags=["gpu", "baseline"])) == ["r1", "r5"], "every tag must be present"
    assert ids(population.runs(tags=["big", "baseline", "gpu"])) == ["r5"]
    assert ids(population.runs(tags=[])) == ids(population.runs())


def test_filters_combine(population):
    assert ids(population.runs("cv", alias="seed-1", tags=["baseline"])) == ["r1", "r3"]
    assert ids(population.runs("cv", alias="seed-1", tags=["baseline"], status="finished")) == ["r1"]
    assert ids(population.runs("nlp", tags=["gpu"], status="running")) == ["r5"]


def test_empty_and_default_storage(tmp_path):
    assert rn.Api(tmp_path / "nothing-here").runs() == []
    assert rn.Api().root == tmp_path / "storage"  # RUNICORN_DIR, like rn.init
    with pytest.raises(StorageNotFound, match="no Runicorn storage root at .*nothing-here"):
        rn.Api(tmp_path / "nothing-here").run("x")  # a mistyped root, not a missing run


# -- reading a run ---------------------------------------------------------------------------------

def test_run_view_reads_everything_recorded(storage):
    run = rn.init(path="cv/read", run_id="full", alias="a", tags=["t1", "t2"])
    run.set_primary_metric("acc", mode="max")
    run.log_config(extra={"lr": 0.1, "layers": [1, 2]})
    run.log({"acc": 0.5, "loss": 1.0}, stage="train")
    run.log({"acc": 0.8, "loss": 0.5}, stage="train")
    run.log({"note": "string", "acc": 0.7})
    run.log({"loss": math.nan}, step=10)
    run.log_text("hello")
    run.summary({"final": 0.8, "inf": math.inf})
    run.finish()

    view = rn.Api(storage).run("full")
    assert (view.id, view.path, view.alias, view.tags) == ("full", "cv/read", "a", ["t1", "t2"])
    assert view.identity["format"] == "runicorn-run" and view.identity["version"] == 1
    assert view.status == "finished" and view.error is None
    assert view.ended_at >= view.created_at and 0 <= view.duration < 60
    assert view.config["extra"] == {"lr": 0.1, "layers": [1, 2]}
    assert view.summary == {"final": 0.8, "inf": math.inf}
    assert view.primary_metric == {"name": "acc", "mode": "max", "best": 0.8, "step": 2}
    assert view.best == 0.8
    rows = view.history()
    assert [r["_step"] for r in rows] == [1, 2, 3, 10]
    assert [r.get("_stage") for r in rows] == ["train", "train", None, None]
    assert math.isnan(rows[3]["loss"])
    assert view.history(["acc"]) == [{"_step": 1, "acc": 0.5}, {"_step": 2, "acc": 0.8}, {"_step": 3, "acc": 0.7}]
    assert view.history("note") == [{"_step": 3, "note": "string"}], "one key may be given as a string"
    assert [r["_step"] for r in view.history(["loss", "note"])] == [1, 2, 3, 10]
    streamed = view.iter_history("acc")
    assert next(streamed) == {"_step": 1, "acc": 0.5} and list(streamed) == view.history("acc")[1:]
    keys = view.metric_keys()
    assert set(keys) == {"acc", "loss", "note"}
    assert keys["acc"] == {"count": 3, "last": 0.7} and keys["note"] == {"count": 1, "last": "string"}
    assert keys["loss"]["count"] == 3 and math.isnan(keys["loss"]["last"])
    assert view.text_log().endswith("] hello\n")
    assert view.images() == [] and view.manifest() == [] and view.assets() == {} and view.roots() == []
    assert "full" in repr(view) and "finished" in repr(view)


def test_failed_run_error_and_duration(storage):
    with pytest.raises(ZeroDivisionError):
        with rn.init(path="err", run_id="bad") as run:
            run.log({"a": 1})
            1 / 0
    view = rn.Api(storage).run("bad")
    assert view.status == "failed"
    assert view.error == {"type": "ZeroDivisionError", "message": "division by zero"}


def test_live_run_is_visible_while_it_runs(storage):
    run = rn.init(path="live", run_id="live")
    run.log({"a": 1})
    api = rn.Api(storage)
    assert api.run("live").status == "running"
    assert api.run("live").duration >= 0
    deadline = time.monotonic() + 5
    while not api.run("live").history():
        assert time.monotonic() < deadline, "a logged row reaches the file within a second"
        time.sleep(0.02)
    assert api.run("live").history()[0]["a"] == 1
    run.finish()
    assert api.run("live").status == "finished"


def test_damaged_state_files_do_not_break_reading(storage):
    good = make_run(run_id="good", rows=[{"a": 1}])
    make_run(run_id="damaged", rows=[{"a": 1}])
    folder = rn.Api(storage).run("damaged").run_dir
    (folder / "summary.json").write_text("{torn")
    (folder / "config.json").write_text("")
    (folder / "primary_metric.json").write_text("[]")
    (folder / "status.json").write_text("not json")
    broken = storage / "runs" / "proj" / "not-a-run"
    broken.mkdir()
    (broken / "run.json").write_text("{")  # unreadable identity: listed as damaged, known by its folder
    api = rn.Api(storage)
    assert sorted(ids(api.runs())) == ["damaged", "good", "not-a-run"]
    assert api.run("not-a-run").status == "damaged" and api.run("not-a-run").path == "proj"
    assert "run.json is not JSON" in api.run("not-a-run").problems[0]
    view = api.run("damaged")
    assert view.summary == {} and view.config == {"args": {}, "extra": {}, "config_files": []}
    assert view.primary_metric is None and view.best is None
    assert view.history() == [{"_step": 1, "_time": view.history()[0]["_time"], "a": 1}]
    assert view.status == "damaged"  # status.json does not read: no outcome can be trusted
    assert sorted(p.split(": ", 1)[1].split(" ", 1)[0] for p in view.problems) == [
        "config.json", "primary_metric.json", "status.json", "summary.json"]
    assert api.run(good.id).status == "finished"


def test_a_run_folder_nested_in_another_is_still_found(storage):
    """Older versions let a run land inside another run's folder; it must not hide (its objects are roots)."""
    run = make_run("p", "outer")
    nested = run.run_dir / "sub" / "inner"
    nested.mkdir(parents=True)
    (nested / "run.json").write_text(json.dumps({"format": "runicorn-run", "version": 1, "id": "inner",
                                                 "path": "p/outer/sub"}))
    assert sorted(ids(rn.Api(storage).runs())) == ["inner", "outer"]


def test_views_are_snapshots_and_api_re_reads(storage):
    run = rn.init(path="p", run_id="snap")
    api = rn.Api(storage)
    view = api.run("snap")
    assert view.status == "running" and view.summary == {}
    run.summary({"x": 1})
    run.finish()
    assert api.run("snap").status == "finished" and api.run("snap").summary == {"x": 1}
    assert os.path.samefile(view.run_dir, api.run("snap").run_dir)
