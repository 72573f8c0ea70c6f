"""W4: saving a 300 MiB, 300-file dataset, then the same unchanged dataset in a second run.

Each phase is its own process, like two training runs. "first" also times
`cat` over the dataset, warm cache, as the reference for ingest speed
(SPEC §7: ingest at least half the speed of reading the files).
"""

import random
import subprocess
from pathlib import Path

import runicorn as rn
from common import (
    MiB, Params, Report, cached_input, disk_bytes, run_phases, storage_root, write_random_file,
)

DATASET_FILES, DATASET_FILE_SIZE = 300, 1 * MiB
DATASET_BYTES = DATASET_FILES * DATASET_FILE_SIZE


def first(params: Params, report: Report) -> None:
    dataset = cached_input(params, "w4-dataset", build_dataset)
    files = sorted(str(path) for path in dataset.rglob("*") if path.is_file())
    read_all = ["cat", *files]
    subprocess.run(read_all, stdout=subprocess.DEVNULL, check=True)  # warm the page cache
    with report.timed("cat > /dev/null, warm cache") as cat:
        subprocess.run(read_all, stdout=subprocess.DEVNULL, check=True)
    seconds = save_dataset(params, report, dataset, "first")
    report.add("ingest speed, first", DATASET_BYTES / seconds, "bytes/s")
    report.add("ingest speed / cat speed", cat.seconds / seconds, "ratio")


def unchanged(params: Params, report: Report) -> None:
    save_dataset(params, report, Path(params.cache_dir) / "w4-dataset", "unchanged")


def save_dataset(params: Params, report: Report, dataset: Path, label: str) -> float:
    """One run that saves the dataset; report the call's time and the bytes the run added."""
    root = storage_root(params)
    before = disk_bytes(root) if root.exists() else 0
    run = rn.init(path="bench/w4", storage=str(root))
    with report.timed(f"log_dataset(save=True), {label}") as call:
        run.log_dataset("train", str(dataset), save=True)
    run.finish()
    report.add(f"bytes added, {label}", disk_bytes(root) - before, "bytes")
    return call.seconds


def build_dataset(target: Path) -> None:
    rng = random.Random(5)
    for n in range(DATASET_FILES):
        write_random_file(target / f"class_{n % 10}" / f"sample_{n:03d}.bin", DATASET_FILE_SIZE, rng)


if __name__ == "__main__":
    run_phases({"first": first, "unchanged": unchanged})
