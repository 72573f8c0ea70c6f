"""Verify on frozen stores with real damage, reported with the runs that need each damaged object."""

import os

import pytest

from runicorn.errors import CorruptObject, UnsupportedFormat
from runicorn.store import BLOB, TREE, Ingester, ObjectStore, Ref, hash_bytes, verify

from common_support import Recorder
from store_support import copy_fixture_store, disk_state, make_folder, manifest_roots, tamper

RUN_1 = "mnist/20250101_120000_a1b2c3"
RUN_2 = "mnist/20250102_090000_d4e5f6"
UTIL_BLOB = "d12f2ac058973a726e582b22dc522a3050b2b0fb14fba595a813d5d4d28abd16"  # lib/util.py, both runs
MODEL_BLOB = "882179b8dbccd285cda241d968cfcccb3156c5edac2fa3761bb6eda7ff8cb172"  # outputs/model.bin, run 2
GOOD_OBJECTS = 16


def open_fixture(name, tmp_path):
    storage = copy_fixture_store(name, tmp_path / name)
    return ObjectStore(storage / "store", create=False), manifest_roots(storage)


def test_a_good_store_verifies(tmp_path):
    store, roots = open_fixture("v1-good", tmp_path)
    assert sorted(roots) == [RUN_1, RUN_2]
    progress = Recorder()
    report = verify(store, roots, progress=progress)
    assert report.ok
    assert (report.corrupt, report.missing, report.foreign_files, report.needed_by) == ([], [], [], {})
    assert report.objects_checked == GOOD_OBJECTS
    assert report.bytes_checked == progress.done == progress.total == sum(o.size for o in store.iter_objects())


def test_a_corrupt_object_is_reported_with_every_run_that_needs_it(tmp_path):
    store, roots = open_fixture("v1-corrupt-object", tmp_path)
    report = verify(store, roots)
    assert not report.ok
    assert report.corrupt == [UTIL_BLOB] and report.missing == []
    assert report.needed_by == {UTIL_BLOB: [RUN_1, RUN_2]}
    assert store.verify_object(UTIL_BLOB) == hash_bytes(b"def answer():\n    return 43\n")
    with pytest.raises(CorruptObject, match=UTIL_BLOB):
        store.get(UTIL_BLOB)


def test_a_missing_object_is_reported_with_the_run_that_needs_it(tmp_path):
    store, roots = open_fixture("v1-dangling-reference", tmp_path)
    report = verify(store, roots)
    assert not report.ok
    assert report.missing == [MODEL_BLOB] and report.corrupt == []
    assert report.needed_by == {MODEL_BLOB: [RUN_2]}
    assert report.objects_checked == GOOD_OBJECTS - 1


def test_foreign_files_under_objects_are_reported_and_not_checked(tmp_path):
    store, roots = open_fixture("v1-foreign-files", tmp_path)
    report = verify(store, roots)
    assert report.ok  # every object is intact; the strays are for a person to look at
    assert report.objects_checked == GOOD_OBJECTS
    assert report.foreign_files == [
        "objects/00/11/5537784e28dd44c187a6163a8c523ef9727b20d0db680d55710bd3b049814f",
        "objects/30/5537784E28DD44C187A6163A8C523EF9727B20D0DB680D55710BD3B049814F",
        "objects/30/not-an-object",
        "objects/README.txt",
    ]


def test_a_store_of_a_future_version_is_refused(tmp_path):
    storage = copy_fixture_store("v2-future", tmp_path / "future")
    before = disk_state(storage)
    for create in (True, False):
        with pytest.raises(UnsupportedFormat, match="format version 2; this Runicorn reads version 1"):
            ObjectStore(storage / "store", create=create)
    assert disk_state(storage) == before


def test_a_symlink_named_like_an_object_is_foreign(store):
    real = store.put_bytes(b"real")
    fake = hash_bytes(b"fake")
    (store.objects_dir / fake[:2]).mkdir(exist_ok=True)
    os.symlink(store.path_for(real), store.path_for(fake))
    report = verify(store, {})
    assert report.foreign_files == [f"objects/{fake[:2]}/{fake[2:]}"]
    assert report.objects_checked == 1


@pytest.mark.parametrize("labels", [["run", "fine"], ["fine", "run"]])
def test_a_blob_named_as_a_tree_is_corrupt_for_that_reference_only(store, labels):
    blob = store.put_bytes(b"not a tree")
    roots = {"run": [Ref(blob, TREE)], "fine": [Ref(blob, BLOB)]}
    report = verify(store, {label: roots[label] for label in labels})
    assert report.corrupt == [blob] and report.needed_by == {blob: ["run"]}


@pytest.mark.parametrize("order", [1, -1])
def test_a_tree_also_named_as_a_blob_still_has_its_children_checked(store, tmp_path, order):
    tree = Ingester(store).ingest(make_folder(tmp_path / "src", {"f": b"precious"})).id
    store.path_for(hash_bytes(b"precious")).unlink()
    report = verify(store, {"run": [Ref(tree, BLOB), Ref(tree, TREE)][::order]})
    assert report.missing == [hash_bytes(b"precious")]
    assert report.needed_by == {hash_bytes(b"precious"): ["run"]}


def test_a_corrupt_tree_is_reported_and_its_children_are_not_walked(store, tmp_path):
    tree = Ingester(store).ingest(make_folder(tmp_path / "src", {"sub": {"a": b"1"}})).id
    tamper(store, tree, b"runicorn-tree 1\n")
    store.path_for(hash_bytes(b"1")).unlink()  # below the damage: not reachable any more
    report = verify(store, {"run": [Ref(tree, TREE)]})
    assert (report.corrupt, report.missing) == ([tree], [])
    assert report.needed_by == {tree: ["run"]}


def test_an_unreferenced_corrupt_object_is_reported_without_runs(store):
    oid = store.put_bytes(b"bits")
    tamper(store, oid, b"rot!")
    report = verify(store, {"run": []})
    assert report.corrupt == [oid] and report.needed_by == {}
