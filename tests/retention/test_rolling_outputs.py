"""Rolling and overwrite_versions outputs in a training loop: what gc keeps, what restores, and kill -9.

A training loop overwrites ``checkpoints/last.pt`` (1 MiB of distinct random bytes per epoch) beside an
unchanging ``config.json``, and archives its output folder each epoch, with ``scan_outputs_once`` or under
``watch_outputs``. After ``runicorn gc --grace 0s`` the store holds what Runicorn 0.7 kept: in the default
rolling mode one copy of ``last.pt`` (the latest), with ``mode="overwrite_versions"`` every version. Every
version stays listed by ``runicorn outputs``; before gc each restores byte-exact (``--version N``, ``--step S``),
after gc a collected one is refused as superseded and collected, never as a missing object.

Nothing here depends on timing: checkpoint mtimes are set explicitly, a watched loop either waits for the
watcher to archive each epoch (an event, with a generous deadline) or is judged only on its final state, and
the kill -9 comes when the child says it finished scan ``k``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import runicorn as rn
from runicorn.api import Api
from runicorn.store import walk_tree

from retention_support import MiB, epoch_bytes, object_files, oid, restored_file, write_checkpoint

import retention_support

EPOCHS = 5
SEED = 11
CONFIG = b'{"layers": 4}\n'  # beside last.pt, never changes: one copy in every mode
MODES = ("rolling", "overwrite_versions")
TREE_ALLOWANCE = 64 * 1024  # what the trees of the kept versions may add (a few hundred bytes each)


def checkpoints(seed: int = SEED, epochs: int = EPOCHS) -> list[bytes]:
    """checkpoints()[e - 1] is what epoch e wrote."""
    return [epoch_bytes(seed, epoch) for epoch in range(1, epochs + 1)]


def start_loop(root: Path, outputs: Path, path: str) -> tuple[rn.Run, Path]:
    folder = outputs / "checkpoints"
    folder.mkdir(parents=True)
    (folder / "config.json").write_bytes(CONFIG)
    run = rn.init(path=path, storage=str(root))
    run.set_primary_metric("loss", mode="min")
    return run, folder


def train_with_scans(root: Path, outputs: Path, mode: str) -> str:
    """E epochs, each: overwrite last.pt, log at step 10*e, archive with one deterministic scan."""
    run, folder = start_loop(root, outputs, "train/scan")
    for epoch, data in enumerate(checkpoints(), 1):
        write_checkpoint(folder / "last.pt", data, epoch)
        run.log({"loss": 1.0 / epoch}, step=epoch * 10)
        report = run.scan_outputs_once(output_dirs=[folder], stable_required=1, min_age_sec=0, mode=mode)
        assert "checkpoints/last.pt" in [e["key"] for e in report["archived_entries"]], report
    run.finish()
    return run.id


def restore_outputs(invoke, run_id: str, target: Path, *pick, expect=0):
    return invoke("restore", run_id, "--outputs", *pick, "--to", target, expect=expect)


def wait_for(condition, what: str, deadline_sec: float = 60.0) -> None:
    """Wait for an event (not for a duration): fail only if it has not happened after a generous deadline."""
    end = time.monotonic() + deadline_sec
    while not condition():
        if time.monotonic() > end:
            pytest.fail(f"gave up waiting after {deadline_sec:.0f} s for: {what}")
        time.sleep(0.005)


def assert_refused_as_collected(result, number: int) -> None:
    assert result.exit_code == 1, result.output
    message = result.output.lower()
    assert f"version {number}" in message and "superseded" in message and "collected" in message, result.output
    assert "missing" not in message and "not found" not in message, result.output


def assert_store_after_gc(root: Path, invoke, kept_contents: list[bytes], gone_contents: list[bytes],
                          config_only_versions: int = 0) -> None:
    """The store holds exactly one copy of each kept checkpoint and of config.json, plus small trees; du agrees."""
    objects = object_files(root)
    for data in kept_contents:
        assert oid(data) in objects, "a kept checkpoint version is not in the store"
    for data in gone_contents:
        assert oid(data) not in objects, "a superseded checkpoint version survived gc --grace 0s"
    assert oid(CONFIG) in objects
    kept_bytes = len({oid(d) for d in kept_contents}) * MiB
    total = sum(objects.values())
    assert kept_bytes + len(CONFIG) < total < kept_bytes + len(CONFIG) + TREE_ALLOWANCE, (total, kept_bytes)
    big = sorted(o for o, size in objects.items() if size >= MiB)
    assert big == sorted({oid(d) for d in kept_contents})
    du = invoke.json("du", "--json")
    assert du["store_bytes"] == total and du["store_objects"] == len(objects)
    assert du["physical_bytes"] == total and du["unreferenced_bytes"] == 0
    assert du["missing_objects"] == 0 and du["damaged_objects"] == 0
    # logical: what the root versions restore to (each: last.pt and config.json)
    assert du["logical_bytes"] == (len({oid(d) for d in kept_contents}) * (MiB + len(CONFIG))
                                   + config_only_versions * len(CONFIG))
    assert invoke.json("verify", "--json")["ok"] is True


@pytest.mark.parametrize("mode", MODES)
def test_scan_each_epoch_gc_keeps_what_07_kept(tmp_path, storage_root, invoke, mode):
    run_id = train_with_scans(storage_root, tmp_path / "outputs", mode)
    written = checkpoints()
    rolling = mode == "rolling"

    listed = invoke.json("outputs", run_id, "--json")
    assert [v["version"] for v in listed] == list(range(1, EPOCHS + 1))
    assert [v["step"] for v in listed] == [10 * e for e in range(1, EPOCHS + 1)]
    assert [v["mode"] for v in listed] == [mode] * EPOCHS
    assert [v["root"] for v in listed] == ([False] * (EPOCHS - 1) + [True] if rolling else [True] * EPOCHS)
    assert all(v["available"] for v in listed)
    assert all(v["files"] == 2 for v in listed)

    # Before gc every version restores, byte-exact, by number and by step.
    for number, data in enumerate(written, 1):
        target = tmp_path / f"v{number}"
        restore_outputs(invoke, run_id, target, "--version", number)
        assert restored_file(target) == data, f"version {number} restored other bytes"
        assert restored_file(target, "checkpoints/config.json") == CONFIG
    for step, number in ((10, 1), (35, 3), (50, 5), (10 ** 6, EPOCHS)):
        target = tmp_path / f"step{step}"
        restore_outputs(invoke, run_id, target, "--step", step)
        assert restored_file(target) == written[number - 1], f"--step {step} did not pick version {number}"
    early = restore_outputs(invoke, run_id, tmp_path / "step9", "--step", 9, expect=1)
    assert "step 9" in early.output
    latest = tmp_path / "latest"
    restore_outputs(invoke, run_id, latest)
    assert restored_file(latest) == written[-1]

    before = object_files(storage_root)
    assert all(oid(data) in before for data in written), "a version was never stored"
    du = invoke.json("du", "--json")
    if rolling:
        assert du["unreferenced_bytes"] >= (EPOCHS - 1) * MiB
    else:
        assert du["unreferenced_bytes"] == 0

    gc = invoke.json("gc", "--grace", "0s", "--json")
    after = object_files(storage_root)
    gone = set(before) - set(after)
    assert set(after) <= set(before)
    assert gc["objects_deleted"] == len(gone) and gc["bytes_freed"] == sum(before[o] for o in gone)
    kept = [written[-1]] if rolling else written
    assert_store_after_gc(storage_root, invoke, kept, written[:-1] if rolling else [])

    listed = invoke.json("outputs", run_id, "--json")
    assert [v["available"] for v in listed] == ([False] * (EPOCHS - 1) + [True] if rolling else [True] * EPOCHS)
    for number, data in enumerate(written, 1):
        target = tmp_path / f"after-v{number}"
        if rolling and number < EPOCHS:
            assert_refused_as_collected(restore_outputs(invoke, run_id, target, "--version", number, expect=None),
                                        number)
            assert not target.exists() or not any(target.iterdir())
        else:
            restore_outputs(invoke, run_id, target, "--version", number)
            assert restored_file(target) == data
    by_step = restore_outputs(invoke, run_id, tmp_path / "after-step35", "--step", 35, expect=None)
    if rolling:
        assert_refused_as_collected(by_step, 3)
    else:
        assert by_step.exit_code == 0 and restored_file(tmp_path / "after-step35") == written[2]
    restore_outputs(invoke, run_id, tmp_path / "after-latest")
    assert restored_file(tmp_path / "after-latest") == written[-1]


def archived_checkpoint(root: Path, run_id: str) -> str | None:
    """The id of checkpoints/last.pt in the run's latest outputs version, if any."""
    api = Api(root)
    versions = api.run(run_id).read_manifest().versions("outputs", "outputs")
    if not versions:
        return None
    entries = dict(walk_tree(api.store, versions[-1][0].ref.id))
    entry = entries.get("checkpoints/last.pt")
    return None if entry is None else str(entry.id)


def train_watched(root: Path, outputs: Path, mode: str, *, wait_each_epoch: bool) -> str:
    """The same loop under watch_outputs (checkpoints replaced atomically, as a careful trainer saves them).

    With ``wait_each_epoch`` each epoch lasts until the watcher has archived its checkpoint (and the watcher
    starts once the first checkpoint is beside config.json, so no version holds config.json alone); without,
    the loop runs flat out from a watcher started before any checkpoint.
    """
    run, folder = start_loop(root, outputs, "train/watch")
    watch = dict(output_dirs=[folder], interval_sec=0.01, stable_required=2, min_age_sec=0, mode=mode)
    if not wait_each_epoch:
        run.watch_outputs(**watch)
    try:
        for epoch, data in enumerate(checkpoints(), 1):
            run.log({"loss": 1.0 / epoch}, step=epoch * 10)  # first: a version archived from now on has this step
            write_checkpoint(folder / "last.pt", data, epoch, atomic=True)
            if wait_each_epoch:  # a long epoch: the watcher archives this checkpoint before the next one lands
                if epoch == 1:
                    run.watch_outputs(**watch)
                wait_for(lambda: archived_checkpoint(root, run.id) == oid(data),
                         f"the watcher to archive epoch {epoch}")
    finally:
        run.finish()  # stops the watcher and makes the last scan
    return run.id


@pytest.mark.parametrize("mode", MODES)
def test_watch_outputs_one_version_per_epoch(tmp_path, storage_root, invoke, mode):
    run_id = train_watched(storage_root, tmp_path / "outputs", mode, wait_each_epoch=True)
    written = checkpoints()
    rolling = mode == "rolling"
    listed = invoke.json("outputs", run_id, "--json")
    # One version per epoch; the last scan at finish found nothing new and added none.
    assert [v["step"] for v in listed] == [10 * e for e in range(1, EPOCHS + 1)]
    for number, data in enumerate(written, 1):
        target = tmp_path / f"v{number}"
        restore_outputs(invoke, run_id, target, "--version", number)
        assert restored_file(target) == data

    invoke("gc", "--grace", "0s", expect=0)
    assert_store_after_gc(storage_root, invoke, [written[-1]] if rolling else written,
                          written[:-1] if rolling else [])
    for number, data in enumerate(written, 1):
        target = tmp_path / f"after-v{number}"
        result = restore_outputs(invoke, run_id, target, "--version", number, expect=None)
        if rolling and number < EPOCHS:
            assert_refused_as_collected(result, number)
        else:
            assert result.exit_code == 0 and restored_file(target) == data


@pytest.mark.parametrize("mode", MODES)
def test_watch_outputs_final_state(tmp_path, storage_root, invoke, mode):
    """No waiting: how many versions the watcher caught is not asserted, only what finish() and gc leave."""
    run_id = train_watched(storage_root, tmp_path / "outputs", mode, wait_each_epoch=False)
    written = checkpoints()
    listed = invoke.json("outputs", run_id, "--json")
    assert listed, "finish() archived nothing"
    epochs_seen = []  # per version, the epoch of its last.pt (0: a version from before the first checkpoint)
    for version in listed:
        target = tmp_path / f"v{version['version']}"
        restore_outputs(invoke, run_id, target, "--version", version["version"])
        assert restored_file(target, "checkpoints/config.json") == CONFIG
        if not (target / "checkpoints" / "last.pt").exists():
            epochs_seen.append(0)
            continue
        data = restored_file(target)
        assert data in written, f"version {version['version']} is not a whole checkpoint of any epoch"
        epochs_seen.append(written.index(data) + 1)
    assert epochs_seen == sorted(epochs_seen) and epochs_seen[-1] == EPOCHS, epochs_seen
    latest = tmp_path / "latest"
    restore_outputs(invoke, run_id, latest)
    assert restored_file(latest) == written[-1]

    invoke("gc", "--grace", "0s", expect=0)
    caught = [written[e - 1] for e in sorted(set(epochs_seen) - {0})]
    if mode == "rolling":
        assert_store_after_gc(storage_root, invoke, [written[-1]], written[:-1])
    else:
        assert_store_after_gc(storage_root, invoke, caught, [d for d in written if d not in caught],
                              config_only_versions=int(0 in epochs_seen))
    restore_outputs(invoke, run_id, tmp_path / "after-latest")
    assert restored_file(tmp_path / "after-latest") == written[-1]


STOP_AFTER = 3  # the child is killed after scan 3, once epoch 4's checkpoint is on disk but not yet scanned


@pytest.mark.parametrize("mode", MODES)
def test_kill_9_between_scans_loses_no_referenced_version(tmp_path, storage_root, invoke, mode):
    outputs = tmp_path / "outputs"
    child = subprocess.Popen(
        [sys.executable, retention_support.__file__, str(storage_root), str(outputs), mode, str(SEED),
         str(STOP_AFTER)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    watchdog = threading.Timer(120, child.kill)  # only a hung child ever meets it
    watchdog.start()
    said = []
    try:
        for line in child.stdout:
            said.append(line.strip())
            if line.startswith("wrote"):
                os.kill(child.pid, signal.SIGKILL)
                break
        child.wait()
    finally:
        watchdog.cancel()
        if child.poll() is None:
            child.kill()
            child.wait()
    stderr = child.stderr.read()
    assert said == [f"scanned {e}" for e in range(1, STOP_AFTER + 1)] + [f"wrote {STOP_AFTER + 1}"], \
        f"the child said {said}; stderr:\n{stderr}"
    assert child.returncode == -signal.SIGKILL
    written = checkpoints(epochs=STOP_AFTER + 1)
    on_disk = (outputs / "checkpoints" / "last.pt").read_bytes()
    assert on_disk == written[STOP_AFTER], "the child did not write the next epoch's checkpoint before dying"

    [run] = invoke.json("ls", "--json")
    assert run["id"] == "killed" and run["status"] == "crashed"
    assert invoke.json("verify", "--json")["ok"] is True
    listed = invoke.json("outputs", "killed", "--json")
    assert [v["step"] for v in listed] == [10 * e for e in range(1, STOP_AFTER + 1)]

    invoke("gc", "--grace", "0s", expect=0)
    assert invoke.json("verify", "--json")["ok"] is True
    objects = object_files(storage_root)
    archived = written[:STOP_AFTER]
    assert oid(written[STOP_AFTER]) not in objects, "a checkpoint no scan saw is in the store"
    if mode == "rolling":
        assert [oid(d) in objects for d in archived] == [False] * (STOP_AFTER - 1) + [True]
    else:
        assert all(oid(d) in objects for d in archived)

    latest = tmp_path / "latest"
    restore_outputs(invoke, "killed", latest)
    assert restored_file(latest) == archived[-1], "the latest archived version does not restore byte-exact"
    restore_outputs(invoke, "killed", tmp_path / "by-version", "--version", STOP_AFTER)
    assert restored_file(tmp_path / "by-version") == archived[-1]
    restore_outputs(invoke, "killed", tmp_path / "by-step", "--step", 10 * STOP_AFTER + 5)
    assert restored_file(tmp_path / "by-step") == archived[-1]
    for number in range(1, STOP_AFTER):
        target = tmp_path / f"v{number}"
        result = restore_outputs(invoke, "killed", target, "--version", number, expect=None)
        if mode == "rolling":
            assert_refused_as_collected(result, number)
        else:
            assert result.exit_code == 0 and restored_file(target) == archived[number - 1]
