"""The stat cache: unchanged files are not re-read, and the cache is never trusted over the disk."""

import os
import sqlite3
import time

import pytest

from runicorn.store import Ingester, StatCache, hash_bytes, read_tree
from runicorn.store.chunked import StoredFile
from runicorn.store.statcache import racy_window_ns

from store_support import HOUR, backdate, backdate_tree, make_folder

SECOND_NS = 1_000_000_000
FILES = {"a.txt": b"alpha", "sub": {"b.txt": b"bravo!", "c.bin": bytes(100)}}
TOTAL = 5 + 6 + 100


@pytest.fixture
def folder(tmp_path):
    """A folder whose files were last written an hour ago: older than any racy window."""
    folder = make_folder(tmp_path / "src", FILES)
    backdate_tree(folder, HOUR)
    return folder


def set_mtime_ns(path, mtime_ns):
    os.utime(path, ns=(mtime_ns, mtime_ns))


def test_re_ingesting_an_unchanged_folder_reads_no_file(ingest, folder):
    first = ingest(folder)
    assert first.hashed_bytes == TOTAL
    second = ingest(folder)
    assert (second.id, second.files, second.bytes, second.hashed_bytes) == (first.id, 3, TOTAL, 0)


def test_a_changed_file_with_the_same_size_and_another_mtime_is_re_read(ingest, store, folder):
    first = ingest(folder)
    changed = folder / "a.txt"
    changed.write_bytes(b"ALPHA")  # same size, same inode
    backdate(changed, 2 * HOUR)  # an old mtime, but not the cached one
    second = ingest(folder)
    assert second.hashed_bytes == 5
    assert second.id != first.id
    assert {e.name: e.id for e in read_tree(store, second.id)}["a.txt"] == hash_bytes(b"ALPHA")


def test_a_replaced_file_with_the_same_size_and_mtime_is_re_read(ingest, folder):
    """A new inode (an editor saving by rename) is a different file even if size and mtime match."""
    ingest(folder)
    old = os.stat(folder / "a.txt")
    (folder / "new").write_bytes(b"ALPHA")
    os.replace(folder / "new", folder / "a.txt")
    set_mtime_ns(folder / "a.txt", old.st_mtime_ns)
    assert ingest(folder).hashed_bytes == 5


def test_a_file_written_within_the_racy_window_is_never_trusted(ingest, store, tmp_path):
    # A write in the same timestamp tick keeps size and mtime: the mtime cannot tell the versions apart.
    path = tmp_path / "racy.txt"
    path.write_bytes(b"version 1")
    tick = time.time_ns() + 60 * SECOND_NS + 123  # "now" as far as the mtime can tell
    set_mtime_ns(path, tick)
    assert ingest(path).id == hash_bytes(b"version 1")
    path.write_bytes(b"version 2")
    set_mtime_ns(path, tick)
    again = ingest(path)
    assert (again.id, again.hashed_bytes) == (hash_bytes(b"version 2"), 9)


@pytest.mark.parametrize("mtime_ns,age_ns,trusted", [
    (1_700_000_000_123_456_789, 100_000_000, False),  # fine timestamps: 100 ms window
    (1_700_000_000_123_456_789, 100_000_001, True),
    (1_700_000_000 * SECOND_NS, 3 * SECOND_NS, False),  # whole seconds: maybe a coarse filesystem, 3 s
    (1_700_000_000 * SECOND_NS, 3 * SECOND_NS + 1, True),
    (1_700_000_000_123_456_789, -5 * SECOND_NS, False),  # an mtime in the future
])
def test_an_entry_is_recorded_only_when_the_mtime_was_older_than_the_racy_window(
        stat_cache, tmp_path, mtime_ns, age_ns, trusted):
    path = tmp_path / "f"
    path.write_bytes(b"x")
    set_mtime_ns(path, mtime_ns)
    st = os.stat(path)
    stored = StoredFile(hash_bytes(b"x"), 1)
    stat_cache.record(str(path), st, stored, hashed_at_ns=mtime_ns + age_ns)
    stat_cache.commit()
    assert stat_cache.lookup(str(path), st) == (stored if trusted else None)
    assert racy_window_ns(mtime_ns) == (3 * SECOND_NS if mtime_ns % SECOND_NS == 0 else 100_000_000)


def test_a_lookup_needs_every_stat_field_to_match(stat_cache, tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"x")
    backdate(path, HOUR)
    st = os.stat(path)
    stat_cache.record(str(path), st, StoredFile(hash_bytes(b"x"), 1), time.time_ns())
    stat_cache.commit()
    assert stat_cache.lookup(str(path), st).id == hash_bytes(b"x")
    for field in ("st_dev", "st_ino", "st_size", "st_mtime_ns"):
        changed = FakeStat(st, **{field: getattr(st, field) + 1})
        assert stat_cache.lookup(str(path), changed) is None, field
    assert stat_cache.lookup(str(tmp_path / "other"), st) is None


class FakeStat:
    def __init__(self, st, **changes):
        for field in ("st_dev", "st_ino", "st_size", "st_mtime_ns"):
            setattr(self, field, changes.get(field, getattr(st, field)))


def cache_files(store):
    return [store.cache_dir / name for name in ("stat.sqlite", "stat.sqlite-wal", "stat.sqlite-shm")]


def test_deleting_the_cache_file_is_safe(store, ingest, stat_cache, folder):
    first = ingest(folder)
    for path in cache_files(store):  # under the open connection's feet
        path.unlink(missing_ok=True)
    assert ingest(folder).id == first.id
    stat_cache.close()
    with StatCache(store.cache_dir / "stat.sqlite") as fresh:
        rebuilt = Ingester(store, stat_cache=fresh).ingest(folder)
        assert (rebuilt.id, rebuilt.hashed_bytes) == (first.id, TOTAL)
        assert Ingester(store, stat_cache=fresh).ingest(folder).hashed_bytes == 0


def test_a_garbage_cache_file_is_rebuilt_not_trusted(store, folder):
    path = store.cache_dir / "stat.sqlite"
    path.write_bytes(b"this is not a database" * 300)
    with StatCache(path) as cache:
        first = Ingester(store, stat_cache=cache).ingest(folder)
        assert first.hashed_bytes == TOTAL
        assert Ingester(store, stat_cache=cache).ingest(folder).hashed_bytes == 0
    assert path.read_bytes().startswith(b"SQLite format 3\0")


def test_damaged_rows_are_misses_not_errors(store, folder):
    path = store.cache_dir / "stat.sqlite"
    with StatCache(path) as cache:
        first = Ingester(store, stat_cache=cache).ingest(folder)
    with sqlite3.connect(path) as db:
        db.execute("UPDATE files SET oid = 'not an id'")
    with StatCache(path) as cache:
        again = Ingester(store, stat_cache=cache).ingest(folder)
        hashed_only = Ingester(store, stat_cache=cache, store_content=False).ingest(folder)
    assert (again.id, again.hashed_bytes) == (first.id, TOTAL)
    assert hashed_only.id == first.id


def test_an_object_removed_since_caching_is_stored_again(store, ingest, folder):
    first = ingest(folder)
    blob = hash_bytes(b"alpha")
    path = store.path_for(blob)
    path.unlink()  # as a gc with no roots would
    again = ingest(folder)
    assert again.id == first.id
    assert again.hashed_bytes == 5  # only that file is read again
    assert store.get(blob) == b"alpha"
