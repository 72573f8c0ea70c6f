"""`runicorn rm`: confirmation, live runs, and what it leaves on disk."""

import json
import warnings

import pytest

import runicorn as rn
from cli_support import AMBIGUOUS_PREFIX, RUN_A, RUN_B, RUN_C, object_files


def listed(invoke) -> list[str]:
    return [r["id"] for r in json.loads(invoke("ls", "--json", expect=0).stdout)]


def test_rm_with_yes_deletes_the_folder_and_the_run_leaves_ls(samples, invoke):
    folder = samples.root / "runs" / "cv" / "resnet" / "lr-sweep" / RUN_B
    assert folder.is_dir()
    objects = object_files(samples.root)
    result = invoke("rm", RUN_B, "--yes", expect=0)
    assert "deleted 1 run;" in result.stdout and "runicorn gc --grace 0s" in result.stdout and "grace period (1h)" in result.stdout
    assert not folder.exists()
    assert not folder.parent.exists()  # the emptied path folder goes too
    assert (samples.root / "runs" / "cv" / "resnet" / "baseline" / RUN_A).is_dir()
    assert listed(invoke) == [RUN_A, RUN_C]
    assert list((samples.root / "runs" / ".trash").iterdir()) == []
    assert object_files(samples.root) == objects  # objects stay until gc
    assert invoke("show", RUN_B, expect=1).exit_code == 1


def test_rm_by_path_prefix(samples, invoke):
    invoke("rm", "--path", "cv", "--yes", expect=0)
    assert listed(invoke) == [RUN_C]
    assert not (samples.root / "runs" / "cv").exists()


def test_rm_several_ids_and_prefixes(samples, invoke):
    invoke("rm", RUN_A, "20250102", "--yes", expect=0)
    assert listed(invoke) == [RUN_B]


def test_rm_asks_and_no_aborts_without_deleting(samples, invoke):
    result = invoke("rm", RUN_A, input="n\n", expect=1)
    assert RUN_A in result.stdout and "delete this run?" in result.stdout
    assert "Aborted" in result.output
    assert listed(invoke) == [RUN_A, RUN_B, RUN_C]


def test_rm_asks_and_yes_deletes(samples, invoke):
    result = invoke("rm", "--path", "cv/resnet", input="y\n", expect=0)
    assert RUN_A in result.stdout and RUN_B in result.stdout and "delete these 2 runs?" in result.stdout
    assert listed(invoke) == [RUN_C]


@pytest.mark.parametrize("args", [[], ["--yes"], [RUN_A, "--path", "cv", "--yes"]])
def test_rm_needs_ids_or_path_exit_2(samples, invoke, args):
    result = invoke("rm", *args, expect=2)
    assert "give run ids or --path" in result.stderr
    assert listed(invoke) == [RUN_A, RUN_B, RUN_C]


def test_rm_unknown_or_ambiguous_run_exits_1_and_deletes_nothing(samples, invoke):
    result = invoke("rm", RUN_A, "nosuchrun", "--yes", expect=1)
    assert "nosuchrun" in result.stderr and "Traceback" not in result.output
    result = invoke("rm", AMBIGUOUS_PREFIX, "--yes", expect=1)
    assert "matches 2 runs" in result.stderr
    result = invoke("rm", "--path", "no/such/prefix", "--yes", expect=1)
    assert "no/such/prefix" in result.stderr
    assert invoke("rm", "--path", "../x", "--yes", expect=2).exit_code == 2
    assert listed(invoke) == [RUN_A, RUN_B, RUN_C]


@pytest.fixture
def live_run(samples):
    """A run started in this process and not finished: fresh heartbeat, live pid."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = rn.init(path="cv/live", storage=str(samples.root), run_id="20250103_000000_11ve01")
        run.log({"loss": 1.0})
        yield run
        deleted = not run.run_dir.exists()
        run.log({"loss": 2.0})
        run.summary({"after": True})  # neither fails the script once the folder is gone
        run.finish()
    # Deleted under it with rm --force: the run said so once (writer thread or finish) instead of failing.
    said = [w for w in caught if "was deleted while the run was live" in str(w.message)]
    assert len(said) == (1 if deleted else 0)
    assert not run.run_dir.exists() if deleted else run.run_dir.is_dir()


def test_rm_refuses_a_running_run_unless_forced(samples, invoke, live_run):
    assert json.loads(invoke("show", live_run.id, "--json", expect=0).stdout)["status"] == "running"
    result = invoke("rm", live_run.id, "--yes", expect=1)
    assert live_run.id in result.stderr and "--force" in result.stderr and "running" in result.stderr
    assert live_run.run_dir.is_dir()
    # --path includes the live run: nothing at all is deleted
    invoke("rm", "--path", "cv", "--yes", expect=1)
    assert listed(invoke) == [RUN_A, RUN_B, RUN_C, live_run.id]
    invoke("rm", live_run.id, "--yes", "--force", expect=0)
    assert not live_run.run_dir.exists()
    assert listed(invoke) == [RUN_A, RUN_B, RUN_C]


def test_rm_of_one_run_named_twice_deletes_it_once(samples, invoke):
    result = invoke("rm", RUN_A, "20250101_120000_aaaa01", input="y\n", expect=0)
    assert "delete this run?" in result.stdout and "deleted 1 run;" in result.stdout
    assert listed(invoke) == [RUN_B, RUN_C]
