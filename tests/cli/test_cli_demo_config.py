"""`runicorn demo` (in process, without its pauses) and `runicorn config`."""

import json
import os
import shlex

import pytest
from click.testing import CliRunner

import runicorn.demo
from cli_support import file_tree
from runicorn.cli import cli


@pytest.fixture
def quick_demo(monkeypatch):
    """The demo pauses between epochs so a person sees it train; tests need not wait."""
    monkeypatch.setitem(runicorn.demo.run_demo.__kwdefaults__, "pause", 0.0)


def test_demo_trains_three_runs_and_prints_ls_du_and_next_steps(storage_root, invoke, quick_demo, tmp_path):
    result = invoke("demo", expect=0)
    out = result.stdout
    assert f"training 3 demo runs into {storage_root}" in out
    runs = json.loads(invoke("ls", "--json", expect=0).stdout)
    assert len(runs) == 3
    assert {r["path"] for r in runs} == {"demo/mnist-mlp"} and {r["status"] for r in runs} == {"finished"}
    assert [r["alias"] for r in runs] == ["seed-1", "seed-2", "seed-3"]
    assert all(r["primary_metric"]["name"] == "val/acc" and r["primary_metric"]["best"] > 0 for r in runs)
    for run in runs:
        assert run["id"] in out  # the ls table
    assert "ONLY THIS RUN" in out and "dedup" in out  # the du table
    assert "Try next:" in out

    usage = json.loads(invoke("du", "--json", expect=0).stdout)
    backbone = 4 << 20
    # three runs refer to the 4 MiB backbone, the store holds it once (a second copy would need 8 MiB)
    assert usage["logical_bytes"] >= 3 * backbone and usage["physical_bytes"] < 2 * backbone
    shown = json.loads(invoke("show", runs[0]["id"], "--json", expect=0).stdout)
    assert {"code", "outputs", "image", "pretrained"} <= set(shown["assets"])
    assert shown["metrics"]["val/acc"]["count"] == 6

    # every suggested next step works as printed
    steps = [line.strip() for line in out.split("Try next:")[1].splitlines() if line.strip()]
    assert [shlex.split(s)[3] for s in steps] == ["show", "diff", "restore", "verify"]
    for step in steps:
        argv = shlex.split(step)
        assert argv[:3] == ["runicorn", "--storage", str(storage_root)]
        assert invoke(*argv[3:]).exit_code == 0, step
    example = {k: v for k, v in file_tree(runicorn.demo.EXAMPLE_PROJECT).items() if "__pycache__" not in k}
    assert file_tree(tmp_path / "demo-code") == example


def test_demo_twice_adds_three_more_runs(storage_root, invoke, quick_demo):
    invoke("demo", expect=0)
    invoke("demo", expect=0)
    assert len(json.loads(invoke("ls", "--json", expect=0).stdout)) == 6
    assert json.loads(invoke("verify", "--json", expect=0).stdout)["ok"] is True


def test_demo_takes_no_arguments(storage_root, invoke):
    assert "Usage:" in invoke("demo", "now", expect=2).stderr
    assert not (storage_root / "runs").exists()


# -- config ----------------------------------------------------------------------------


@pytest.fixture
def user_config(monkeypatch, tmp_path):
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    return tmp_path / "home" / ".config" / "runicorn" / "config.json"


def run_plain(*args, input=None):
    """Without --storage: the storage root is resolved from the environment and the user config."""
    result = CliRunner().invoke(cli, list(map(str, args)), input=input)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def test_config_shows_the_settings(storage_root, invoke, user_config):
    out = invoke("config", expect=0).stdout
    assert f"config file   {user_config}" in out
    assert "storage       (not set)" in out
    assert f"in effect     {storage_root}" in out
    assert not user_config.exists()


def test_config_sets_the_default_storage_root(samples, invoke, user_config, monkeypatch, tmp_path):
    result = invoke("config", "storage", samples.root, expect=0)
    assert f"set storage = {samples.root}" in result.stdout
    assert json.loads(user_config.read_text()) == {"storage": str(samples.root)}
    assert invoke("config", "storage", expect=0).stdout.strip() == str(samples.root)

    monkeypatch.delenv("RUNICORN_DIR")
    monkeypatch.chdir(tmp_path / "home")
    assert len(json.loads(run_plain("ls", "--json").stdout)) == 3  # found through the user config
    assert f"in effect     {samples.root}" in run_plain("config").stdout
    monkeypatch.setenv("RUNICORN_DIR", str(tmp_path / "elsewhere"))  # the environment wins over the config
    assert json.loads(run_plain("ls", "--json").stdout) == []


def test_config_stores_an_absolute_path(storage_root, invoke, user_config, tmp_path):
    invoke("config", "storage", "relative/runs", expect=0)
    assert json.loads(user_config.read_text())["storage"] == str(tmp_path / "relative" / "runs")
    invoke("config", "storage", "~/exp", expect=0)
    assert json.loads(user_config.read_text())["storage"] == str(tmp_path / "home" / "exp")


def test_config_bad_key_is_a_usage_error(storage_root, invoke, user_config):
    result = invoke("config", "colour", "blue", expect=2)
    assert "colour" in result.stderr and "storage" in result.stderr
    assert not user_config.exists()


def test_without_storage_or_config_the_root_is_dot_runicorn(monkeypatch, tmp_path, user_config):
    monkeypatch.delenv("RUNICORN_DIR")
    assert f"in effect     {tmp_path / '.runicorn'}" in run_plain("config").stdout
    assert "no runs in" in run_plain("ls").stdout
    assert not os.path.exists(tmp_path / ".runicorn" / "runs")


@pytest.mark.parametrize("command", [["du"], ["verify"], ["gc", "--dry-run"], ["gc"], ["export", "--path", "cv", "-o", "x.rnb"]])
def test_store_commands_on_a_folder_that_is_not_a_storage_root_fail_and_create_nothing(invoke, tmp_path, command):
    mistyped = tmp_path / "not-a-root"
    mistyped.mkdir()
    (mistyped / "notes.txt").write_text("mine\n")
    result = invoke(*command, storage=mistyped, expect=1)
    assert f"no Runicorn storage root at {mistyped}" in result.stderr and "--storage" in result.stderr
    assert sorted(p.name for p in mistyped.iterdir()) == ["notes.txt"]


@pytest.mark.parametrize("command", sorted(cli.commands))
def test_every_command_takes_storage_after_its_name(command):
    options = {opt for param in cli.commands[command].params for opt in getattr(param, "opts", [])}
    assert "--storage" in options


def test_storage_after_the_command_name_wins_over_the_group_option(samples, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    result = CliRunner().invoke(cli, ["--storage", str(elsewhere), "ls", "--json", "--storage", str(samples.root)])
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)) == 3
    assert not elsewhere.exists()
