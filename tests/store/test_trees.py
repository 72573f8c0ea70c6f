"""Tree objects: the canonical serialization (pinned by known answers) and strict parsing."""

import json

import pytest

from runicorn.errors import CorruptObject, InvalidObjectId, UnsafePath, UnsupportedFormat
from runicorn.store import TreeEntry, hash_bytes, parse_tree, read_tree, serialize_tree, walk_tree
from runicorn.store import TREE, Ref, Walker, put_tree
from runicorn.store.trees import TREE_HEADER

BLOB = hash_bytes(b"print('hi')\n")
EMPTY_TREE = "a60f9563776a22f854cb5ec38429171a341362d29f73dfdc2e66dbe18040637c"

# One entry of each kind and exec value, given out of order; names that sort
# differently by case and a non-ASCII name with a space, which stays unescaped.
ENTRIES = [
    TreeEntry("sub", "dir", 0, id=EMPTY_TREE),
    TreeEntry("\u00fcn\u00ef code.txt", "file", 12, id=BLOB),
    TreeEntry("link", "symlink", 4, target="a.py"),
    TreeEntry("a.py", "file", 12, id=BLOB, executable=True),
    TreeEntry("Z", "file", 12, id=BLOB),
]
ENTRIES_BYTES = (
    b"runicorn-tree 1\n"
    b'{"exec":false,"id":"blake3:0eedd716734c13c37b81a725a6488f92e3aecf062e937629c375a154b038ec06",'
    b'"kind":"file","name":"Z","size":12}\n'
    b'{"exec":true,"id":"blake3:0eedd716734c13c37b81a725a6488f92e3aecf062e937629c375a154b038ec06",'
    b'"kind":"file","name":"a.py","size":12}\n'
    b'{"kind":"symlink","name":"link","size":4,"target":"a.py"}\n'
    b'{"id":"blake3:a60f9563776a22f854cb5ec38429171a341362d29f73dfdc2e66dbe18040637c",'
    b'"kind":"dir","name":"sub","size":0}\n'
    b'{"exec":false,"id":"blake3:0eedd716734c13c37b81a725a6488f92e3aecf062e937629c375a154b038ec06",'
    b'"kind":"file","name":"\xc3\xbcn\xc3\xaf code.txt","size":12}\n'
)
ENTRIES_ID = "fa6e965a41537a7236f0329d87930c0d89bf7222fb8761b44067423062c38aec"


# -- known answers ----------------------------------------------------------


def test_the_empty_tree_is_the_header_alone():
    assert serialize_tree([]) == b"runicorn-tree 1\n"
    assert hash_bytes(serialize_tree([])) == EMPTY_TREE
    assert parse_tree(b"runicorn-tree 1\n") == []


def test_known_tree_bytes_and_id():
    assert BLOB == "0eedd716734c13c37b81a725a6488f92e3aecf062e937629c375a154b038ec06"
    assert serialize_tree(ENTRIES) == ENTRIES_BYTES
    assert hash_bytes(ENTRIES_BYTES) == ENTRIES_ID


def test_serialization_ignores_the_order_entries_come_in():
    assert serialize_tree(list(reversed(ENTRIES))) == ENTRIES_BYTES


def test_each_line_is_the_documented_json():
    for line, entry in zip(ENTRIES_BYTES.splitlines()[1:], sorted(ENTRIES, key=lambda e: e.name.encode())):
        expected = json.dumps(entry.to_json(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert line == expected.encode("utf-8")


def test_parse_gives_back_the_entries():
    assert parse_tree(ENTRIES_BYTES) == sorted(ENTRIES, key=lambda e: e.name.encode())


def test_serialize_refuses_unsafe_and_duplicate_names():
    with pytest.raises(UnsafePath, match=r"'\.\.'"):
        serialize_tree([TreeEntry("..", "dir", 0, id=EMPTY_TREE)])
    with pytest.raises(ValueError, match="duplicate name 'a'"):
        serialize_tree([TreeEntry("a", "file", 1, id=BLOB), TreeEntry("a", "dir", 0, id=EMPTY_TREE)])


# -- strict parsing ---------------------------------------------------------


def entry(**changes) -> dict:
    record = {"exec": False, "id": "blake3:" + BLOB, "kind": "file", "name": "a", "size": 12}
    record.update(changes)
    return {k: v for k, v in record.items() if v is not DROP}


DROP = object()


def line(record: dict) -> bytes:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8") + b"\n"


def tree(*lines: bytes) -> bytes:
    return TREE_HEADER + b"".join(lines)


@pytest.mark.parametrize("data,error,message", [
    (b"runicorn-tree 2\n", UnsupportedFormat, "b'runicorn-tree 2'"),
    (b"runicorn-tree 10\n" + line(entry()), UnsupportedFormat, "b'runicorn-tree 10'"),
    (b"", CorruptObject, "not a tree object"),
    (b"runicorn-tree 1", CorruptObject, "not a tree object"),
    (b"runicorn-tree 1\r\n", CorruptObject, "not a tree object"),
    (b"Runicorn-Tree 1\n", CorruptObject, "not a tree object"),
    (b"\x89PNG\r\n\x1a\n", CorruptObject, "not a tree object"),
], ids=["version-2", "version-10", "empty", "no-newline", "crlf", "case", "png"])
def test_a_wrong_header_is_refused(data, error, message):
    with pytest.raises(error, match=message):
        parse_tree(data, "t1")


@pytest.mark.parametrize("data,message", [
    (tree(line(entry()).rstrip(b"\n")), "truncated tree"),
    (tree(b"\n"), "bad tree entry"),
    (tree(b"{not json}\n"), "bad tree entry"),
    (tree(b'{"kind":"symlink","name":"\xff","size":1,"target":"x"}\n'), "bad tree entry"),
    (tree(line(entry(name="b")), line(entry(name="a"))), "out of order or duplicated at 'a'"),
    (tree(line(entry(name="a")), line(entry(name="a"))), "out of order or duplicated at 'a'"),
    (tree(line(entry(name="a", kind="dir", exec=DROP)), line(entry(name="a"))), "out of order or duplicated"),
    (tree(line(entry(name="\u00e9")), line(entry(name="z"))), "out of order"),  # bytes order, not text order
], ids=["truncated", "empty-line", "not-json", "not-utf8", "order", "duplicate", "duplicate-kinds", "byte-order"])
def test_bad_lines_order_and_duplicates_are_corrupt(data, message):
    with pytest.raises(CorruptObject, match=message):
        parse_tree(data, "t1")


@pytest.mark.parametrize("raw", [
    b'{"exec":false, "id":"blake3:%s","kind":"file","name":"a","size":12}\n',  # a space
    b'{"id":"blake3:%s","exec":false,"kind":"file","name":"a","size":12}\n',  # keys not sorted
    b'{"exec":false,"id":"%s","kind":"file","name":"a","size":12}\n',  # id not tagged
    b'{"exec":false,"id":"blake3:%s","kind":"file","name":"\\u00e9","size":12}\n',  # escaped non-ASCII
    b'{"exec":false,"id":"blake3:%s","kind":"file","name":"\\ud800","size":12}\n',  # lone surrogate
    b'{"exec":false,"id":"blake3:%s","kind":"file","name":"a","name":"a","size":12}\n',  # repeated key
    b'{"exec":false,"id":"blake3:%s","kind":"file","name":"a","size":12}\r\n',  # CRLF
], ids=["space", "key-order", "untagged", "escaped", "surrogate", "repeated-key", "crlf"])
def test_a_line_that_is_not_canonical_is_corrupt(raw):
    """Only serialize_tree's exact bytes are a tree, so one folder has one id."""
    with pytest.raises(CorruptObject, match="canonical form"):
        parse_tree(tree(raw % BLOB.encode()), "t1")


@pytest.mark.parametrize("record,message", [
    (entry(kind="chunked"), "unknown kind 'chunked'"),
    (entry(kind=["file"]), r"unknown kind \['file'\]"),
    (entry(kind=DROP), "unknown kind None"),
    ([1, 2], "unknown kind None"),
    (entry(mode=420), "entry has keys"),
    (entry(exec=DROP), "entry has keys"),
    (entry(kind="dir"), "entry has keys"),  # a dir has no exec flag
    (entry(kind="symlink", target="x"), "entry has keys"),  # nor a symlink an id
], ids=["chunked", "list-kind", "no-kind", "not-object", "extra-key", "missing-key", "dir-exec", "symlink-id"])
def test_unknown_kinds_and_keys_are_unsupported(record, message):
    with pytest.raises(UnsupportedFormat, match=message):
        parse_tree(tree(line(record)), "t1")


@pytest.mark.parametrize("size", [-1, 1.5, "12", True, None, 1e3])
def test_bad_sizes_are_corrupt(size):
    with pytest.raises(CorruptObject, match="bad size for 'a'"):
        parse_tree(tree(line(entry(size=size))), "t1")


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "../x", "/etc/x", "a\0b", 5])
def test_unsafe_names_are_refused(name):
    with pytest.raises(UnsafePath, match="unsafe name"):
        parse_tree(tree(line(entry(name=name))), "t1")


@pytest.mark.parametrize("target", ["", "a\0b", 5, None])
def test_bad_symlink_targets_are_refused(target):
    record = {"kind": "symlink", "name": "l", "size": 1, "target": target}
    with pytest.raises(UnsafePath, match="invalid target"):
        parse_tree(tree(line(record)), "t1")


@pytest.mark.parametrize("oid", ["sha256:" + BLOB, "blake3:" + BLOB.upper(), "blake3:abc", 5])
def test_bad_ids_are_refused(oid):
    with pytest.raises(InvalidObjectId):
        parse_tree(tree(line(entry(id=oid))), "t1")


@pytest.mark.parametrize("flag", ["yes", 1, None])
def test_a_non_boolean_exec_flag_is_corrupt(flag):
    with pytest.raises(CorruptObject, match="bad exec flag"):
        parse_tree(tree(line(entry(exec=flag))), "t1")


# -- trees in a store -------------------------------------------------------


def test_walk_tree_lists_every_entry_below_a_tree_depth_first(store):
    leaf = put_tree(store, [TreeEntry("x", "file", 1, id=store.put_bytes(b"1"))])
    middle = put_tree(store, [TreeEntry("leaf", "dir", 1, id=leaf), TreeEntry("l", "symlink", 4, target="leaf")])
    top = put_tree(store, [TreeEntry("middle", "dir", 1, id=middle),
                           TreeEntry("y", "file", 2, id=store.put_bytes(b"22"))])
    assert [(path, e.kind) for path, e in walk_tree(store, top)] == [
        ("middle", "dir"), ("middle/l", "symlink"), ("middle/leaf", "dir"), ("middle/leaf/x", "file"), ("y", "file"),
    ]
    assert read_tree(store, middle)[1].id == leaf
    assert Walker(store).children(Ref(middle, TREE)) == [Ref(leaf, TREE)]  # a symlink names no object


def test_read_tree_refuses_a_blob(store):
    oid = store.put_bytes(b"just bytes")
    with pytest.raises(CorruptObject, match=f"{oid} is corrupt.*not a tree object"):
        read_tree(store, oid)
