"""Child side of the harness, shared by every workload script.

A workload script runs under the interpreter being measured (ours or the
peer's venv) as `python wN_x.py '<params json>'`. It generates its inputs
outside the timed sections, times what it measures with time.perf_counter,
and ends by printing one JSON object on stdout:
`{"metrics": [[name, value, unit], ...]}`, where unit is one of "s",
"bytes", "rate" (per second), "bytes/s", "ratio", "count", or "" for text.
"""

import json
import os
import random
import shutil
import stat
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

Params = SimpleNamespace
MiB = 1024 * 1024


class Report:
    """The metrics one phase reports, in the order it measured them."""

    def __init__(self) -> None:
        self.metrics: list[list] = []

    def add(self, name: str, value: object, unit: str = "") -> None:
        self.metrics.append([name, value, unit])

    @contextmanager
    def timed(self, name: str) -> Iterator["Stopwatch"]:
        """Report the wall time of the `with` body as `name`."""
        with stopwatch() as watch:
            yield watch
        self.add(name, watch.seconds, "s")


class Stopwatch:
    seconds: float = 0.0


@contextmanager
def stopwatch() -> Iterator[Stopwatch]:
    """Measure the `with` body; the time is in `.seconds` once the body is done."""
    watch = Stopwatch()
    start = time.perf_counter()
    yield watch
    watch.seconds = time.perf_counter() - start


def run_phases(phases: dict[str, Callable[[Params, Report], None]]) -> None:
    """Entry point of a workload script: run the phase named in the params, print the report."""
    params = Params(**json.loads(sys.argv[1]))
    # Keep stdout for our JSON alone: whatever the SDK under test prints goes to stderr.
    report_stream = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    report = Report()
    phases[params.phase](params, report)
    json.dump({"metrics": report.metrics}, report_stream)
    report_stream.close()


def storage_root(params: Params) -> Path:
    """The storage root a workload writes into: fresh for every repetition."""
    return Path(params.workdir) / "root"


def disk_usage(root: Path) -> tuple[int, int]:
    """(bytes, files) of the regular files under root, counting hard links once."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            st = os.lstat(os.path.join(dirpath, name))
            if not stat.S_ISREG(st.st_mode) or (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            total += st.st_size
    return total, len(seen)


def disk_bytes(root: Path) -> int:
    return disk_usage(root)[0]


def write_random_file(path: Path, size: int, rng: random.Random, prefix: bytes = b"") -> None:
    """Write `prefix` followed by random bytes up to `size` bytes in total."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.write(prefix)
        remaining = size - len(prefix)
        while remaining > 0:
            chunk = min(remaining, 4 * MiB)
            f.write(rng.randbytes(chunk))
            remaining -= chunk


def cached_input(params: Params, name: str, build: Callable[[Path], None]) -> Path:
    """A read-only input built once per harness invocation and shared by reps and sides.

    Only for inputs that no workload modifies and whose generation would
    dominate the harness's own run time (hundreds of MB on a small machine).
    """
    target = Path(params.cache_dir) / name
    if not target.exists():
        partial = target.with_name(name + ".partial")
        build(partial)
        partial.rename(target)
    return target


def many_runs(side: str, root: Path, count: int, path: str) -> None:
    """`count` runs × 10 steps at `path`/g0 … g19 (W7, W9). Ours writes each through the SDK; the peer
    (rn.init costs it ~0.35 s) writes one and copies it under new ids, then drops its SQLite index, which
    it rebuilds from the folders."""
    import runicorn as rn

    if side == "ours":
        for i in range(count):
            run = rn.init(path=f"{path}/g{i % 20}", storage=str(root), alias=f"r{i}")
            run.set_primary_metric("acc", mode="max")
            for step in range(10):
                run.log({"loss": 1 / (step + 1 + i % 7), "acc": step / 10 + i % 13 / 1000}, step=step)
            run.finish()
        return
    run = rn.init(path=f"{path}/g0", storage=str(root), alias="r0")
    run.set_primary_metric("acc", mode="max")
    for step in range(10):
        run.log({"loss": 1 / (step + 1), "acc": step / 10}, step=step)
    run.finish()
    template = Path(run.run_dir) if hasattr(run, "run_dir") else next((root / "runs").rglob("meta.json")).parent
    for i in range(1, count):
        new_id = f"{template.name[:16]}{i:06d}"[:22]
        target = root / "runs" / path / f"g{i % 20}" / new_id
        shutil.copytree(template, target)
        meta = json.loads((target / "meta.json").read_text())
        meta.update(id=new_id, alias=f"r{i}", path=f"{path}/g{i % 20}")
        (target / "meta.json").write_text(json.dumps(meta))
    for name in ("runicorn.db", "runicorn.db-wal", "runicorn.db-shm"):  # rebuilt from the folders at start
        (root / name).unlink(missing_ok=True)
