"""How a run ends: finish, the context manager, exit hooks, signals, kill -9; status aliases; resume; concurrency.

Everything about processes runs in real child processes.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import time

import pytest

import runicorn as rn
from runicorn.errors import RunExists, RunNotFound
from runicorn.runfolder import HEARTBEAT, HEARTBEAT_STALE_SECONDS, STATUS, effective_status
from runicorn.runfolder.jsonio import read_state
from common_support import wait_until
from sdk_support import only_run, read_line, sigterm_and_wait

PRELUDE = """\
import os, signal, sys, time
import runicorn as rn
"""


def status_record(view) -> dict:
    return read_state(view.run_dir / STATUS)


def steps(view) -> list[int]:
    return [row["_step"] for row in view.history()]


# -- endings in a child process ------------------------------------------------------------------

ENDINGS = {
    "finish() called": (
        """
        run = rn.init(path="life")
        run.log({"x": 1})
        run.finish()
        """, 0, "finished", None),
    "with block exits normally": (
        """
        with rn.init(path="life") as run:
            run.log({"x": 1})
        """, 0, "finished", None),
    "exception inside with": (
        """
        with rn.init(path="life") as run:
            run.log({"x": 1})
            raise ValueError("diverged at step 1")
        """, 1, "failed", ("ValueError", "diverged at step 1")),
    "KeyboardInterrupt raised inside with": (
        """
        with rn.init(path="life") as run:
            run.log({"x": 1})
            raise KeyboardInterrupt
        """, -signal.SIGINT, "interrupted", ("KeyboardInterrupt", "")),
    "sys.exit(0) inside with": (
        """
        with rn.init(path="life") as run:
            run.log({"x": 1})
            sys.exit(0)
        """, 0, "finished", None),
    "sys.exit(3) inside with": (
        """
        with rn.init(path="life") as run:
            run.log({"x": 1})
            sys.exit(3)
        """, 3, "failed", ("SystemExit", "3")),
    "script ends without finish": (
        """
        run = rn.init(path="life")
        run.log({"x": 1})
        """, 0, "finished", None),
    "uncaught exception without finish": (
        """
        run = rn.init(path="life")
        run.log({"x": 1})
        raise RuntimeError("out of memory")
        """, 1, "failed", ("RuntimeError", "out of memory")),
    "uncaught KeyboardInterrupt without finish": (
        """
        run = rn.init(path="life")
        run.log({"x": 1})
        raise KeyboardInterrupt
        """, "killed by SIGINT or 1", "interrupted", ("KeyboardInterrupt", "")),
    "finish with an alias": (
        """
        run = rn.init(path="life")
        run.log({"x": 1})
        run.finish("completed")
        """, 0, "finished", None),
    "finish('killed')": (
        """
        run = rn.init(path="life")
        run.log({"x": 1})
        run.finish("killed")
        """, 0, "interrupted", None),
}


@pytest.mark.parametrize("code, returncode, status, error", list(ENDINGS.values()), ids=list(ENDINGS))
def test_status_after_each_way_of_ending(script, api, code, returncode, status, error):
    import textwrap

    result = script(PRELUDE + textwrap.dedent(code)).run()
    if returncode == "killed by SIGINT or 1":
        # CPython 3.11 exits 1 instead of by SIGINT when another thread imports a module while the
        # KeyboardInterrupt unwinds (the run's background git probe may, right after init).
        assert result.returncode in (-signal.SIGINT, 1), result.stderr
    else:
        assert result.returncode == returncode, result.stderr
    view = only_run(api)
    record = status_record(view)
    assert view.status == record["status"] == status
    assert record["ended_at"] is not None and record["ended_at"] >= record["started_at"]
    if error is None:
        assert record["error"] is None
    else:
        assert (record["error"]["type"], record["error"]["message"]) == error
    assert steps(view) == [1], "rows logged before the end are flushed"
    if error and error[0] in ("ValueError", "RuntimeError"):
        assert error[1] in result.stderr, "the exception still propagates to the user"


def test_real_sigint_inside_with_is_interrupted(script, api):
    proc = script(PRELUDE + """
with rn.init(path="life") as run:
    run.log({"x": 1})
    print("ready", flush=True)
    time.sleep(30)
""").start()
    assert read_line(proc) == "ready"
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=15)
    assert proc.returncode == -signal.SIGINT
    view = only_run(api)
    assert view.status == "interrupted"
    assert status_record(view)["error"]["type"] == "KeyboardInterrupt"


def test_sigterm_finishes_as_interrupted_and_the_process_still_dies_by_sigterm(script, api):
    proc = script(PRELUDE + """
run = rn.init(path="life")
for i in range(5):
    run.log({"x": i})
run.log_text("before the signal")
print("ready", flush=True)
time.sleep(30)
print("not reached", flush=True)
""").start()
    assert read_line(proc) == "ready"
    out = sigterm_and_wait(proc)
    assert proc.returncode == -signal.SIGTERM
    assert "not reached" not in out
    view = only_run(api)
    assert view.status == "interrupted"
    assert status_record(view)["ended_at"] is not None
    assert steps(view) == [1, 2, 3, 4, 5]
    assert "before the signal" in view.text_log()


def test_sigterm_chains_to_the_scripts_own_handler(script, api, tmp_path):
    marker = tmp_path / "handler-ran"
    proc = script(PRELUDE + f"""
def on_term(signum, frame):
    open({str(marker)!r}, "w").close()
    sys.exit(7)

signal.signal(signal.SIGTERM, on_term)
run = rn.init(path="life")
run.log({{"x": 1}})
print("ready", flush=True)
time.sleep(30)
""").start()
    assert read_line(proc) == "ready"
    sigterm_and_wait(proc)
    assert proc.returncode == 7
    assert marker.exists()
    assert only_run(api).status == "interrupted"


def test_sigterm_while_logging_in_a_tight_loop_never_hangs(script, api):
    """The SIGTERM handler finishes the run from inside run.log; that must not deadlock with the writer."""
    code = script(PRELUDE + """
run = rn.init(path="life")
print("ready", flush=True)
i = 0
while True:
    i += 1
    run.log({"x": i, "y": 0.5})
""")
    for delay in (0.05, 0.3, 0.6):
        proc = code.start()
        assert read_line(proc) == "ready"
        time.sleep(delay)
        sigterm_and_wait(proc)
        assert proc.returncode == -signal.SIGTERM
    views = api.runs()
    assert len(views) == 3
    for view in views:
        assert view.status == "interrupted"
        logged = steps(view)
        assert logged == list(range(1, len(logged) + 1))


def test_sigterm_while_run_log_holds_the_buffer_lock_does_not_deadlock(script, api):
    """The same race made certain: the main thread holds the lock run.log takes (as it does for a few
    microseconds per call) while the writer thread wakes up to flush, and SIGTERM arrives."""
    proc = script(PRELUDE + """
run = rn.init(path="life")
run.log({"x": 1})
with run._lock:
    print("ready", flush=True)
    time.sleep(30)
""").start()
    assert read_line(proc) == "ready"
    time.sleep(0.7)  # past a flush interval: the writer thread is now waiting for the lock
    sigterm_and_wait(proc)
    assert proc.returncode == -signal.SIGTERM
    view = only_run(api)
    assert view.status == "interrupted" and steps(view) == [1]


def test_sigterm_during_finish_lets_finish_write_its_status_then_dies(script, api):
    proc = script(PRELUDE + """
run = rn.init(path="life")
run.log({"x": 1})
run._writer.flush_hooks.append(lambda: time.sleep(0.5))  # make finish() slow enough to be hit
print("finishing", flush=True)
run.finish()
print("finish returned", flush=True)
time.sleep(30)
""").start()
    assert read_line(proc) == "finishing"
    time.sleep(0.2)  # inside finish() now
    out = sigterm_and_wait(proc)
    assert proc.returncode == -signal.SIGTERM
    assert "finish returned" not in out, "the signal took effect as soon as finish was done"
    view = only_run(api)
    assert view.status == "finished", "finish() completed and wrote its status"
    assert steps(view) == [1]


def test_forked_children_leave_the_parents_run_alone(script, api):
    """Workers forked from a training script (DataLoader workers) inherit its exit hooks and SIGTERM
    handler; their exit or termination must neither finish the parent's run nor write its buffered rows."""
    result = script(PRELUDE + """
import json, multiprocessing as mp

def worker(ready):
    ready.set()
    time.sleep(30)

run = rn.init(path="life")
run.log({"x": 1})  # still buffered when the children are forked
ctx = mp.get_context("fork")
ready = ctx.Event()
terminated = ctx.Process(target=worker, args=(ready,), daemon=True)
terminated.start()
assert ready.wait(15)
terminated.terminate()  # SIGTERM, as multiprocessing and DataLoader do to their workers
terminated.join(15)
pid = os.fork()
if pid == 0:
    sys.exit(0)  # a forked child that exits normally runs the inherited atexit hooks
os.waitpid(pid, 0)
status = json.load(open(os.path.join(run.run_dir, "status.json")))["status"]
print(terminated.exitcode, status, flush=True)
run.log({"x": 2})
run.finish()
""").run()
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [str(-signal.SIGTERM), "running"]
    view = only_run(api)
    assert view.status == "finished"
    assert [row["x"] for row in view.history()] == [1, 2], "no row written twice"


def test_kill_9_shows_crashed_from_the_dead_pid_and_from_a_stale_heartbeat(script, api, storage):
    proc = script(PRELUDE + """
run = rn.init(path="life", run_id="victim")
for i in range(3):
    run.log({"x": i})
print("ready", flush=True)
time.sleep(60)
""").start()
    assert read_line(proc) == "ready"
    view = wait_until(lambda: (v := api.run("victim")).history() and v, what="rows flushed")
    assert view.status == "running"  # alive: heartbeat fresh, pid alive
    proc.kill()
    proc.wait(timeout=15)

    view = api.run("victim")
    assert status_record(view)["status"] == "running"  # nobody wrote a final status...
    assert view.status == "crashed"  # ...but its pid is gone on this host
    assert [v.id for v in api.runs(status="crashed")] == ["victim"]
    assert steps(view) == [1, 2, 3], "everything flushed before the kill is readable"

    # As seen from another host, only the heartbeat tells: fresh -> running, stale -> crashed.
    record = status_record(view)
    record["host"] = "some-other-node"
    (view.run_dir / STATUS).write_text(json.dumps(record))
    assert api.run("victim").status == "running"
    stale = time.time() - HEARTBEAT_STALE_SECONDS - 5
    os.utime(view.run_dir / HEARTBEAT, (stale, stale))
    assert api.run("victim").status == "crashed"
    assert [v.id for v in api.runs(status="crashed")] == ["victim"]
    assert api.runs(status="running") == []


def test_effective_status_rules():
    now = time.time()
    host, pid = socket.gethostname(), os.getpid()
    assert effective_status("running", now, now, host, pid) == "running"
    assert effective_status("running", now, now, host, 2 ** 22 + 12345) == "crashed"  # no such pid
    assert effective_status("running", now, now, "elsewhere", 2 ** 22 + 12345) == "running"
    assert effective_status("running", now, now, host, pid, now=now + HEARTBEAT_STALE_SECONDS + 1) == "crashed"
    for final in ("finished", "failed", "interrupted"):
        assert effective_status(final, now, now, host, pid, now=now + 10 ** 6) == final
    assert effective_status("running", now - 3600, None, host, pid) == "crashed"  # no heartbeat: the start counts


def test_live_run_refreshes_its_heartbeat(monkeypatch, api):
    from runicorn.sdk import writer

    monkeypatch.setattr(writer, "HEARTBEAT_INTERVAL_SECONDS", 0.0)  # every flush beats
    run = rn.init(path="life")
    stale = time.time() - 3600
    os.utime(run.run_dir / HEARTBEAT, (stale, stale))
    assert api.run(run.id).status == "crashed"
    wait_until(lambda: (run.run_dir / HEARTBEAT).stat().st_mtime > stale + 60, timeout=5, what="a heartbeat")
    assert api.run(run.id).status == "running"
    run.finish()
    assert api.run(run.id).status == "finished"


# -- finish() in process -------------------------------------------------------------------------

@pytest.mark.parametrize("given, final", [
    ("finished", "finished"), ("completed", "finished"), ("COMPLETE", "finished"), ("success", "finished"),
    ("done", "finished"), ("failed", "failed"), ("crashed", "failed"), ("error", "failed"),
    ("interrupted", "interrupted"), ("killed", "interrupted"), ("cancelled", "interrupted"),
    ("aborted", "interrupted"), ("terminated", "interrupted"),
])
def test_finish_status_aliases(given, final, api):
    run = rn.init(path="aliases")
    run.finish(given)
    assert run.status == final and run.is_finished
    assert api.run(run.id).status == final
    assert rn.get_active_run() is None


@pytest.mark.parametrize("bad", ["done-ish", "", "running", None, 3])
def test_finish_unknown_status_raises_and_keeps_the_run_open(bad, api):
    run = rn.init(path="aliases")
    with pytest.raises(ValueError, match="status"):
        run.finish(bad)
    assert not run.is_finished
    run.log({"still": 1})
    run.finish()
    view = api.run(run.id)
    assert view.status == "finished" and steps(view) == [1]


def test_active_run_follows_init_and_finish():
    assert rn.get_active_run() is None
    first = rn.init(path="active")
    assert rn.get_active_run() is first
    second = rn.init(path="active")
    assert rn.get_active_run() is second
    second.finish()
    assert rn.get_active_run() is None
    first.finish()


# -- resume --------------------------------------------------------------------------------------

def test_existing_run_id_without_resume_is_refused(api):
    run = rn.init(path="resume", run_id="exp-1")
    run.log({"a": 1})
    run.finish()
    before = sorted((p.name, p.read_bytes()) for p in run.run_dir.iterdir() if p.name != "heartbeat")
    with pytest.raises(RunExists, match="'exp-1'.*resume=True"):
        rn.init(path="resume", run_id="exp-1")
    with pytest.raises(RunExists, match="resume=True"):  # the same id under another path is taken too
        rn.init(path="elsewhere", run_id="exp-1")
    after = sorted((p.name, p.read_bytes()) for p in run.run_dir.iterdir() if p.name != "heartbeat")
    assert after == before, "never a silent overwrite"
    assert [v.id for v in api.runs()] == ["exp-1"]


def test_resume_continues_history_steps_and_status(script, api):
    first = script(PRELUDE + """
run = rn.init(path="resume/demo", run_id="exp-2", alias="a1", tags=["t"])
run.set_primary_metric("acc", mode="max")
run.log({"acc": 0.5}, stage="epoch_1")
run.log({"acc": 0.7}, step=5, stage="epoch_1")
run.log_text("first session")
run.summary({"first": 1})
run.finish()
""").run()
    assert first.returncode == 0, first.stderr
    assert api.run("exp-2").status == "finished"

    run = rn.init(path="resume/demo", run_id="exp-2", resume=True)
    view = api.run("exp-2")
    assert view.status == "running"
    assert len(status_record(view)["resumed_at"]) == 1
    assert (run.alias, run.tags, run.path) == ("a1", ["t"], "resume/demo")
    run.log({"acc": 0.6})  # auto-step follows the last logged step (5)
    run.log({"acc": 0.9, "note": "json row"}, stage="epoch_2")
    run.log_text("second session")
    run.summary({"second": 2})
    run.finish()

    view = api.run("exp-2")
    assert view.status == "finished"
    assert [(r["_step"], r["acc"], r.get("_stage")) for r in view.history()] == [
        (1, 0.5, "epoch_1"), (5, 0.7, "epoch_1"), (6, 0.6, None), (7, 0.9, "epoch_2")]
    assert view.summary == {"first": 1, "second": 2}
    assert view.primary_metric == {"name": "acc", "mode": "max", "best": 0.9, "step": 7}
    text = view.text_log()
    assert text.index("first session") < text.index("second session")
    assert view.created_at == read_state(view.run_dir / "run.json")["created_at"]


def test_resume_after_kill_9_with_a_torn_tail_keeps_the_new_rows_readable(script, api):
    proc = script(PRELUDE + """
run = rn.init(path="resume", run_id="exp-3")
for i in range(10):
    run.log({"a": i})
run.log_text("first")
print("ready", flush=True)
time.sleep(60)
""").start()
    assert read_line(proc) == "ready"
    view = wait_until(lambda: (v := api.run("exp-3")).history() and v.text_log() and v, what="a flush")
    proc.kill()
    proc.wait(timeout=15)
    assert api.run("exp-3").status == "crashed"
    # simulate a write torn by the kill in every append-only file
    with open(view.run_dir / "timeline.bin", "ab") as handle:
        handle.write(b"\x40\x00\x00\x00\x12\x34")
    with open(view.run_dir / "logs.txt", "ab") as handle:
        handle.write(b"[2026-01-01 00:00:00.000] tor")

    run = rn.init(path="resume", run_id="exp-3", resume=True)
    run.log({"a": 10})
    run.log_text("second")
    run.finish()
    view = api.run("exp-3")
    assert view.status == "finished"
    assert [r["a"] for r in view.history()] == list(range(11))
    assert [r["_step"] for r in view.history()] == list(range(1, 12))
    lines = view.text_log().splitlines()
    assert lines[-1].endswith("] second") and lines[-2].endswith("] tor")


def test_resume_unknown_run_is_run_not_found(storage):
    with pytest.raises(RunNotFound, match="'nope'"):
        rn.init(run_id="nope", resume=True)
    with pytest.raises(ValueError, match="run_id"):
        rn.init(resume=True)
    assert not (storage / "runs").exists() or not any((storage / "runs").rglob("run.json"))


# -- concurrency ----------------------------------------------------------------------------------

def test_two_processes_log_to_two_runs_under_one_root_at_once(script, api):
    worker = script(PRELUDE + """
name, count = sys.argv[1], int(sys.argv[2])
print("ready", flush=True)
sys.stdin.readline()  # start together
with rn.init(path="shared/sweep", run_id=name, alias=name) as run:
    for i in range(count):
        run.log({"who": name, "i": i, "v": i * 0.5})
        if i % 500 == 0:
            run.log_text(f"{name} at {i}")
""")
    import subprocess

    count = 20000
    procs = [worker.start(name, str(count), stdin=subprocess.PIPE) for name in ("left", "right")]
    for proc in procs:
        assert read_line(proc) == "ready"
    for proc in procs:
        proc.stdin.write("go\n")
        proc.stdin.flush()
    for proc in procs:
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
    assert sorted(v.id for v in api.runs("shared")) == ["left", "right"]
    for name in ("left", "right"):
        view = api.run(name)
        assert view.status == "finished" and view.alias == name
        rows = view.history()
        assert [r["i"] for r in rows] == list(range(count))
        assert {r["who"] for r in rows} == {name}
        assert [r["_step"] for r in rows] == list(range(1, count + 1))
        text_lines = view.text_log().splitlines()
        assert len(text_lines) == count // 500 and all(f"] {name} at " in line for line in text_lines)
