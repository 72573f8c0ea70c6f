"""Run the BENCH.md workloads against our runicorn and the peer (0.7.2), print one table.

    python benchmarks/run.py [--quick] [--full] [--only W1,W3] [--side ours|peer] [--json out.json]

Ours is this interpreter (runicorn installed with `pip install -e .`); the
peer is runicorn 0.7.2 in its own venv (see peer.py). Every workload phase
runs in a child process of the interpreter under test; see README.md.
"""

import argparse
import datetime
import json
import os
import platform
import shutil
import stat
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import catalog
import child
import peer
import report


@dataclass(frozen=True)
class Invocation:
    """What every child of one harness invocation shares."""

    temp: Path  # the invocation's temp folder: reps, input cache, private HOME
    env: dict
    quick: bool
    timeout: float


def main() -> None:
    args = parse_args()
    try:
        workloads = catalog.select(args.only, args.full)
    except ValueError as exc:
        sys.exit(f"run.py: {exc}")
    repetitions = 1 if args.quick else 3
    sides = {}
    if args.side in ("both", "ours"):
        sides["ours"] = Path(sys.executable)
    if args.side in ("both", "peer"):
        sides["peer"] = peer.ensure_peer_python()

    temp = Path(tempfile.mkdtemp(prefix="runicorn-bench-"))
    try:
        (temp / "home").mkdir()
        invocation = Invocation(temp, child.child_env(temp / "home"), args.quick, args.timeout)
        header = describe_run(sides, invocation, repetitions)
        header["workloads"] = {w.id: w.describe(args.quick) for w in workloads}
        results = report.Results()
        for repetition in range(1, repetitions + 1):
            for side, python in sides.items():
                rep_dir = temp / f"rep{repetition}-{side}"
                for workload in workloads:
                    label = f"rep {repetition}/{repetitions} {side} {workload.id}"
                    metrics = run_workload(workload, side, python, rep_dir, invocation, label)
                    results.add(workload.id, side, metrics)
                if not args.keep_temp:
                    remove_tree(rep_dir)
    finally:
        if args.keep_temp:
            print(f"kept the temp folder {temp}", file=sys.stderr)
        else:
            remove_tree(temp)

    print_header(header)
    print(report.render_table(results))
    if args.json:
        Path(args.json).write_text(json.dumps({**header, "results": results.as_json()}, indent=2))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 repetition instead of 3, fewer W3 runs, a smaller W8")
    parser.add_argument("--full", action="store_true", help="also run W1b (200,000 calls)")
    parser.add_argument("--only", type=lambda s: s.split(","), help="comma-separated ids, e.g. W1,W3")
    parser.add_argument("--side", choices=("both", "ours", "peer"), default="both")
    parser.add_argument("--json", metavar="FILE", help="also write every measured value as JSON")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per child phase (default 1800)")
    parser.add_argument("--keep-temp", action="store_true",
                        help="keep the temp folder, to inspect roots and stderr logs")
    return parser.parse_args()


def run_workload(workload: catalog.Workload, side: str, python: Path, rep_dir: Path,
                 invocation: Invocation, label: str) -> list:
    """Run every phase of one workload; a failed phase ends the workload with an error row."""
    workdir = rep_dir / workload.id
    params = {**workload.params_for(invocation.quick), "side": side, "workdir": str(workdir),
              "cache_dir": str(invocation.temp / "cache")}
    if workload.needs:
        params[f"{workload.needs.lower()}_workdir"] = str(rep_dir / workload.needs)
    metrics = []
    for phase in workload.phases:
        start = time.perf_counter()
        result = child.run_phase(python, workload.script, {**params, "phase": phase}, workdir,
                                 invocation.env, invocation.timeout)
        outcome = result.error or "ok"
        print(f"{label} {phase}: {time.perf_counter() - start:.1f} s, {outcome}", file=sys.stderr, flush=True)
        if result.error:
            metrics.append((f"phase {phase}", result.error, ""))
            break
        metrics += result.metrics
    return metrics


def describe_run(sides: dict, invocation: Invocation, repetitions: int) -> dict:
    return {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": f"{platform.platform()}, {os.cpu_count()} CPUs",
        "repetitions": repetitions,
        "sides": {side: child.describe_interpreter(python, invocation.env, invocation.temp)
                  for side, python in sides.items()},
    }


def print_header(header: dict) -> None:
    print(f"{header['date']}  {header['machine']}  repetitions: {header['repetitions']}")
    for side, description in header["sides"].items():
        print(f"{side}: {description}")
    for workload_id, title in header["workloads"].items():
        print(f"{workload_id}: {title}")
    print()


def remove_tree(path: Path) -> None:
    """rmtree that also removes read-only files and folders (store objects are read-only)."""
    def make_writable_and_retry(function, failed_path, _):
        os.chmod(os.path.dirname(failed_path), stat.S_IRWXU)
        os.chmod(failed_path, stat.S_IRWXU)
        function(failed_path)

    if path.exists():
        shutil.rmtree(path, onerror=make_writable_and_retry)


if __name__ == "__main__":
    main()
