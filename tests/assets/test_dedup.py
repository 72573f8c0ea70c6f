"""Dedup across runs: the same dataset and the same outputs in ten runs cost one stored copy."""

from __future__ import annotations

import os

import runicorn as rn

from assets_support import backdate, make_files, object_bytes, store_of, view
from common_support import reach_of



def reachable_bytes(storage, runs) -> int:
    store = store_of(storage)
    reachable, missing = reach_of(store, [root for run in runs for root in view(run).roots()])
    assert missing == []
    return sum(store.size(oid) for oid in reachable)


def test_ten_runs_with_the_same_dataset_and_outputs_store_one_copy(tmp_path, storage, reads):
    dataset = make_files(tmp_path / "data", {f"shard{i}.bin": os.urandom(20_000) for i in range(5)})
    out = make_files(tmp_path / "out", {"model.pt": os.urandom(50_000), "metrics.json": '{"acc": 0.9}'})
    backdate(dataset)
    backdate(out)
    reads.watch(dataset, out)

    runs = []
    for _ in range(10):
        with rn.init(path="sweep") as run:
            run.log_dataset("train", dataset, save=True)
            run.scan_outputs_once(output_dirs=[out], stable_required=1, min_age_sec=0)
        runs.append(run)
        if len(runs) == 1:
            assert len(reads.take()) == 7  # the positive control: run 1 read every file once
            one_copy = object_bytes(storage)
            assert one_copy == reachable_bytes(storage, runs)
            assert one_copy >= 5 * 20_000 + 50_000

    assert object_bytes(storage) == one_copy
    assert reads.take() == []  # runs 2..10 hashed nothing
    assert len({view(r).latest_asset("dataset", "train")["id"] for r in runs}) == 1
    assert len({view(r).latest_asset("outputs")["id"] for r in runs}) == 1


def test_identical_outputs_in_separate_folders_are_stored_once(tmp_path, storage):
    payload = {"ckpt/model.pt": os.urandom(40_000), "train.log": "done\n"}
    runs = []
    for i in range(10):
        out = make_files(tmp_path / f"run{i}" / "out", payload)
        with rn.init(path="sweep") as run:
            run.scan_outputs_once(output_dirs=[out], stable_required=1, min_age_sec=0)
        runs.append(run)
        if i == 0:
            one_copy = object_bytes(storage)
    assert object_bytes(storage) == one_copy == reachable_bytes(storage, runs[:1])
    assert len({view(r).latest_asset("outputs")["id"] for r in runs}) == 1


def test_a_shared_backbone_is_stored_once_across_runs(tmp_path, storage):
    """Different checkpoints that share files (a frozen backbone beside per-run heads) share their blobs."""
    backbone = os.urandom(60_000)
    for i in range(3):
        out = make_files(tmp_path / f"run{i}" / "out", {"backbone.pt": backbone, "head.pt": os.urandom(1_000)})
        with rn.init(path="sweep") as run:
            run.scan_outputs_once(output_dirs=[out], stable_required=1, min_age_sec=0)
    assert 60_000 + 3 * 1_000 <= object_bytes(storage) < 2 * 60_000
