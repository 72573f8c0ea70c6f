"""run.log_dataset / run.log_pretrained: references with fingerprints, saved trees, limits, URIs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import runicorn as rn
from runicorn.store import Ingester, ObjectStore, materialize_blob, materialize_tree

from assets_support import (Exec, Link, backdate, bare, folder_contents, make_files, manifest_entries, object_bytes,
                            store_of, tree_object_bytes)

DATASET = {
    "train/000.csv": "a,b\n1,2\n",
    "train/001.csv": "a,b\n3,4\n",
    "val/000.csv": "a,b\n5,6\n",
    "README.md": "# toy\n",
    "prepare.sh": Exec("#!/bin/sh\n"),
    "latest": Link("train/001.csv"),
}


@pytest.fixture
def dataset(tmp_path) -> Path:
    return make_files(tmp_path / "data" / "toy", DATASET)


def test_reference_records_path_resolved_path_and_fingerprint(dataset, storage, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with rn.init(path="ds") as run:
        record = run.log_dataset("toy", "data/toy", context="train", description="toy set")
    [entry] = manifest_entries(run, "dataset")
    assert entry == record
    assert record["name"] == "toy" and record["context"] == "train" and record["description"] == "toy set"
    assert record["path"] == "data/toy"  # as given
    assert record["resolved_path"] == str(dataset.resolve())
    assert record["saved"] is False and "id" not in record  # a reference is not a gc root
    fingerprint = record["fingerprint"]
    assert fingerprint["type"] == "tree" and fingerprint["files"] == 5
    assert fingerprint["bytes"] == sum(len(v.content if isinstance(v, Exec) else v)
                                       for v in DATASET.values() if not isinstance(v, Link))
    assert object_bytes(storage) == 0  # fingerprinting stores nothing


def test_fingerprint_id_equals_the_id_a_save_produces(dataset, storage, tmp_path):
    with rn.init(path="ds") as run:
        reference = run.log_dataset("toy", dataset)
        saved = run.log_dataset("toy", dataset, save=True)
    assert reference["fingerprint"] == saved["fingerprint"]
    assert saved["saved"] is True and saved["id"] == reference["fingerprint"]["id"] and saved["type"] == "tree"
    other = ObjectStore(tmp_path / "other-store")
    assert Ingester(other).ingest(dataset).id.tagged == saved["id"]


def test_saved_dataset_restores_byte_exact(dataset, storage, tmp_path):
    with rn.init(path="ds") as run:
        record = run.log_dataset("toy", dataset, save=True)
    target = tmp_path / "restored"
    materialize_tree(store_of(storage), bare(record["id"]), target)
    assert folder_contents(target) == folder_contents(dataset)


def test_a_single_file_is_fingerprinted_and_saved_as_a_blob(storage, tmp_path):
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(os.urandom(5000))
    with rn.init(path="pt") as run:
        record = run.log_pretrained("backbone", path_or_uri=weights, save=True, source_type="local")
    assert record["type"] == "blob" and record["fingerprint"] == {"id": record["id"], "type": "blob", "files": 1,
                                                                  "bytes": 5000}
    assert record["source_type"] == "local"
    materialize_blob(store_of(storage), bare(record["id"]), tmp_path / "restored.bin")
    assert (tmp_path / "restored.bin").read_bytes() == weights.read_bytes()
    [entry] = manifest_entries(run, "pretrained")
    assert entry["id"] == record["id"]


def test_missing_local_path_warns_and_is_recorded(storage, tmp_path):
    with rn.init(path="ds") as run:
        with pytest.warns(UserWarning, match="does not exist"):
            record = run.log_dataset("gone", tmp_path / "nowhere", context="eval")
        with pytest.warns(UserWarning, match="does not exist"):
            run.log_pretrained("gone-weights", path_or_uri="./weights/missing.pt")
        run.log({"step_ok": 1})  # training goes on
    assert record["exists"] is False and record["path"] == str(tmp_path / "nowhere")
    assert "fingerprint" not in record and "id" not in record
    assert {e["name"] for e in manifest_entries(run, "dataset")} == {"gone"}
    assert {e["name"] for e in manifest_entries(run, "pretrained")} == {"gone-weights"}


def test_save_of_a_missing_path_raises_file_not_found(storage, tmp_path):
    with rn.init(path="ds") as run:
        with pytest.raises(FileNotFoundError, match="nowhere"):
            run.log_dataset("gone", tmp_path / "nowhere", save=True)
        with pytest.raises(FileNotFoundError):
            run.log_pretrained("gone", path_or_uri=tmp_path / "nowhere.pt", save=True)
    assert manifest_entries(run, "dataset") == []


@pytest.mark.parametrize("limits, pattern", [
    ({"max_archive_bytes": 10}, "exceeds the archive limit"),
    ({"max_archive_files": 2}, "exceeds the archive limit"),
])
def test_archive_limits_refuse_unless_forced(dataset, storage, limits, pattern, reads):
    reads.watch(dataset)
    with rn.init(path="ds") as run:
        with pytest.raises(ValueError, match=pattern) as refused:
            run.log_dataset("toy", dataset, save=True, **limits)
        assert "force_save=True" in str(refused.value)
        assert reads.take() == []  # refused before reading any content
        assert object_bytes(storage) == 0
        with pytest.raises(ValueError, match=pattern):
            run.log_pretrained("toy-weights", path_or_uri=dataset, save=True, **limits)
        forced = run.log_dataset("toy", dataset, save=True, force_save=True, **limits)
    assert forced["saved"] is True
    assert object_bytes(storage) == tree_object_bytes(store_of(storage), forced["id"])


def test_limits_do_not_apply_to_references(dataset, storage):
    with rn.init(path="ds") as run:
        record = run.log_dataset("toy", dataset, max_archive_bytes=1, max_archive_files=1)
    assert record["fingerprint"]["files"] == 5


@pytest.mark.parametrize("uri, source_type", [
    ("s3://bucket/datasets/imagenet/", None),
    ("gs://bucket/x", None),
    ("https://example.com/data.tar.gz", None),
    ("bert-base-uncased", "huggingface"),
    ("google/vit-base-patch16-224", "huggingface"),
    ("resnet50", "torchvision"),
])
def test_uris_and_hub_identifiers_are_recorded_without_fingerprint(uri, source_type, storage):
    with rn.init(path="ds") as run:
        if source_type is None:
            record = run.log_dataset("remote", uri)
        else:
            record = run.log_pretrained("remote", path_or_uri=uri, source_type=source_type)
    assert record["uri"] == uri
    assert "fingerprint" not in record and "id" not in record and "path" not in record
    if source_type:
        assert record["source_type"] == source_type
    assert object_bytes(storage) == 0


def test_save_of_a_uri_is_refused(storage):
    with rn.init(path="ds") as run:
        with pytest.raises(ValueError, match="local path"):
            run.log_dataset("remote", "s3://bucket/x", save=True)
        with pytest.raises(ValueError, match="local path"):
            run.log_pretrained("hub", path_or_uri="bert-base-uncased", source_type="huggingface", save=True)


def test_a_hub_name_that_is_a_local_folder_is_fingerprinted(storage, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    make_files(tmp_path / "bert-base-uncased", {"config.json": "{}"})
    with rn.init(path="pt") as run:
        record = run.log_pretrained("bert", path_or_uri="bert-base-uncased", source_type="huggingface")
    assert record["fingerprint"]["files"] == 1


def test_the_same_dataset_in_ten_runs_is_stored_once_and_hashed_once(dataset, storage, reads):
    backdate(dataset)
    reads.watch(dataset)
    with rn.init(path="ds") as run:
        first = run.log_dataset("toy", dataset, save=True)
    assert len(reads.take()) == 5  # the positive control: every file read once
    one_copy = tree_object_bytes(store_of(storage), first["id"])
    assert object_bytes(storage) == one_copy

    for _ in range(9):
        with rn.init(path="ds") as run:
            again = run.log_dataset("toy", dataset, save=True)
        assert again["id"] == first["id"]
    assert reads.take() == []
    assert object_bytes(storage) == one_copy


def test_fingerprints_of_an_unchanged_dataset_are_not_recomputed(dataset, storage, reads):
    backdate(dataset)
    reads.watch(dataset)
    with rn.init(path="ds") as run:
        first = run.log_dataset("toy", dataset)
    assert len(reads.take()) == 5
    with rn.init(path="ds") as run:
        again = run.log_dataset("toy", dataset)
    assert reads.take() == [] and again["fingerprint"] == first["fingerprint"]

    (dataset / "val" / "000.csv").write_text("a,b\n5,7\n")
    with rn.init(path="ds") as run:
        changed = run.log_dataset("toy", dataset)
    assert [Path(p).name for p in reads.take()] == ["000.csv"]
    assert changed["fingerprint"]["id"] != first["fingerprint"]["id"]


def test_bad_reference_input_is_a_clear_error(storage, dataset):
    with rn.init(path="ds") as run:
        with pytest.raises(ValueError, match="name"):
            run.log_dataset("", dataset)
        with pytest.raises(ValueError, match="name"):
            run.log_pretrained(None, path_or_uri=dataset)
        with pytest.raises(ValueError, match="path_or_uri"):
            run.log_pretrained("nothing", save=True)


def test_a_saved_dataset_warns_about_names_it_cannot_store(storage, tmp_path):
    data = make_files(tmp_path / "data", {"ok.csv": "1"})
    with open(os.path.join(os.fsencode(data), b"\xff.csv"), "wb") as handle:
        handle.write(b"2")
    with rn.init(path="ds") as run:
        with pytest.warns(UserWarning, match="not valid UTF-8"):
            record = run.log_dataset("odd", data, save=True)
    assert record["fingerprint"]["files"] == 1


def test_a_dataset_folder_holding_the_storage_root_leaves_the_store_out(tmp_path, monkeypatch):
    project = make_files(tmp_path / "project", {"data/a.csv": "1\n", "train.py": "x"})
    monkeypatch.chdir(project)
    monkeypatch.delenv("RUNICORN_DIR")  # the default storage root: ./.runicorn, inside the dataset folder
    with rn.init(path="ds") as run:
        first = run.log_dataset("everything", ".", save=True)
        second = run.log_dataset("everything", ".", save=True)
        limited = run.log_dataset("limited", ".", save=True, max_archive_files=2)  # the store does not count
    assert run.storage_root == project / ".runicorn"
    assert first["fingerprint"] == second["fingerprint"] == limited["fingerprint"]
    assert first["fingerprint"]["files"] == 2
