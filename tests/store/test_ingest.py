"""Ingest: folders become trees of blobs; links are recorded, never followed; odd files are skipped."""

import os
import sys

import pytest

from runicorn.store import Ingester, TreeEntry, hash_bytes, read_tree, serialize_tree, walk_tree

from store_support import Exec, Link, make_folder, object_files

EMPTY_TREE = hash_bytes(serialize_tree([]))


def describe(store, tree_id):
    """``{path: (kind, size, id or target, exec)}`` for every entry below a tree."""
    return {path: (e.kind, e.size, e.target if e.kind == "symlink" else e.id, e.executable)
            for path, e in walk_tree(store, tree_id)}


def test_a_folder_becomes_nested_trees(store, tmp_path):
    folder = make_folder(tmp_path / "src", {
        "run.sh": Exec(b"#!/bin/sh\n"),
        "notes.txt": b"hello",
        "sub": {"deep": {"x.bin": b"\0" * 7}, "empty.txt": b""},
        "hollow": {},
        "link": Link("sub/deep/x.bin"),
    })
    result = Ingester(store).ingest(folder)
    assert result.kind == "dir"
    assert (result.files, result.bytes, result.hashed_bytes) == (4, 22, 22)
    assert result.skipped == []
    deep = hash_bytes(serialize_tree([TreeEntry("x.bin", "file", 7, id=hash_bytes(b"\0" * 7))]))
    sub = hash_bytes(serialize_tree([TreeEntry("deep", "dir", 7, id=deep),
                                     TreeEntry("empty.txt", "file", 0, id=hash_bytes(b""))]))
    assert describe(store, result.id) == {
        "hollow": ("dir", 0, EMPTY_TREE, False),
        "link": ("symlink", 14, "sub/deep/x.bin", False),
        "notes.txt": ("file", 5, hash_bytes(b"hello"), False),
        "run.sh": ("file", 10, hash_bytes(b"#!/bin/sh\n"), True),
        "sub": ("dir", 7, sub, False),
        "sub/deep": ("dir", 7, deep, False),
        "sub/deep/x.bin": ("file", 7, hash_bytes(b"\0" * 7), False),
        "sub/empty.txt": ("file", 0, hash_bytes(b""), False),
    }


def test_a_sub_folder_is_a_tree_of_its_own(store, tmp_path):
    make_folder(tmp_path / "src", {"a": b"1", "sub": {"b": b"2"}})
    whole = Ingester(store).ingest(tmp_path / "src")
    part = Ingester(store).ingest(tmp_path / "src" / "sub")
    assert dict(walk_tree(store, whole.id))["sub"].id == part.id


def test_a_single_file_becomes_a_blob(store, tmp_path):
    path = tmp_path / "model.bin"
    path.write_bytes(b"weights")
    result = Ingester(store).ingest(path)
    assert (result.kind, result.id, result.files, result.bytes) == ("file", hash_bytes(b"weights"), 1, 7)
    assert store.get(result.id) == b"weights"


def test_symlinks_are_recorded_and_never_followed(store, tmp_path):
    make_folder(tmp_path / "outside", {"big.bin": b"x" * 1000, "dir": {"f": b"f"}})
    folder = make_folder(tmp_path / "src", {
        "to_dir": Link("../outside/dir"),
        "to_file": Link(str(tmp_path / "outside" / "big.bin")),
        "dangling": Link("nowhere"),
        "caf\u00e9": Link("\u00e9t\u00e9"),
    })
    result = Ingester(store).ingest(folder)
    assert result.files == 0 and result.bytes == 0
    entries = {e.name: e for e in read_tree(store, result.id)}
    assert {name: (e.kind, e.target) for name, e in entries.items()} == {
        "to_dir": ("symlink", "../outside/dir"),
        "to_file": ("symlink", str(tmp_path / "outside" / "big.bin")),
        "dangling": ("symlink", "nowhere"),
        "caf\u00e9": ("symlink", "\u00e9t\u00e9"),
    }
    assert entries["caf\u00e9"].size == len("\u00e9t\u00e9".encode()) == 5  # bytes of the target, not characters
    assert hash_bytes(b"x" * 1000) not in {o.id for o in store.iter_objects()}


def test_fifos_are_skipped_and_reported(store, tmp_path):
    folder = make_folder(tmp_path / "src", {"kept.txt": b"kept"})
    os.mkfifo(folder / "pipe")
    result = Ingester(store).ingest(folder)
    assert [e.name for e in read_tree(store, result.id)] == ["kept.txt"]
    assert result.skipped == ["pipe: not a regular file, folder or symlink"]


@pytest.mark.skipif(sys.platform == "darwin", reason="APFS refuses file names that are not UTF-8")
def test_names_that_are_not_utf8_are_skipped_and_reported(store, tmp_path):
    folder = make_folder(tmp_path / "src", {"ok.txt": b"ok"})
    with open(os.path.join(os.fsencode(folder), b"bad\xff.txt"), "wb") as handle:
        handle.write(b"unreadable name")
    os.symlink(b"target\xfe", os.path.join(os.fsencode(folder), b"badlink"))
    result = Ingester(store).ingest(folder)
    assert [e.name for e in read_tree(store, result.id)] == ["ok.txt"]
    assert sorted(result.skipped) == ["'bad\\udcff.txt': name is not valid UTF-8",
                                      "'badlink': symlink target is not valid UTF-8"]


def test_accept_is_asked_once_per_entry_and_prunes_folders(store, tmp_path):
    folder = make_folder(tmp_path / "src", {
        "keep.py": b"k", "skip.log": b"s", "build": {"huge": {"a.o": b"o"}}, "src": {"m.py": b"m", "m.log": b"l"},
    })
    asked = []

    def accept(rel, entry, is_dir):
        asked.append((rel, is_dir))
        return rel != "build" and not rel.endswith(".log")

    result = Ingester(store, accept=accept).ingest(folder)
    assert sorted(asked) == [("build", True), ("keep.py", False), ("skip.log", False), ("src", True),
                             ("src/m.log", False), ("src/m.py", False)]
    assert sorted(path for path, _ in walk_tree(store, result.id)) == ["keep.py", "src", "src/m.py"]


def test_hashing_only_gives_the_same_ids_and_stores_nothing(store, tmp_path):
    folder = make_folder(tmp_path / "src", {"a": b"1", "sub": {"b": b"2"}, "l": Link("a")})
    hashed = Ingester(store, store_content=False).ingest(folder)
    assert object_files(store) == set()
    stored = Ingester(store).ingest(folder)
    assert hashed.id == stored.id
    assert hashed.bytes == stored.bytes == 2


def test_the_root_id_is_the_hash_of_the_serialized_tree(store, tmp_path):
    folder = make_folder(tmp_path / "src", {"a": b"1"})
    result = Ingester(store).ingest(folder)
    assert result.id == hash_bytes(serialize_tree(read_tree(store, result.id)))
