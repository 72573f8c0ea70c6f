"""W3: output archiving across a sweep of runs that share most of their bytes.

Each run writes 5 checkpoints of 20 MiB whose first 16 MiB are the same in
every file and run (a frozen backbone) and whose last 4 MiB are random per
file, plus 3 small files identical in every run, then archives them with
scan_outputs_once. Writing the files is not timed; init, scan and finish are.
The run ids go to run_ids.json in the workdir, for W6 to operate on.
"""

import json
import random
import shutil
import statistics
from pathlib import Path

import runicorn as rn
from common import (
    MiB, Params, Report, disk_bytes, run_phases, stopwatch, storage_root, write_random_file,
)

CHECKPOINTS_PER_RUN = 5
CHECKPOINT_SIZE, SHARED_PREFIX_SIZE = 20 * MiB, 16 * MiB
SMALL_FILES = {"config.yaml": 2_000, "vocab.txt": 30_000, "labels.json": 5_000}


def sweep(params: Params, report: Report) -> None:
    root = storage_root(params)
    shared_prefix = random.Random(4).randbytes(SHARED_PREFIX_SIZE)
    small_files = {name: random.Random(name).randbytes(size) for name, size in SMALL_FILES.items()}
    run_seconds, run_ids, logical = [], [], 0
    for index in range(params.runs):
        outputs = Path(params.workdir) / f"outputs_{index}"
        logical += write_outputs(outputs, index, shared_prefix, small_files)
        run_id, seconds = archive_run(root, outputs)
        run_ids.append(run_id)
        run_seconds.append(seconds)
        shutil.rmtree(outputs)

    physical = disk_bytes(root)
    random_tails = params.runs * CHECKPOINTS_PER_RUN * (CHECKPOINT_SIZE - SHARED_PREFIX_SIZE)
    unique = SHARED_PREFIX_SIZE + random_tails + sum(SMALL_FILES.values())
    report.add("logical bytes (outputs offered)", logical, "bytes")
    report.add("unique bytes (lower bound)", unique, "bytes")
    report.add("physical bytes added to the root", physical, "bytes")
    report.add("dedup ratio (logical / physical)", logical / physical, "ratio")
    report.add("total time", sum(run_seconds), "s")
    report.add("first run", run_seconds[0], "s")
    if len(run_seconds) > 1:
        report.add("per run after the first (median)", statistics.median(run_seconds[1:]), "s")
    (Path(params.workdir) / "run_ids.json").write_text(json.dumps(run_ids))


def write_outputs(outputs: Path, index: int, shared_prefix: bytes, small_files: dict[str, bytes]) -> int:
    """Write one run's checkpoints and small files; return their total size."""
    rng = random.Random(1000 + index)
    for n in range(CHECKPOINTS_PER_RUN):
        write_random_file(outputs / f"epoch_{n}.ckpt", CHECKPOINT_SIZE, rng, prefix=shared_prefix)
    for name, content in small_files.items():
        (outputs / name).write_bytes(content)
    return CHECKPOINTS_PER_RUN * CHECKPOINT_SIZE + sum(len(c) for c in small_files.values())


def archive_run(root: Path, outputs: Path) -> tuple[str, float]:
    """One run that archives `outputs` at once; return its id and its wall time."""
    with stopwatch() as watch:
        run = rn.init(path="bench/w3", storage=str(root))
        # One look and no minimum age: the files are complete, so archive them now.
        run.scan_outputs_once(output_dirs=[str(outputs)], stable_required=1, min_age_sec=0)
        run.finish()
    return run.id, watch.seconds


if __name__ == "__main__":
    run_phases({"sweep": sweep})
