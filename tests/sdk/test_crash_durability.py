"""A kill -9 during heavy logging loses at most the last second of rows, and what remains reads back cleanly."""

from __future__ import annotations

import time

from runicorn.runfolder.jsonio import read_state
from common_support import wait_until
from sdk_support import read_line

# The child logs as fast as it can (auto-steps 1, 2, 3, ...) and, every CHECKPOINT rows, appends
# "<step> <time.time()>" to a side file: "by this wall-clock time, rows 1..step had been logged".
HEAVY_LOGGER = """\
import sys, time
import runicorn as rn

progress = open(sys.argv[1], "a", buffering=1)
run = rn.init(path="durability", run_id="heavy")
print("ready", flush=True)
step = 0
while True:
    step += 1
    run.log({"loss": 1.0 / step, "acc": 0.5, "step_copy": step, "flag": step % 2 == 0})
    if step % 1000 == 0:
        progress.write(f"{step} {time.time()!r}\\n")
"""


def test_kill_9_during_heavy_logging_loses_at_most_the_last_second(script, api, tmp_path):
    progress = tmp_path / "progress.txt"
    proc = script(HEAVY_LOGGER).start(str(progress))
    try:
        assert read_line(proc) == "ready"
        # let it log for a while: at least ~2 s of checkpoints, so that "1 s before the kill" has rows
        started = time.time()
        wait_until(lambda: progress.exists() and _checkpoints(progress)
                   and _checkpoints(progress)[-1][1] - started > 2.0, what="2 s of logging")
        killed_at = time.time()
        proc.kill()
        proc.wait(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    checkpoints = _checkpoints(progress)
    must_have = max(step for step, when in checkpoints if when <= killed_at - 1.0)
    assert must_have >= 1000

    view = api.run("heavy")
    assert view.status == "crashed"
    rows = view.history()  # torn tail tolerated: no exception
    count = len(rows)
    assert count >= must_have, f"lost rows logged more than 1 s before the kill: {count} < {must_have}"
    # the readable part is exactly the logged prefix, values intact
    assert [row["_step"] for row in rows] == list(range(1, count + 1))
    assert all(row["step_copy"] == row["_step"] and row["loss"] == 1.0 / row["_step"]
               and row["flag"] == (row["_step"] % 2 == 0) for row in rows)
    assert count <= checkpoints[-1][0] + 1000
    assert read_state(view.run_dir / "status.json")["status"] == "running"
    assert view.history(["acc"])[-1] == {"_step": count, "acc": 0.5}


def _checkpoints(path) -> list[tuple[int, float]]:
    """The complete lines of the side file (the child may be mid-line)."""
    points = []
    for line in path.read_text().splitlines(keepends=True):
        if line.endswith("\n"):
            step, when = line.split()
            points.append((int(step), float(when)))
    return points
