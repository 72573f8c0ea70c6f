"""Helpers of the retention tests: the CLI in process, checkpoints a training loop writes, disk and store views.

Run as a script, this module is the training loop of the kill -9 test (``loop_until_killed``): it archives
one checkpoint per epoch with ``scan_outputs_once``, reports each finished scan on stdout, and after scan
``k`` writes the next epoch's checkpoint and waits to be killed.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
from pathlib import Path

from click.testing import CliRunner

import runicorn as rn
from runicorn.api import Api
from runicorn.cli import cli
from runicorn.store.ids import hash_bytes

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "cli"))  # also when run as a script
from cli_support import disk_state, object_files  # noqa: E402,F401 - shared with the retention tests

MiB = 1024 * 1024
# Checkpoint mtimes are set explicitly, one second apart and in the past: the archiver tells versions apart by
# size and mtime, and two same-sized writes within one coarse clock tick would otherwise look unchanged.
MTIME_BASE = time.time() - 10 * 24 * 3600


class Invoker:
    """``invoke(*args)``: the CLI in process through click's CliRunner, always with an absolute ``--storage``."""

    def __init__(self, storage_root):
        self.storage_root = storage_root

    def __call__(self, *args, input=None, expect=None):
        runner = CliRunner()
        argv = ["--storage", str(self.storage_root), *map(str, args)]
        result = runner.invoke(cli, argv, input=input)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception.with_traceback(result.exc_info[2])
        if expect is not None:
            assert result.exit_code == expect, f"runicorn {' '.join(map(str, args))}: exit {result.exit_code}, " \
                                               f"wanted {expect}:\n{result.output}"
        return result

    def json(self, *args):
        """Run a command that must succeed and print JSON; return what it printed."""
        return json.loads(self(*args, expect=0).stdout)


# -- checkpoints --------------------------------------------------------------------


def epoch_bytes(seed: int, epoch: int, size: int = MiB) -> bytes:
    """The checkpoint of one epoch: random bytes, distinct per (seed, epoch)."""
    return random.Random(f"{seed}-{epoch}").randbytes(size)


def write_checkpoint(path: Path, data: bytes, epoch: int, *, atomic: bool = False) -> None:
    """Overwrite ``path`` with ``data`` (in place, or through a temp file and a rename) and give it an mtime
    of its own (``MTIME_BASE + epoch`` seconds)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    target = path.with_name(path.name + ".partial") if atomic else path
    with open(target, "wb") as f:
        f.write(data)
    mtime_ns = int((MTIME_BASE + epoch) * 1e9)
    os.utime(target, ns=(mtime_ns, mtime_ns))
    if atomic:
        os.replace(target, path)


def oid(data: bytes) -> str:
    return str(hash_bytes(data))


# -- disk and store ------------------------------------------------------------------


def run_folder(root: Path, run_id: str) -> Path:
    return Api(root).run(run_id).run_dir


def set_created_at(run_dir: Path, created_at: float) -> None:
    """Move a run in time: rewrite ``created_at`` in its ``run.json`` (a JSON state file, replaced atomically)."""
    path = run_dir / "run.json"
    identity = json.loads(path.read_text())
    identity["created_at"] = created_at
    temp = path.with_name(".run.json.test.tmp")
    temp.write_text(json.dumps(identity, indent=1))
    os.replace(temp, path)


def manifest_lines(root: Path, run_id: str) -> list[dict]:
    text = (run_folder(root, run_id) / "manifest.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def restored_file(folder: Path, rel: str = "checkpoints/last.pt") -> bytes:
    return (folder / rel).read_bytes()


# -- the training loop killed with SIGKILL -----------------------------------------------


def loop_until_killed(root: str, outputs: str, mode: str, seed: int, stop_after: int) -> None:
    """Epochs 1, 2, ...: write last.pt, log, scan; say "scanned <e>" after each scan. After scan
    ``stop_after``, write the next epoch's last.pt (never scanned), say "wrote <e+1>" and wait for SIGKILL."""
    checkpoints = Path(outputs) / "checkpoints"
    run = rn.init(path="kill/loop", storage=root, run_id="killed")
    run.set_primary_metric("loss", mode="min")
    checkpoints.mkdir(parents=True, exist_ok=True)
    (checkpoints / "config.json").write_text('{"layers": 4}\n')
    epoch = 0
    while True:
        epoch += 1
        write_checkpoint(checkpoints / "last.pt", epoch_bytes(seed, epoch), epoch)
        run.log({"loss": 1.0 / epoch}, step=epoch * 10)
        run.scan_outputs_once(output_dirs=[checkpoints], stable_required=1, min_age_sec=0, mode=mode)
        print(f"scanned {epoch}", flush=True)
        if epoch == stop_after:
            write_checkpoint(checkpoints / "last.pt", epoch_bytes(seed, epoch + 1), epoch + 1)
            print(f"wrote {epoch + 1}", flush=True)
            while True:
                time.sleep(3600)


if __name__ == "__main__":
    loop_until_killed(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
