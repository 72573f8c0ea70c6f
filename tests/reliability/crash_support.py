"""Helpers of the crash matrix: source folders, the SDK child program, calibration, and what a crash may leave.

A crash point is ``RUNICORN_TEST_CRASH_AFTER=<what>:<n>`` (``runicorn/store/faults.py``). The points are
computed from what an operation really writes: a calibration child runs the same program with a limit it
never reaches and records every temp-file write (its file and the running byte count) and every object it
publishes, so a test can aim at "the first object", "half of the objects" or "the last temp write".
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from runicorn.store.faults import ENV

from cli_support import file_tree
from reliability_support import run_python

KILLED = -signal.SIGKILL  # subprocess.run's returncode for a child that died of SIGKILL
NEVER = 10 ** 15  # a limit no operation here reaches: the counter counts, nothing dies
TEMP_NAME = re.compile(r"\..*\.tmp")  # every temp name Runicorn writes (docs/format.md, 2.1)


def crash_env(kind: str, count: int) -> dict:
    return {ENV: f"{kind}:{count}"}


# -- source folders ------------------------------------------------------------------


def _write(path: Path, data: bytes, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.chmod(path, mode)


def _seeded(seed: int, size: int) -> bytes:
    return np.random.default_rng(seed).bytes(size)


def make_dataset(folder: Path) -> Path:
    """31 files, about 5.3 MB: shards, a file of three store chunks (1 MiB each), text, an executable."""
    for i in range(20):
        _write(folder / "train" / f"shard-{i:02d}.bin", _seeded(100 + i, 60_000 + 7_000 * i))
    for i in range(6):
        _write(folder / "val" / f"part-{i}.bin", _seeded(200 + i, 40_000))
    _write(folder / "models" / "full.bin", _seeded(300, 2_500_000))
    _write(folder / "labels.csv", "".join(f"{i},{i % 10}\n" for i in range(2000)).encode())
    _write(folder / "meta" / "info.json", b'{"classes": 10}\n')
    _write(folder / "meta" / "README.txt", b"synthetic shards for the crash matrix\n")
    _write(folder / "prepare.sh", b"#!/bin/sh\necho prepare\n", 0o755)
    return folder


def make_workspace(folder: Path) -> Path:
    """A code workspace of 22 entries (about 0.95 MB), with an executable script and a link inside it."""
    _write(folder / "train.py", b"#!/usr/bin/env python\nfrom pkg import mod0\nprint(mod0.VALUE)\n", 0o755)
    _write(folder / "pkg" / "__init__.py", b"")
    for i in range(12):
        body = "".join(f"def f{i}_{j}(x):\n    return x * {j} + {i}\n" for j in range(60 + 10 * i))
        _write(folder / "pkg" / f"mod{i}.py", f"VALUE = {i}\n{body}".encode())
    for name in ("base", "large", "small", "sweep"):
        _write(folder / "configs" / f"{name}.yaml", f"name: {name}\nlr: 0.1\n".encode())
    _write(folder / "assets" / "vocab.dat", _seeded(400, 300_000))
    _write(folder / "assets" / "embeddings.dat", _seeded(401, 600_000))
    os.symlink("train.py", folder / "run.py")
    return folder


def make_outputs(folder: Path) -> Path:
    """Output folders ``checkpoints/`` (7 files, 1.9 MB, one executable) and ``logs/`` (2 files)."""
    for i in range(6):
        _write(folder / "checkpoints" / f"epoch-{i}.pt", _seeded(500 + i, 150_000 + 50_000 * i))
    _write(folder / "checkpoints" / "export.bin", _seeded(510, 90_000), 0o755)
    _write(folder / "logs" / "train.log", "".join(f"epoch {i} loss {1 / (i + 1):.4f}\n" for i in range(500)).encode())
    _write(folder / "logs" / "metrics.jsonl", "".join(f'{{"epoch": {i}}}\n' for i in range(500)).encode())
    return folder


def make_small(folder: Path, seed: int, files: int = 6) -> Path:
    for i in range(files):
        _write(folder / f"f{i}.bin", _seeded(seed * 100 + i, 8_000 + 500 * i))
    return folder


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


# -- the SDK operations in a child process ---------------------------------------------

ROWS = 40  # rows logged before the deterministic flush; as many again after it

SDK_CHILD = r'''
import json, os, sys
from pathlib import Path
import runicorn as rn

op, storage, run_id, source, quiet_dir, rows, trace_path = sys.argv[1:8]
rows = int(rows)
trace = None
if trace_path != "-":
    # Calibration only: note every temp-file write (file, running byte count) and every object published.
    from runicorn.store import atomic, faults, objects
    trace = {"writes": [], "links": 0, "marks": {}}
    original_write, original_link = atomic.TempFile.write, objects.ObjectStore._link
    def write(self, data):
        original_write(self, data)
        trace["writes"].append([self.path, faults._done])
    def link(self, temp_path, final):
        original_link(self, temp_path, final)
        trace["links"] += 1
    atomic.TempFile.write, objects.ObjectStore._link = write, link

def mark(name):
    if trace is not None:
        from runicorn.store import faults
        trace["marks"][name] = [faults._done, trace["links"]]

def values(step):
    return {"loss": 1.0 / (step + 1), "acc": step / 100.0}

# quiet_dir is no git repository: the git probe of a run without a snapshot finds nothing to write.
run = None
if rows:
    run = rn.init(path="crash/" + op, storage=storage, run_id=run_id, workspace_root=quiet_dir)
    for step in range(rows):
        run.log(values(step), step=step)
    # A reference with a path is recorded under a store lease, and the lease ends only after the writer
    # flushed (RunAssets._rooting): every row above is on disk when this returns. Nothing is stored.
    run.log_dataset("flush", quiet_dir, save=False)
    for step in range(rows, 2 * rows):
        run.log(values(step), step=step)  # these may or may not reach the disk before the kill
elif op != "snapshot":
    run = rn.init(path="crash/" + op, storage=storage, run_id=run_id, workspace_root=quiet_dir)
mark("before")
if op == "snapshot":
    code_run = rn.init(path="crash/snapshot-code", storage=storage, run_id=run_id + "-code", snapshot_code=True,
                       workspace_root=source)
elif op == "save":
    run.log_dataset("big", source, save=True)
elif op == "outputs":
    run.scan_outputs_once(output_dirs=[os.path.join(source, name) for name in sorted(os.listdir(source))],
                          stable_required=1, min_age_sec=0)
else:
    raise SystemExit(f"unknown operation {op}")
mark("after")
if trace is not None:
    Path(trace_path).write_text(json.dumps(trace))
if op == "snapshot":
    code_run.finish()
if run is not None:
    run.finish()
print("operation finished")
'''


def expected_rows(count: int) -> list[tuple]:
    return [(step, 1.0 / (step + 1), step / 100.0) for step in range(count)]


def sdk_child(op: str, storage: Path, run_id: str, source: Path, quiet_dir: Path, rows: int, *,
              trace: Path | None = None, env: dict | None = None):
    return run_python(SDK_CHILD, op, str(storage), run_id, str(source), str(quiet_dir), str(rows),
                      str(trace) if trace else "-", env=env, cwd=str(quiet_dir), timeout=120)


@dataclass
class Trace:
    """What one SDK operation wrote, from a calibration run (see ``SDK_CHILD``)."""

    writes: list[tuple[str, int, int]]  # (temp file, byte count before the write, after it), inside the operation
    links_before: int
    links: int  # objects the operation published

    @classmethod
    def load(cls, path: Path, tmp_dir: Path) -> "Trace":
        data = json.loads(path.read_text())
        (bytes_before, links_before), (bytes_after, links_after) = data["marks"]["before"], data["marks"]["after"]
        writes, previous = [], 0
        for temp, done in data["writes"]:
            if bytes_before < done <= bytes_after and os.path.dirname(temp) == str(tmp_dir):
                writes.append((temp, previous, done))
            previous = done
        return cls(writes, links_before, links_after - links_before)

    @staticmethod
    def inside(write: tuple[str, int, int]) -> int:
        """A limit that falls inside this write: state files written before it may vary by a few bytes
        between runs (a pid, a time), never by half a store write."""
        _, start, end = write
        assert end - start >= 64, f"a write of {end - start} bytes is too small to aim at"
        return start + (end - start) // 2

    def spec(self, point: str) -> tuple[str, int]:
        if point == "first-object-bytes":  # the first object's temp file is written, nothing is published
            return "bytes", self.inside([w for w in self.writes if w[2] - w[1] >= 64][0])
        if point == "mid-file":  # a file of several store chunks: killed between two chunks of its temp file
            counts: dict[str, int] = {}
            for write in self.writes:
                counts[write[0]] = counts.get(write[0], 0) + 1
                if counts[write[0]] == 1 and sum(w[0] == write[0] for w in self.writes) >= 2:
                    return "bytes", self.inside(write)
            raise AssertionError("no object of several chunks was written")
        if point == "half-published":
            return "objects", self.links_before + max(1, self.links // 2)
        if point == "all-published":  # every object is linked, the manifest line naming them is not written
            return "objects", self.links_before + self.links
        raise ValueError(point)


CLI_COUNT = r'''
import sys
from runicorn.store import faults
from runicorn.cli import main
sys.argv = ["runicorn"] + sys.argv[1:]
try:
    main()
except SystemExit as exit:
    code = exit.code
print("UNITS", faults._done)
'''


def cli_units(kind: str, *args, storage: Path) -> int:
    """How many ``kind`` units a CLI command counts (bytes, objects, runs), from a child that never crashes."""
    result = run_python(CLI_COUNT, "--storage", str(storage), *map(str, args), env=crash_env(kind, NEVER))
    assert result.returncode == 0, result.stderr
    return int(result.stdout.rsplit("UNITS", 1)[1])


# -- looking at what a crash left ------------------------------------------------------


def temp_files(folder: Path, recursive: bool = False) -> list[str]:
    """Temp files (``.<name>~<owner>-<random>.tmp``) in a folder, or below it."""
    if not folder.is_dir():
        return []
    paths = folder.rglob(".*") if recursive else folder.glob(".*")
    return sorted(str(p.relative_to(folder)) for p in paths if p.is_file() and TEMP_NAME.fullmatch(p.name))


def leftovers(root: Path) -> dict[str, list[str]]:
    """What a killed operation may leave in a storage root; each is litter the next operation or gc removes."""
    runs, store = root / "runs", root / "store"
    return {
        "store/tmp": temp_files(store / "tmp"),
        "leases": sorted(p.name for p in (store / "leases").glob("*.lease")) if (store / "leases").is_dir() else [],
        "staging": sorted(p.name for p in runs.glob(".import-*")) if runs.is_dir() else [],
        "runs/.trash": sorted(p.name for p in (runs / ".trash").iterdir()) if (runs / ".trash").is_dir() else [],
    }


def copy_root(source: Path, target: Path) -> Path:
    """A copy of a storage root (objects keep their mode and mtime; temp names keep their dead owner)."""
    shutil.copytree(source, target, symlinks=True)
    return target


def same_tree(restored: Path, source: Path) -> None:
    """Byte-exact: the same names, bytes, executable bits and links, and nothing else."""
    got, want = file_tree(restored), file_tree(source)
    assert sorted(got) == sorted(want), f"{restored} differs from {source}: extra {sorted(set(got) - set(want))}, " \
                                         f"missing {sorted(set(want) - set(got))}"
    for rel in want:
        assert got[rel] == want[rel], f"{restored / rel} is not byte-exact (content, executable bit or link target)"
