"""`runicorn du` and `runicorn gc`: what is shared, what deleting a run frees, and reclaiming exactly that."""

import fcntl
import json
import os
import time

import pytest

from cli_support import RUN_A, RUN_B, RUN_C, disk_state, object_files, object_path
from runicorn.api import Api
from runicorn.store import ObjectStore
from common_support import reach_of



def reachable_by_run(root) -> dict[str, set[str]]:
    api = Api(root)
    return {view.id: set(reach_of(api.store, view.roots())[0]) for view in api.runs()}


def only_held_by(root, run_id) -> set[str]:
    reach = reachable_by_run(root)
    others = set().union(*(ids for rid, ids in reach.items() if rid != run_id))
    return reach[run_id] - others


def du_json(invoke, *args) -> dict:
    return json.loads(invoke("du", *args, "--json", expect=0).stdout)


def gc_json(invoke, *args) -> dict:
    return json.loads(invoke("gc", *args, "--json", expect=0).stdout)


def backdate(paths, seconds):
    old = time.time() - seconds
    for path in paths:
        os.utime(path, (old, old))


# -- du ------------------------------------------------------------------------------


def test_du_json_reports_logical_physical_and_per_run_exclusive_bytes(samples, invoke):
    usage = du_json(invoke)
    sizes = object_files(samples.root)
    assert usage["store_bytes"] == sum(sizes.values()) and usage["store_objects"] == len(sizes)
    assert usage["physical_bytes"] == usage["store_bytes"]  # every object is referenced
    assert usage["unreferenced_bytes"] == 0
    # A and B saved the same dataset and weights: the runs refer to more than the store holds
    assert usage["logical_bytes"] > usage["physical_bytes"]
    assert usage["dedup_ratio"] == pytest.approx(usage["logical_bytes"] / usage["physical_bytes"])
    per_run = {r["id"]: r for r in usage["runs"]}
    assert set(per_run) == {RUN_A, RUN_B, RUN_C}
    for run_id in (RUN_A, RUN_B):
        exclusive = only_held_by(samples.root, run_id)
        assert per_run[run_id]["exclusive_bytes"] == sum(sizes[o] for o in exclusive)
        assert 0 < per_run[run_id]["exclusive_bytes"] < per_run[run_id]["physical_bytes"]
    shared_dataset = 13 + 4000 + 5000  # train.csv + images/0.bin + images/1.bin
    assert per_run[RUN_A]["logical_bytes"] > shared_dataset + 8000
    assert per_run[RUN_C] == {"id": RUN_C, "path": "nlp/bert", "logical_bytes": 0, "physical_bytes": 0,
                              "exclusive_bytes": 0}


def test_du_table_and_prefix(samples, invoke):
    out = invoke("du", expect=0).stdout
    assert out.splitlines()[0].split() == ["RUN", "PATH", "LOGICAL", "PHYSICAL", "ONLY", "THIS", "RUN"]
    for needle in (RUN_A, RUN_B, RUN_C, "logical", "physical", "dedup", "store"):
        assert needle in out
    usage = du_json(invoke, "cv/resnet/lr-sweep")
    assert [r["id"] for r in usage["runs"]] == [RUN_B]
    everything = {r["id"]: r for r in du_json(invoke)["runs"]}
    assert usage["logical_bytes"] == everything[RUN_B]["logical_bytes"]
    assert usage["physical_bytes"] == everything[RUN_B]["physical_bytes"]
    # "only this run" is judged against every run, not only the selected ones
    assert usage["runs"][0]["exclusive_bytes"] == everything[RUN_B]["exclusive_bytes"]


def test_du_counts_and_names_missing_objects_instead_of_hiding_them(samples, invoke):
    assert du_json(invoke)["missing_objects"] == 0
    victim = next(iter(only_held_by(samples.root, RUN_A)))
    size = object_files(samples.root)[victim]
    before = du_json(invoke)
    os.unlink(object_path(samples.root, victim))
    usage = du_json(invoke)
    assert usage["missing_objects"] == 1
    # not counted: the object, and anything only reachable through it when it was a tree
    assert usage["physical_bytes"] <= before["physical_bytes"] - size
    result = invoke("du", expect=0)
    assert "1 objects the runs refer to are missing" in result.stderr and "runicorn verify" in result.stderr


def test_du_empty_root_and_bad_prefix(storage_root, invoke):
    assert "no Runicorn storage root" in invoke("du", expect=1).stderr  # nothing there yet
    assert not storage_root.exists()
    ObjectStore(storage_root / "store")  # a root whose runs were all removed
    usage = du_json(invoke)
    assert (usage["logical_bytes"], usage["physical_bytes"], usage["runs"]) == (0, 0, [])
    result = invoke("du", "a/../b", expect=2)
    assert "a/../b" in result.stderr and "Traceback" not in result.output


# -- gc ------------------------------------------------------------------------------


def test_gc_on_a_clean_store_deletes_nothing(samples, invoke):
    before = object_files(samples.root)
    report = gc_json(invoke, "--grace", "0s")
    assert report["objects_deleted"] == 0 and report["bytes_freed"] == 0
    assert object_files(samples.root) == before
    assert "removed 0 unreferenced objects" in invoke("gc", expect=0).stdout


def test_gc_after_rm_removes_exactly_the_objects_only_that_run_held(samples, invoke):
    exclusive_bytes = {r["id"]: r["exclusive_bytes"] for r in du_json(invoke)["runs"]}[RUN_B]
    expected_gone = only_held_by(samples.root, RUN_B)
    before = object_files(samples.root)
    store_before = du_json(invoke)["store_bytes"]
    invoke("rm", RUN_B, "--yes", expect=0)

    report = gc_json(invoke, "--grace", "0s")

    assert report["objects_deleted"] == len(expected_gone) > 0
    assert report["bytes_freed"] == exclusive_bytes
    after = object_files(samples.root)
    assert set(after) == set(before) - expected_gone
    assert du_json(invoke)["store_bytes"] == store_before - exclusive_bytes
    assert list((samples.root / "store" / "trash").glob("*/*")) == []  # grace 0s: purged at once
    assert json.loads(invoke("verify", "--json", expect=0).stdout)["ok"] is True
    # the runs that stay still restore
    invoke("restore", RUN_A, "--dataset", "mnist", "--to", samples.root.parent / "restored", expect=0)


def test_gc_with_the_default_grace_keeps_young_garbage(samples, invoke):
    invoke("rm", RUN_B, "--yes", expect=0)
    before = object_files(samples.root)
    report = gc_json(invoke)
    assert report["objects_deleted"] == 0 and report["bytes_freed"] == 0
    assert report["grace_seconds"] == 3600
    assert object_files(samples.root) == before


def test_gc_trashes_old_garbage_first_and_purges_it_on_a_later_gc(samples, invoke):
    gone = only_held_by(samples.root, RUN_B)
    gone_bytes = sum(object_files(samples.root)[o] for o in gone)
    invoke("rm", RUN_B, "--yes", expect=0)
    backdate([object_path(samples.root, o) for o in gone], 2 * 3600)

    first = gc_json(invoke)  # default grace: old garbage goes to the trash, nothing is purged yet
    assert first["objects_deleted"] == len(gone) and first["bytes_freed"] == 0
    assert set(object_files(samples.root)).isdisjoint(gone)
    trash = samples.root / "store" / "trash"
    assert {p.parent.name + p.name for p in trash.glob("*/*")} == gone

    second = gc_json(invoke)  # trashed just now: still within the grace period
    assert second["objects_deleted"] == 0 and second["bytes_freed"] == 0
    assert {p.parent.name + p.name for p in trash.glob("*/*")} == gone

    third = gc_json(invoke, "--grace", "0s")
    assert third["bytes_freed"] == gone_bytes
    assert list(trash.glob("*/*")) == []


def test_gc_human_output_says_what_stays_in_the_trash(samples, invoke):
    gone = only_held_by(samples.root, RUN_B)
    invoke("rm", RUN_B, "--yes", expect=0)
    backdate([object_path(samples.root, o) for o in gone], 2 * 3600)
    out = invoke("gc", expect=0).stdout
    assert f"removed {len(gone)} unreferenced objects" in out
    assert "stay in the trash" in out and "--grace 0s" in out


def test_gc_dry_run_reports_and_changes_nothing(samples, invoke):
    gone = only_held_by(samples.root, RUN_B)
    gone_bytes = sum(object_files(samples.root)[o] for o in gone)
    invoke("rm", RUN_B, "--yes", expect=0)
    leftover = samples.root / "runs" / ".trash" / "interrupted-rm"  # what a crashed rm leaves
    leftover.mkdir(parents=True)
    (leftover / "run.json").write_text("{}")
    before = disk_state(samples.root)

    report = gc_json(invoke, "--dry-run", "--grace", "0s")
    assert report["dry_run"] is True
    assert report["objects_deleted"] == len(gone) and report["bytes_freed"] == gone_bytes
    text = invoke("gc", "--dry-run", "--grace", "0s", expect=0).stdout
    assert f"would remove {len(gone)} unreferenced objects" in text

    after = disk_state(samples.root)
    after.pop("store/gc.lock", None)  # the lock file a gc takes, dry or not
    assert after == before


@pytest.mark.parametrize("grace", ["5x", "-1s", "", "1 hour", "h"])
def test_gc_bad_grace_is_a_usage_error(samples, invoke, grace):
    before = object_files(samples.root)
    result = invoke("gc", "--grace", grace, expect=2)
    assert "is not a duration" in result.stderr and "0s, 90s, 30m, 1h, 2d" in result.stderr
    assert object_files(samples.root) == before


@pytest.mark.parametrize("grace, seconds", [("0s", 0), ("90s", 90), ("30m", 1800), ("1h", 3600), ("2d", 172800),
                                            ("1.5h", 5400)])
def test_gc_grace_units(samples, invoke, grace, seconds):
    assert gc_json(invoke, "--dry-run", "--grace", grace)["grace_seconds"] == seconds


def test_gc_refuses_to_delete_while_a_reference_is_broken(samples, invoke):
    invoke("rm", RUN_B, "--yes", expect=0)
    victim = next(iter(only_held_by(samples.root, RUN_A)))
    os.unlink(object_path(samples.root, victim))
    before = object_files(samples.root)
    result = invoke("gc", "--grace", "0s", expect=1)
    assert "missing" in result.stderr and "runicorn verify" in result.stderr
    assert object_files(samples.root) == before


def test_a_second_gc_fails_fast_while_one_holds_the_lock(samples, invoke):
    lock = samples.root / "store" / "gc.lock"
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        result = invoke("gc", "--grace", "0s", expect=1)
        assert "another gc is running" in result.stderr
    finally:
        os.close(fd)
    invoke("gc", expect=0)
