"""gc beside a writer that reuses old objects: no object any run references is ever lost.

The writer is a separate process (real concurrency on two cores). It reuses
objects whose mtime was backdated past the grace period: some sit in
``objects/`` as old garbage, some were already moved to the trash by an
earlier gc (and may be purged before the writer gets to them). Meanwhile
``runicorn gc --grace 2s`` runs again and again. The invariant holds for every
interleaving, so the test does not depend on which one happens.
"""

import hashlib
import json
import os
import subprocess
import sys
import textwrap
import time

import pytest

from cli_support import object_path
from runicorn.store import ObjectStore, hash_bytes
from common_support import reach_of


POOL = 90  # objects per pool; the writer makes one run per pool index

WRITER = textwrap.dedent('''
    import hashlib, os, sys, time
    from pathlib import Path

    from runicorn.errors import ObjectNotFound
    from runicorn.runfolder import encode_line
    from runicorn.runfolder.jsonio import write_state
    from runicorn.store import FILE, ObjectStore, TreeEntry, hash_bytes, put_tree

    root, pool = Path(sys.argv[1]), int(sys.argv[2])
    go = root.parent / "go"

    def payload(pool_name, i):
        return hashlib.sha256(f"{pool_name}-{i}".encode()).digest() * 64

    store = ObjectStore(root / "store")
    while not go.exists():
        time.sleep(0.001)

    def reuse(data, how):
        """Reuse an old object the three ways a writer does; each refreshes its mtime."""
        if how == 0:
            return store.put_bytes(data)
        oid = hash_bytes(data)
        if how == 1:
            if not store.has(oid, freshen=True):
                store.put_bytes(data)
        else:
            try:
                store.freshen(oid)
            except ObjectNotFound:  # gc purged it: write it again
                store.put_bytes(data)
        return oid

    for i in range(pool):
        run_id = f"w{i:05d}"
        run_dir = root / "runs" / "writer" / run_id
        run_dir.mkdir(parents=True)
        now = time.time()
        write_state(run_dir / "run.json", {"format": "runicorn-run", "version": 1, "id": run_id, "path": "writer",
                                          "created_at": now}, durable=False)
        write_state(run_dir / "status.json", {"status": "finished", "started_at": now, "ended_at": now}, durable=False)
        a, b = payload("a", i), payload("b", i)
        oid_a, oid_b = reuse(a, i % 3), reuse(b, (i + 1) % 3)
        # read them back through the verifying reader (takes them back from the trash if gc just moved them)
        assert store.get(oid_a) == a and store.get(oid_b) == b
        if i % 4 == 0:
            # only a new tree names them: reachability goes through it
            tree = put_tree(store, [TreeEntry("a.bin", FILE, len(a), id=oid_a), TreeEntry("b.bin", FILE, len(b), id=oid_b)])
            lines = [{"role": "outputs", "name": "outputs", "id": tree.tagged, "type": "tree", "at": time.time()}]
        else:
            lines = [{"role": "image", "name": name, "id": oid.tagged, "type": "blob", "at": time.time()}
                     for name, oid in (("a", oid_a), ("b", oid_b))]
        with open(run_dir / "manifest.jsonl", "ab") as handle:
            handle.write("".join(encode_line(line) + "\\n" for line in lines).encode())
        time.sleep(0.002)
''')


def payload(pool_name: str, i: int) -> bytes:
    return hashlib.sha256(f"{pool_name}-{i}".encode()).digest() * 64


def backdate(path, seconds):
    old = time.time() - seconds
    os.utime(path, (old, old))


def referenced_ids(root) -> set[str]:
    """Every object any run references (directly or through trees); none may be missing."""
    from runicorn.api import Api

    api = Api(root)
    reachable, missing = reach_of(api.store, [r for view in api.runs() for r in view.roots()])
    assert missing == []
    return reachable


def gc_until_the_writer_exits(invoke, writer: subprocess.Popen) -> None:
    """Run `gc --grace 2s` back to back, at least twice, until the writer exits; it must exit 0."""
    gcs = 0
    try:
        while writer.poll() is None or gcs < 2:
            json.loads(invoke("gc", "--grace", "2s", "--json", expect=0).stdout)
            gcs += 1
            if gcs > 2000:
                pytest.fail("the writer did not finish")
        _, err = writer.communicate(timeout=60)
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.communicate()
    assert writer.returncode == 0, err.decode()


def test_gc_running_again_and_again_beside_a_writer_never_loses_a_referenced_object(storage_root, invoke, tmp_path):
    store = ObjectStore(storage_root / "store")
    (storage_root / "runs").mkdir()  # a root whose runs/ is missing is damage: gc would refuse
    pool_a = [store.put_bytes(payload("a", i)) for i in range(POOL)]
    for oid in pool_a:
        backdate(object_path(storage_root, oid), 7200)
    first = json.loads(invoke("gc", "--grace", "2s", "--json", expect=0).stdout)
    assert first["objects_deleted"] == POOL  # pool A is old garbage: now in the trash
    for i, oid in enumerate(pool_a):
        assert store.trash_path_for(oid).is_file()
        if i % 2 == 0:  # half of it trashed long ago: the next gc purges it unless the writer was first
            backdate(store.trash_path_for(oid), 7200)
    pool_b = [store.put_bytes(payload("b", i)) for i in range(POOL)]
    for oid in pool_b:
        backdate(object_path(storage_root, oid), 7200)  # old garbage still in objects/

    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    writer = subprocess.Popen([sys.executable, str(script), str(storage_root), str(POOL)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    (storage_root.parent / "go").touch()
    gc_until_the_writer_exits(invoke, writer)

    runs = json.loads(invoke("ls", "writer", "--json", expect=0).stdout)
    assert len(runs) == POOL
    reachable = referenced_ids(storage_root)
    expected = {hash_bytes(payload(p, i)) for p in "ab" for i in range(POOL)}
    assert expected <= reachable  # every reused object is referenced, directly or through a tree

    report = json.loads(invoke("verify", "--json", expect=0).stdout)
    assert report["ok"] is True and report["missing"] == [] and report["corrupt"] == []
    for oid in reachable:  # verify took back anything a gc had just trashed
        path = object_path(storage_root, oid)
        assert path.is_file() and hash_bytes(path.read_bytes()) == oid

    # a last gc without grace keeps all of it
    json.loads(invoke("gc", "--grace", "0s", "--json", expect=0).stdout)
    assert json.loads(invoke("verify", "--json", expect=0).stdout)["ok"] is True
    for i in range(POOL):
        for p in "ab":
            assert object_path(storage_root, hash_bytes(payload(p, i))).read_bytes() == payload(p, i)


# -- the race, one interleaving at a time ---------------------------------------------------------------


def _writer_run(root, run_id, oid):
    from runicorn.runfolder import encode_line
    from runicorn.runfolder.jsonio import write_state

    run_dir = root / "runs" / "writer" / run_id
    run_dir.mkdir(parents=True)
    write_state(run_dir / "run.json", {"format": "runicorn-run", "version": 1, "id": run_id, "path": "writer",
                                      "created_at": time.time()})
    write_state(run_dir / "status.json", {"status": "finished"})
    (run_dir / "manifest.jsonl").write_text(
        encode_line({"role": "image", "name": "x", "id": f"blake3:{oid}", "type": "blob", "at": 0}) + "\n")


def test_gc_takes_back_from_the_trash_an_object_a_writer_referenced_after_it_was_trashed(storage_root, invoke):
    """gc moved the object to the trash in the instant after a writer refreshed it; the writer then named it."""
    store = ObjectStore(storage_root / "store")
    data = b"reused just in time"
    oid = store.put_bytes(data)
    trashed = store.trash_path_for(oid)
    trashed.parent.mkdir(parents=True, exist_ok=True)
    os.replace(object_path(storage_root, oid), trashed)  # gc's rename
    backdate(trashed, 7200)  # and long ago: purgeable, were it not referenced
    _writer_run(storage_root, "w00001", oid)

    report = json.loads(invoke("gc", "--grace", "0s", "--json", expect=0).stdout)
    assert report["bytes_freed"] == 0
    assert object_path(storage_root, oid).read_bytes() == data
    assert not trashed.exists()
    assert json.loads(invoke("verify", "--json", expect=0).stdout)["ok"] is True


def test_a_writer_reusing_a_trashed_object_takes_it_back(storage_root, invoke):
    store = ObjectStore(storage_root / "store")
    (storage_root / "runs").mkdir()
    data = b"old checkpoint"
    oid = store.put_bytes(data)
    backdate(object_path(storage_root, oid), 7200)
    assert json.loads(invoke("gc", "--json", expect=0).stdout)["objects_deleted"] == 1  # default grace: trashed
    assert store.trash_path_for(oid).exists() and not object_path(storage_root, oid).exists()

    assert store.put_bytes(data) == oid  # the writer reuses it
    assert object_path(storage_root, oid).exists() and not store.trash_path_for(oid).exists()
    _writer_run(storage_root, "w00002", oid)
    json.loads(invoke("gc", "--grace", "0s", "--json", expect=0).stdout)
    assert object_path(storage_root, oid).read_bytes() == data


SDK_WRITER = textwrap.dedent('''
    import sys
    import runicorn as rn

    root, data, config, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    for i in range(count):
        with rn.init(path="sdk", storage=root, run_id=f"s{i:04d}") as run:
            run.log_dataset("data", data, save=True)  # unchanged files: the stat cache says which objects to reuse
            run.log_config(config_files=[config])
            run.log({"i": i})
''')


def test_gc_beside_sdk_runs_that_reuse_old_objects_through_the_stat_cache(storage_root, invoke, tmp_path):
    """The real SDK path: a dataset saved before, its objects since deleted by rm and aged past the grace period."""
    import runicorn as rn

    data = tmp_path / "data"
    for i in range(20):
        (data / f"part{i % 3}").mkdir(parents=True, exist_ok=True)
        (data / f"part{i % 3}" / f"{i}.bin").write_bytes(payload("data", i))
    config = tmp_path / "config.yaml"
    config.write_text("lr: 0.1\n")
    with rn.init(path="seed", storage=str(storage_root), run_id="seed0") as seed:
        seed.log_dataset("data", str(data), save=True)
        seed.log_config(config_files=[config])
    invoke("rm", "seed0", "--yes", expect=0)
    for path in (storage_root / "store" / "objects").glob("*/*"):
        backdate(path, 7200)
    for path in data.rglob("*"):
        backdate(path, 7200)  # old files: the stat cache trusts them

    script = tmp_path / "sdk_writer.py"
    script.write_text(SDK_WRITER)
    writer = subprocess.Popen([sys.executable, str(script), str(storage_root), str(data), str(config), "25"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    gc_until_the_writer_exits(invoke, writer)

    assert len(json.loads(invoke("ls", "sdk", "--json", expect=0).stdout)) == 25
    assert json.loads(invoke("verify", "--json", expect=0).stdout)["ok"] is True
    invoke("gc", "--grace", "0s", expect=0)
    for run_id in ("s0000", "s0012", "s0024"):
        target = tmp_path / f"restored-{run_id}"
        invoke("restore", run_id, "--dataset", "data", "--to", target, expect=0)
        assert sorted(p.relative_to(target) for p in target.rglob("*.bin")) == \
            sorted(p.relative_to(data) for p in data.rglob("*.bin"))
        for path in data.rglob("*.bin"):
            assert (target / path.relative_to(data)).read_bytes() == path.read_bytes()
        invoke("restore", run_id, "--config", "--to", tmp_path / f"config-{run_id}", expect=0)
        assert (tmp_path / f"config-{run_id}" / "config.yaml").read_text() == "lr: 0.1\n"
