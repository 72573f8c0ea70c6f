"""Turning Runicorn off: set_enabled, enabled(), RUNICORN_ON, distributed ranks; NoOpRun mirrors Run."""

from __future__ import annotations

import inspect
import logging

import pytest

import runicorn as rn
from runicorn import NoOpRun, Run
from sdk_support import only_run


def nothing_written(storage) -> bool:
    return not storage.exists() or not any(storage.rglob("*"))


def exercise(run) -> None:
    """Every public call a training script makes."""
    with run as same:
        assert same is run
        run.set_primary_metric("acc", mode="max")
        run.log({"acc": 0.5}, step=1, stage="s")
        run.log(acc=0.6)
        run.log_text("text")
        handler = run.get_logging_handler()
        assert isinstance(handler, logging.Handler)
        logging.getLogger("noop-test").addHandler(handler)
        logging.getLogger("noop-test").error("ignored")
        logging.getLogger("noop-test").removeHandler(handler)
        run.summary({"a": 1})
        run.log_config(extra={"lr": 1})
        run.log_dataset("train", "./data")
        run.log_pretrained("bert", path_or_uri="bert-base")
        assert run.log_image("img", b"bytes") == ""
        assert run.scan_outputs_once(output_dirs=["out"]) == {}
        run.watch_outputs(output_dirs=["out"])
        run.stop_outputs_watch()
    run.finish()


def test_set_enabled_false_gives_a_noop_run_that_writes_nothing(storage):
    rn.set_enabled(False)
    assert not rn.is_enabled()
    run = rn.init(path="off", capture_console=True, snapshot_code=True, capture_env=True)
    assert isinstance(run, NoOpRun)
    assert rn.get_active_run() is None
    exercise(run)
    assert nothing_written(storage)
    rn.reset_enabled()
    assert rn.is_enabled()
    assert isinstance(rn.init(path="on"), Run)


def test_enabled_context_manager_restores_the_previous_state(storage):
    assert rn.is_enabled()
    with rn.enabled(False):
        assert not rn.is_enabled()
        assert isinstance(rn.init(), NoOpRun)
        with rn.enabled(True):
            assert rn.is_enabled()
        assert not rn.is_enabled()
        with rn.enabled():  # default: on
            assert rn.is_enabled()
    assert rn.is_enabled()
    assert nothing_written(storage)
    with pytest.raises(RuntimeError):
        with rn.enabled(False):
            raise RuntimeError("restored even on error")
    assert rn.is_enabled()


def test_set_enabled_validates_its_argument():
    with pytest.raises(TypeError, match="set_enabled"):
        rn.set_enabled("no")
    with pytest.raises(TypeError):
        rn.set_enabled(0)


@pytest.mark.parametrize("env, on", [
    ({}, True),
    ({"RUNICORN_ON": "0"}, False), ({"RUNICORN_ON": "false"}, False), ({"RUNICORN_ON": "OFF"}, False),
    ({"RUNICORN_ON": "no"}, False), ({"RUNICORN_ON": "1"}, True), ({"RUNICORN_ON": ""}, True),
    ({"RANK": "0"}, True), ({"RANK": "1"}, False), ({"LOCAL_RANK": "1"}, False), ({"LOCAL_RANK": "0"}, True),
    ({"RANK": "3", "LOCAL_RANK": "0"}, False), ({"RANK": "0", "LOCAL_RANK": "2"}, False), ({"RANK": ""}, True),
    ({"RANK": "1", "RUNICORN_ON": "1"}, True), ({"LOCAL_RANK": "1", "RUNICORN_ON": "true"}, True),
    ({"RANK": "0", "RUNICORN_ON": "0"}, False),
])
def test_environment_switches(env, on, monkeypatch, storage):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert rn.is_enabled() is on
    run = rn.init(path="env")
    assert isinstance(run, Run if on else NoOpRun)
    run.log({"a": 1})
    run.finish()
    assert nothing_written(storage) is not on


def test_set_enabled_overrides_the_environment(monkeypatch):
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("RUNICORN_ON", "0")
    rn.set_enabled(True)
    assert isinstance(rn.init(path="forced"), Run)
    rn.reset_enabled()
    assert isinstance(rn.init(path="forced"), NoOpRun)


def test_rank_one_child_process_writes_nothing(script, storage, api):
    code = script("""
import runicorn as rn
with rn.init(path="ddp", capture_console=True) as run:
    print(type(run).__name__)
    run.log({"loss": 1.0})
""")
    result = code.run(env={"RANK": "1", "LOCAL_RANK": "1"})
    assert result.returncode == 0, result.stderr
    assert result.stdout == "NoOpRun\n"
    assert nothing_written(storage)
    result = code.run(env={"RANK": "0", "LOCAL_RANK": "0"})
    assert result.stdout == "Run\n"
    assert only_run(api).history()[0]["loss"] == 1.0


def public_methods(cls) -> dict[str, object]:
    return {name: member for name, member in inspect.getmembers(cls)
            if (not name.startswith("_") or name in ("__enter__", "__exit__")) and callable(member)
            and not isinstance(member, type)}


def test_noop_run_has_every_public_run_method_with_the_same_signature():
    run_methods = public_methods(Run)
    noop_methods = public_methods(NoOpRun)
    assert {"log", "log_text", "log_image", "log_config", "log_dataset", "log_pretrained", "summary",
            "finish", "set_primary_metric", "get_logging_handler", "scan_outputs_once", "watch_outputs",
            "stop_outputs_watch", "__enter__", "__exit__"} <= set(run_methods)
    missing = set(run_methods) - set(noop_methods)
    assert not missing, f"NoOpRun lacks {sorted(missing)}"
    for name, method in run_methods.items():
        assert inspect.signature(noop_methods[name]) == inspect.signature(method), name
    # public attributes and properties too
    for name in ("id", "path", "alias", "tags", "run_dir", "storage_root", "is_finished", "status"):
        assert hasattr(NoOpRun(), name)


def test_noop_context_manager_does_not_swallow_exceptions():
    rn.set_enabled(False)
    with pytest.raises(KeyError):
        with rn.init() as run:
            run.log({"a": 1})
            raise KeyError("propagates")
