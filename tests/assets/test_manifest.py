"""The manifest: every role of docs/format.md section 5.3 appears as documented, and the run's roots reach
every object it stored."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import numpy as np

import runicorn as rn

from assets_support import Exec, bare, make_files, object_ids, store_of, view
from common_support import reach_of


FORMAT_DOC = Path(__file__).resolve().parents[2] / "docs" / "format.md"
ROLES = {"code", "code_diff", "config_file", "dataset", "pretrained", "outputs", "image"}
ROLE_KEYS = {
    "code": {"workspace", "files", "bytes", "skipped"},
    "code_diff": set(),
    "config_file": {"path", "size"},
    "dataset": {"resolved_path", "path", "description", "context", "saved", "fingerprint"},
    "pretrained": {"resolved_path", "path", "description", "source_type", "saved", "fingerprint"},
    "outputs": {"files"},
    "image": {"step"},
}


def manifest_section() -> str:
    text = FORMAT_DOC.read_text(encoding="utf-8")
    return text[text.index("### 5.3"):text.index("### 5.4")]


def full_run(tmp_path, git_repo):
    repo = git_repo().write({"train.py": "lr = 0.1\n", "tools/run.sh": Exec("#!/bin/sh\n")})
    repo.commit()
    repo.write({"train.py": "lr = 0.2\n"})  # dirty: a code_diff
    config = tmp_path / "train.yaml"
    config.write_text("lr: 0.2\n")
    data = make_files(tmp_path / "data", {"a.csv": "1\n", "b/c.csv": "2\n"})
    weights = tmp_path / "weights.pt"
    weights.write_bytes(b"\x00weights")
    out = make_files(tmp_path / "out", {"model.pt": "m", "log.txt": "l"})
    started = time.time()
    with rn.init(path="full", snapshot_code=True, workspace_root=str(repo.root)) as run:
        run.log_config(args={"lr": 0.2}, config_files=[config])
        run.log_dataset("train", data, save=True)
        run.log_dataset("reference-only", data)
        run.log_dataset("remote", "s3://bucket/x")
        run.log_pretrained("backbone", path_or_uri=weights, save=True, source_type="local")
        run.log_pretrained("hub", path_or_uri="bert-base-uncased", source_type="huggingface")
        run.scan_outputs_once(output_dirs=[out], stable_required=1, min_age_sec=0)
        run.log_image("sample", np.zeros((4, 4, 3), dtype=np.uint8), step=1)
    return run, started, time.time()


def test_every_documented_role_appears_with_its_keys(tmp_path, git_repo, storage):
    section = manifest_section()
    for role in ROLES:
        assert f"`{role}`" in section, role
    run, started, ended = full_run(tmp_path, git_repo)
    entries = view(run).manifest()
    assert {e["role"] for e in entries} == ROLES

    types = {"code": "tree", "code_diff": "blob", "config_file": "blob", "outputs": "tree", "image": "blob"}
    for entry in entries:
        assert {"role", "name", "at"} <= set(entry)
        assert started <= entry["at"] <= ended
        assert ROLE_KEYS[entry["role"]] <= set(entry) or "uri" in entry, entry
        if entry["role"] in types:
            assert entry["type"] == types[entry["role"]], entry
        if "id" in entry:
            assert re.fullmatch(r"blake3:[0-9a-f]{64}", entry["id"]) and entry["type"] in ("tree", "blob")
    by_name = {e["name"]: e for e in entries}
    assert by_name["train"]["type"] == "tree" and by_name["backbone"]["type"] == "blob"
    assert "id" not in by_name["reference-only"] and "fingerprint" in by_name["reference-only"]
    assert by_name["remote"]["uri"] == "s3://bucket/x" and by_name["hub"]["uri"] == "bert-base-uncased"


def test_roots_name_every_object_the_run_stored(tmp_path, git_repo, storage):
    run, _, _ = full_run(tmp_path, git_repo)
    run_view = view(run)
    roots = run_view.roots()
    assert len(roots) == len([e for e in run_view.manifest() if "id" in e])
    reachable, missing = reach_of(store_of(storage), roots)
    assert missing == []
    # One run in a fresh store: everything it wrote is reachable from its manifest, nothing is left unnamed.
    assert reachable == object_ids(storage)

    mentioned = {bare(row["id"]) for row in run_view.images()}
    mentioned |= {bare(f["id"]) for f in json.loads((run.run_dir / "config.json").read_text())["config_files"]}
    for entry in run_view.manifest():
        if entry.get("saved"):
            mentioned.add(bare(entry["fingerprint"]["id"]))
    assert mentioned <= reachable


def test_later_lines_supersede_earlier_ones_for_display(tmp_path, storage):
    data = make_files(tmp_path / "data", {"a.csv": "1"})
    with rn.init(path="sup") as run:
        first = run.log_dataset("train", data, save=True)
        (data / "a.csv").write_text("2")
        second = run.log_dataset("train", data, save=True)
    run_view = view(run)
    assert [e["id"] for e in run_view.manifest() if e["role"] == "dataset"] == [first["id"], second["id"]]
    assert run_view.latest_asset("dataset", "train")["id"] == second["id"]
    assert [e["id"] for e in run_view.assets()["dataset"]] == [second["id"]]
    assert {bare(first["id"]), bare(second["id"])} <= {r.id for r in run_view.roots()}  # both stay roots


def test_manifest_lines_reach_the_file_while_the_run_is_running(tmp_path, storage):
    """Objects of a running run become gc roots within seconds (the writer flushes at least once a second)."""
    data = make_files(tmp_path / "data", {"a.csv": "1"})
    with rn.init(path="live") as run:
        record = run.log_dataset("train", data, save=True)
        deadline = time.monotonic() + 30  # a guard against hanging, not an assertion about speed
        while not view(run).manifest() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [e["id"] for e in view(run).manifest()] == [record["id"]]
        assert view(run).status == "running"
