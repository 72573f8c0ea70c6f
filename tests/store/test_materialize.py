"""Restore: byte-exact and verified, and never a write outside the target, whatever the tree says."""

import json
import os
import stat

import pytest

from runicorn.errors import CorruptObject, ObjectNotFound, TargetNotEmpty, UnsafePath
from runicorn.store import Ingester, ObjectStore, check_tree, materialize_blob, materialize_tree
from runicorn.store.trees import TREE_HEADER

from common_support import Recorder
from store_support import Exec, Link, copy_fixture_store, disk_state, make_folder, manifest_roots, snapshot, tamper

FOLDER = {
    "train.py": Exec(b"print('train')\n"),
    "data": {"rows.csv": b"a,b\n1,2\n", "empty.txt": b"", "nested": {"deep.bin": bytes(range(256))}},
    "hollow": {},
    "latest": Link("data/rows.csv"),
    "up": {"parent": Link("..")},
    "caf\u00e9 menu.txt": "cr\u00e8me br\u00fbl\u00e9e\n".encode(),
}


def ingested(store, tmp_path, spec=FOLDER):
    return Ingester(store).ingest(make_folder(tmp_path / "src", spec)).id


def raw_tree(store, *records: dict) -> str:
    """A tree object written by hand, bypassing serialize_tree's checks, as an attacker would.

    It is otherwise well formed (canonical lines in name order), so only the hostile part is refused.
    """
    ordered = sorted(records, key=lambda r: r["name"].encode())
    lines = [json.dumps(r, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode() + b"\n" for r in ordered]
    return store.put_bytes(TREE_HEADER + b"".join(lines))


def file_entry(store, name, data=b"payload"):
    return {"exec": False, "id": "blake3:" + store.put_bytes(data), "kind": "file", "name": name, "size": len(data)}


def dir_entry(name, tree_id):
    return {"id": "blake3:" + tree_id, "kind": "dir", "name": name, "size": 0}


def link_entry(name, target):
    return {"kind": "symlink", "name": name, "size": len(target.encode()), "target": target}


@pytest.fixture
def target(tmp_path):
    """An empty restore target two levels below tmp_path, with files beside it that must not change."""
    folder = tmp_path / "outer" / "inner" / "target"
    folder.mkdir(parents=True)
    (tmp_path / "outer" / "victim.txt").write_bytes(b"outer secret")
    (tmp_path / "outer" / "inner" / "victim.txt").write_bytes(b"inner secret")
    return folder


@pytest.fixture
def nothing_written_outside(tmp_path, target):
    """Asserts, after the test, that nothing around ``target`` changed (the store lives elsewhere)."""
    before = disk_state(tmp_path / "outer", exclude=target)
    yield
    assert disk_state(tmp_path / "outer", exclude=target) == before


# -- faithful restore -------------------------------------------------------


def test_a_restore_gives_back_the_folder_byte_for_byte(store, tmp_path, target):
    tree_id = ingested(store, tmp_path)
    written = Recorder()
    result = materialize_tree(store, tree_id, target, progress=written)
    assert snapshot(target) == snapshot(tmp_path / "src")
    assert (result.files, result.folders, result.symlinks) == (5, 4, 2)
    assert result.bytes == written.done == written.total == sum(len(v[1]) for v in snapshot(target).values() if v[0] == "file")


def test_a_missing_target_is_created(store, tmp_path):
    tree_id = ingested(store, tmp_path)
    materialize_tree(store, tree_id, tmp_path / "new" / "restore")
    assert snapshot(tmp_path / "new" / "restore") == snapshot(tmp_path / "src")


def test_a_blob_restores_to_one_file(store, tmp_path):
    oid = store.put_bytes(b"#!/bin/sh\necho hi\n")
    assert materialize_blob(store, oid, tmp_path / "run.sh", executable=True) == 18
    assert (tmp_path / "run.sh").read_bytes() == b"#!/bin/sh\necho hi\n"
    assert os.stat(tmp_path / "run.sh").st_mode & stat.S_IXUSR
    assert os.listdir(tmp_path).count("run.sh") == 1 and not any(n.endswith(".tmp") for n in os.listdir(tmp_path))


def test_a_corrupt_blob_fails_the_restore_and_leaves_no_file(store, tmp_path, target):
    oid = store.put_bytes(b"good bytes")
    tree_id = raw_tree(store, file_entry(store, "f.txt", b"good bytes"))
    tamper(store, oid, b"evil bytes")
    with pytest.raises(CorruptObject, match=oid):
        materialize_tree(store, tree_id, target)
    assert os.listdir(target) == []  # neither the file nor its temp


def test_a_missing_blob_fails_the_restore(store, target):
    tree_id = raw_tree(store, {"exec": False, "id": "blake3:" + "0" * 64, "kind": "file", "name": "f", "size": 1})
    with pytest.raises(ObjectNotFound, match="0" * 64):
        materialize_tree(store, tree_id, target)


def test_a_frozen_v1_store_restores_as_it_was_written(tmp_path):
    storage = copy_fixture_store("v1-good", tmp_path / "fixture")
    store = ObjectStore(storage / "store", create=False)
    code = manifest_roots(storage)["mnist/20250101_120000_a1b2c3"][0]
    materialize_tree(store, code.id, tmp_path / "restored")
    assert snapshot(tmp_path / "restored") == {
        "README.md": ("file", b"# mnist\n", False),
        "data dir": ("dir",),
        "data dir/\u00fcn\u00efcode.txt": ("file", "\u00e9\n".encode(), False),
        "empty": ("dir",),
        "latest.py": ("symlink", "lib/util.py"),
        "lib": ("dir",),
        "lib/__init__.py": ("file", b"", False),
        "lib/util.py": ("file", b"def answer():\n    return 42\n", False),
        "train.py": ("file", b"import lib.util\nprint(lib.util.answer())\n", True),
    }


# -- the target folder ------------------------------------------------------


def test_a_non_empty_target_is_refused_without_force(store, tmp_path, target):
    tree_id = ingested(store, tmp_path)
    (target / "mine.txt").write_bytes(b"do not lose me")
    with pytest.raises(TargetNotEmpty, match="not empty.*--force"):
        materialize_tree(store, tree_id, target)
    assert snapshot(target) == {"mine.txt": ("file", b"do not lose me", False)}


def test_force_overwrites_files_and_keeps_the_others(store, tmp_path, target):
    tree_id = ingested(store, tmp_path)
    make_folder(target, {"train.py": b"old", "mine.txt": b"kept", "latest": b"a file where a link goes"})
    materialize_tree(store, tree_id, target, force=True)
    expected = {**snapshot(tmp_path / "src"), "mine.txt": ("file", b"kept", False)}
    assert snapshot(target) == expected


def test_a_target_that_is_a_file_or_a_symlink_is_refused(store, tmp_path):
    tree_id = ingested(store, tmp_path)
    (tmp_path / "file").write_bytes(b"x")
    with pytest.raises(TargetNotEmpty, match="not a folder"):
        materialize_tree(store, tree_id, tmp_path / "file", force=True)
    (tmp_path / "real").mkdir()
    os.symlink("real", tmp_path / "link")
    with pytest.raises(UnsafePath, match="is a symlink"):
        materialize_tree(store, tree_id, tmp_path / "link", force=True)
    assert os.listdir(tmp_path / "real") == []


# -- hostile trees ----------------------------------------------------------


@pytest.mark.parametrize("name", ["..", "../x", "a/b", "/etc/x", "x\0y", ".", ""])
def test_a_tree_with_an_unsafe_name_is_refused(store, target, nothing_written_outside, name):
    tree_id = raw_tree(store, file_entry(store, name))
    with pytest.raises(UnsafePath, match="unsafe name"):
        materialize_tree(store, tree_id, target)
    assert os.listdir(target) == []


def test_an_unsafe_name_deep_in_a_sub_tree_is_refused(store, target, nothing_written_outside):
    bad = raw_tree(store, file_entry(store, "../../escaped"))
    tree_id = raw_tree(store, dir_entry("a", raw_tree(store, dir_entry("b", bad))))
    with pytest.raises(UnsafePath):
        materialize_tree(store, tree_id, target)


@pytest.mark.parametrize("links", [
    [("abs", "/etc/passwd")],
    [("up", "..")],
    [("upup", "../../victim.txt")],
    [("sneaky", "a/../../x")],
], ids=["absolute", "parent", "grandparent", "via-dir"])
def test_a_symlink_pointing_outside_is_left_out_and_the_rest_restored(store, target, nothing_written_outside, links):
    tree_id = raw_tree(store, file_entry(store, "a.py", b"print(1)\n"), link_entry("inside", "a.py"),
                       *(link_entry(name, to) for name, to in links))
    planned = check_tree(store, tree_id)
    assert planned.left_out_links == [f"{name} -> {to}" for name, to in links] and planned.symlinks == 1
    result = materialize_tree(store, tree_id, target)
    assert result.left_out_links == planned.left_out_links
    assert (result.files, result.symlinks) == (1, 1)
    assert sorted(os.listdir(target)) == ["a.py", "inside"]
    assert os.readlink(target / "inside") == "a.py"


@pytest.mark.parametrize("escape", ["d/x/..", "d/x/../victim.txt", "d/up/../.."], ids=["dotdot", "file", "two"])
def test_a_chain_of_links_each_lexically_inside_cannot_climb_out(store, target, nothing_written_outside, escape):
    # d/x -> ..  resolves to the target itself, so  y -> d/x/..  is the target's parent.
    d = raw_tree(store, link_entry("x", ".."), link_entry("up", ".."))
    tree_id = raw_tree(store, dir_entry("d", d), file_entry(store, "f.txt"), link_entry("y", escape))
    result = materialize_tree(store, tree_id, target)
    assert result.left_out_links == [f"y -> {escape}"] and result.symlinks == 2
    assert not os.path.lexists(target / "y")
    resolved = [os.path.realpath(os.path.join(dirpath, name))
                for dirpath, dirs, files in os.walk(target) for name in dirs + files]
    assert all(path == str(target.resolve()) or path.startswith(str(target.resolve()) + os.sep) for path in resolved)


def test_force_never_writes_through_a_symlink_already_in_the_target(store, tmp_path, target, nothing_written_outside):
    outer = tmp_path / "outer"
    os.symlink(outer / "victim.txt", target / "f.txt")  # where the tree has a file
    os.symlink(outer, target / "d")  # where the tree has a folder
    tree_id = raw_tree(store, dir_entry("d", raw_tree(store, file_entry(store, "victim.txt"))))
    with pytest.raises(UnsafePath, match="refusing to write through it"):
        materialize_tree(store, tree_id, target, force=True)
    tree_id = raw_tree(store, file_entry(store, "f.txt", b"overwritten?"))
    with pytest.raises(UnsafePath, match="remove it first"):
        materialize_tree(store, tree_id, target, force=True)


def test_force_replaces_a_symlink_where_the_tree_has_a_symlink(store, tmp_path, target, nothing_written_outside):
    os.symlink(tmp_path / "outer" / "victim.txt", target / "l")
    materialize_tree(store, raw_tree(store, link_entry("l", "inside")), target, force=True)
    assert os.readlink(target / "l") == "inside"
