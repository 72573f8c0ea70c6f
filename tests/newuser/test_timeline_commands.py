"""Metrics, text and images from the terminal (issue 12, "Things a user reaches for"):
`runicorn history RUN [KEY...]` as CSV (for pandas or a spreadsheet) or JSON lines, `runicorn logs RUN`
and `runicorn logs RUN --follow` on a running run, and `runicorn restore RUN --images --to DIR`."""

import csv
import io
import json
import subprocess

import numpy as np
import pytest
from PIL import Image

import runicorn as rn
from runicorn.api import RunView
from cli_support import RUN_A, runicorn_script
from common_support import WAIT, wait_until
from newuser_support import LineReader, LiveRun


def test_history_prints_csv_with_a_header(samples, invoke):
    out = invoke("history", RUN_A, expect=0).stdout
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0])[:3] == ["_step", "_time", "_stage"]
    assert {"loss", "val_acc"} <= set(rows[0])
    assert [(int(r["_step"]), float(r["val_acc"]), float(r["loss"])) for r in rows] == [
        (1, 0.5, 1.0), (2, 0.8, 0.6), (3, 0.7, 0.5)]


def test_history_of_chosen_keys(samples, invoke):
    out = invoke("history", RUN_A, "loss", expect=0).stdout
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0]) == ["_step", "_time", "_stage", "loss"]
    assert [float(r["loss"]) for r in rows] == [1.0, 0.6, 0.5]


def test_history_json_lines(samples, invoke):
    lines = invoke("history", RUN_A, "--json", expect=0).stdout.splitlines()
    rows = [json.loads(line) for line in lines]
    assert [(r["_step"], r["val_acc"]) for r in rows] == [(1, 0.5), (2, 0.8), (3, 0.7)]
    assert all(isinstance(r["_time"], float) for r in rows)


def test_history_csv_goes_into_pandas_in_one_line(samples):
    pd = pytest.importorskip("pandas")
    frame = pd.read_csv(io.StringIO(subprocess.check_output(
        [runicorn_script(), "--storage", str(samples.root), "history", RUN_A], text=True, timeout=WAIT)))
    assert list(frame["val_acc"]) == [0.5, 0.8, 0.7]


def test_logs_prints_the_text_log_of_a_run(storage_root, invoke):
    with rn.init(path="nlp/logs", storage=str(storage_root), run_id="20250601_070000_1o9o01") as run:
        run.log_text("epoch 1 done")
        run.log_text("epoch 2 done")
    out = invoke("logs", run.id, expect=0).stdout
    assert [line.split(" ", 2)[-1] for line in out.splitlines()] == ["epoch 1 done", "epoch 2 done"], out


def test_logs_follow_tails_a_running_run_and_exits_when_it_finishes(storage_root, tmp_path):
    with LiveRun(tmp_path / "script", storage_root, "20250601_080000_f0f0f1", interval=0.05) as live:
        live.wait_rows(1)
        follow = subprocess.Popen([runicorn_script(), "--storage", str(storage_root), "logs", live.run_id, "--follow"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            reader = LineReader(follow.stdout)
            reader.wait_for("line 3")  # what the run logged before and after the command started
            finished = live.stop()
            steps = int(finished.stdout.strip())
            reader.wait_for(f"done after {steps} steps")  # the last line, logged just before finish
            follow.wait(timeout=WAIT)  # --follow ends by itself once the run is no longer running
            lines = reader.rest()
        finally:
            if follow.poll() is None:
                follow.kill()
                follow.wait(timeout=WAIT)
        assert follow.returncode == 0, follow.stderr.read()
        texts = [line.rstrip("\n").split(" ", 2)[-1] for line in lines]
        assert texts == [f"line {n}" for n in range(1, steps + 1)] + [f"done after {steps} steps"]


def test_logs_follow_prints_the_lines_logged_just_before_the_run_finished(storage_root, invoke, monkeypatch):
    """The same tail, with the run's last line and its finish falling between --follow's read of the log and
    its look at the status (a window of a few milliseconds every poll, made certain here)."""
    run = rn.init(path="nlp/race", storage=str(storage_root), run_id="20250601_090000_f0f0f2")
    run.log_text("first words")
    log = run.run_dir / "logs.txt"
    wait_until(lambda: log.is_file() and b"first words" in log.read_bytes(), "the first line on disk")
    opened, real_reread = [], RunView.reread

    def reread(self):
        opened.append(self.id)
        if len(opened) == 2:  # --follow read the log and now asks whether the run still runs
            run.log_text("last words")
            run.finish()
        return real_reread(self)

    monkeypatch.setattr(RunView, "reread", reread)
    out = invoke("logs", run.id, "--follow", expect=0).stdout
    assert "first words" in out
    assert "last words" in out, out


def test_restore_images_writes_each_logged_image(samples, invoke, tmp_path):
    target = tmp_path / "images"
    result = invoke("restore", RUN_A, "--images", "--to", target, expect=0)
    assert "restored images of run" in result.output
    files = sorted(p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file())
    assert files == ["samples/000003.png"]
    with Image.open(target / "samples" / "000003.png") as image:
        assert np.array_equal(np.asarray(image), np.full((8, 8, 3), 10, dtype=np.uint8))

    only = invoke("restore", RUN_A, "--images", "samples", "--to", tmp_path / "only", expect=0)
    assert "1 files" in only.output or "1 file" in only.output
    invoke("restore", RUN_A, "--images", "nosuchkey", "--to", tmp_path / "none", expect=1)


def test_restore_images_keeps_a_hostile_format_inside_the_target(samples, invoke, tmp_path):
    """media.jsonl is run data (an imported bundle may carry any text): two images at one step whose format
    names a path restore as two files inside the target, never through the format's slashes."""
    media = next(samples.root.joinpath("runs").rglob(f"{RUN_A}/media.jsonl"))
    row = json.loads(media.read_text().splitlines()[0])
    row["format"] = "png/../../../../escaped"
    media.write_text(media.read_text() + json.dumps(row) + "\n" + json.dumps(row) + "\n")
    target = tmp_path / "deep" / "images"
    invoke("restore", RUN_A, "--images", "--to", target, expect=0)
    files = sorted(p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file())
    assert files == ["samples/000003-2.png_.._.._.._.._escaped", "samples/000003.png",
                     "samples/000003.png_.._.._.._.._escaped"]
    assert list((tmp_path / "deep").iterdir()) == [target]
    assert [p for p in tmp_path.rglob("escaped*")] == []  # nothing written where the format's path points
