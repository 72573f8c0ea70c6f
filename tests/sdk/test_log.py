"""run.log: steps, stages, values, validation, primary metric, summary, text, logging, threads."""

from __future__ import annotations

import logging
import math
import re
import threading
import warnings

import numpy as np
import pytest

import runicorn as rn
from runicorn.runfolder import STATUS, SUMMARY
from runicorn.runfolder.jsonio import read_state
from runicorn.runfolder.timeline import iter_rows
from sdk_support import TIMESTAMP


def metrics(rows):
    """Rows without their wall-clock time."""
    return [{k: v for k, v in row.items() if k != "_time"} for row in rows]


def logged(run):
    run.finish()
    return metrics(rn.Api().run(run.id).history())


# -- steps and stages ---------------------------------------------------------------------------

STEP_CASES = {
    "omitted steps count from 1": ([{}, {}, {}], [1, 2, 3]),
    "a given step becomes the run's step": ([{"step": 10}, {}, {}], [10, 11, 12]),
    "steps may jump forward": ([{}, {"step": 100}, {}], [1, 100, 101]),
    "steps may go back; auto-steps follow": ([{"step": 5}, {"step": 2}, {}], [5, 2, 3]),
    "step 0 is a step": ([{"step": 0}, {}], [0, 1]),
    "the same step twice is two rows": ([{"step": 3}, {"step": 3}, {}], [3, 3, 4]),
    "negative steps are allowed": ([{"step": -1}, {}], [-1, 0]),
    "numpy integer steps": ([{"step": np.int64(7)}, {"step": np.array(9)}, {}], [7, 9, 10]),
    "beyond int64": ([{"step": 2 ** 63}, {}], [2 ** 63, 2 ** 63 + 1]),
}


@pytest.mark.parametrize("calls, steps", list(STEP_CASES.values()), ids=list(STEP_CASES))
def test_step_semantics(calls, steps):
    run = rn.init(path="steps")
    for i, kwargs in enumerate(calls):
        run.log({"i": i}, **kwargs)
    rows = logged(run)
    assert [row["_step"] for row in rows] == steps
    assert [row["i"] for row in rows] == list(range(len(calls)))
    assert all(type(row["_step"]) is int for row in rows)


def test_stage_labels_apply_per_row_and_mix_with_steps():
    run = rn.init(path="stages")
    run.log({"loss": 1.0})
    run.log({"loss": 0.9}, stage="epoch_1")
    run.log({"loss": 0.8}, step=10, stage="epoch_1")
    run.log({"acc": 0.5}, stage="eval")
    run.log({"loss": 0.7})
    run.log({"loss": 0.6}, stage=2)  # not a string: stored as its str
    run.log({"note": "text row"}, stage="epoch_2")  # a JSON (string) row keeps its stage too
    assert logged(run) == [
        {"_step": 1, "loss": 1.0},
        {"_step": 2, "loss": 0.9, "_stage": "epoch_1"},
        {"_step": 10, "loss": 0.8, "_stage": "epoch_1"},
        {"_step": 11, "acc": 0.5, "_stage": "eval"},
        {"_step": 12, "loss": 0.7},
        {"_step": 13, "loss": 0.6, "_stage": "2"},
        {"_step": 14, "note": "text row", "_stage": "epoch_2"},
    ]


def test_dict_and_keyword_metrics_merge():
    run = rn.init(path="kwargs")
    run.log({"a": 1, "b": 2}, b=3, c=4.5)
    run.log(x=1)
    run.log(step=7)  # a row with no metrics still advances the step
    run.log()
    assert logged(run) == [{"_step": 1, "a": 1, "b": 3, "c": 4.5}, {"_step": 2, "x": 1}, {"_step": 7}, {"_step": 8}]


# -- values ---------------------------------------------------------------------------------------

def test_value_types_round_trip_exactly():
    run = rn.init(path="values")
    run.log({"f": 0.1, "i": 3, "neg": -2, "t": True, "fa": False, "s": "hello", "unicode": "naïve ✓", "empty": ""})
    run.log({"np_f64": np.float64(1.5), "np_f32": np.float32(0.25), "np_i64": np.int64(-7), "np_i8": np.int8(5),
             "np_u8": np.uint8(200), "np_bool": np.bool_(True), "np_0d": np.array(2.5), "np_0d_int": np.array(4),
             "np_str": np.str_("abc")})
    run.log({"big": 2 ** 64, "small": -(2 ** 70), "edge": 2 ** 63 - 1})
    rows = logged(run)
    assert rows == [
        {"_step": 1, "f": 0.1, "i": 3, "neg": -2, "t": True, "fa": False, "s": "hello", "unicode": "naïve ✓",
         "empty": ""},
        {"_step": 2, "np_f64": 1.5, "np_f32": 0.25, "np_i64": -7, "np_i8": 5, "np_u8": 200, "np_bool": True,
         "np_0d": 2.5, "np_0d_int": 4, "np_str": "abc"},
        {"_step": 3, "big": 2 ** 64, "small": -(2 ** 70), "edge": 2 ** 63 - 1},
    ]
    types = {k: type(v) for row in rows for k, v in row.items()}
    assert types["t"] is bool and types["np_bool"] is bool
    assert types["i"] is int and types["np_i64"] is int and types["np_u8"] is int
    assert types["f"] is float and types["np_f32"] is float and types["np_0d"] is float


def test_nan_and_infinities_round_trip_in_timeline_summary_and_primary_metric():
    run = rn.init(path="nonfinite")
    run.set_primary_metric("loss", mode="min")
    run.log({"loss": math.nan, "up": math.inf, "down": -math.inf})
    run.log({"loss": math.inf, "note": "string row", "x": math.nan})  # a JSON record
    run.log({"loss": 2.0, "np": np.float32("nan")})
    run.log({"loss": -math.inf})
    run.summary({"nan": math.nan, "inf": math.inf, "ninf": -math.inf, "nested": {"v": [math.nan, 1.0]}})
    run.finish()
    view = rn.Api().run(run.id)
    rows = view.history()
    assert math.isnan(rows[0]["loss"]) and rows[0]["up"] == math.inf and rows[0]["down"] == -math.inf
    assert rows[1]["loss"] == math.inf and math.isnan(rows[1]["x"]) and rows[1]["note"] == "string row"
    assert rows[2]["loss"] == 2.0 and math.isnan(rows[2]["np"])
    assert rows[3]["loss"] == -math.inf
    summary = view.summary
    assert math.isnan(summary["nan"]) and summary["inf"] == math.inf and summary["ninf"] == -math.inf
    assert math.isnan(summary["nested"]["v"][0]) and summary["nested"]["v"][1] == 1.0
    # the file stays valid JSON: no bare NaN / Infinity tokens
    raw = (view.run_dir / SUMMARY).read_text()
    assert "NaN" not in raw and "Infinity" not in raw and '"$float"' in raw
    # NaN never becomes the best value; -inf is the best for mode="min"
    assert view.primary_metric == {"name": "loss", "mode": "min", "best": -math.inf, "step": 4}


@pytest.mark.parametrize("value, shape", [
    ([1, 2], None), ((1.0,), None), ({"a": 1}, None), (None, None), (object(), None),
    (np.zeros(3), "(3,)"), (np.ones((2, 2)), "(2, 2)"), (np.array([1.0]), "(1,)"), (b"bytes", None),
])
def test_non_scalar_values_raise_type_error_naming_the_key(value, shape):
    run = rn.init(path="bad-values")
    with pytest.raises(TypeError, match="'weights'") as info:
        run.log({"ok": 1.0, "weights": value})
    if shape:
        assert shape in str(info.value)
    run.log({"ok": 2.0})  # nothing of the refused row was written, and the step did not advance
    assert logged(run) == [{"_step": 1, "ok": 2.0}]


def test_non_scalar_keyword_value_raises_too():
    run = rn.init(path="bad-values")
    with pytest.raises(TypeError, match="'grad'"):
        run.log(grad=[1, 2, 3])


@pytest.mark.parametrize("key", ["_step", "_time", "_stage"])
def test_reserved_keys_are_refused(key):
    run = rn.init(path="reserved")
    with pytest.raises(ValueError, match=re.escape(repr(key))):
        run.log({key: 1})
    with pytest.raises(ValueError, match="reserved"):
        run.log(**{key: 1})
    run.log({"_other": 1})  # only the three names are reserved
    assert logged(run) == [{"_step": 1, "_other": 1}]


def test_non_string_keys_and_non_dict_data_are_refused():
    run = rn.init(path="keys")
    with pytest.raises(TypeError, match="strings"):
        run.log({1: 0.5})
    with pytest.raises(TypeError, match="dict"):
        run.log([("a", 1)])
    with pytest.raises(TypeError, match="dict"):
        run.log(0.5)


@pytest.mark.parametrize("step", [1.5, 2.0, "3", True, np.bool_(True), None.__class__, [1], np.float64(1.0),
                                  np.zeros(2), np.array(1.0)])
def test_bad_steps_raise_type_error(step):
    run = rn.init(path="bad-steps")
    run.log({"a": 1})
    with pytest.raises(TypeError, match="step"):
        run.log({"a": 2}, step=step)
    run.log({"a": 3})
    assert logged(run) == [{"_step": 1, "a": 1}, {"_step": 2, "a": 3}]


# -- primary metric and summary --------------------------------------------------------------------

def test_primary_metric_tracks_best_value_and_step():
    run = rn.init(path="primary")
    run.set_primary_metric("acc", mode="max")
    for step, acc in [(1, 0.5), (2, 0.9), (3, 0.7), (4, np.float32(0.8))]:
        run.log({"acc": acc, "loss": 1 - float(acc)}, step=step)
    run.log({"loss": 0.0})  # rows without the metric do not matter
    run.finish()
    assert rn.Api().run(run.id).primary_metric == {"name": "acc", "mode": "max", "best": 0.9, "step": 2}

    run = rn.init(path="primary")
    run.set_primary_metric("loss", mode="min")
    for value in (3, 1, 2, True):  # bools are not scores
        run.log(loss=value)
    run.finish()
    assert rn.Api().run(run.id).primary_metric == {"name": "loss", "mode": "min", "best": 1, "step": 2}


def test_primary_metric_validates_its_arguments():
    run = rn.init(path="primary")
    with pytest.raises(ValueError, match="mode"):
        run.set_primary_metric("acc", mode="maximum")
    with pytest.raises(ValueError, match="metric_name"):
        run.set_primary_metric("")


def test_summary_merges_and_converts_values():
    run = rn.init(path="summary")
    run.summary({"a": 1, "b": {"x": 1}})
    run.summary({"b": {"y": 2}, "c": np.float64(0.5), "d": np.array(3), "obj": object})
    assert read_state(run.run_dir / SUMMARY) == {"a": 1, "b": {"y": 2}, "c": 0.5, "d": 3, "obj": repr(object)}
    with pytest.raises(TypeError, match="dict"):
        run.summary([("a", 1)])


# -- text, logging ---------------------------------------------------------------------------------

def test_log_text_timestamps_every_line():
    run = rn.init(path="text")
    run.log_text("one")
    run.log_text("two\nthree")
    run.log_text(42)
    run.finish()
    lines = rn.Api().run(run.id).text_log().splitlines()
    assert len(lines) == 4
    for line, text in zip(lines, ["one", "two", "three", "42"]):
        assert re.fullmatch(TIMESTAMP + re.escape(text), line), line


def test_logging_handler_filters_levels_and_stops_after_finish():
    run = rn.init(path="logging")
    logger = logging.getLogger("test_sdk.handler")
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    handler = run.get_logging_handler()  # default level INFO
    assert isinstance(handler, logging.Handler) and handler.level == logging.INFO
    custom = run.get_logging_handler(level=logging.ERROR, fmt="CUSTOM %(levelname)s | %(message)s")
    logger.addHandler(handler)
    logger.addHandler(custom)
    try:
        logger.debug("debug is below INFO")
        logger.info("info line")
        logger.warning("multi\nline")
        logger.error("error line")
        try:
            raise ValueError("boom")
        except ValueError:
            logger.exception("with traceback")
        run.finish()
        logger.error("after finish")
    finally:
        logger.removeHandler(handler)
        logger.removeHandler(custom)
    text = rn.Api().run(run.id).text_log()
    lines = [re.sub("^" + TIMESTAMP, "", line) for line in text.splitlines()]
    assert all(re.match(TIMESTAMP, line) for line in text.splitlines())
    assert "debug is below INFO" not in text
    assert "after finish" not in text
    assert "INFO test_sdk.handler: info line" in lines
    assert lines[lines.index("WARNING test_sdk.handler: multi") + 1] == "line"
    assert "ERROR test_sdk.handler: error line" in lines
    assert "CUSTOM ERROR | error line" in lines
    assert "CUSTOM ERROR | with traceback" in lines
    assert "ValueError: boom" in lines
    assert not any(line.startswith("CUSTOM INFO") or line.startswith("CUSTOM WARNING") for line in lines)


# -- after finish ------------------------------------------------------------------------------------

def test_calls_after_finish_warn_once_each_and_change_nothing():
    run = rn.init(path="after")
    run.log({"a": 1})
    run.summary({"s": 1})
    run.set_primary_metric("a")
    run.finish()
    run_dir = run.run_dir
    before = {p.name: p.read_bytes() for p in run_dir.iterdir() if p.name != "heartbeat"}
    with pytest.warns(UserWarning) as record:
        run.log({"a": 2})
        run.log({"a": 3})
        run.log_text("late")
        run.summary({"s": 2})
        run.set_primary_metric("b")
        run.log_config(extra={"late": True})
        assert run.log_image("img", b"not used") == ""
        assert run.scan_outputs_once(output_dirs=["."]) == {}
    messages = [str(w.message) for w in record]
    assert all("after run" in m and "finished" in m and "ignored" in m for m in messages)
    assert len(messages) == 7, messages  # once per method
    assert all(w.filename == __file__ for w in record), "warnings point at the caller's line"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run.finish()  # idempotent and silent
        run.finish("failed")  # a finished run keeps its status
    after = {p.name: p.read_bytes() for p in run_dir.iterdir() if p.name != "heartbeat"}
    assert after == before
    assert read_state(run_dir / STATUS)["status"] == "finished"


# -- threads ---------------------------------------------------------------------------------------

def test_concurrent_logging_threads_keep_every_row_with_unique_steps():
    run = rn.init(path="threads")
    threads, per_thread = 6, 3000
    barrier = threading.Barrier(threads)

    def work(t):
        barrier.wait()
        for i in range(per_thread):
            run.log({"thread": t, "i": i, "v": t * 0.5})

    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    rows = logged(run)
    assert len(rows) == threads * per_thread
    assert sorted(row["_step"] for row in rows) == list(range(1, threads * per_thread + 1))
    assert [row["_step"] for row in rows] == sorted(row["_step"] for row in rows), "file order is step order"
    for t in range(threads):
        mine = [row for row in rows if row["thread"] == t]
        assert [row["i"] for row in mine] == list(range(per_thread))
        assert all(row["v"] == t * 0.5 for row in mine)


def test_a_tight_logging_loop_is_written_while_it_runs_and_memory_stays_bounded():
    """Rows logged faster than the writer thread encodes them do not pile up (backpressure)."""
    from runicorn.sdk.writer import MAX_BUFFERED_ROWS

    run = rn.init(path="tight")
    total = MAX_BUFFERED_ROWS * 4
    high_water = 0
    for i in range(total):
        run.log({"a": i, "b": 0.5})
        if i % 1000 == 0:
            high_water = max(high_water, len(run._writer.buffers["timeline.bin"]))
    assert high_water <= MAX_BUFFERED_ROWS
    # Most rows reached the file before finish: what is not there yet is at most the buffer (bounded by
    # backpressure) plus the batch the writer thread is encoding (taken from a buffer under the same bound).
    assert len(list(iter_rows(run.run_dir / "timeline.bin"))) >= total - 2 * MAX_BUFFERED_ROWS
    rows = logged(run)
    assert [row["a"] for row in rows] == list(range(total))
