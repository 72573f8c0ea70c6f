"""Writers beside gc: no object a run references is ever lost, whatever gc, rm and kill -9 do meanwhile.

tests/cli/test_cli_gc_concurrency.py runs ``gc --grace 2s`` beside writers that
reuse old objects. These tests go further, to what only the leases
(docs/format.md, rule 5a) protect:

- real SDK runs (datasets, images, outputs) beside ``gc --grace 0s`` run back to
  back, while finished runs are removed (their objects become garbage that the
  next run may want again);
- the exact instant between a put and the manifest line naming it, with gc run
  right there, with a lease and (as a control) without one; and a whole save
  falling between gc reading the manifests and gc listing the objects;
- default-grace gc beside SDK runs that reuse objects backdated two hours;
- two gcs at once, and a dry run beside a running gc;
- ``rm --force`` of a live run, which keeps logging and saving;
- a lease whose holder was killed with SIGKILL.

Each test bounds its loops and synchronises with pipes; none depends on speed.
"""

from __future__ import annotations

import json
import os
import signal
import warnings

import numpy as np
import pytest

import runicorn as rn
from runicorn.api import Api
from runicorn.maintenance import collect_garbage
from runicorn.runfolder import MANIFEST
from runicorn.sdk.writer import RunWriter
from runicorn.store import FILE, ObjectStore, TreeEntry, put_tree
from runicorn.store.owner import current_owner

from cli_support import RUN_A, RUN_B, RUN_C, disk_state, object_files, object_path
from concurrency_support import (HOUR, Child, assert_verify_ok, backdate, backdate_tree, blake, content, files_of,
                                 gc_json, lease_files, new_storage, objects_in, referenced, trashed_in, verify_json,
                                 write)

MAX_GCS = 3000  # bound of every gc loop (a loop normally ends when its writer does)


def restored(invoke, run_id: str, what: str, target, name: str | None = None) -> dict[str, bytes]:
    args = ["restore", run_id, f"--{what}"] + ([name] if name else []) + ["--to", target]
    invoke(*args, expect=0)
    return files_of(target)


def gc_beside(child: Child, invoke, *gc_args: str, on_line=None) -> list[dict]:
    """Run ``gc`` back to back until the child exits (at least three times); hand each child line to ``on_line``."""
    reports: list[dict] = []
    for _ in range(MAX_GCS):
        if not child.alive() and len(reports) >= 3:
            break
        reports.append(gc_json(invoke, *gc_args))
        for line in child.ready_lines():
            if on_line is not None:
                on_line(line)
    else:
        pytest.fail(f"the writer did not finish within {MAX_GCS} gcs")
    return reports


# -- 1. SDK runs beside gc --grace 0s, runs removed meanwhile ---------------------------------------------

LOOP_WRITER = '''
import sys
from pathlib import Path

import numpy as np
import runicorn as rn
from concurrency_support import content, write

root, work, count = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
for i in range(count):
    group = i % 3
    data = work / f"data-{i}"
    write(data / "common.bin", content("common", 20_000))                   # in every run
    write(data / "group" / f"g{group}.bin", content(f"group-{group}", 12_000))  # in every third run
    write(data / "own" / f"{i}.bin", content(f"own-{i}", 9_000))             # in this run only
    (data / "empty").mkdir()
    out = work / f"out-{i}"
    write(out / "model.pt", content(f"model-{group}", 15_000))
    write(out / "train.log", f"run {i}\\n")
    run = rn.init(path="loop", storage=root, run_id=f"r{i:03d}")
    run.log_dataset("data", str(data), save=True)
    run.log_dataset("fixed", str(work / f"fixed-{group}"), save=True)  # old files: the stat cache names their ids
    run.log_image("img", np.full((16, 16, 3), 40 * group, dtype=np.uint8), step=i)
    run.log({"i": i})
    run.scan_outputs_once(output_dirs=[str(out)], stable_required=1, min_age_sec=0)
    run.finish()
    print(f"done r{i:03d}", flush=True)
'''

LOOP_RUNS = 12


def test_sdk_runs_beside_gc_grace_0s_and_rm_of_finished_runs_lose_nothing(storage_root, invoke, tmp_path):
    """Every third run is removed as soon as it finished: its objects become garbage that gc takes at once,
    and the next run of its group wants some of them again (through the stat cache, the trash, or a new put)."""
    work = tmp_path / "work"
    for group in range(3):
        write(work / f"fixed-{group}" / "shared.bin", content("common", 20_000))  # the same blob as common.bin
        write(work / f"fixed-{group}" / f"weights-{group}.bin", content(f"fixed-{group}", 30_000))
        backdate_tree(work / f"fixed-{group}", 2 * HOUR)  # past the racy window: the stat cache trusts them
    new_storage(storage_root)
    finished, removed = [], []

    def on_line(line: str) -> None:
        assert line.startswith("done "), line
        run_id = line.removeprefix("done ")
        finished.append(run_id)
        if int(run_id[1:]) % 3 == 0:
            invoke("rm", run_id, "--yes", expect=0)
            removed.append(run_id)

    child = Child(LOOP_WRITER, storage_root, work, LOOP_RUNS, cwd=tmp_path, name="writer")
    try:
        reports = gc_beside(child, invoke, "--grace", "0s", on_line=on_line)
        returncode = child.wait()
        for line in child.remaining_lines():
            on_line(line)
        stderr = child.stderr()
    finally:
        child.close()

    assert returncode == 0, stderr
    assert "Traceback" not in stderr and "no longer in the store" not in stderr, stderr
    expected = [f"r{i:03d}" for i in range(LOOP_RUNS)]
    assert finished == expected
    assert removed == [r for r in expected if int(r[1:]) % 3 == 0]
    assert lease_files(storage_root) == []  # every lease ended with its manifest line
    assert all(r["refused"] is None for r in reports)

    reports.append(gc_json(invoke, "--grace", "0s"))
    # gc was not idle: each removed run held a dataset tree and a blob of its own, deleted at once
    assert sum(r["objects_deleted"] for r in reports) >= 2 * len(removed)
    left = objects_in(storage_root) | trashed_in(storage_root)
    for run_id in removed:
        assert blake(content(f"own-{int(run_id[1:])}", 9_000)) not in left

    survivors = [r for r in expected if r not in removed]
    assert sorted(v.id for v in Api(storage_root).runs()) == survivors
    assert_verify_ok(invoke)
    reached, missing = referenced(storage_root)
    assert missing == []  # 0 objects lost
    for run_id in survivors:
        i, group = int(run_id[1:]), int(run_id[1:]) % 3
        assert restored(invoke, run_id, "dataset", tmp_path / "r" / run_id / "data", "data") == \
            files_of(work / f"data-{i}")
        assert restored(invoke, run_id, "dataset", tmp_path / "r" / run_id / "fixed", "fixed") == \
            files_of(work / f"fixed-{group}")
        assert restored(invoke, run_id, "outputs", tmp_path / "r" / run_id / "outputs") == \
            {f"out-{i}/{rel}": data for rel, data in files_of(work / f"out-{i}").items()}
        images = Api(storage_root).run(run_id).images()
        assert len(images) == 1 and images[0]["id"].removeprefix("blake3:") in reached
        Api(storage_root).store.get(images[0]["id"].removeprefix("blake3:"))  # present and hashing to its id


# -- 2. the lease race, one interleaving: gc --grace 0s between the put and the manifest line ----------------


def _name_in_a_run(root, run_id: str, object_id: str, kind: str = "tree") -> None:
    """What a writer does once its objects are durable: a run whose manifest line names them."""
    from runicorn.runfolder import encode_line
    from runicorn.runfolder.jsonio import write_state

    run_dir = root / "runs" / "hand" / run_id
    run_dir.mkdir(parents=True)
    write_state(run_dir / "run.json", {"format": "runicorn-run", "version": 1, "id": run_id, "path": "hand",
                                      "created_at": 0.0})
    write_state(run_dir / "status.json", {"status": "finished"})
    with open(run_dir / "manifest.jsonl", "a") as handle:
        handle.write(encode_line({"role": "dataset", "name": "d", "id": f"blake3:{object_id}", "type": kind,
                                  "at": 0.0}) + "\n")


def _put_a_folder(store: ObjectStore) -> tuple[bytes, str, str]:
    data = content("leased", 5_000)
    oid = store.put_bytes(data)
    tree = put_tree(store, [TreeEntry("a.bin", FILE, len(data), id=oid)])
    return data, oid, tree


def test_gc_grace_0s_keeps_what_a_lease_holder_put_until_its_manifest_line_is_written(storage_root, invoke):
    store = new_storage(storage_root)
    lease = store.lease()
    lease.acquire()
    [held] = lease_files(storage_root)
    assert held.name.startswith(current_owner() + "-")
    data, oid, tree = _put_a_folder(store)

    report = gc_json(invoke, "--grace", "0s")  # the objects are unreferenced: only the lease keeps them
    assert report["objects_deleted"] == 0 and report["bytes_freed"] == 0
    assert report["kept_for_grace"]["objects"] == 2
    assert {oid, tree} <= objects_in(storage_root)
    assert lease_files(storage_root) == [held]  # a live holder's lease is never taken

    _name_in_a_run(storage_root, "h1", tree)
    lease.release()
    assert lease_files(storage_root) == []
    assert gc_json(invoke, "--grace", "0s")["objects_deleted"] == 0
    assert store.get(oid) == data
    assert_verify_ok(invoke)


def test_control_without_a_lease_gc_grace_0s_takes_what_was_put_before_the_manifest_line(storage_root, invoke):
    """The race the lease closes is real: this is what the test above would see without it."""
    store = new_storage(storage_root)
    _, oid, tree = _put_a_folder(store)

    report = gc_json(invoke, "--grace", "0s")
    assert report["objects_deleted"] == 2 and report["kept_for_grace"]["objects"] == 0
    assert {oid, tree}.isdisjoint(objects_in(storage_root) | trashed_in(storage_root))

    _name_in_a_run(storage_root, "h1", tree)
    report = verify_json(invoke, expect=1)
    assert report["ok"] is False and report["missing"] == [tree]


@pytest.mark.parametrize("grace", [0.0, 3600.0], ids=["grace-0s", "grace-1h"])
def test_gc_keeps_an_old_object_a_leased_writer_reuses_in_the_instant_gc_moves_it(storage_root, invoke,
                                                                                  monkeypatch, grace):
    """A writer under a lease reuses old garbage (put_bytes finds it and refreshes its mtime) between gc's re-check
    of that mtime and its rename to the trash. The writer then names it. Rule 10: the next marking takes it back
    from the trash (with a grace period the trash keeps it until then; with --grace 0s too it must not be purged
    by the same gc before that can happen)."""
    import runicorn.store.gc as gc_module

    store = new_storage(storage_root)
    data = content("old-and-reused", 6_000)
    oid = store.put_bytes(data)
    backdate(object_path(storage_root, oid), 2 * HOUR)  # garbage of a run removed long ago
    lease = store.lease()
    lease.acquire()  # the writer's save begins
    reused: list = []

    class OsWithTheWriterBeforeRename:
        """gc.py's ``os``, with the writer's reuse slipped in just before gc renames the object."""

        def __getattr__(self, name):
            return getattr(os, name)

        def replace(self, source, destination):
            if not reused and os.fspath(source).endswith(oid[2:]):
                reused.append(store.put_bytes(data))  # found in objects/, mtime refreshed: the writer names it
            return os.replace(source, destination)

    monkeypatch.setattr(gc_module, "os", OsWithTheWriterBeforeRename())
    try:
        plan, result = collect_garbage(Api(storage_root), grace_seconds=grace)
    finally:
        monkeypatch.undo()
    assert reused == [oid], "the writer never ran between gc's re-check and its rename"
    _name_in_a_run(storage_root, "h2", oid, kind="blob")
    lease.release()

    assert oid in objects_in(storage_root) | trashed_in(storage_root), \
        f"gc purged an object a leased writer had just reused and named ({result})"
    gc_json(invoke, "--grace", f"{int(grace)}s")  # marking takes it back
    assert oid in objects_in(storage_root)
    assert_verify_ok(invoke)
    assert store.get(oid) == data


class _NoLease:
    """A lease that protects nothing (the control: the SDK without rule 5a)."""

    held = False

    def acquire(self):
        pass

    def release(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass


SAVES = {
    # role of the manifest line, and what the run does to write it
    "dataset": "dataset",
    "outputs": "outputs",
    "image": "image",
    "config": "config_file",
}


def _save(run, what: str, tmp_path) -> dict[str, bytes] | None:
    if what == "dataset":
        data = tmp_path / "data"
        write(data / "a.bin", content("ds-a", 7_000))
        write(data / "sub" / "b.bin", content("ds-b", 3_000))
        run.log_dataset("data", str(data), save=True)
        return files_of(data)
    if what == "outputs":
        out = tmp_path / "out"
        write(out / "model.pt", content("ckpt", 11_000))
        write(out / "nested" / "metrics.json", '{"acc": 1}\n')
        run.scan_outputs_once(output_dirs=[str(out)], stable_required=1, min_age_sec=0)
        return {f"out/{rel}": data for rel, data in files_of(out).items()}
    if what == "image":
        run.log_image("img", np.arange(8 * 8 * 3, dtype=np.uint8).reshape(8, 8, 3), step=1)
        return None
    config = write(tmp_path / "cfg" / "train.yaml", "lr: 0.5\nepochs: 9\n")
    run.log_config(config_files=[config])
    return {"train.yaml": config.read_bytes()}


@pytest.mark.parametrize("leased", [True, False], ids=["leased", "control-no-lease"])
@pytest.mark.parametrize("what", list(SAVES))
def test_sdk_save_survives_gc_grace_0s_run_just_before_its_manifest_line(storage_root, invoke, tmp_path,
                                                                        monkeypatch, what, leased):
    """gc runs inside the run's writer, at the instant the objects are durable and their line not yet written."""
    role = SAVES[what]
    gcs: list = []
    errors: list = []
    original_write = RunWriter._write

    def write_then_gc(self, name, records):
        if name == MANIFEST and not gcs and any(r.get("role") == role for r in records):
            try:
                gcs.append(collect_garbage(Api(storage_root), grace_seconds=0))
            except BaseException as exc:  # the writer thread would swallow it
                errors.append(exc)
                raise
        return original_write(self, name, records)

    monkeypatch.setattr(RunWriter, "_write", write_then_gc)
    if not leased:
        monkeypatch.setattr(ObjectStore, "lease", lambda self: _NoLease())
    run = rn.init(path="race", storage=str(storage_root), run_id="race1")
    try:
        expected = _save(run, what, tmp_path)
    finally:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            run.finish()
    assert errors == []
    assert len(gcs) == 1, "gc never ran between the put and the manifest line"
    plan, result = gcs[0]
    assert plan.refusal is None and result is not None

    view = Api(storage_root).run("race1")
    [entry] = [e for e in view.manifest() if e.role == role]
    saved = entry.ref.id
    if not leased:
        # without a lease the same gc takes what the run just saved: the test can fail
        assert result.objects_trashed >= 1 and saved in {o.id for o in plan.garbage}
        report = verify_json(invoke, expect=1)
        assert saved in report["missing"]
        return

    assert result.objects_trashed == 0 and result.objects_purged == 0
    assert saved in {o.id for o in plan.kept_fresh}  # kept because of the lease: grace was 0
    assert not [w for w in caught if "no longer in the store" in str(w.message)]
    assert lease_files(storage_root) == []
    assert gc_json(invoke, "--grace", "0s")["objects_deleted"] == 0
    assert_verify_ok(invoke)
    if what == "image":
        assert view.images()[0]["id"] == saved.tagged
        Api(storage_root).store.get(saved)
    else:
        kind = {"dataset": ("dataset", "data"), "outputs": ("outputs", None), "config": ("config", None)}[what]
        got = restored(invoke, "race1", kind[0], tmp_path / "restored", kind[1])
        got.pop("runicorn-config.json", None)  # --config adds the logged values beside the files
        assert got == expected


def test_gc_grace_0s_keeps_what_a_run_saved_and_named_while_gc_was_reading_the_manifests(storage_root, invoke,
                                                                                        tmp_path, monkeypatch):
    """The other interleaving: the whole save (lease, put, manifest line, lease released) falls after gc read the
    manifests and before it lists the objects. Rule 8 lists first and marks after, so the new line is seen."""
    import runicorn.maintenance as maintenance

    data = tmp_path / "data"
    write(data / "a.bin", content("between-a", 6_000))
    write(data / "sub" / "b.bin", content("between-b", 2_000))
    run = rn.init(path="race", storage=str(storage_root), run_id="race2")
    saved: list = []
    original_collect_roots = maintenance.collect_roots

    def read_roots_then_save(api):
        roots = original_collect_roots(api)
        if not saved:
            saved.append(run.log_dataset("data", str(data), save=True))  # lease taken and released meanwhile
            assert lease_files(storage_root) == []
        return roots

    monkeypatch.setattr(maintenance, "collect_roots", read_roots_then_save)
    try:
        plan, result = collect_garbage(Api(storage_root), grace_seconds=0)
    finally:
        run.finish()
    assert saved and plan.refusal is None
    oid = saved[0]["id"].removeprefix("blake3:")
    assert oid not in {o.id for o in plan.garbage}, "gc took a dataset whose manifest line was already written"
    assert result.objects_trashed == 0
    monkeypatch.undo()
    assert_verify_ok(invoke)
    assert restored(invoke, "race2", "dataset", tmp_path / "restored", "data") == files_of(data)


def test_a_run_created_while_gc_clears_removed_runs_is_not_broken(storage_root, invoke, monkeypatch):
    """gc (and rm) finish earlier removals and tidy runs/; a run whose folder was made an instant before, and
    holds no file yet, is a live run being created, not an empty folder left behind."""
    from runicorn.runfolder import RunFolder

    old = rn.init(path="loop", storage=str(storage_root), run_id="old1")
    old.finish()
    invoke("rm", "old1", "--yes", expect=0)  # leaves runs/.trash, which every later gc clears
    gcs: list = []
    original_write_identity = RunFolder.write_identity

    def gc_then_write_identity(self, identity):
        if not gcs:  # the first call: in RunFolder.create, just after the run's folder was made
            gcs.append(collect_garbage(Api(storage_root), grace_seconds=0))
        return original_write_identity(self, identity)

    monkeypatch.setattr(RunFolder, "write_identity", gc_then_write_identity)
    run = rn.init(path="loop", storage=str(storage_root), run_id="new1")
    run.log({"x": 1})
    run.finish()
    monkeypatch.undo()
    assert len(gcs) == 1
    assert [v.id for v in Api(storage_root).runs()] == ["new1"]
    assert Api(storage_root).run("new1").status == "finished"
    assert_verify_ok(invoke)


# -- 3. default-grace gc beside SDK runs reusing objects backdated two hours ---------------------------------

REUSER = '''
import sys
from pathlib import Path

import numpy as np
import runicorn as rn

root, work, count = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
for i in range(count):
    run = rn.init(path="reuse", storage=root, run_id=f"u{i:03d}")
    run.log_dataset("data", str(work / "data"), save=True)
    run.log_config(config_files=[str(work / "train.yaml")])
    run.log_image("img", np.full((12, 12, 3), 7, dtype=np.uint8), step=1)
    run.scan_outputs_once(output_dirs=[str(work / "out")], stable_required=1, min_age_sec=0)
    run.finish()
    print(f"done u{i:03d}", flush=True)
'''

REUSE_RUNS = 8


def test_default_grace_gc_beside_sdk_runs_reusing_objects_backdated_two_hours(storage_root, invoke, tmp_path):
    work = tmp_path / "work"
    for i in range(6):
        write(work / "data" / f"part{i % 2}" / f"{i}.bin", content(f"reused-{i}", 6_000 + i))
    write(work / "out" / "model.pt", content("reused-model", 14_000))
    write(work / "train.yaml", "lr: 0.25\n")
    write(work / "seed-only" / "gone.bin", content("seed-only", 8_000))
    backdate_tree(work, 2 * HOUR)  # old files: the seed records them in the stat cache; writers hit it
    seed = rn.init(path="seed", storage=str(storage_root), run_id="seed")
    seed.log_dataset("data", str(work / "data"), save=True)
    seed.log_dataset("only", str(work / "seed-only"), save=True)
    seed.log_config(config_files=[str(work / "train.yaml")])
    seed.log_image("img", np.full((12, 12, 3), 7, dtype=np.uint8), step=1)
    seed.scan_outputs_once(output_dirs=[str(work / "out")], stable_required=1, min_age_sec=0)
    seed.finish()
    seed_only = {blake(content("seed-only", 8_000)),
                 Api(storage_root).run("seed").latest_asset("dataset", "only").ref.id}
    invoke("rm", "seed", "--yes", expect=0)
    everything = objects_in(storage_root)
    for oid in everything:
        backdate(object_path(storage_root, oid), 2 * HOUR)

    first = gc_json(invoke)  # default grace: all of it is old garbage, moved to the trash
    assert first["objects_deleted"] == len(everything) and first["bytes_freed"] == 0
    assert trashed_in(storage_root) == everything
    store = ObjectStore(storage_root / "store")
    for oid in seed_only:
        backdate(store.trash_path_for(oid), 2 * HOUR)
    for n, oid in enumerate(sorted(everything - seed_only)):  # the three places an old object can be:
        if n % 3 == 0:  # old garbage still in objects/: the next gc trashes it unless a writer freshened it first
            assert store.take_back(oid)
            backdate(object_path(storage_root, oid), 2 * HOUR)
        elif n % 3 == 1:  # trashed long ago: the next gc purges it unless a writer took it back first
            backdate(store.trash_path_for(oid), 2 * HOUR)
        # else: trashed just now; a writer takes it back

    done: list[str] = []
    child = Child(REUSER, storage_root, work, REUSE_RUNS, cwd=tmp_path, name="reuser")
    try:
        reports = gc_beside(child, invoke, on_line=done.append)
        returncode = child.wait()
        done += child.remaining_lines()
        stderr = child.stderr()
    finally:
        child.close()

    assert returncode == 0, stderr
    assert "Traceback" not in stderr and "no longer in the store" not in stderr, stderr
    assert done == [f"done u{i:03d}" for i in range(REUSE_RUNS)]
    assert all(r["refused"] is None for r in reports)
    assert sum(r["bytes_freed"] for r in reports) > 0  # the old trash no writer wanted was purged
    assert seed_only.isdisjoint(objects_in(storage_root) | trashed_in(storage_root))
    assert lease_files(storage_root) == []

    assert_verify_ok(invoke)
    reached, missing = referenced(storage_root)
    assert missing == []  # 0 objects lost
    assert everything - seed_only <= reached  # every reused object is referenced again ...
    gc_json(invoke, "--grace", "0s")  # ... so not even a gc without grace takes it
    assert_verify_ok(invoke)
    for i in (0, REUSE_RUNS // 2, REUSE_RUNS - 1):
        run_id = f"u{i:03d}"
        assert restored(invoke, run_id, "dataset", tmp_path / run_id / "data", "data") == files_of(work / "data")
        assert restored(invoke, run_id, "outputs", tmp_path / run_id / "out") == \
            {f"out/{rel}": data for rel, data in files_of(work / "out").items()}
        config = restored(invoke, run_id, "config", tmp_path / run_id / "config")
        assert config["train.yaml"] == b"lr: 0.25\n"


# -- 4. two gcs at once; a dry run beside a running gc ---------------------------------------------------------

PAUSED_GC = '''
import sys

import runicorn.store.gc as gc_module
from runicorn.cli import main

original_plan = gc_module.plan


def plan(*args, **kwargs):
    print("planning", flush=True)  # called with the gc lock held
    sys.stdin.readline()
    return original_plan(*args, **kwargs)


gc_module.plan = plan
sys.argv = ["runicorn", "--storage", sys.argv[1], "gc", "--grace", "0s", "--json"]
main()
'''


def test_a_second_gc_fails_fast_beside_a_running_gc_and_a_dry_run_writes_nothing(samples, invoke, tmp_path):
    assert set(object_files(samples.root)) == referenced(samples.root)[0]  # no garbage yet
    invoke("rm", RUN_B, "--yes", expect=0)
    garbage = set(object_files(samples.root)) - referenced(samples.root)[0]  # what only B referenced
    assert garbage

    child = Child(PAUSED_GC, samples.root, cwd=tmp_path, name="gc")
    try:
        child.expect("planning")  # the first gc holds the lock
        before = disk_state(samples.root)
        second = invoke("gc", "--grace", "0s", expect=1)
        assert "another gc is running" in second.stderr and "gc.lock" in second.stderr
        dry = json.loads(invoke("gc", "--dry-run", "--grace", "0s", "--json", expect=0).stdout)
        assert dry["dry_run"] is True and dry["objects_deleted"] == len(garbage)
        assert disk_state(samples.root) == before  # neither wrote anything
        child.send("go")
        returncode = child.wait()
        first = json.loads("\n".join(child.remaining_lines()))
    finally:
        child.close()
    assert returncode == 0, child.stderr()
    assert first["objects_deleted"] == len(garbage) and first["refused"] is None
    assert garbage.isdisjoint(object_files(samples.root))
    assert gc_json(invoke, "--grace", "0s")["objects_deleted"] == 0  # the lock was released
    assert_verify_ok(invoke)


# -- 5. rm --force of a live run --------------------------------------------------------------------------------

LIVE_RUN = '''
import sys
from pathlib import Path

import numpy as np
import runicorn as rn
from concurrency_support import content, write

root, work = sys.argv[1], Path(sys.argv[2])
run = rn.init(path="live", storage=root, run_id="live1")
n = 0


def step():
    global n
    n += 1
    run.log({"loss": 1.0 / n, "n": n})
    run.log_text(f"step {n}")
    write(work / "data" / f"{n}.bin", content(f"live-{n}", 4_000))
    run.log_dataset("data", str(work / "data"), save=True)
    run.log_image("img", np.full((8, 8, 3), n % 256, dtype=np.uint8), step=n)
    write(work / "out" / "model.pt", content(f"live-model-{n}", 5_000))
    run.scan_outputs_once(output_dirs=[str(work / "out")], stable_required=1, min_age_sec=0)
    run.summary({"n": n})


step()
print("started", flush=True)
for command in sys.stdin:
    word, _, count = command.strip().partition(" ")
    if word == "stop":
        break
    for _ in range(int(count)):
        step()
    print(f"ok {n}", flush=True)
run.finish()
print("finished", flush=True)
'''


def test_rm_force_of_a_live_run_that_keeps_logging_and_saving(samples, invoke, tmp_path):
    before = {view.id: view.history() for view in Api(samples.root).runs()}
    child = Child(LIVE_RUN, samples.root, tmp_path / "work", cwd=tmp_path, name="live")
    try:
        child.expect("started")
        refused = invoke("rm", "live1", "--yes", expect=1)  # live: refused without --force
        assert "still running" in refused.stderr
        child.send("burst 3")
        assert child.expect("ok") == "4"
        child.send("burst 25")  # removed while it logs and saves
        invoke("rm", "live1", "--yes", "--force", expect=0)
        assert child.expect("ok") == "29"
        assert gc_json(invoke, "--grace", "0s")["refused"] is None
        child.send("burst 3")  # it keeps going after the removal
        assert child.expect("ok") == "32"
        child.send("stop")
        assert child.expect("") == "finished"
        stderr = child.exits_cleanly()
    finally:
        child.close()

    assert stderr.count("was deleted while the run was live") == 1, stderr
    assert not [p for p in (samples.root / "runs").rglob("live1")]  # the run did not write its folder back
    assert lease_files(samples.root) == []

    views = {view.id: view for view in Api(samples.root).runs()}
    assert sorted(views) == sorted([RUN_A, RUN_B, RUN_C])
    assert {run_id: view.history() for run_id, view in views.items()} == before
    assert_verify_ok(invoke)
    gc_json(invoke, "--grace", "0s")  # the removed live run's objects go; the others' stay
    assert_verify_ok(invoke)
    assert referenced(samples.root)[1] == []
    for run_id in (RUN_A, RUN_B):
        assert restored(invoke, run_id, "dataset", tmp_path / run_id, "mnist") == files_of(samples.data)


def test_log_config_of_a_live_run_removed_with_rm_force_does_not_raise(storage_root, invoke, tmp_path):
    """log_config writes config.json: with the run's folder gone it must stop writing, as summary() does."""
    config = write(tmp_path / "train.yaml", "lr: 0.1\n")
    run = rn.init(path="live", storage=str(storage_root), run_id="live2")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            run.log({"loss": 1.0})
            invoke("rm", "live2", "--yes", "--force", expect=0)
            run.summary({"after": 1})
            run.log_config(args={"lr": 0.1}, config_files=[config])
            run.log_config(extra={"seed": 3})
        finally:
            run.finish()
    gone = [w for w in caught if "was deleted while the run was live" in str(w.message)]
    assert len(gone) == 1
    assert not (storage_root / "runs" / "live").exists()
    assert_verify_ok(invoke)


# -- 6. a lease whose holder was killed protects nothing ------------------------------------------------------

LEASE_HOLDER = '''
import sys

from runicorn.store import ObjectStore

lease = ObjectStore(sys.argv[1]).lease()
lease.acquire()
print("held", flush=True)
sys.stdin.readline()
'''


def test_a_lease_left_by_a_killed_process_is_deleted_by_the_next_gc(storage_root, invoke, tmp_path):
    store = new_storage(storage_root)
    child = Child(LEASE_HOLDER, store.root, cwd=tmp_path, name="holder")
    try:
        child.expect("held")
        [lease] = lease_files(storage_root)
        assert f"-{child.pid}-" in lease.name  # named for its owner: gc can tell when that process is gone
        garbage = store.put_bytes(b"put after the lease was taken, named by nothing")
        live = gc_json(invoke, "--grace", "0s")
        assert live["objects_deleted"] == 0 and garbage in objects_in(storage_root)  # the live lease protects it
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait() == -signal.SIGKILL
    finally:
        child.close()
    assert lease_files(storage_root) == [lease]  # nobody released it

    report = gc_json(invoke, "--grace", "0s")
    assert report["objects_deleted"] == 1 and report["kept_for_grace"]["objects"] == 0
    assert garbage not in objects_in(storage_root) | trashed_in(storage_root)
    assert lease_files(storage_root) == []


CRASHING_SAVE = '''
import sys

import runicorn as rn

run = rn.init(path="crash", storage=sys.argv[1], run_id="crash1")
run.log({"loss": 1.0})
run.log_dataset("data", sys.argv[2], save=True)  # killed by the crash switch after 3 objects
print("not reached", flush=True)
'''


def test_a_run_killed_while_saving_leaves_a_lease_that_the_next_gc_removes(storage_root, invoke, tmp_path):
    data = tmp_path / "data"
    for i in range(10):
        write(data / f"{i}.bin", content(f"crash-{i}", 2_000))
    child = Child(CRASHING_SAVE, storage_root, data, cwd=tmp_path, name="crash",
                  env={"RUNICORN_TEST_CRASH_AFTER": "objects:3"})
    try:
        assert child.wait() == -signal.SIGKILL
        assert child.remaining_lines() == []
    finally:
        child.close()
    assert len(lease_files(storage_root)) == 1  # the save's lease, never released
    assert len(objects_in(storage_root)) == 3  # published, named by no manifest line
    assert Api(storage_root).run("crash1").status == "crashed"

    report = gc_json(invoke, "--grace", "0s")
    assert report["objects_deleted"] == 3 and report["kept_for_grace"]["objects"] == 0
    assert lease_files(storage_root) == []
    assert objects_in(storage_root) == set() and trashed_in(storage_root) == set()
    assert list((storage_root / "store" / "tmp").iterdir()) == []  # the killed save's temp files went too
    assert_verify_ok(invoke)
