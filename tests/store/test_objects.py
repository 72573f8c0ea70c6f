"""ObjectStore conformance: writing, reading, freshening, batches, the trash, the config, crashes."""

import io
import json
import os
import random
import re
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from runicorn.errors import CorruptObject, ObjectNotFound, UnsupportedFormat
from runicorn.store import ObjectStore, hash_bytes, verify
from runicorn.store import CHUNK_SIZE, collect

from store_support import HOUR, backdate, object_files, tamper, temp_files

FORMAT_DOC = Path(__file__).resolve().parents[2] / "docs" / "format.md"


class FailingStream:
    """Yields ``chunks`` chunks of data, then raises as a broken pipe or disk would."""

    def __init__(self, chunks: int):
        self.left = chunks

    def read(self, size: int) -> bytes:
        if not self.left:
            raise OSError("the source went away")
        self.left -= 1
        return b"z" * size


def put_via(store, method, data, tmp_path):
    """Store ``data`` with one of the put methods; all must agree."""
    if method == "put_bytes":
        return store.put_bytes(data)
    if method == "put_stream":
        return store.put_stream(io.BytesIO(data))
    path = tmp_path / "source.bin"
    path.write_bytes(data)
    if method == "put_file":
        return store.put_file(path)
    oid, size = store.put_file_sized(path)
    assert size == len(data)
    return oid


PUT_METHODS = ["put_bytes", "put_stream", "put_file", "put_file_sized"]


# -- writing ----------------------------------------------------------------


@pytest.mark.parametrize("method", PUT_METHODS)
@pytest.mark.parametrize("data", [b"", b"hello", random.Random(7).randbytes(CHUNK_SIZE * 2 + 17)],
                         ids=["empty", "small", "multi-chunk"])
def test_put_stores_exact_bytes_under_their_hash(store, tmp_path, method, data):
    oid = put_via(store, method, data, tmp_path)
    assert oid == hash_bytes(data)
    assert store.path_for(oid).read_bytes() == data
    assert store.get(oid) == data
    assert store.size(oid) == len(data)
    assert store.has(oid)


def test_objects_are_read_only_and_no_temp_file_is_left(store):
    oid = store.put_bytes(b"read only")
    assert stat.S_IMODE(store.path_for(oid).stat().st_mode) == 0o444
    assert temp_files(store) == []


def test_a_stream_that_fails_midway_leaves_no_object_and_no_temp_file(store):
    with pytest.raises(OSError, match="went away"):
        store.put_stream(FailingStream(chunks=3))
    assert object_files(store) == set()
    assert temp_files(store) == []


def test_a_stream_without_readinto_is_read_in_chunks(store):
    data = random.Random(7).randbytes(CHUNK_SIZE + 5)
    stream = io.BytesIO(data)

    class ReadOnly:
        read = stream.read

    assert store.put_stream(ReadOnly()) == hash_bytes(data)


def test_re_put_writes_nothing_and_refreshes_the_mtime(store):
    oid = store.put_bytes(b"reused")
    path = store.path_for(oid)
    backdate(path, 2 * HOUR)
    before = path.stat()
    assert store.put_bytes(b"reused") == oid
    after = path.stat()
    assert after.st_ino == before.st_ino  # the same file, not a rewrite
    assert after.st_mtime > before.st_mtime + HOUR
    assert object_files(store) == {f"{oid[:2]}/{oid[2:]}"}
    assert temp_files(store) == []


def test_freshen_refreshes_an_existing_object_and_refuses_a_missing_one(store):
    oid = store.put_bytes(b"old")
    backdate(store.path_for(oid), 2 * HOUR)
    before = store.path_for(oid).stat().st_mtime
    store.freshen(oid)
    assert store.path_for(oid).stat().st_mtime > before + HOUR
    absent = hash_bytes(b"absent")
    with pytest.raises(ObjectNotFound, match=absent):
        store.freshen(absent)
    assert not store.has(absent)


def test_iter_objects_lists_every_object_with_its_size(store):
    ids = {store.put_bytes(b"a"): 1, store.put_bytes(b"bcd"): 3}
    assert {o.id: o.size for o in store.iter_objects()} == ids


# -- reading ----------------------------------------------------------------


def test_reading_a_tampered_object_raises_corrupt_object_naming_it(store):
    oid = store.put_bytes(b"original bytes")
    tamper(store, oid, b"tampered bytes")
    with pytest.raises(CorruptObject, match=oid) as info:
        store.get(oid)
    assert info.value.object_id == oid
    assert info.value.actual == hash_bytes(b"tampered bytes")
    with pytest.raises(CorruptObject, match=oid):
        with store.open(oid) as reader:
            while reader.read(4):
                pass
    assert store.verify_object(oid) == hash_bytes(b"tampered bytes")


def test_streaming_read_checks_the_hash_only_at_eof(store):
    data = random.Random(7).randbytes(3 * 1000)
    oid = store.put_bytes(data)
    with store.open(oid) as reader:
        assert reader.read(0) == b""  # not EOF: must not judge a partial hash
        buffer = bytearray(1000)
        assert reader.readinto(memoryview(buffer)[:0]) == 0
        parts = [reader.read(1000), reader.read(1000)]
        assert reader.readinto(buffer) == 1000
        parts.append(bytes(buffer))
        assert reader.read(1000) == b""
    assert b"".join(parts) == data
    assert store.verify_object(oid) is None


def test_opening_a_missing_object_raises_object_not_found(store):
    absent = hash_bytes(b"never stored")
    with pytest.raises(ObjectNotFound, match=absent):
        store.open(absent)
    with pytest.raises(ObjectNotFound, match=absent):
        store.size(absent)


# -- batches ----------------------------------------------------------------


def test_batch_objects_appear_only_when_the_batch_ends(store):
    other_view = ObjectStore(store.root, create=False)
    with store.batch():
        first = store.put_bytes(b"one")
        second = store.put_bytes(b"two")
        assert store.put_bytes(b"one") == first  # a repeat inside the batch is one object
        assert not store.path_for(first).exists()
        assert not other_view.has(first)
        assert store.has(first) and store.get(first) == b"one"  # the writing thread sees what it has put
        assert len(temp_files(store)) == 2
    for oid in (first, second):
        assert other_view.get(oid) in (b"one", b"two")
        assert stat.S_IMODE(store.path_for(oid).stat().st_mode) == 0o444
    assert temp_files(store) == []


def test_a_nested_batch_publishes_with_the_outer_one(store):
    with store.batch():
        with store.batch():
            oid = store.put_bytes(b"inner")
        assert not store.path_for(oid).exists()
    assert store.get(oid) == b"inner"


def test_an_exception_inside_a_batch_leaves_no_objects_and_no_temp_files(store):
    with pytest.raises(RuntimeError):
        with store.batch():
            store.put_bytes(b"one")
            store.put_stream(io.BytesIO(b"two"))
            raise RuntimeError("the caller failed")
    assert object_files(store) == set()
    assert temp_files(store) == []
    assert store.put_bytes(b"after") == hash_bytes(b"after")  # the store is usable again


# -- the trash --------------------------------------------------------------


def trash_by_hand(store, data: bytes):
    oid = store.put_bytes(data)
    trashed = store.trash_path_for(oid)
    trashed.parent.mkdir(parents=True, exist_ok=True)
    os.rename(store.path_for(oid), trashed)
    return oid, trashed.stat().st_ino


@pytest.mark.parametrize("take_back", [
    lambda store, oid, data: store.has(oid),
    lambda store, oid, data: store.get(oid) == data,
    lambda store, oid, data: store.size(oid) == len(data),
    lambda store, oid, data: store.put_bytes(data) == oid,
], ids=["has", "open", "size", "put"])
def test_an_object_in_the_trash_is_taken_back_on_use(store, take_back):
    data = b"gc moved me aside"
    oid, inode = trash_by_hand(store, data)
    assert take_back(store, oid, data)
    assert store.path_for(oid).stat().st_ino == inode  # linked back, not written again
    assert not store.trash_path_for(oid).exists()
    assert temp_files(store) == []


# -- the store config -------------------------------------------------------


def test_a_new_store_writes_the_config_shown_in_the_format_spec(store):
    section = FORMAT_DOC.read_text(encoding="utf-8").split("## 3. Store config", 1)[1]
    documented = section.split("```json\n", 1)[1].split("```", 1)[0]
    assert (store.root / "config.json").read_text(encoding="utf-8") == documented
    for folder in ("objects", "tmp", "trash", "cache"):
        assert (store.root / folder).is_dir()


def config_with(**changes) -> bytes:
    config = {"extensions": [], "format": "runicorn-store", "hash": "blake3",
              "layout": "objects/<2 hex>/<62 hex>", "version": 1}
    return json.dumps({**config, **changes}).encode()


@pytest.mark.parametrize("text,message", [
    (config_with(version=2), "format version 2"),
    (config_with(version="1"), "format version '1'"),
    (config_with(version=True), "format version True"),
    (config_with(extensions=["compression"]), "extensions ['compression']"),
    (config_with(extensions="chunks"), "malformed extensions list 'chunks'"),
    (config_with(extensions=[["chunks"]]), "malformed extensions list"),
    (config_with(hash="sha256"), "hash 'sha256'"),
    (config_with(format="restic"), "not a Runicorn store config"),
    (b"[1, 2]", "not a Runicorn store config"),
    (b"{not json", "cannot read store config"),
    (b'{"format": "runicorn-store\xff"}', "cannot read store config"),
], ids=["version-2", "version-string", "version-bool", "unknown-extension", "extensions-string",
        "extensions-nested", "hash", "format", "json-list", "garbage", "not-utf8"])
def test_a_store_config_this_version_does_not_know_is_refused(tmp_path, text, message):
    root = tmp_path / "store"
    root.mkdir()
    (root / "config.json").write_bytes(text)
    with pytest.raises(UnsupportedFormat, match=re.escape(message)):
        ObjectStore(root)
    assert sorted(os.listdir(root)) == ["config.json"]  # refused without touching the store


def test_opening_a_store_that_does_not_exist_without_create_fails(tmp_path):
    with pytest.raises(ObjectNotFound, match="no Runicorn store at .*no config.json"):
        ObjectStore(tmp_path / "nowhere", create=False)
    assert not (tmp_path / "nowhere").exists()


def test_an_existing_store_opens_without_create(store):
    oid = store.put_bytes(b"kept")
    assert ObjectStore(store.root, create=False).get(oid) == b"kept"


# -- other processes --------------------------------------------------------

SLOW_WRITER = textwrap.dedent("""
    import sys
    from runicorn.store import ObjectStore

    class SlowStream:
        '''Serves eight chunks, says so, then blocks until killed: a put caught midway.'''
        served = 0
        def read(self, size):
            if self.served == 8:
                print("midway", flush=True)
                sys.stdin.readline()
            self.served += 1
            return bytes([self.served]) * size

    ObjectStore(sys.argv[1]).put_stream(SlowStream())
""")


def test_a_writer_killed_midway_leaves_only_a_stray_temp_file(store):
    kept = store.put_bytes(b"stored before the crash")
    writer = subprocess.Popen([sys.executable, "-c", SLOW_WRITER, str(store.root)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert writer.stdout.readline() == b"midway\n"
        [stray] = temp_files(store)
        assert (store.tmp_dir / stray).stat().st_size == 8 * CHUNK_SIZE
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.communicate()
    assert writer.returncode == -signal.SIGKILL
    assert object_files(store) == {f"{kept[:2]}/{kept[2:]}"}  # nothing under a final name
    assert temp_files(store) == [stray]
    assert verify(store, {"run": []}).ok

    # The temp file names its writer, which is gone: gc removes it at once, whatever the grace period.
    gc_plan, _ = collect(store, [], grace_seconds=HOUR)
    assert gc_plan.stale_temp_files == [str(store.tmp_dir / stray)]
    assert temp_files(store) == []
    assert verify(store, {}).ok


CONCURRENT_WRITER = textwrap.dedent("""
    import sys
    from runicorn.store import ObjectStore
    store = ObjectStore(sys.argv[1])
    sys.stdin.readline()  # start together
    print(store.put_bytes(bytes(range(256)) * 8192), store.put_bytes(sys.argv[2].encode()))
""")


def test_processes_putting_the_same_bytes_at_once_make_one_object(store):
    writers = [subprocess.Popen([sys.executable, "-c", CONCURRENT_WRITER, str(store.root), f"writer {i}"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE) for i in range(4)]
    for writer in writers:
        writer.stdin.write(b"go\n")
        writer.stdin.flush()
    outputs = [w.communicate()[0].split() for w in writers]
    assert all(w.returncode == 0 for w in writers)
    shared = hash_bytes(bytes(range(256)) * 8192)
    assert {out[0].decode() for out in outputs} == {shared}
    assert {out[1].decode() for out in outputs} == {hash_bytes(f"writer {i}".encode()) for i in range(4)}
    assert len(object_files(store)) == 5
    assert temp_files(store) == []
    assert verify(store, {}).ok
