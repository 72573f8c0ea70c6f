"""W9: scale. A root of `runs` runs × 10 steps, and what a user runs on it, each as its own process.

Phase "build" writes the root (common.many_runs, as W7 does). Phase "commands" runs, one process each, timed
from outside with process start-up included, and reports each one's wall time and peak RSS (from wait4):
`ls` with the run index cold (a fresh cache folder), then with it warm: `ls`, `ls --json`, the read API's
run list with status and primary metric, `du`, `gc --dry-run`, `verify`.

The peer (0.7.2) has no command that lists runs (`manage --action search` lists only experiments registered
with its ExperimentManager, which `rn.init` does not do: it finds 0), no du, gc or verify: those are "n/a".
Its run list is `runicorn.storage.file_utils.iter_all_runs`, what its viewer lists runs with; it finds the
folders only, so it does less than our list, which reads each run's status and primary metric.
"""

import os
import subprocess
import sys
from pathlib import Path

from common import Params, Report, many_runs, run_phases, stopwatch

PATH = "bench/w9"

OUR_RUN_LIST = ("import sys, runicorn as rn; views = rn.Api(sys.argv[1]).runs(); "
                "[(v.status, v.primary_metric) for v in views]; print(len(views))")
PEER_RUN_LIST = ("import sys; from pathlib import Path; from runicorn.storage.file_utils import iter_all_runs; "
                 "print(len(iter_all_runs(Path(sys.argv[1]))))")


def build(params: Params, report: Report) -> None:
    with report.timed(f"build: {params.runs:,} runs × 10 steps"):
        many_runs(params.side, Path(params.workdir) / "root", params.runs, PATH)


def commands(params: Params, report: Report) -> None:
    root = str(Path(params.workdir) / "root")
    cache = Path(params.workdir) / "cache"  # the run index lives here: fresh, so the first listing is cold
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    cli = str(Path(sys.executable).parent / "runicorn")
    ours = params.side == "ours"
    run_list = [sys.executable, "-c", OUR_RUN_LIST if ours else PEER_RUN_LIST, root]
    steps = [
        ("ls (cold run index)", [cli, "--storage", root, "ls"] if ours else None),
        ("ls", [cli, "--storage", root, "ls"] if ours else None),
        ("ls --json", [cli, "--storage", root, "ls", "--json"] if ours else None),
        ("read API: the run list", run_list),
        ("du", [cli, "--storage", root, "du"] if ours else None),
        ("gc --dry-run", [cli, "--storage", root, "gc", "--dry-run"] if ours else None),
        ("verify", [cli, "--storage", root, "verify"] if ours else None),
    ]
    for label, argv in steps:
        measure(report, label, argv, env)


def measure(report: Report, label: str, argv: list[str] | None, env: dict) -> None:
    """Run one command; report its wall time and its own peak RSS, or "n/a", or its last error line."""
    if argv is None:
        report.add(label, "n/a")
        report.add(f"{label}: peak RSS", "n/a")
        return
    with stopwatch() as watch:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                env=env)
        stderr = proc.stderr.read()
        _, status, rusage = os.wait4(proc.pid, 0)
        proc.stderr.close()
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        lines = stderr.decode(errors="replace").strip().splitlines() or [f"exit code {code}"]
        report.add(label, f"error: {lines[-1]}")
        return
    report.add(label, watch.seconds, "s")
    report.add(f"{label}: peak RSS", rusage.ru_maxrss * 1024, "bytes")  # Linux reports KiB


if __name__ == "__main__":
    run_phases({"build": build, "commands": commands})
