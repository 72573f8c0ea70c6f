"""`runicorn restore`: exactly what was stored, executable bits kept, never outside --to."""

import json
import os
import stat

import pytest

import runicorn as rn
from cli_support import RUN_A, RUN_B, RUN_C, disk_state, file_tree, object_path
from runicorn.api import Api
from runicorn.restore import plan_restore, restore

from common_support import Recorder


@pytest.fixture
def area(tmp_path):
    """A folder holding the restore target and a sentinel: a restore must add only the target to it."""
    folder = tmp_path / "area"
    folder.mkdir()
    (folder / "sentinel.txt").write_text("untouched")
    return folder


def assert_only_target_written(area, target, root_before, root):
    assert sorted(p.name for p in area.iterdir()) == sorted(["sentinel.txt", target.name])
    assert (area / "sentinel.txt").read_text() == "untouched"
    assert disk_state(root) == root_before


def test_restore_code_is_byte_exact_with_executable_bits_and_links(samples, invoke, area):
    target = area / "code"
    before = disk_state(samples.root)
    result = invoke("restore", RUN_A, "--code", "--to", target, expect=0)
    assert f"restored code of run {RUN_A}" in result.stdout and str(target) in result.stdout
    restored = file_tree(target)
    assert restored == file_tree(samples.ws_a)
    assert restored["train.py"][2] is True and restored["pkg/model.py"][2] is False
    assert restored["latest.py"] == ("symlink", "train.py")
    assert_only_target_written(area, target, before, samples.root)


def test_restore_code_of_the_edited_workspace(samples, invoke, area):
    invoke("restore", "20250101_120000_aaaa02", "--code", "--to", area / "b", expect=0)
    assert file_tree(area / "b") == file_tree(samples.ws_b)


def test_restore_all_outputs(samples, invoke, area):
    target = area / "outputs"
    before = disk_state(samples.root)
    invoke("restore", RUN_A, "--outputs", "--to", target, expect=0)
    restored = file_tree(target)
    assert restored == {f"checkpoints/{k}": v for k, v in file_tree(samples.out_a / "checkpoints").items()} | \
        {f"logs/{k}": v for k, v in file_tree(samples.out_a / "logs").items()}
    assert restored["checkpoints/export.bin"][2] is True
    assert restored["checkpoints/model.pt"][2] is False
    assert_only_target_written(area, target, before, samples.root)


def test_restore_one_output_folder_by_name(samples, invoke, area):
    invoke("restore", RUN_A, "--outputs", "logs", "--to", area / "logs", expect=0)
    assert file_tree(area / "logs") == file_tree(samples.out_a / "logs")
    invoke("restore", RUN_A, "--to", area / "ckpt", "--outputs", "checkpoints", expect=0)
    assert file_tree(area / "ckpt") == file_tree(samples.out_a / "checkpoints")


def test_restore_dataset_and_pretrained_by_name(samples, invoke, area):
    before = disk_state(samples.root)
    result = invoke("restore", RUN_A, "--dataset", "mnist", "--to", area / "data", expect=0)
    assert "restored dataset mnist" in result.stdout and "3 files" in result.stdout
    assert file_tree(area / "data") == file_tree(samples.data)
    invoke("restore", RUN_B, "--pretrained", "backbone", "--to", area / "weights", expect=0)
    assert file_tree(area / "weights") == file_tree(samples.pretrained)
    assert disk_state(samples.root) == before


def test_restore_config_files_and_logged_values(samples, invoke, area):
    target = area / "config"
    invoke("restore", RUN_A, "--config", "--to", target, expect=0)
    assert sorted(p.name for p in target.iterdir()) == ["base.yaml", "extra.json", "runicorn-config.json"]
    for name in ("base.yaml", "extra.json"):
        assert (target / name).read_bytes() == (samples.ws_a / "configs" / name).read_bytes()
    assert json.loads((target / "runicorn-config.json").read_text()) == {
        "args": {"lr": 0.1, "epochs": 3, "opt": {"name": "sgd", "momentum": 0.9}}, "extra": {"seed": 1}}
    invoke("restore", RUN_C, "--config", "--to", area / "config-c", expect=0)
    assert json.loads((area / "config-c" / "runicorn-config.json").read_text()) == {"args": {"lr": 3e-5},
                                                                                   "extra": {}}


def test_restore_refuses_a_non_empty_target_without_force(samples, invoke, area):
    target = area / "code"
    target.mkdir()
    (target / "train.py").write_text("stale")
    (target / "mine.txt").write_text("keep me")
    before = disk_state(target)
    result = invoke("restore", RUN_A, "--code", "--to", target, expect=1)
    assert "not empty" in result.stderr and "--force" in result.stderr and "Traceback" not in result.output
    assert disk_state(target) == before

    invoke("restore", RUN_A, "--code", "--to", target, "--force", expect=0)
    restored = file_tree(target)
    assert restored.pop("mine.txt") == ("file", b"keep me", False)
    assert restored == file_tree(samples.ws_a)  # the stale train.py was overwritten


def test_restore_refuses_a_file_as_target(samples, invoke, area):
    result = invoke("restore", RUN_A, "--code", "--to", area / "sentinel.txt", "--force", expect=2)
    assert "sentinel.txt" in result.stderr and "is a file" in result.stderr
    assert (area / "sentinel.txt").read_text() == "untouched"


@pytest.mark.parametrize("kinds", [[], ["--code", "--config"], ["--dataset", "mnist", "--pretrained", "backbone"],
                                   ["--outputs", "--code"]])
def test_restore_needs_exactly_one_kind(samples, invoke, area, kinds):
    result = invoke("restore", RUN_A, *kinds, "--to", area / "t", expect=2)
    assert "choose exactly one of --code, --outputs [NAME], --dataset NAME, --pretrained NAME, --config" in result.stderr
    assert not (area / "t").exists()


def test_restore_needs_to(samples, invoke):
    assert "--to" in invoke("restore", RUN_A, "--code", expect=2).stderr


@pytest.mark.parametrize("args, needles", [
    (["nosuchrun", "--code"], ["nosuchrun"]),
    (["20250101_120000_aaaa0", "--code"], ["matches 2 runs"]),
    ([RUN_A, "--dataset", "imagenet"], ["imagenet", "mnist"]),
    ([RUN_A, "--pretrained", "bert"], ["bert", "backbone"]),
    ([RUN_A, "--outputs", "nope"], ["nope", "checkpoints", "logs"]),
    ([RUN_C, "--code"], ["no code snapshot"]),
    ([RUN_C, "--outputs"], ["archived no outputs"]),
])
def test_restore_bad_input_exits_1_and_writes_nothing(samples, invoke, area, args, needles):
    result = invoke("restore", *args, "--to", area / "t", expect=1)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.output
    for needle in needles:
        assert needle in lines[0]
    assert not (area / "t").exists() or list((area / "t").iterdir()) == []


def test_restore_of_a_reference_only_dataset_says_so(samples, invoke, area):
    run = rn.init(path="refs", storage=str(samples.root), run_id="20250104_000000_ref001")
    run.log_dataset("remote", "s3://bucket/data")
    run.log_dataset("local", str(samples.data))  # save=False: fingerprint only
    run.finish()
    for name in ("remote", "local"):
        result = invoke("restore", run.id, "--dataset", name, "--to", area / name, expect=1)
        assert "reference only" in result.stderr


def test_restore_verifies_hashes_and_never_leaves_corrupt_bytes(samples, invoke, area):
    api = Api(samples.root)
    outputs = api.run(RUN_A).latest_asset("outputs")
    from runicorn.store import walk_tree

    entries = dict(walk_tree(api.store, outputs.ref.id))
    victim = object_path(samples.root, entries["checkpoints/model.pt"].id)
    os.chmod(victim, stat.S_IRUSR | stat.S_IWUSR)
    data = bytearray(victim.read_bytes())
    data[0] ^= 1
    victim.write_bytes(bytes(data))
    os.chmod(victim, 0o444)

    target = area / "outputs"
    result = invoke("restore", RUN_A, "--outputs", "--to", target, expect=1)
    assert "corrupt" in result.stderr and entries["checkpoints/model.pt"].id in result.stderr
    written = file_tree(target)
    assert "checkpoints/model.pt" not in written
    assert all(not name.split("/")[-1].startswith(".") for name in written)  # no temp file left behind
    assert all(v[1] != bytes(data) for v in written.values() if v[0] == "file")


def test_restore_leaves_out_a_symlink_that_points_outside_and_says_so(samples, invoke, area, tmp_path):
    ws = tmp_path / "ws_evil"
    ws.mkdir()
    (ws / "a.py").write_text("print(1)\n")
    os.symlink("../../outside.txt", ws / "escape")
    os.symlink("/mnt/datasets", ws / "data")
    os.symlink("a.py", ws / "alias.py")
    with pytest.warns(UserWarning, match="symlinks that point outside the workspace: data -> /mnt/datasets, "
                                         "escape -> ../../outside.txt"):
        run = rn.init(path="evil", storage=str(samples.root), run_id="20250105_000000_ev1101", snapshot_code=True,
                      workspace_root=str(ws))
    run.finish()
    target = area / "code"
    result = invoke("restore", run.id, "--code", "--to", target, expect=0)
    assert "restored code" in result.stdout and "1 file" in result.stdout
    assert ("warning: left out 2 symlinks that point outside" in result.stderr
            and "data -> /mnt/datasets, escape -> ../../outside.txt" in result.stderr)
    assert file_tree(target) == {"a.py": ("file", b"print(1)\n", False), "alias.py": ("symlink", "a.py")}
    assert sorted(p.name for p in area.iterdir()) == ["code", "sentinel.txt"]
    assert not (tmp_path / "outside.txt").exists() and not (area.parent.parent / "outside.txt").exists()


def test_restore_refuses_a_target_that_is_a_symlink(samples, invoke, area, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.symlink(elsewhere, area / "link")
    result = invoke("restore", RUN_A, "--code", "--to", area / "link", "--force", expect=1)
    assert "symlink" in result.stderr
    assert list(elsewhere.iterdir()) == []


def test_restore_outputs_gives_the_latest_archived_version(storage_root, invoke, area, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "model.pt").write_bytes(b"epoch 1")
    run = rn.init(path="scan", storage=str(storage_root), run_id="20250108_000000_5ca001")
    run.scan_outputs_once(output_dirs=[out], stable_required=1, min_age_sec=0)
    (out / "model.pt").write_bytes(b"epoch 2, bigger")
    (out / "later.txt").write_text("new file")
    os.utime(out / "model.pt", (1, 1))  # a different mtime for sure
    run.scan_outputs_once(output_dirs=[out], stable_required=1, min_age_sec=0)
    run.finish()
    invoke("restore", run.id, "--outputs", "out", "--to", area / "latest", expect=0)
    assert file_tree(area / "latest") == {"model.pt": ("file", b"epoch 2, bigger", False),
                                          "later.txt": ("file", b"new file", False)}


def test_restore_a_dataset_saved_as_one_file(storage_root, invoke, area, tmp_path):
    single = tmp_path / "labels.csv"
    single.write_text("id,label\n1,cat\n")
    run = rn.init(path="single", storage=str(storage_root), run_id="20250109_000000_f11e01")
    run.log_dataset("labels", str(single), save=True)
    run.finish()
    invoke("restore", run.id, "--dataset", "labels", "--to", area / "labels", expect=0)
    assert file_tree(area / "labels") == {"labels.csv": ("file", b"id,label\n1,cat\n", False)}


def test_restore_with_a_missing_object_fails_cleanly(samples, invoke, area):
    api = Api(samples.root)
    dataset = api.run(RUN_A).latest_asset("dataset", "mnist")
    from runicorn.store import walk_tree

    victim = next(e.id for _, e in walk_tree(api.store, dataset.ref.id) if e.kind == "file")
    os.unlink(object_path(samples.root, victim))
    result = invoke("restore", RUN_A, "--dataset", "mnist", "--to", area / "data", expect=1)
    assert victim in result.stderr and "Traceback" not in result.output


def test_restore_config_keeps_config_files_that_share_a_name(storage_root, invoke, area, tmp_path):
    for sub, text in (("train", "lr: 0.1\n"), ("eval", "batch: 8\n")):
        (tmp_path / "cfg" / sub).mkdir(parents=True)
        (tmp_path / "cfg" / sub / "base.yaml").write_text(text)
    run = rn.init(path="cfg", storage=str(storage_root), run_id="20250111_000000_c0f001")
    run.log_config(config_files=[tmp_path / "cfg" / "train" / "base.yaml", tmp_path / "cfg" / "eval" / "base.yaml"])
    run.finish()
    result = invoke("restore", run.id, "--config", "--to", area / "config", expect=0)
    assert "3 files" in result.stdout
    restored = file_tree(area / "config")
    assert restored.pop("runicorn-config.json")[0] == "file"
    assert restored == {"train/base.yaml": ("file", b"lr: 0.1\n", False), "eval/base.yaml": ("file", b"batch: 8\n", False)}


@pytest.mark.parametrize("kind, name", [("code", None), ("outputs", None), ("outputs", "logs"), ("dataset", "mnist"),
                                        ("pretrained", "backbone")])
def test_the_restore_plan_knows_the_bytes_the_restore_writes(samples, tmp_path, kind, name):
    """The progress bar's total comes from the plan: the bytes restore then reports and writes."""
    api = Api(samples.root)
    plan = plan_restore(api.store, api.run(RUN_A), kind, name)
    seen = Recorder()
    result = restore(api.store, plan, tmp_path / "out", progress=seen)
    planned = plan.bytes
    assert planned == seen.total == result.bytes == seen.done > 0
    on_disk = sum(p.stat().st_size for p in (tmp_path / "out").rglob("*") if p.is_file() and not p.is_symlink())
    assert on_disk == planned
