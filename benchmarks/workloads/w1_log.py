"""W1/W1b: one run logs N rows of 10 float scalars; a fresh process reads them back.

Phase "write" times rn.init, the run.log loop and finish(), and the log rate
over the first and the last 1,000 calls, because the peer's cost per call
grows with the length of the run. Phase "read" runs in a new process and
checks every value against what was logged.
"""

import json
import random
import time
from pathlib import Path

from common import Params, Report, disk_bytes, run_phases, storage_root

METRIC_KEYS = [f"metric_{k}" for k in range(10)]


def make_row_pool(size: int = 1000) -> list[dict[str, float]]:
    """Rows come from a small pool so that the inputs do not inflate peak memory."""
    rng = random.Random(1)
    return [{key: rng.random() for key in METRIC_KEYS} for _ in range(size)]


# The row logged at step i is ROW_POOL[i % len(ROW_POOL)].
ROW_POOL = make_row_pool()
WINDOW = 1000  # calls per rate sample; also how often the time budget is checked


def write(params: Params, report: Report) -> None:
    with report.timed("import runicorn"):
        import runicorn as rn
    root = storage_root(params)
    with report.timed("rn.init"):
        run = rn.init(path="bench/w1", storage=str(root))

    deadline = time.perf_counter() + (params.budget_sec or float("inf"))
    window_rates = []
    start = window_start = time.perf_counter()
    for step in range(params.calls):
        run.log(ROW_POOL[step % len(ROW_POOL)], step=step)
        if (step + 1) % WINDOW == 0:
            now = time.perf_counter()
            window_rates.append(WINDOW / (now - window_start))
            window_start = now
            if now > deadline:
                break
    elapsed = time.perf_counter() - start
    calls = step + 1

    if calls < params.calls:
        report.add("calls done (time budget hit)", calls, "count")
    report.add("log time per call", elapsed / calls, "s")
    report.add("log calls/s", calls / elapsed, "rate")
    report.add("log calls/s, first 1,000", window_rates[0], "rate")
    report.add("log calls/s, last 1,000", window_rates[-1], "rate")
    with report.timed("finish()"):
        run.finish()
    report.add("bytes written", disk_bytes(root), "bytes")
    (Path(params.workdir) / "calls.json").write_text(json.dumps(calls))


def read(params: Params, report: Report) -> None:
    calls = json.loads((Path(params.workdir) / "calls.json").read_text())
    root = storage_root(params)
    if params.side == "ours":
        read_rows, step_key = read_rows_ours, "_step"
    else:
        read_rows, step_key = read_rows_peer, "global_step"
    with report.timed("read back every value"):
        rows = read_rows(root)
    report.add("values read back", sum(key in row for row in rows for key in METRIC_KEYS), "count")
    report.add("read-back check", check_rows(rows, step_key, calls))


def read_rows_ours(root: Path) -> list[dict]:
    """Every timeline row of every run, through our read API (rows carry "_step").

    ADAPT HERE when the read API changes: this is the only place that uses it.
    """
    import runicorn as rn

    api = rn.Api(storage=str(root))
    return [row for run in api.runs() for row in api.run(run.id).history()]


def read_rows_peer(root: Path) -> list[dict]:
    """The peer's timeline: runs/<path>/<id>/events.jsonl, one JSON event a line.

    Its rows carry the step as "global_step".
    """
    rows = []
    for events in root.glob("runs/**/events.jsonl"):
        with open(events) as f:
            for line in f:
                event = json.loads(line)
                if event.get("type") == "metrics":
                    rows.append(event["data"])
    return rows


def check_rows(rows: list[dict], step_key: str, calls: int) -> str:
    """'ok' when every logged row came back exactly once with the values logged."""
    steps = {row[step_key] for row in rows}
    if len(rows) != calls or steps != set(range(calls)):
        return f"MISMATCH: {len(rows)} rows, {len(steps)} distinct steps, for {calls} calls"
    wrong = sum(
        1 for row in rows
        if any(row.get(key) != ROW_POOL[row[step_key] % len(ROW_POOL)][key] for key in METRIC_KEYS)
    )
    return "ok" if wrong == 0 else f"MISMATCH: {wrong} rows differ"


if __name__ == "__main__":
    run_phases({"write": write, "read": read})
