"""gc, verify, du and export agree on what is reachable, missing and damaged, because they share one walk;
a dry run changes nothing; and a run folder of an unknown format is refused by every reader."""

from __future__ import annotations

import json
import os
import stat

import pytest

from runicorn.api import Api
from runicorn.maintenance import collect_garbage, disk_usage, verify_storage
from runicorn.runfolder import ManifestEntry, encode_line
from runicorn.store import BLOB, TREE, ObjectStore, Ref, walk_tree

from cli_support import RUN_A, RUN_B, RUN_C, object_path


def every_file_and_mtime(root):
    """Every path under ``root`` with its kind, size, mode and mtime in nanoseconds."""
    state = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(folder, name)
            st = os.lstat(path)
            state[os.path.relpath(path, root)] = (stat.S_IFMT(st.st_mode), st.st_size, st.st_mode, st.st_mtime_ns)
    return state


@pytest.fixture
def damaged(samples):
    """The sample root with one referenced object of each kind of trouble.

    - in the trash: a file of run A's dataset (gc moved it; a read takes it back);
    - missing: run B's checkpoint;
    - corrupt: run A's first config file, one byte flipped;
    - a tree that does not parse: run C names a blob as a tree.
    """
    api = Api(samples.root)
    store = api.store
    view_a, view_b = api.run(RUN_A), api.run(RUN_B)
    dataset = view_a.latest_asset("dataset", "mnist").ref
    trashed = next(e.id for _, e in walk_tree(store, dataset.id) if e.kind == "file")
    destination = store.trash_path_for(trashed)
    destination.parent.mkdir(parents=True, exist_ok=True)
    os.replace(store.path_for(trashed), destination)

    outputs_b = view_b.latest_asset("outputs").ref
    missing = dict(walk_tree(store, outputs_b.id))["checkpoints/model.pt"].id
    os.unlink(store.path_for(missing))

    corrupt = view_a.run_config.stored_files()[0][1].id
    victim = object_path(samples.root, corrupt)
    os.chmod(victim, 0o644)
    data = bytearray(victim.read_bytes())
    data[0] ^= 0xFF
    victim.write_bytes(bytes(data))

    not_a_tree = store.put_bytes(b"these bytes hash right but are no tree\n")
    manifest = api.run(RUN_C).folder.path / "manifest.jsonl"
    with open(manifest, "a") as handle:
        handle.write(encode_line(ManifestEntry.new("outputs", "odd", Ref(not_a_tree, TREE)).to_json()) + "\n")
    return {"trashed": trashed, "missing": missing, "corrupt": corrupt, "not_a_tree": not_a_tree}


def test_gc_verify_du_and_export_agree_on_the_damage(samples, invoke, damaged):
    api = Api(samples.root)
    plan, result = collect_garbage(api, grace_seconds=0, dry_run=True)
    report = verify_storage(api).store
    usage = disk_usage(api)

    assert plan.reach.missing == set(report.missing) == {damaged["missing"]}
    assert usage.missing_objects == 1
    assert set(plan.reach.damaged) == {damaged["not_a_tree"]} and usage.damaged_objects == 1
    assert set(report.corrupt) == {damaged["corrupt"], damaged["not_a_tree"]}  # verify also hashes every blob
    assert plan.reach.trashed == set(report.in_trash) == {damaged["trashed"]}
    assert damaged["trashed"] in plan.reachable  # in the trash is not lost: reached, and taken back by a real gc
    assert report.needed_by[damaged["missing"]] == [RUN_B] and report.needed_by[damaged["corrupt"]] == [RUN_A]
    assert report.needed_by[damaged["not_a_tree"]] == [RUN_C]

    # The CLI says the same, each command with exit 1.
    gc_json = json.loads(invoke("gc", "--dry-run", "--grace", "0s", "--json", expect=1).stdout)
    assert (gc_json["missing_objects"], gc_json["unreadable_objects"]) == (1, 1) and "missing" in gc_json["refused"]
    verify_json = json.loads(invoke("verify", "--json", expect=1).stdout)
    assert verify_json["missing"] == [damaged["missing"]] and verify_json["in_trash"] == [damaged["trashed"]]
    du_json = json.loads(invoke("du", "--json", expect=0).stdout)
    assert (du_json["missing_objects"], du_json["damaged_objects"]) == (1, 1)
    for run, culprit in ((RUN_B, "missing"), (RUN_C, "not_a_tree"), (RUN_A, "corrupt")):
        result = invoke("export", run, "-o", samples.root.parent / f"{run}.rnbundle", expect=1)
        assert damaged[culprit] in result.stderr, (run, result.stderr)
        assert not (samples.root.parent / f"{run}.rnbundle").exists()


def test_a_dry_run_of_gc_leaves_every_file_and_mtime_as_it_was(samples, invoke, damaged):
    store = ObjectStore(samples.root / "store", create=False)
    for obj in store.iter_objects():  # every object is old enough to be garbage
        os.utime(store.path_for(obj.id), (1, 1))
    invoke("rm", RUN_C, "--yes", expect=0)  # its objects become garbage, and the not-a-tree with them
    before = every_file_and_mtime(samples.root)
    for args in (["gc", "--dry-run"], ["gc", "--dry-run", "--grace", "0s"], ["gc", "--dry-run", "--json"],
                 ["du"], ["du", "--json"], ["verify"], ["verify", "--json"]):
        invoke(*args)
    assert every_file_and_mtime(samples.root) == before  # the trashed object stayed in the trash, untouched

    result = invoke("gc", "--grace", "0s", expect=1)  # a real gc refuses: run B's checkpoint is missing
    assert "missing" in result.stderr
    assert store.path_for(damaged["trashed"]).exists() is False  # a refused gc takes nothing back either


def test_a_real_gc_takes_a_referenced_object_back_out_of_the_trash(samples, invoke):
    api = Api(samples.root)
    store = api.store
    tree = api.run(RUN_A).latest_asset("dataset", "mnist").ref
    victim = next(e.id for _, e in walk_tree(store, tree.id) if e.kind == "file")
    destination = store.trash_path_for(victim)
    destination.parent.mkdir(parents=True, exist_ok=True)
    os.replace(store.path_for(victim), destination)
    report = json.loads(invoke("gc", "--json", expect=0).stdout)
    assert report["taken_back"] == 1 and store.path_for(victim).is_file() and not destination.exists()
    assert json.loads(invoke("verify", "--json", expect=0).stdout)["ok"] is True


@pytest.mark.parametrize("identity_change, message", [
    ({"version": 2}, "run format version 2; this Runicorn reads version 1. Upgrade Runicorn"),
    ({"format": "someone-else"}, "format 'someone-else': it is not a Runicorn run identity this version knows"),
])
def test_a_run_folder_of_an_unknown_format_is_refused_by_every_reader(samples, invoke, identity_change, message):
    run_json = Api(samples.root).run(RUN_C).folder.path / "run.json"
    identity = json.loads(run_json.read_text())
    run_json.write_text(json.dumps({**identity, **identity_change}))

    listed = {r["id"]: r for r in json.loads(invoke("ls", "--json", expect=0).stdout)}
    assert listed[RUN_C]["status"] == "damaged"
    assert {listed[r]["status"] for r in (RUN_A, RUN_B)} == {"finished"}  # the other runs still list
    assert message in invoke("show", RUN_C, expect=1).stderr
    assert message in invoke("restore", RUN_C, "--config", "--to", samples.root.parent / "cfg", expect=1).stderr
    assert message in invoke("export", RUN_C, "-o", samples.root.parent / "c.rnbundle", expect=1).stderr
    verify = json.loads(invoke("verify", "--json", expect=1).stdout)
    assert any(message in problem for problem in verify["damaged_runs"])
    assert invoke("show", RUN_A, expect=0).stdout.startswith(f"run       {RUN_A}")
    invoke("rm", RUN_C, "--yes", expect=0)  # a damaged run can still be removed
    assert json.loads(invoke("verify", "--json", expect=0).stdout)["ok"] is True


def test_a_blob_reference_and_a_tree_reference_to_the_same_bytes_differ(samples):
    """Only a tree reference reaches children: the walk tells the two apart, as the format says."""
    api = Api(samples.root)
    tree = api.run(RUN_A).latest_asset("code").ref
    from runicorn.store import Walker

    walker = Walker(api.store)
    assert walker.walk([Ref(tree.id, BLOB)]).reached == {tree.id}
    assert len(walker.walk([Ref(tree.id, TREE)]).reached) > 1
