"""The CLI on the frozen storage roots of tests/data/stores: real damage, written in the past (see its README)."""

import json
import os
import shutil
from pathlib import Path

import pytest

from cli_support import disk_state, file_tree, object_files

STORES = Path(__file__).resolve().parents[1] / "data" / "stores"
RUN_1, RUN_2 = "20250101_120000_a1b2c3", "20250102_090000_d4e5f6"
GARBAGE = "730c9a64b759a0498cf7f2855a86bbd7da6104dcdb4e1d2e30efd909273e3149"
ROTTEN = "d12f2ac058973a726e582b22dc522a3050b2b0fb14fba595a813d5d4d28abd16"
DANGLING = "882179b8dbccd285cda241d968cfcccb3156c5edac2fa3761bb6eda7ff8cb172"


@pytest.fixture
def frozen(tmp_path):
    """Copy a frozen root to tmp_path as a writer would have left it: objects read-only, empty folders back."""

    def copy(name: str) -> Path:
        source = STORES / name
        if not source.is_dir():
            pytest.skip(f"frozen store {name} is not in this checkout")
        root = tmp_path / name
        shutil.copytree(source, root)
        for folder in ("tmp", "trash", "cache"):
            (root / "store" / folder).mkdir(exist_ok=True)
        for path in (root / "store" / "objects").glob("*/*"):
            if path.is_file():
                os.chmod(path, 0o444)
        return root

    return copy


def verify_json(invoke, root, code):
    return json.loads(invoke("verify", "--json", storage=root, expect=code).stdout)


def test_good_store_verifies_lists_and_collects_its_one_garbage_object(frozen, invoke):
    root = frozen("v1-good")
    assert verify_json(invoke, root, 0)["ok"] is True
    assert [r["id"] for r in json.loads(invoke("ls", "--json", storage=root, expect=0).stdout)] == [RUN_1, RUN_2]
    sizes = object_files(root)
    usage = json.loads(invoke("du", "--json", storage=root, expect=0).stdout)
    assert usage["unreferenced_bytes"] == sizes[GARBAGE]
    report = json.loads(invoke("gc", "--grace", "0s", "--json", storage=root, expect=0).stdout)
    assert (report["objects_deleted"], report["bytes_freed"]) == (1, sizes[GARBAGE])
    assert set(object_files(root)) == set(sizes) - {GARBAGE}
    assert verify_json(invoke, root, 0)["ok"] is True


def test_good_store_restores_its_code_tree(frozen, invoke, tmp_path):
    from runicorn.api import Api
    from runicorn.store import walk_tree
    from runicorn.store.ids import ObjectId

    root = frozen("v1-good")
    api = Api(root)
    tree = ObjectId.parse(api.run(RUN_1).latest_asset("code")["id"])
    expected, folders = {}, set()
    for rel, entry in walk_tree(api.store, tree):
        if entry.kind == "file":
            expected[rel] = ("file", api.store.get(entry.id), entry.executable)
        elif entry.kind == "symlink":
            expected[rel] = ("symlink", entry.target)
        else:
            folders.add(rel)
    assert any(v[0] == "symlink" for v in expected.values()) and any(v[-1] is True for v in expected.values())

    target = tmp_path / "code"
    invoke("restore", RUN_1, "--code", "--to", target, storage=root, expect=0)
    assert file_tree(target) == expected
    assert all((target / folder).is_dir() for folder in folders)  # the empty folder too


def test_corrupt_object_is_reported_with_both_runs_and_restore_refuses_it(frozen, invoke, tmp_path):
    root = frozen("v1-corrupt-object")
    report = verify_json(invoke, root, 1)
    assert report["corrupt"] == [ROTTEN] and report["missing"] == []
    assert sorted(report["needed_by"][ROTTEN]) == [RUN_1, RUN_2]
    result = invoke("restore", RUN_1, "--code", "--to", tmp_path / "code", storage=root, expect=1)
    assert ROTTEN in result.stderr and "corrupt" in result.stderr
    assert invoke("export", RUN_1, "-o", tmp_path / "b.rnbundle", storage=root, expect=1).exit_code == 1
    assert not (tmp_path / "b.rnbundle").exists()


def test_dangling_reference_is_missing_and_gc_refuses_to_delete(frozen, invoke, tmp_path):
    root = frozen("v1-dangling-reference")
    report = verify_json(invoke, root, 1)
    assert report["missing"] == [DANGLING] and report["corrupt"] == []
    assert report["needed_by"][DANGLING] == [RUN_2]
    before = disk_state(root)
    result = invoke("gc", "--grace", "0s", storage=root, expect=1)
    assert "missing" in result.stderr
    after = disk_state(root)
    after.pop("store/gc.lock")  # the lock a gc takes; nothing else changed
    assert after == before
    assert "missing" in invoke("export", RUN_2, "-o", tmp_path / "2.rnbundle", storage=root, expect=1).stderr
    invoke("export", RUN_1, "-o", tmp_path / "1.rnbundle", storage=root, expect=0)  # the whole run still goes
    invoke("restore", RUN_2, "--outputs", "--to", tmp_path / "out", storage=root, expect=1)
    invoke("restore", RUN_2, "--code", "--to", tmp_path / "code", storage=root, expect=0)


def test_foreign_files_are_listed_but_not_damage_and_gc_leaves_them(frozen, invoke):
    root = frozen("v1-foreign-files")
    report = verify_json(invoke, root, 0)
    assert report["ok"] is True and len(report["foreign_files"]) == 4
    assert "objects/README.txt" in report["foreign_files"]
    invoke("gc", "--grace", "0s", storage=root, expect=0)
    for name in report["foreign_files"]:
        assert os.path.lexists(root / "store" / name)


@pytest.mark.parametrize("args", [["verify"], ["gc", "--grace", "0s"], ["du"], ["gc", "--dry-run"]])
def test_a_future_store_version_is_refused(frozen, invoke, args):
    root = frozen("v2-future")
    before = disk_state(root)
    result = invoke(*args, storage=root, expect=1)
    assert "version 2" in result.stderr and "Traceback" not in result.output
    assert disk_state(root) == before
