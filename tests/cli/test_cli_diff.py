"""`runicorn diff`: config, summary and code differences between two runs, straight from the store."""

import json

from cli_support import AMBIGUOUS_PREFIX, RUN_A, RUN_B, RUN_C


def test_diff_shows_config_summary_and_a_unified_code_diff(samples, invoke):
    out = invoke("diff", RUN_A, RUN_B, expect=0).stdout
    config = out.split("config:")[1].split("summary:")[0]
    assert any(line.split() == ["lr", "0.1", "0.01"] for line in config.splitlines()), config
    assert "epochs" not in config and "opt.momentum" not in config  # equal values are not differences
    summary = out.split("summary:")[1].split("code:")[0]
    assert any(line.split() == ["final_acc", "0.7", "0.55"] for line in summary.splitlines())
    assert any(line.split() == ["best_epoch", "2", "-"] for line in summary.splitlines())
    assert "code: 1 added, 1 removed, 2 changed" in out
    assert "  + pkg/new_util.py" in out
    assert "  - pkg/old_util.py" in out
    assert "  ~ pkg/model.py" in out and "  ~ configs/base.yaml" in out
    assert "--- a/pkg/model.py\n+++ b/pkg/model.py\n" in out
    assert "-        return x * 2\n+        return x * 3" in out
    assert "-lr: 0.1\n+lr: 0.01" in out
    # unchanged files are not mentioned
    assert "train.py" not in out and "assets/blob.dat" not in out


def test_diff_json(samples, invoke):
    result = json.loads(invoke("diff", RUN_A, RUN_B, "--json", expect=0).stdout)
    assert (result["a"], result["b"]) == (RUN_A, RUN_B)
    assert {"key": "lr", "a": 0.1, "b": 0.01} in result["config"]
    assert {"key": "best_epoch", "a": 2, "b": None} in result["summary"]
    code = result["code"]
    assert code["available"] is True
    assert (code["added"], code["removed"]) == (["pkg/new_util.py"], ["pkg/old_util.py"])
    assert sorted(code["changed"]) == ["configs/base.yaml", "pkg/model.py"]
    assert "+        return x * 3" in code["patches"]["pkg/model.py"]


def test_diff_of_a_run_with_itself_is_empty(samples, invoke):
    out = invoke("diff", RUN_A, RUN_A, expect=0).stdout
    assert "config: no differences" in out and "summary: no differences" in out and "code: identical" in out


def test_diff_with_a_run_without_code_says_so(samples, invoke):
    out = invoke("diff", RUN_A, RUN_C, expect=0).stdout
    assert "code: not compared" in out
    assert any(line.split() == ["lr", "0.1", "3e-05"] for line in out.splitlines())


def test_diff_accepts_prefixes(samples, invoke):
    assert "code: 1 added" in invoke("diff", RUN_A, "20250101_120000_aaaa02", expect=0).stdout


def test_diff_bad_input(samples, invoke):
    result = invoke("diff", RUN_A, "nosuchrun", expect=1)
    assert "nosuchrun" in result.stderr and "Traceback" not in result.output
    result = invoke("diff", AMBIGUOUS_PREFIX, RUN_C, expect=1)
    assert "matches 2 runs" in result.stderr
    assert "Usage:" in invoke("diff", RUN_A, expect=2).stderr


def test_diff_changes_nothing_on_disk(samples, invoke):
    from cli_support import disk_state

    before = disk_state(samples.root)
    invoke("diff", RUN_A, RUN_B, expect=0)
    assert disk_state(samples.root) == before


def test_diff_reports_mode_link_and_binary_changes(storage_root, invoke, tmp_path):
    import os

    import runicorn as rn

    def snapshot(ws, run_id):
        run = rn.init(path="modes", storage=str(storage_root), run_id=run_id, snapshot_code=True,
                      workspace_root=str(ws))
        run.finish()

    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "run.sh").write_text("echo hi\n")
    os.chmod(ws / "run.sh", 0o644)
    (ws / "weights.dat").write_bytes(b"\x00\x01\x02")
    os.symlink("run.sh", ws / "link")
    snapshot(ws, "20250112_000000_0d0001")
    os.chmod(ws / "run.sh", 0o755)  # only the executable bit changes
    (ws / "weights.dat").write_bytes(b"\x00\x01\x03")
    os.unlink(ws / "link")
    os.symlink("weights.dat", ws / "link")
    snapshot(ws, "20250112_000000_0d0002")

    out = invoke("diff", "20250112_000000_0d0001", "20250112_000000_0d0002", expect=0).stdout
    assert "code: 0 added, 0 removed, 3 changed" in out
    assert "diff a/run.sh b/run.sh\nold mode 100644\nnew mode 100755" in out
    assert "Binary or large files a/weights.dat and b/weights.dat differ" in out
    assert "link: symlink -> run.sh -> symlink -> weights.dat" in out
