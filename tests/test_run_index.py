"""The run index: listings answered from the cache in the user's cache folder must say what the folders say."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path

import pytest

import runicorn as rn
from runicorn.runfolder import RunFolder, RunIndex, Status
from runicorn.runfolder.index import index_path


@pytest.fixture
def storage(tmp_path):
    return tmp_path / "storage"


def make_runs(count: int, path: str = "proj", prefix: str = "run") -> list[str]:
    ids = []
    for number in range(count):
        run = rn.init(path=path, run_id=f"{prefix}-{number}", alias=f"{prefix}-alias-{number}")
        run.set_primary_metric("acc", mode="max")
        run.log({"acc": number / 10})
        run.finish()
        ids.append(run.id)
    return ids


def age(root: Path, seconds: float = 100.0) -> None:
    """Make every file and folder under ``runs/`` old enough for the index to trust its stamp."""
    then = time.time() - seconds
    for folder, subfolders, files in os.walk(root / "runs"):
        for name in files:
            os.utime(os.path.join(folder, name), (then, then))
        os.utime(folder, (then, then))


def listing(storage) -> dict:
    return {v.id: (v.path, v.alias, v.status, v.best, v.pinned, tuple(v.problems)) for v in rn.Api(storage).runs()}


def index_rows(storage) -> int:
    with sqlite3.connect(index_path(storage / "runs")) as db:
        return db.execute("SELECT COUNT(*) FROM runs").fetchone()[0]


def forbid_reads(monkeypatch) -> None:
    """Reading a state file from its folder fails from now on: only the index can answer."""
    def refuse(self):
        raise AssertionError(f"{self.path} was read although the index holds it")

    for name in ("read_identity", "read_status", "read_primary_metric", "read_pin"):
        monkeypatch.setattr(RunFolder, name, refuse)


def test_a_second_listing_is_answered_from_the_index(storage, monkeypatch):
    make_runs(3)
    age(storage)
    first = listing(storage)
    assert index_rows(storage) == 3
    forbid_reads(monkeypatch)
    assert listing(storage) == first
    assert first["run-2"][2:4] == ("finished", 0.2)


def test_the_index_lives_in_the_cache_folder_not_under_the_root(storage, tmp_path, monkeypatch):
    make_runs(1)
    age(storage)
    before = sorted(str(p.relative_to(storage)) for p in storage.rglob("*"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    listing(storage)
    assert index_path(storage / "runs").is_file()
    assert index_path(storage / "runs").is_relative_to(tmp_path / "cache" / "runicorn" / "index")
    assert sorted(str(p.relative_to(storage)) for p in storage.rglob("*")) == before


def test_a_rewritten_state_file_is_read_again(storage):
    make_runs(2)
    age(storage)
    listing(storage)
    folder = rn.Api(storage).run("run-1").folder
    folder.write_status(Status(status="failed", started_at=1.0, ended_at=2.0))
    folder.write_pin("keep this one")
    after = listing(storage)
    assert after["run-1"][2] == "failed" and after["run-1"][4] is True
    assert after["run-0"][2] == "finished" and after["run-0"][4] is False


def test_a_hand_edit_in_place_is_seen_even_in_an_old_folder(storage):
    make_runs(1)
    age(storage)
    assert listing(storage)["run-0"][1] == "run-alias-0"
    identity = storage / "runs" / "proj" / "run-0" / "run.json"
    data = json.loads(identity.read_text())
    data["alias"] = "renamed"
    with open(identity, "r+") as handle:  # edited in place: the folder's mtime does not change
        handle.write(json.dumps(data))
        handle.truncate()
    then = time.time() - 50
    os.utime(identity, (then, then))
    os.utime(identity.parent, (time.time() - 100,) * 2)
    assert listing(storage)["run-0"][1] == "renamed"


def test_runs_added_and_removed_are_seen_and_removed_runs_leave_the_index(storage):
    make_runs(3)
    age(storage)
    listing(storage)
    run_dir = storage / "runs" / "proj" / "run-1"
    for child in run_dir.iterdir():
        child.unlink()
    run_dir.rmdir()
    rn.init(path="other/deep", run_id="new-run").finish()
    assert sorted(listing(storage)) == ["new-run", "run-0", "run-2"]
    age(storage)
    listing(storage)
    assert index_rows(storage) == 3


def test_damage_is_reported_from_the_index_as_from_the_folder(storage, monkeypatch):
    make_runs(2)
    (storage / "runs" / "proj" / "run-0" / "status.json").write_text("{not json")
    age(storage)
    first = listing(storage)
    assert first["run-0"][2] == "damaged" and "status.json is not JSON" in first["run-0"][5][0]
    forbid_reads(monkeypatch)
    assert listing(storage) == first


def test_files_changed_in_the_last_moments_are_not_cached(storage):
    make_runs(2)
    listing(storage)  # everything was written just now: a change in the same clock tick could hide
    assert index_rows(storage) == 0
    age(storage)
    listing(storage)
    assert index_rows(storage) == 2


@pytest.mark.parametrize("damage", [b"", b"this is not a database", b"SQLite format 3\x00" + b"\xff" * 4000])
def test_a_damaged_index_is_a_cache_miss_never_an_error(storage, damage):
    make_runs(2)
    age(storage)
    first = listing(storage)
    path = index_path(storage / "runs")
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    path.write_bytes(damage)
    assert listing(storage) == first
    assert listing(storage) == first


def test_a_damaged_row_is_read_again_from_the_folder(storage):
    make_runs(1)
    age(storage)
    first = listing(storage)
    with sqlite3.connect(index_path(storage / "runs")) as db:
        db.execute("UPDATE runs SET content = ?", (b"\x00garbage",))
    assert listing(storage) == first


def test_an_unwritable_cache_folder_still_lists(storage, tmp_path, monkeypatch):
    make_runs(2)
    age(storage)
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache folder would be")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    assert sorted(listing(storage)) == ["run-0", "run-1"]


def test_a_prefix_listing_keeps_rows_of_other_paths(storage):
    make_runs(2, "a", "a")
    make_runs(1, "b", "b")
    age(storage)
    listing(storage)
    assert [v.id for v in rn.Api(storage).runs("b")] == ["b-0"]
    assert index_rows(storage) == 3


def test_a_missing_root_gets_no_index(tmp_path):
    scan, cached = RunIndex(tmp_path / "nowhere" / "runs").scan()
    assert scan.folders == [] and cached == {}
    assert not index_path(tmp_path / "nowhere" / "runs").exists()


def test_a_long_lived_reader_answers_from_memory_and_still_sees_changes(storage, monkeypatch):
    make_runs(3)
    age(storage)
    api = rn.Api(storage)  # the viewer keeps one for its whole life
    assert [v.status for v in api.runs()] == ["finished"] * 3
    index_path(storage / "runs").unlink()  # memory answers now, not the file
    with monkeypatch.context() as patched:
        forbid_reads(patched)
        assert [v.best for v in api.runs()] == [0.0, 0.1, 0.2]
    api.run("run-2").folder.write_status(Status(status="interrupted", started_at=1.0, ended_at=2.0))
    run_dir = storage / "runs" / "proj" / "run-0"
    for child in run_dir.iterdir():
        child.unlink()
    run_dir.rmdir()
    assert {v.id: v.status for v in api.runs()} == {"run-1": "finished", "run-2": "interrupted"}
    assert {v.id: v.status for v in api.runs("proj")} == {"run-1": "finished", "run-2": "interrupted"}


@pytest.mark.parametrize("enabled", [True, False])
def test_a_listing_leaves_the_garbage_collector_as_it_found_it(storage, enabled):
    import gc

    make_runs(1)
    (gc.enable if enabled else gc.disable)()
    try:
        rn.Api(storage).runs()
        assert gc.isenabled() is enabled
    finally:
        gc.enable()


def test_listings_from_many_threads_agree(storage):
    from concurrent.futures import ThreadPoolExecutor

    make_runs(5)
    age(storage)
    api = rn.Api(storage)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: [(v.id, v.status, v.best) for v in api.runs()], range(8)))
    assert all(result == results[0] for result in results) and len(results[0]) == 5
