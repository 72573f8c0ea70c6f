"""Garbage collection: plan then execute, the grace period, the trash, the lock and the writer races."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from runicorn.errors import GcLocked, GcRefused
from runicorn.store import BLOB, TREE, Ingester, ObjectStore, Ref, TreeEntry, Walker, collect, hash_bytes, put_tree, verify
from runicorn.store.atomic import temp_leaf
from runicorn.store.gc import execute, plan
from runicorn.store.owner import host_hash

from store_support import (HOUR, backdate, copy_fixture_store, disk_state, make_folder, manifest_roots,
                           object_files, temp_files)


def blob_root(store, data: bytes) -> Ref:
    return Ref(store.put_bytes(data), BLOB)


def in_objects(store, oid) -> bool:
    return store.path_for(oid).exists()


def in_trash(store, oid) -> bool:
    return store.trash_path_for(oid).exists()


def age_every_object(store):
    backdate([store.path_for(o.id) for o in store.iter_objects()], 2 * HOUR)


def old_garbage(store, data: bytes):
    oid = store.put_bytes(data)
    backdate(store.path_for(oid), 2 * HOUR)
    return oid


# -- plan and execute -------------------------------------------------------


def test_garbage_younger_than_the_grace_period_is_kept(store):
    root = blob_root(store, b"referenced")
    backdate(store.path_for(root.id), 2 * HOUR)
    young = store.put_bytes(b"a live run may reference me soon")
    old = old_garbage(store, b"nobody wants me")
    gc_plan, result = collect(store, [root], grace_seconds=HOUR)
    assert [o.id for o in gc_plan.garbage] == [old]
    assert gc_plan.reachable == {root.id}
    assert (result.objects_trashed, result.bytes_trashed, result.objects_purged) == (1, 15, 0)
    assert in_objects(store, root.id) and in_objects(store, young)
    assert not in_objects(store, old) and in_trash(store, old)  # trashed now, purged by a later gc


def test_the_trash_is_purged_once_older_than_the_grace_period(store):
    old = old_garbage(store, b"nobody wants me")
    collect(store, [], grace_seconds=HOUR)
    _, result = collect(store, [], grace_seconds=HOUR)
    assert result.objects_purged == 0 and in_trash(store, old)  # trashed too recently
    backdate(store.trash_path_for(old), 2 * HOUR)
    gc_plan, result = collect(store, [], grace_seconds=HOUR)
    assert [o.id for o in gc_plan.trash_purge] == [old] and gc_plan.purge_bytes == 15
    assert (result.objects_purged, result.bytes_purged) == (1, 15)
    assert not in_trash(store, old) and not in_objects(store, old)


def test_grace_zero_purges_every_unreachable_object_at_once(store, tmp_path):
    tree = Ingester(store).ingest(make_folder(tmp_path / "src", {"a": b"1", "sub": {"b": b"2"}})).id
    garbage = [store.put_bytes(b"g1"), store.put_bytes(b"g2")]
    gc_plan, result = collect(store, [Ref(tree, TREE)], grace_seconds=0)
    assert sorted(o.id for o in gc_plan.garbage) == sorted(garbage)
    assert (result.objects_trashed, result.objects_purged) == (2, 2)
    assert not any(in_objects(store, g) or in_trash(store, g) for g in garbage)
    assert len(gc_plan.reachable) == 4  # two trees, two blobs
    assert all(in_objects(store, oid) for oid in gc_plan.reachable)


def test_a_dry_run_reports_and_changes_nothing(store):
    kept = blob_root(store, b"kept")
    old = old_garbage(store, b"old garbage")
    trashed = old_garbage(store, b"already in the trash")
    collect(store, [kept], grace_seconds=HOUR, dry_run=False)  # trashes both
    backdate(store.trash_path_for(trashed), 2 * HOUR)
    store.has(old)  # a writer took this one back
    backdate(store.path_for(old), 2 * HOUR)
    (store.tmp_dir / ".stray.tmp").write_bytes(b"crashed writer")
    backdate(store.tmp_dir / ".stray.tmp", 2 * HOUR)
    before = disk_state(store.root)
    gc_plan, result = collect(store, [kept], grace_seconds=HOUR, dry_run=True)
    assert result is None
    assert [o.id for o in gc_plan.garbage] == [old] and gc_plan.garbage_bytes == 11
    assert [o.id for o in gc_plan.trash_purge] == [trashed] and gc_plan.purge_bytes == 20
    assert gc_plan.stale_temp_files == []  # no owner tag and younger than a day: maybe a live writer's
    assert disk_state(store.root) == before


def test_a_negative_grace_period_is_refused(store):
    with pytest.raises(ValueError, match="grace period must be >= 0 seconds, got -1"):
        collect(store, [], grace_seconds=-1)


def test_a_shared_sub_tree_stays_while_any_root_reaches_it(store, tmp_path):
    shared = {"lib": {"util.py": b"def f(): pass\n"}}
    one = Ingester(store).ingest(make_folder(tmp_path / "one", {**shared, "main.py": b"1"})).id
    two = Ingester(store).ingest(make_folder(tmp_path / "two", {**shared, "main.py": b"2"})).id
    collect(store, [Ref(two, TREE)], grace_seconds=0)
    assert not in_objects(store, one) and not in_objects(store, hash_bytes(b"1"))
    assert in_objects(store, hash_bytes(b"def f(): pass\n"))
    assert verify(store, {"two": [Ref(two, TREE)]}).ok


@pytest.mark.parametrize("order", [1, -1])
def test_a_tree_also_named_as_a_blob_keeps_its_children(store, tmp_path, order):
    """One run's tree may be another's blob (say, a dataset that is a copy of a store)."""
    tree = Ingester(store).ingest(make_folder(tmp_path / "src", {"f": b"precious"})).id
    roots = [Ref(tree, BLOB), Ref(tree, TREE)][::order]
    gc_plan, result = collect(store, roots, grace_seconds=0)
    assert gc_plan.reachable == {tree, hash_bytes(b"precious")}
    assert result.objects_purged == 0
    assert store.get(hash_bytes(b"precious")) == b"precious"


# -- temp files -------------------------------------------------------------


DEAD_OWNER = f"{host_hash()}-999999999-1"  # this host, a pid no process has


@pytest.mark.parametrize("name,age,deleted", [
    (lambda: temp_leaf(), 48 * HOUR, False),  # this live process's temp file: never, however old
    (lambda: f".~{DEAD_OWNER}-0123abcd.tmp", 0, True),  # its writer is gone: litter at once
    (lambda: f".x.~{DEAD_OWNER}-0123abcd.tmp", 0, True),
    (lambda: f".~ffffff-{os.getpid()}-1-0123abcd.tmp", 23 * HOUR, False),  # another host's: a day's benefit of doubt
    (lambda: f".~ffffff-{os.getpid()}-1-0123abcd.tmp", 25 * HOUR, True),
    (lambda: ".writer.tmp", 23 * HOUR, False),  # no owner tag (an older version): the same
    (lambda: ".writer.tmp", 25 * HOUR, True),
], ids=["live", "dead", "dead-stem", "foreign-young", "foreign-old", "untagged-young", "untagged-old"])
def test_temp_files_are_deleted_when_their_writer_is_gone(store, name, age, deleted):
    name = name()
    (store.tmp_dir / name).write_bytes(b"partial")
    backdate(store.tmp_dir / name, age)
    gc_plan, _ = collect(store, [], grace_seconds=0)
    assert [os.path.basename(p) for p in gc_plan.stale_temp_files] == ([name] if deleted else [])
    assert temp_files(store) == ([] if deleted else [name])


# -- concurrency ------------------------------------------------------------

LOCK_HOLDER = textwrap.dedent("""
    import fcntl, os, sys
    fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    print("locked", flush=True)
    sys.stdin.readline()
""")


def test_a_second_gc_fails_at_once_while_the_lock_is_held(store):
    old = old_garbage(store, b"garbage")
    holder = subprocess.Popen([sys.executable, "-c", LOCK_HOLDER, str(store.root / "gc.lock")],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline() == b"locked\n"
        with pytest.raises(GcLocked, match="another gc is running.*gc.lock"):
            collect(store, [], grace_seconds=0)
        # A dry run writes nothing, not even the lock file: it plans beside a running gc.
        gc_plan, _ = collect(store, [], grace_seconds=0, dry_run=True)
        assert [o.id for o in gc_plan.garbage] == [old]
        assert in_objects(store, old)
    finally:
        holder.communicate(b"release\n")
    _, result = collect(store, [], grace_seconds=0)
    assert result.objects_purged == 1


def test_an_object_freshened_between_plan_and_execute_is_kept(store):
    reused = old_garbage(store, b"a writer is reusing me")
    other = old_garbage(store, b"really garbage")
    gc_plan = plan(store, [], grace_seconds=HOUR)
    assert sorted(o.id for o in gc_plan.garbage) == sorted([reused, other])
    assert store.put_bytes(b"a writer is reusing me") == reused  # refreshes the mtime
    result = execute(store, gc_plan)
    assert (result.objects_trashed, result.skipped_fresh) == (1, 1)
    assert in_objects(store, reused) and in_trash(store, other)


def test_a_writer_that_reuses_a_trashed_object_takes_it_back(store):
    oid = old_garbage(store, b"trashed in the instant before reuse")
    collect(store, [], grace_seconds=HOUR)
    assert in_trash(store, oid)
    assert store.put_bytes(b"trashed in the instant before reuse") == oid
    assert in_objects(store, oid) and not in_trash(store, oid)
    _, result = collect(store, [Ref(oid, BLOB)], grace_seconds=0)
    assert result.objects_purged == 0 and store.get(oid) == b"trashed in the instant before reuse"


def test_a_writer_taking_an_object_back_right_after_the_rename_does_not_break_gc(store, monkeypatch):
    """The interleaving the trash exists for: gc renames, a writer takes the object back at once."""
    reused = old_garbage(store, b"reused in the instant after the rename")
    other = old_garbage(store, b"garbage")
    rename = os.replace

    def rename_then_reuse(source, destination):
        rename(source, destination)
        if Path(destination) == store.trash_path_for(reused):
            store.put_bytes(b"reused in the instant after the rename")

    monkeypatch.setattr(os, "replace", rename_then_reuse)
    _, result = collect(store, [], grace_seconds=HOUR)
    assert (result.objects_trashed, result.skipped_fresh) == (1, 1)
    assert in_objects(store, reused) and not in_trash(store, reused)
    assert in_trash(store, other)


def test_marking_takes_a_referenced_tree_back_out_of_the_trash(store, tmp_path):
    folder = make_folder(tmp_path / "src", {"a": b"1", "sub": {"b": b"2"}})
    tree = Ingester(store).ingest(folder).id
    age_every_object(store)
    collect(store, [], grace_seconds=HOUR)  # the manifest line was not written yet
    assert object_files(store) == set()
    reach = Walker(store).walk([Ref(tree, TREE)])  # now it is: the walk finds it in the trash, and leaves it there
    assert not reach.missing and len(reach.reached) == 4 and len(reach.trashed) == 4
    assert object_files(store) == set()
    _, result = collect(store, [Ref(tree, TREE)], grace_seconds=0)  # the gc takes it back
    assert (result.objects_purged, result.taken_back) == (0, 4)
    assert len(object_files(store)) == 4 and list(store.iter_trash()) == []
    assert verify(store, {"run": [Ref(tree, TREE)]}).ok


def test_gc_refuses_to_delete_anything_when_a_referenced_object_is_missing(store):
    lost = store.put_bytes(b"lost")
    trees = [put_tree(store, [TreeEntry(name, "file", 4, id=lost)]) for name in ("x", "y")]
    store.path_for(lost).unlink()
    old = old_garbage(store, b"garbage that must wait")
    roots = [Ref(t, TREE) for t in trees]
    gc_plan = plan(store, roots, grace_seconds=0)
    assert gc_plan.reach.missing == {lost}  # named twice, counted once
    with pytest.raises(GcRefused, match=f"1 referenced objects are missing \\(first: {lost}\\).*verify"):
        execute(store, gc_plan)
    refused, result = collect(store, roots, grace_seconds=0)  # collect returns the refusal instead of executing
    assert result is None and "missing" in refused.refusal
    assert in_objects(store, old)


# -- frozen stores ----------------------------------------------------------


def test_gc_on_a_frozen_store_removes_only_the_orphan(tmp_path):
    storage = copy_fixture_store("v1-good", tmp_path / "fixture")
    store = ObjectStore(storage / "store", create=False)
    before = object_files(store)
    age_every_object(store)
    roots = manifest_roots(storage)
    gc_plan, result = collect(store, [r for rs in roots.values() for r in rs], grace_seconds=0)
    orphan = "730c9a64b759a0498cf7f2855a86bbd7da6104dcdb4e1d2e30efd909273e3149"
    assert [o.id for o in gc_plan.garbage] == [orphan]
    assert result.objects_purged == 1
    assert object_files(store) == before - {f"{orphan[:2]}/{orphan[2:]}"}
    assert verify(store, roots).ok


def test_gc_on_a_store_with_a_dangling_reference_deletes_nothing(tmp_path):
    storage = copy_fixture_store("v1-dangling-reference", tmp_path / "fixture")
    store = ObjectStore(storage / "store", create=False)
    age_every_object(store)
    before = object_files(store)
    roots = manifest_roots(storage)
    gc_plan, result = collect(store, [r for rs in roots.values() for r in rs], grace_seconds=0)
    assert result is None and "882179b8dbccd285cda241d968cfcccb3156c5edac2fa3761bb6eda7ff8cb172" in gc_plan.refusal
    assert object_files(store) == before
