"""Output archiving: stable files only, each version once, unchanged files never re-read, a watcher and a last scan."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

import runicorn as rn
from runicorn.store import ObjectStore, materialize_tree

from assets_support import backdate, bare, folder_contents, make_files, manifest_entries, store_of, tree_files, view


def archived_keys(report: dict) -> list[str]:
    """The 0.7 shape: ``archived`` counts, ``archived_entries`` names each file (``key``: folder/relative path)."""
    assert report["archived"] == report["changed"] == len(report["archived_entries"])
    return [entry["key"] for entry in report["archived_entries"]]


def archived_names(report: dict) -> set[str]:
    return set(archived_keys(report))


def latest_outputs(run) -> dict:
    """``{path: bytes}`` of the latest outputs tree, restored."""
    entry = view(run).latest_asset("outputs")
    store = store_of(run.storage_root)
    return {path: store.get(e.id) for path, e in tree_files(store, entry["id"]).items()}


def set_mtime(path: Path, seconds_ago: float) -> None:
    when = time.time_ns() - int(seconds_ago * 1e9)
    os.utime(path, ns=(when, when))


# -- stability ----------------------------------------------------------------------


def test_a_file_still_being_written_is_not_archived_until_it_is_stable(tmp_path, storage):
    out = tmp_path / "out"
    out.mkdir()
    checkpoint = out / "model.pt"
    checkpoint.write_bytes(b"part 1;")
    with rn.init(path="outs") as run:
        scan = lambda: run.scan_outputs_once(output_dirs=[out], stable_required=2, min_age_sec=0)  # noqa: E731
        first = scan()
        assert archived_keys(first) == [] and first["pending"] == ["out/model.pt"]
        with open(checkpoint, "ab") as handle:  # the trainer is still writing
            handle.write(b"part 2;")
        set_mtime(checkpoint, 1)  # a visibly different mtime, whatever the clock's resolution
        second = scan()
        assert archived_keys(second) == [] and second["pending"] == ["out/model.pt"]
        third = scan()  # same size and mtime as the look before: stable
        assert archived_keys(third) == ["out/model.pt"] and third["tree"].startswith("blake3:")
    assert latest_outputs(run) == {"out/model.pt": b"part 1;part 2;"}
    assert len(manifest_entries(run, "outputs")) == 1


def test_stable_required_counts_looks(tmp_path, storage):
    out = make_files(tmp_path / "out", {"a.log": "x"})
    with rn.init(path="outs") as run:
        reports = [run.scan_outputs_once(output_dirs=[out], stable_required=3, min_age_sec=0) for _ in range(3)]
    assert [archived_keys(r) for r in reports] == [[], [], ["out/a.log"]]


def test_a_file_younger_than_min_age_is_left_for_a_later_scan(tmp_path, storage):
    out = make_files(tmp_path / "out", {"young.ckpt": "y", "old.ckpt": "o"})
    set_mtime(out / "young.ckpt", 1)
    set_mtime(out / "old.ckpt", 120)
    with rn.init(path="outs") as run:
        for _ in range(3):
            report = run.scan_outputs_once(output_dirs=[out], stable_required=1, min_age_sec=60)
            assert report["pending"] == ["out/young.ckpt"]
        set_mtime(out / "young.ckpt", 90)  # time passes (its stat changed: one more look)
        report = run.scan_outputs_once(output_dirs=[out], stable_required=1, min_age_sec=60)
        assert archived_keys(report) == ["out/young.ckpt"] and report["unchanged"] == 1


# -- reading once ----------------------------------------------------------------------


def test_unchanged_files_are_not_read_again(tmp_path, storage, reads):
    out = make_files(tmp_path / "out", {"ckpt/epoch1.pt": os.urandom(4096), "metrics.csv": "a\n1\n",
                                        "train.log": "ok\n"})
    backdate(out)
    reads.watch(out)
    with rn.init(path="outs") as run:
        scan = lambda: run.scan_outputs_once(output_dirs=[out], stable_required=1, min_age_sec=0)  # noqa: E731
        first = scan()
        assert len(reads.take()) == 3 and first["bytes_read"] == 4096 + 4 + 3  # the positive control
        for _ in range(3):
            report = scan()
            assert archived_keys(report) == [] and report["unchanged"] == 3 and report["bytes_read"] == 0
        assert reads.take() == []
    assert reads.take() == []  # nor by the last scan at finish
    assert len(manifest_entries(run, "outputs")) == 1  # nothing changed: no new tree


def test_a_later_run_does_not_read_unchanged_outputs_again(tmp_path, storage, reads):
    out = make_files(tmp_path / "out", {"best.pt": os.urandom(2048)})
    backdate(out)
    reads.watch(out)
    with rn.init(path="outs") as run:
        run.scan_outputs_once(output_dirs=[out], stable_required=1, min_age_sec=0)
    assert len(reads.take()) == 1
    with rn.init(path="outs") as run:
        report = run.scan_outputs_once(output_dirs=[out], stable_required=1, min_age_sec=0)
    assert archived_keys(report) == ["out/best.pt"] and report["bytes_read"] == 0 and reads.take() == []


@pytest.mark.parametrize("mode", ["rolling", "overwrite_versions"])
def test_a_changed_file_is_archived_again_and_the_mode_says_which_versions_stay_roots(tmp_path, storage, mode):
    out = make_files(tmp_path / "out", {"model.pt": b"version 1", "config.json": "{}"})
    backdate(out, 100)
    with rn.init(path="outs") as run:
        scan = lambda: run.scan_outputs_once(output_dirs=[out], stable_required=1, min_age_sec=0, mode=mode)  # noqa: E731
        assert archived_names(scan()) == {"out/model.pt", "out/config.json"}
        (out / "model.pt").write_bytes(b"version 2, longer")
        backdate(out / "model.pt", 50)
        assert archived_keys(scan()) == ["out/model.pt"]

    entries = manifest_entries(run, "outputs")
    assert len(entries) == 2 and [e["mode"] for e in entries] == [mode, mode]  # both versions are listed
    store = store_of(storage)
    versions = [store.get(tree_files(store, e["id"])["out/model.pt"].id) for e in entries]
    assert versions == [b"version 1", b"version 2, longer"]
    assert latest_outputs(run) == {"out/model.pt": b"version 2, longer", "out/config.json": b"{}"}

    target = tmp_path / "restored"
    materialize_tree(store, bare(view(run).latest_asset("outputs")["id"]), target)
    assert (target / "out" / "model.pt").read_bytes() == b"version 2, longer"
    roots = {r.id for r in view(run).roots()}
    kept = entries if mode == "overwrite_versions" else entries[-1:]  # rolling: only the latest is a root
    assert {bare(e["id"]) for e in entries} & roots == {bare(e["id"]) for e in kept}


def test_an_executable_bit_and_nested_folders_are_kept(tmp_path, storage):
    out = make_files(tmp_path / "out", {"a/b/c.txt": "c", "top.log": "t"})
    (out / "top.log").chmod(0o755)
    backdate(out)
    with rn.init(path="outs") as run:
        run.scan_outputs_once(output_dirs=[out], stable_required=1, min_age_sec=0)
    target = tmp_path / "restored"
    materialize_tree(store_of(storage), bare(view(run).latest_asset("outputs")["id"]), target)
    assert folder_contents(target / "out") == folder_contents(out)


def test_several_output_folders_and_name_clashes(tmp_path, storage):
    first = make_files(tmp_path / "a" / "out", {"x.log": "1"})
    second = make_files(tmp_path / "b" / "out", {"x.log": "2"})
    logs = make_files(tmp_path / "logs", {"y.log": "3"})
    with rn.init(path="outs") as run:
        run.scan_outputs_once(output_dirs=[first, second, str(logs)], stable_required=1, min_age_sec=0)
    assert latest_outputs(run) == {"out/x.log": b"1", "out-2/x.log": b"2", "logs/y.log": b"3"}


def test_symlinks_in_output_folders_are_not_followed(tmp_path, storage):
    secret = tmp_path / "elsewhere" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text("not an output")
    out = make_files(tmp_path / "out", {"real.txt": "r"})
    os.symlink(secret, out / "link.txt")
    os.symlink(secret.parent, out / "linked-dir")
    with rn.init(path="outs") as run:
        run.scan_outputs_once(output_dirs=[out], stable_required=1, min_age_sec=0)
    assert latest_outputs(run) == {"out/real.txt": b"r"}


def test_tree_sizes_are_the_bytes_actually_stored_when_a_file_grows_while_read(tmp_path, storage, monkeypatch):
    out = make_files(tmp_path / "out", {"growing.log": b"0123456789"})
    real_put = ObjectStore.put_file_sized

    def put_while_appended(store, path):
        with open(path, "ab") as handle:  # the writer appends between the scan's stat and its read
            handle.write(b"more")
        return real_put(store, path)

    with monkeypatch.context() as patch, rn.init(path="outs") as run:
        run.watch_outputs(output_dirs=[out], interval_sec=3600)
        patch.setattr(ObjectStore, "put_file_sized", put_while_appended)  # for the last scan, at finish
    store = store_of(storage)
    entry = tree_files(store, view(run).latest_asset("outputs")["id"])["out/growing.log"]
    assert entry.size == store.size(entry.id) == len(store.get(entry.id))


# -- patterns ----------------------------------------------------------------------------


def test_default_patterns_cover_checkpoints_logs_metrics_and_images(tmp_path, storage):
    wanted = ["model.pt", "model.pth", "last.ckpt", "w.safetensors", "pytorch_model.bin", "m.onnx", "w.h5",
              "train.log", "notes.txt", "metrics.json", "history.jsonl", "scores.csv", "table.tsv",
              "hparams.yaml", "cfg.yml", "plot.png", "sample.jpg", "photo.jpeg", "curve.svg", "report.pdf",
              "embeddings.npy", "arrays.npz", "model.pkl"]
    unwanted = ["scratch.tmp", "core", "data.partial", "notebook.ipynb"]
    out = make_files(tmp_path / "out", {name: name for name in wanted + unwanted})
    with rn.init(path="outs") as run:
        run.scan_outputs_once(output_dirs=[out], stable_required=1, min_age_sec=0)
    assert set(latest_outputs(run)) == {f"out/{name}" for name in wanted}


def test_custom_patterns_match_names_or_relative_paths(tmp_path, storage):
    out = make_files(tmp_path / "out", {"a.tmp": "a", "keep/b.tmp": "b", "keep/c.pt": "c", "d.pt": "d"})
    with rn.init(path="outs") as run:
        run.scan_outputs_once(output_dirs=[out], patterns=["keep/*", "*.pt"], stable_required=1, min_age_sec=0)
    assert set(latest_outputs(run)) == {"out/keep/b.tmp", "out/keep/c.pt", "out/d.pt"}


def test_bad_scan_arguments_are_clear_errors(tmp_path, storage):
    with rn.init(path="outs") as run:
        with pytest.raises(ValueError, match="output_dirs"):
            run.scan_outputs_once(output_dirs=[])
        with pytest.raises(ValueError, match="stable_required"):
            run.scan_outputs_once(output_dirs=[tmp_path], stable_required=0)
        with pytest.raises(ValueError, match="min_age_sec"):
            run.scan_outputs_once(output_dirs=[tmp_path], min_age_sec=-1)
        with pytest.raises(ValueError, match="interval_sec"):
            run.watch_outputs(output_dirs=[tmp_path], interval_sec=0)
        with pytest.warns(UserWarning, match="not-yet-created does not exist"):
            report = run.scan_outputs_once(output_dirs=[tmp_path / "not-yet-created"])
        assert archived_keys(report) == [] and report["pending"] == []


# -- watching ------------------------------------------------------------------------------


def _watchers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "runicorn-outputs"]


def test_watch_outputs_archives_in_the_background(tmp_path, storage):
    out = make_files(tmp_path / "out", {"epoch1.pt": "weights 1"})
    backdate(out)
    with rn.init(path="outs") as run:
        run.watch_outputs(output_dirs=[out], interval_sec=0.02, stable_required=2, min_age_sec=0)
        [watcher] = _watchers()
        deadline = time.monotonic() + 30  # a guard against hanging, not an assertion about speed
        while not manifest_entries(run, "outputs") and time.monotonic() < deadline:
            time.sleep(0.02)
        assert latest_outputs(run) == {"out/epoch1.pt": b"weights 1"}  # archived before finish
        assert watcher.is_alive()
    assert not watcher.is_alive() and _watchers() == []


def test_finish_makes_a_last_scan_and_stops_the_watcher(tmp_path, storage):
    out = make_files(tmp_path / "out", {"early.log": "e"})
    with rn.init(path="outs") as run:
        run.watch_outputs(output_dirs=[out], interval_sec=3600)  # it would not look again during the test
        [watcher] = _watchers()
        make_files(out, {"final.pt": "written just before the end"})
    assert not watcher.is_alive()
    assert latest_outputs(run) == {"out/early.log": b"e", "out/final.pt": b"written just before the end"}


def test_stop_outputs_watch_stops_the_thread(tmp_path, storage):
    out = make_files(tmp_path / "out", {"a.log": "a"})
    with rn.init(path="outs") as run:
        run.watch_outputs(output_dirs=[out], interval_sec=3600)
        [watcher] = _watchers()
        run.stop_outputs_watch()
        assert not watcher.is_alive()
    assert latest_outputs(run) == {"out/a.log": b"a"}  # finish still takes its last look


def test_a_name_that_is_not_utf8_is_skipped_with_a_warning_and_the_rest_archived(tmp_path, storage):
    out = make_files(tmp_path / "out", {"ok.log": "fine"})
    with open(os.path.join(os.fsencode(out), b"caf\xe9.log"), "wb") as handle:
        handle.write(b"latin-1 name")
    with rn.init(path="outs") as run:
        with pytest.warns(UserWarning, match="not valid UTF-8"):
            report = run.scan_outputs_once(output_dirs=[out], stable_required=1, min_age_sec=0)
        assert archived_keys(report) == ["out/ok.log"] and len(report["skipped"]) == 1
    assert latest_outputs(run) == {"out/ok.log": b"fine"}


def test_an_output_folder_holding_the_storage_root_leaves_the_store_out(tmp_path, monkeypatch):
    project = make_files(tmp_path / "project", {"model.pt": "m"})
    monkeypatch.chdir(project)
    monkeypatch.delenv("RUNICORN_DIR")  # ./.runicorn holds run files (*.json, *.txt) that change all the time
    with rn.init(path="outs") as run:
        run.log({"loss": 1.0})
        reports = [run.scan_outputs_once(output_dirs=["."], stable_required=1, min_age_sec=0) for _ in range(3)]
    assert [archived_keys(r) for r in reports] == [["project/model.pt"], [], []]
    assert latest_outputs(run) == {"project/model.pt": b"m"}
