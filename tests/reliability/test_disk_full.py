"""A full disk under a live run: nothing torn, nothing named that was never stored, and nothing lost once
space comes back.

The storage root sits on a tmpfs of 4 MiB mounted for the test (so the tests
run only as root, and are skipped with the reason elsewhere). A filler file
takes the space; the run, in a child process, meets the full disk, keeps going,
and the test frees the space again. The two sides meet through pipes.
"""

from __future__ import annotations

import errno
import os
import subprocess

import pytest

from runicorn.api import Api
from runicorn.runfolder.jsonio import read_state

from cli_support import Invoker

from concurrency_support import (Child, assert_verify_ok, content, files_of, gc_json, lease_files, manifest_lines,
                                 new_storage, objects_in, referenced, timeline_problems, write)

DISK_SIZE = "4m"


@pytest.fixture
def mount_tmpfs(tmp_path):
    """``mount_tmpfs(size)``: a fresh tmpfs of ``size`` ("4m"), unmounted at the end whatever happens."""
    if os.geteuid() != 0:
        pytest.skip("the disk-full tests mount a small tmpfs, which needs root")
    mounted_points = []

    def mount(size: str = DISK_SIZE):
        mount_point = tmp_path / f"disk{len(mounted_points)}"
        mount_point.mkdir()
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount_point)],
                                 capture_output=True, text=True)
        if mounted.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs for the disk-full tests: {mounted.stderr.strip() or mounted.returncode}")
        mounted_points.append(mount_point)
        return mount_point

    try:
        yield mount
    finally:
        for mount_point in mounted_points:
            if subprocess.run(["umount", str(mount_point)], capture_output=True).returncode != 0:
                subprocess.run(["umount", "-l", str(mount_point)], capture_output=True)


@pytest.fixture
def small_disk(mount_tmpfs):
    return mount_tmpfs(DISK_SIZE)


def fill(disk, leave: int):
    """A filler file that takes every free byte of ``disk`` but about ``leave``; returns its path."""
    filler = disk / "filler"
    chunk = b"\0" * (64 * 1024)
    with open(filler, "wb", buffering=0) as handle:
        for _ in range(4096):  # bound: 256 MiB, far more than the disk
            try:
                handle.write(chunk)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
                break
        else:
            pytest.fail("the small disk never filled up")
        size = handle.seek(0, os.SEEK_END)
        handle.truncate(max(0, size - leave))
    return filler


def free_bytes(disk) -> int:
    stats = os.statvfs(disk)
    return stats.f_bavail * stats.f_frsize


# -- rows logged while the disk is full ----------------------------------------------------------------------------

FULL_DISK_LOGGER = '''
import sys
import threading
import warnings

import runicorn as rn

warnings.simplefilter("always")  # every warning is printed: "once" is the SDK's doing, not the filter's
refused = threading.Event()
show = warnings.showwarning


def showwarning(message, category, filename, lineno, file=None, line=None):
    show(message, category, filename, lineno, file, line)
    if "cannot write to" in str(message):
        refused.set()


warnings.showwarning = showwarning

root, data, while_full = sys.argv[1], sys.argv[2], int(sys.argv[3])
run = rn.init(path="full", storage=root, run_id="full1")
step = 0


def log(count):
    global step
    for _ in range(count):
        step += 1
        run.log({"loss": 1.0 / step, "copy": step})


log(10)
run.log_text("before")
print("ready", flush=True)
sys.stdin.readline()  # the disk is nearly full now
for _ in range(400):
    log(500)
    if refused.wait(0.05):  # the writer found the disk full
        break
else:
    print("never refused", flush=True)
    sys.exit(3)
log(while_full)  # held in memory while the disk refuses them (up to a bound: the oldest go beyond it)
run.log_text("while full")
print(f"full {step}", flush=True)
sys.stdin.readline()  # space is back
first_after = step + 1
log(3000)
run.log_text("after")
run.log_dataset("data", data, save=True)
run.finish()
print(f"done {first_after} {step}", flush=True)
'''


def _log_through_a_full_disk(disk, tmp_path, while_full: int):
    """The child logs until the disk refuses, ``while_full`` rows more, then (space back) 3000 rows and a dataset."""
    root = disk / "storage"
    data = tmp_path / "data"
    write(data / "a.bin", content("after-full-a", 9_000))
    write(data / "sub" / "b.bin", content("after-full-b", 5_000))
    child = Child(FULL_DISK_LOGGER, root, data, while_full, cwd=tmp_path, name="logger")
    try:
        child.expect("ready")
        filler = fill(disk, leave=16 * 1024)
        assert free_bytes(disk) < 64 * 1024
        child.send("filled")
        held_until = int(child.expect("full "))
        filler.unlink()
        assert free_bytes(disk) > 3 * 1024 * 1024  # nearly all of it: the child's rows fit
        child.send("freed")
        first_after, last = map(int, child.expect("done ").split())
        stderr = child.exits_cleanly()
    finally:
        child.close()

    assert stderr.count("cannot write to") == 1, stderr  # warned once, however many flushes were refused
    assert first_after == held_until + 1 and last == held_until + 3000

    view = Api(root).run("full1")
    status = read_state(view.run_dir / "status.json")
    assert status["status"] == "finished"
    rows = view.history()
    steps = [row["_step"] for row in rows]
    missing = set(range(1, last + 1)) - set(steps)
    assert status.get("lost", {}).get("timeline rows", 0) == len(missing)  # what never landed is recorded
    assert set(range(first_after, last + 1)) <= set(steps)  # every row logged after space came back reads
    assert steps == sorted(steps) and len(steps) == len(set(steps))
    assert all(row["copy"] == row["_step"] and row["loss"] == 1.0 / row["_step"] for row in rows)
    log = view.text_log()
    written = [text for text in ("before", "while full", "after") if f"] {text}\n" in log]
    assert "after" in written and 3 - len(written) == status.get("lost", {}).get("log lines", 0)

    assert timeline_problems(view.run_dir) == []  # no torn record in the middle
    lines = manifest_lines(view.run_dir)
    [dataset] = [line for line in lines if line.get("role") == "dataset"]
    assert dataset["saved"] is True
    assert lease_files(root) == []

    invoke = Invoker(root)
    saved = objects_in(root)
    report = gc_json(invoke, "--grace", "0s")  # the dataset saved after space came back is a gc root
    assert report["objects_deleted"] == 0 and report["refused"] is None
    assert objects_in(root) == saved
    assert referenced(root)[1] == []
    assert_verify_ok(invoke)
    invoke("restore", "full1", "--dataset", "data", "--to", tmp_path / "restored", expect=0)
    assert files_of(tmp_path / "restored") == files_of(data)
    return status, missing, held_until, stderr


def test_a_run_logging_through_a_full_disk_finishes_and_keeps_what_came_after(small_disk, tmp_path):
    status, missing, _, stderr = _log_through_a_full_disk(small_disk, tmp_path, while_full=2_000)
    assert missing == set() and "lost" not in status  # space came back in time: the held rows were written
    assert "lost for good" not in stderr


def test_rows_held_past_the_bound_while_the_disk_is_full_are_dropped_and_recorded_as_lost(mount_tmpfs, tmp_path):
    """More rows than the writer keeps for a retry (MAX_HELD_RECORDS): the oldest go, and status.json says so.

    The disk is bigger here (the rows kept, about 32 bytes each, fit once space is back), yet as full."""
    from runicorn.sdk.writer import MAX_HELD_RECORDS

    status, missing, held_until, stderr = _log_through_a_full_disk(mount_tmpfs("16m"), tmp_path,
                                                                   while_full=MAX_HELD_RECORDS + 100_000)
    assert status["lost"]["timeline rows"] == len(missing) > 0
    assert max(missing) <= held_until  # only rows logged while the disk was full were dropped
    assert stderr.count("lost for good") == 1, stderr


# -- an outputs scan that meets the full disk ----------------------------------------------------------------------

FULL_DISK_SCANNER = '''
import sys

import runicorn as rn

root, out = sys.argv[1], sys.argv[2]
run = rn.init(path="full", storage=root, run_id="scan1")
run.log({"x": 1})
print("ready", flush=True)
sys.stdin.readline()  # the disk is nearly full now
try:
    run.scan_outputs_once(output_dirs=[out], stable_required=1, min_age_sec=0)
except OSError as exc:
    print(f"failed {exc.errno}", flush=True)
else:
    print("scanned", flush=True)
sys.stdin.readline()  # space is back
report = run.scan_outputs_once(output_dirs=[out], stable_required=1, min_age_sec=0)
print(f"archived {report['archived']}", flush=True)
run.log({"x": 2})
run.finish()
print("done", flush=True)
'''


def test_an_outputs_scan_that_fails_with_enospc_names_nothing_and_the_next_one_stores_all(small_disk, tmp_path):
    root = small_disk / "storage"
    invoke = Invoker(root)
    new_storage(root)  # the store exists before the disk fills
    out = tmp_path / "out"
    for i in range(4):
        write(out / f"ckpt-{i}.pt", content(f"checkpoint-{i}", 300 * 1024))  # two fit in what is left, not four
    write(out / "logs" / "train.log", "epoch 1\nepoch 2\n")
    child = Child(FULL_DISK_SCANNER, root, out, cwd=tmp_path, name="scanner")
    try:
        child.expect("ready")
        filler = fill(small_disk, leave=700 * 1024)
        child.send("filled")
        assert child.next_line() == f"failed {errno.ENOSPC}"
        filler.unlink()
        child.send("freed")
        assert child.expect("archived ") == "5"
        assert child.next_line() == "done"
        stderr = child.exits_cleanly()
    finally:
        child.close()

    tmp = root / "store" / "tmp"
    assert sorted(os.listdir(tmp)) == []  # the failed scan's temp files were removed, not left filling the disk
    assert lease_files(root) == []
    view = Api(root).run("scan1")
    assert read_state(view.run_dir / "status.json")["status"] == "finished"
    assert timeline_problems(view.run_dir) == []
    outputs = [line for line in manifest_lines(view.run_dir) if line.get("role") == "outputs"]
    assert len(outputs) == 1  # the failed scan recorded no tree
    assert_verify_ok(invoke)  # no tree names a blob never stored

    gc_json(invoke, "--grace", "0s")
    assert referenced(root)[1] == []
    assert_verify_ok(invoke)
    invoke("restore", "scan1", "--outputs", "--to", tmp_path / "restored", expect=0)
    assert files_of(tmp_path / "restored") == {f"out/{rel}": data for rel, data in files_of(out).items()}
