"""What the CLI says when a new user's command meets a mistake or an odd run (issue 12, "Things that mislead"):
a bundle path in a missing folder, a mistyped --storage, a du prefix that matches nothing, a dataset that
was never saved, config files, and a run killed with kill -9."""

import json
import os

import pytest

import runicorn as rn
from cli_support import RUN_A, RUN_B, disk_state
from common_support import wait_until
from newuser_support import LiveRun


def test_export_into_a_missing_folder_names_that_folder_not_a_temp_file(samples, invoke, tmp_path):
    before = disk_state(tmp_path)
    result = invoke("export", RUN_A, "-o", "missing/dir/x.rnbundle", expect=1)
    message = result.output
    assert "missing/dir" in message and "does not exist" in message, message
    assert ".tmp" not in message and ".x.rnbundle." not in message, message  # no internal temp name
    assert len(message.strip().splitlines()) == 1
    assert not (tmp_path / "missing").exists()
    assert disk_state(tmp_path) == before


# Every command that reads a storage root, with arguments that are right apart from --storage.
MISTYPED_STORAGE = {
    "show": ["show", RUN_A],
    "export": ["export", RUN_A, "-o", "out.rnbundle"],
    "rm": ["rm", RUN_A, "--yes"],
    "restore": ["restore", RUN_A, "--code", "--to", "code-out"],
    "diff": ["diff", RUN_A, RUN_B],
    "du": ["du"],
    "verify": ["verify"],
    "gc": ["gc", "--grace", "0s"],
    "outputs": ["outputs", RUN_A],
    "history": ["history", RUN_A],
    "logs": ["logs", RUN_A],
    "pin": ["pin", RUN_A],
    "forget": ["forget", "--keep-last", "1", "--yes"],
}


@pytest.mark.parametrize("command", sorted(MISTYPED_STORAGE))
def test_a_mistyped_storage_says_there_is_no_storage_root_there(samples, invoke, tmp_path, command):
    mistyped = tmp_path / "runicron"  # the user meant samples.root
    before = disk_state(tmp_path)
    result = invoke(*MISTYPED_STORAGE[command], storage=mistyped, expect=1)
    assert f"no Runicorn storage root at {mistyped}" in result.output, result.output
    assert "no run with id" not in result.output
    assert not mistyped.exists()
    assert disk_state(tmp_path) == before  # nothing created: no root, no bundle, no restore folder


def test_du_of_a_path_no_run_has_says_no_run_matched(samples, invoke):
    result = invoke("du", "nosuch/path", expect=0)
    assert "no runs under 'nosuch/path'" in result.output, result.output
    assert json.loads(invoke("du", "nosuch/path", "--json", expect=0).output)["matched_runs"] == 0
    assert "no runs under" not in invoke("du", "cv", expect=0).output


def test_restore_of_a_dataset_recorded_with_save_false_says_it_was_never_stored(storage_root, invoke, tmp_path):
    data = tmp_path / "imagenet"
    (data / "train").mkdir(parents=True)
    (data / "train" / "0.jpg").write_bytes(b"jpeg")
    (tmp_path / "small").mkdir()
    (tmp_path / "small" / "a.csv").write_text("x\n1\n")
    run = rn.init(path="cv/ref", storage=str(storage_root), run_id="20250401_100000_dddd01")
    run.log_dataset("imagenet", str(data), save=False)  # a reference with a fingerprint, no bytes stored
    run.log_dataset("small", str(tmp_path / "small"), save=True)
    run.finish()

    result = invoke("restore", run.id, "--dataset", "imagenet", "--to", tmp_path / "out", expect=1)
    assert "never stored" in result.output and "save=False" in result.output, result.output
    assert not (tmp_path / "out").exists()

    # Asking for a name it does not have lists what can be restored: only the saved dataset.
    result = invoke("restore", run.id, "--dataset", "nope", "--to", tmp_path / "out", expect=1)
    assert "small" in result.output and "imagenet" not in result.output, result.output
    invoke("restore", run.id, "--dataset", "small", "--to", tmp_path / "out", expect=0)


def test_restore_config_with_two_config_files_reports_the_bytes_of_all_files(samples, invoke, tmp_path):
    target = tmp_path / "config-of-a"
    result = invoke("restore", RUN_A, "--config", "--to", target, expect=0)
    written = {p.name: p.stat().st_size for p in target.iterdir()}
    assert {"base.yaml", "extra.json"} <= set(written)  # the two config files A logged
    total = sum(written.values())
    assert f": {len(written)} files ({total} B) into" in result.output, (result.output, written)


def test_a_run_killed_with_kill_9_after_logging_a_while_shows_how_long_it_lived(storage_root, invoke, tmp_path):
    with LiveRun(tmp_path / "script", storage_root, "20250401_110000_kkkk01", interval=0.05) as live:
        live.wait_rows(1)
        api = rn.Api(str(storage_root))
        created = api.run(live.run_id).created_at

        def flushed_a_while_after_start():  # more than one flush (0.5 s apart) reached the disk
            rows = api.run(live.run_id).history()
            return rows[-1]["_time"] - created > 1.0

        wait_until(flushed_a_while_after_start, "rows flushed a second after the run started")
        live.kill9()
    (listed,) = json.loads(invoke("ls", "--json", expect=0).output)
    assert listed["status"] == "crashed" and listed["ended_at"] is None
    # It lived at least until the last row it flushed; its duration says so (not 0s, not its first heartbeat).
    last_row = rn.Api(str(storage_root)).run(listed["id"]).history()[-1]
    lived = last_row["_time"] - listed["created_at"]
    assert lived > 0
    assert listed["duration"] is not None and listed["duration"] >= lived - 0.01, (listed, last_row)


def test_a_runicorn_dir_that_holds_no_root_is_reported_the_same_way(storage_root):
    """Without --storage: $RUNICORN_DIR (set by these tests) names a folder that was never a storage root."""
    from click.testing import CliRunner

    from runicorn.cli import cli as group

    assert os.environ["RUNICORN_DIR"] == str(storage_root) and not storage_root.exists()
    for args in MISTYPED_STORAGE.values():
        result = CliRunner().invoke(group, [str(a) for a in args])
        assert result.exit_code == 1 and f"no Runicorn storage root at {storage_root}" in result.output, (
            args, result.output)
    assert not storage_root.exists()
