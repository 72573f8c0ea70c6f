"""Code snapshots keep to code (issue 12, "Things that surprise"). Outside a git repository, checkpoints and
weights are left out by default with a warning naming them; folders passed to watch_outputs or
scan_outputs_once, and folders saved with log_dataset(save=True), are never part of the code, even inside
the workspace; a `.rnignore` line `!*.pt` takes weights back. Each case runs a training script as a user does
(`python train.py` in a folder that is not a git repository) and looks with `runicorn restore --code`."""

import os
from pathlib import Path

from cli_support import file_tree
from newuser_support import run_script


def _write(path: Path, data: bytes | str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)


def _code_files(invoke, run_id: str, target: Path) -> set[str]:
    invoke("restore", run_id, "--code", "--to", target, expect=0)
    return {rel for rel, entry in file_tree(target).items() if entry[0] != "dir" and (target / rel).is_file()}


def _warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "Warning" in line]


SNAPSHOT_ONLY = """
import sys
import runicorn as rn

run = rn.init(path="cv/train", run_id=sys.argv[1], snapshot_code=True)
run.finish()
"""


def test_outside_git_the_snapshot_leaves_out_checkpoints_and_weights_with_a_warning(storage_root, invoke, tmp_path):
    ws = tmp_path / "project"
    _write(ws / "model.py", "class Net: pass\n")
    _write(ws / "checkpoints" / "last.pt", os.urandom(4096))
    _write(ws / "weights.pth", os.urandom(2048))
    _write(ws / "notes.md", "# notes\n")
    assert not any((p / ".git").exists() for p in (ws, *ws.parents))  # not inside a git repository

    done = run_script(ws, SNAPSHOT_ONLY, args=["20250701_090000_5n5n01"])
    assert done.returncode == 0, done.stderr
    (warning,) = [w for w in _warnings(done.stderr) if "left out" in w]
    assert "checkpoints/" in warning and "weights.pth" in warning and "!*.pt" in warning, warning
    assert "notes.md" not in warning and "model.py" not in warning
    assert _code_files(invoke, "20250701_090000_5n5n01", tmp_path / "code1") == {"train.py", "model.py", "notes.md"}

    # The next epoch rewrote the checkpoint; a second run's code is the same code.
    _write(ws / "checkpoints" / "last.pt", os.urandom(4096))
    assert run_script(ws, SNAPSHOT_ONLY, args=["20250701_090100_5n5n02"]).returncode == 0
    diff = invoke("diff", "20250701_090000_5n5n01", "20250701_090100_5n5n02", expect=0).output
    assert "code: identical" in diff and "last.pt" not in diff, diff


WATCHED_AND_SAVED = """
import sys
import runicorn as rn

run = rn.init(path="cv/train", run_id=sys.argv[1], snapshot_code=True)
run.watch_outputs(output_dirs=["outs"], interval_sec=30)
run.log_dataset("train", "data", save=True)
run.log_pretrained("backbone", path_or_uri="pretrained", save=True, source_type="local")
run.finish()
"""

SCANNED = """
import sys
import runicorn as rn

run = rn.init(path="cv/train", run_id=sys.argv[1], snapshot_code=True)
run.scan_outputs_once(output_dirs=["outs"], stable_required=1, min_age_sec=0)
run.finish()
"""


def _workspace_with_outputs_and_data(ws: Path) -> None:
    _write(ws / "model.py", "class Net: pass\n")
    _write(ws / "outs" / "report.txt", "epoch 1: 0.5\n")
    _write(ws / "data" / "train.csv", "x,y\n1,2\n")
    _write(ws / "pretrained" / "tokenizer.json", '{"vocab": 3}\n')


def test_a_folder_passed_to_watch_outputs_or_saved_as_a_dataset_is_left_out_of_the_code(storage_root, invoke,
                                                                                          tmp_path):
    ws = tmp_path / "project"
    _workspace_with_outputs_and_data(ws)
    run_id = "20250701_100000_0d0d01"
    done = run_script(ws, WATCHED_AND_SAVED, args=[run_id])
    assert done.returncode == 0, done.stderr
    warnings = _warnings(done.stderr)
    for folder, why in (("outs/", "an output folder of this run"), ("data/", "saved as dataset 'train'"),
                        ("pretrained/", "saved as pretrained 'backbone'")):
        assert any(f"left out {folder} ({why}); it is not code" in w for w in warnings), (folder, warnings)
    assert _code_files(invoke, run_id, tmp_path / "code") == {"train.py", "model.py"}

    # They are where they belong: the outputs and the dataset.
    invoke("restore", run_id, "--dataset", "train", "--to", tmp_path / "data", expect=0)
    assert (tmp_path / "data" / "train.csv").read_text() == "x,y\n1,2\n"
    invoke("restore", run_id, "--outputs", "--to", tmp_path / "outputs", expect=0)
    assert (tmp_path / "outputs" / "outs" / "report.txt").read_text() == "epoch 1: 0.5\n"


def test_a_folder_passed_to_scan_outputs_once_is_left_out_of_the_code(storage_root, invoke, tmp_path):
    ws = tmp_path / "project"
    _workspace_with_outputs_and_data(ws)
    run_id = "20250701_100100_0d0d02"
    done = run_script(ws, SCANNED, args=[run_id])
    assert done.returncode == 0, done.stderr
    assert any("left out outs/ (an output folder of this run)" in w for w in _warnings(done.stderr)), done.stderr
    assert _code_files(invoke, run_id, tmp_path / "code") == {"train.py", "model.py", "data/train.csv",
                                                             "pretrained/tokenizer.json"}


SAVED_FILES = """
import sys
import runicorn as rn

run = rn.init(path="nlp/train", run_id=sys.argv[1], snapshot_code=True)
run.log_dataset("labels", "labels.csv", save=True)
run.log_pretrained("tokenizer", path_or_uri="tokenizer.json", save=True, source_type="local")
run.finish()
"""


def test_a_file_saved_with_log_dataset_or_log_pretrained_is_left_out_of_the_code(storage_root, invoke, tmp_path):
    """The issue: "paths saved with log_dataset/log_pretrained are never part of the code snapshot"."""
    ws = tmp_path / "project"
    _write(ws / "model.py", "class Net: pass\n")
    _write(ws / "labels.csv", "id,label\n1,cat\n")
    _write(ws / "tokenizer.json", '{"vocab": 3}\n')
    run_id = "20250701_100200_0d0d03"
    done = run_script(ws, SAVED_FILES, args=[run_id])
    assert done.returncode == 0, done.stderr
    assert _code_files(invoke, run_id, tmp_path / "code") == {"train.py", "model.py"}, done.stderr
    for name in ("labels.csv", "tokenizer.json"):
        assert any("left out " + name in w for w in _warnings(done.stderr)), (name, done.stderr)


def test_rnignore_bang_pt_takes_weights_back(storage_root, invoke, tmp_path):
    ws = tmp_path / "project"
    _write(ws / "model.py", "class Net: pass\n")
    _write(ws / "last.pt", b"tiny weights kept with the code")
    _write(ws / "cache.npy", b"\x93NUMPY")
    _write(ws / ".rnignore", "!*.pt\n")

    done = run_script(ws, SNAPSHOT_ONLY, args=["20250701_110000_b4b4b4"])
    assert done.returncode == 0, done.stderr
    assert not any("last.pt" in w for w in _warnings(done.stderr)), done.stderr
    assert any("cache.npy" in w for w in _warnings(done.stderr)), done.stderr  # the other defaults still apply
    files = _code_files(invoke, "20250701_110000_b4b4b4", tmp_path / "code")
    assert files == {"train.py", "model.py", "last.pt", ".rnignore"}
    assert (tmp_path / "code" / "last.pt").read_bytes() == b"tiny weights kept with the code"
