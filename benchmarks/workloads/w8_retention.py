"""W8: retention. A sweep of runs that each overwrite one checkpoint every epoch, then keep the best 3.

Phase "sweep" (both sides): `runs` runs in one process; each sets the primary metric val_acc (max) and, for
`epochs` epochs, overwrites checkpoints/last.pt with `size_mib` MiB of fresh random bytes, logs val_acc and
archives the folder in the default (rolling) mode. BENCH.md says "under watch_outputs"; a watcher's thread
decides how many of the overwritten versions it sees, so the bytes stored would depend on timing: each epoch
calls `scan_outputs_once(output_dirs=[...], stable_required=1, min_age_sec=0)` instead, what a watcher that
keeps up with every epoch would archive. Writing the checkpoints is not timed; init, log, scan and finish are.

Phase "retain" (ours; the peer has no retention command, so "n/a"): `gc --grace 0s`, then
`forget bench/w8 --keep-best 3 --drop-assets --yes` and `gc --grace 0s` again, each timed as a command
(process start-up included), with the bytes on disk after each; then a check that exactly the 3 best runs
(by the values the sweep logged) still hold their outputs and that `verify` is ok.
"""

import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

import runicorn as rn
from common import MiB, Params, Report, disk_bytes, run_phases, stopwatch, storage_root, write_random_file

PATH = "bench/w8"


def sweep(params: Params, report: Report) -> None:
    root = storage_root(params)
    size = params.size_mib * MiB
    seconds, best = 0.0, {}
    for index in range(params.runs):
        folder = Path(params.workdir) / f"outputs_{index}" / "checkpoints"
        folder.mkdir(parents=True)
        rng = random.Random(8000 + index)
        accuracies = [rng.random() for _ in range(params.epochs)]
        with stopwatch() as watch:
            run = rn.init(path=PATH, storage=str(root))
            run.set_primary_metric("val_acc", mode="max")
        seconds += watch.seconds
        for epoch, accuracy in enumerate(accuracies, 1):
            write_random_file(folder / "last.pt", size, rng)
            past = time.time() - 3600 + epoch  # an mtime of its own per epoch, whatever the clock's resolution
            os.utime(folder / "last.pt", (past, past))
            with stopwatch() as watch:
                run.log({"val_acc": accuracy}, step=epoch)
                run.scan_outputs_once(output_dirs=[str(folder)], stable_required=1, min_age_sec=0)
            seconds += watch.seconds
        with stopwatch() as watch:
            run.finish()
        seconds += watch.seconds
        best[run.id] = max(accuracies)
        shutil.rmtree(folder.parent)
    report.add("checkpoint bytes written", params.runs * params.epochs * size, "bytes")
    report.add("sweep time (init, log, scan, finish)", seconds, "s")
    report.add("bytes stored after the sweep", disk_bytes(root), "bytes")
    (Path(params.workdir) / "best.json").write_text(json.dumps(best))


def retain(params: Params, report: Report) -> None:
    labels = ["gc --grace 0s after the sweep", "bytes stored after gc --grace 0s",
              f"forget --keep-best {params.keep_best} --drop-assets", "bytes gc frees, as the plan says",
              "gc --grace 0s after forget", "bytes stored after forget and gc",
              f"lower bound: {params.keep_best} × last.pt", "kept outputs, check"]
    if params.side != "ours":
        for label in labels:
            report.add(label, "n/a")
        return
    root = storage_root(params)
    size = params.size_mib * MiB
    gc = ["gc", "--grace", "0s", "--json"]
    if command(report, labels[0], root, gc) is None:
        return
    report.add(labels[1], disk_bytes(root), "bytes")
    plan = command(report, labels[2], root, ["forget", PATH, "--keep-best", str(params.keep_best), "--drop-assets",
                                             "--yes", "--json"])
    if plan is None:
        return
    report.add(labels[3], plan["freed_bytes"], "bytes")
    if command(report, labels[4], root, gc) is None:
        return
    report.add(labels[5], disk_bytes(root), "bytes")
    report.add(labels[6], params.keep_best * size, "bytes")
    report.add(labels[7], check_kept(params, root))


def check_kept(params: Params, root: Path) -> str:
    """ok when exactly the best runs kept their outputs (the others' were dropped) and verify passes."""
    best = json.loads((Path(params.workdir) / "best.json").read_text())
    wanted = set(sorted(best, key=lambda run: -best[run])[: params.keep_best])
    listed = cli(root, ["ls", PATH, "--json"])
    kept = {run["id"] for run in listed if not run["assets_dropped"]}
    if len(listed) != params.runs or kept != wanted:
        return f"mismatch: {len(listed)} runs listed, outputs kept by {sorted(kept)}, best {sorted(wanted)}"
    if not cli(root, ["verify", "--json"])["ok"]:
        return "mismatch: verify failed"
    return "ok"


def command(report: Report, label: str, root: Path, args: list[str]):
    """Run `runicorn --storage ROOT ARGS` and report its time; return its JSON output, or None on failure."""
    try:
        with stopwatch() as watch:
            output = cli(root, args)
    except RuntimeError as exc:
        report.add(label, f"error: {exc}")
        return None
    report.add(label, watch.seconds, "s")
    return output


def cli(root: Path, args: list[str]):
    runicorn = Path(sys.executable).parent / "runicorn"
    done = subprocess.run([str(runicorn), "--storage", str(root), *args], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True)
    if done.returncode != 0:
        lines = (done.stderr.strip() or done.stdout.strip() or f"exit code {done.returncode}").splitlines()
        raise RuntimeError(lines[-1])
    return json.loads(done.stdout)


if __name__ == "__main__":
    run_phases({"sweep": sweep, "retain": retain})
