"""`runicorn config` as a new user meets it (issue 12): --json, a usage line that reads, no blank output,
no "set storage = " for an empty value (an empty value unsets), and --unset."""

import json
import os
from pathlib import Path

from click.testing import CliRunner

from runicorn.cli import cli


def config(*args, expect=0):
    """`runicorn config ARGS` without --storage (the setting is what decides the root)."""
    result = CliRunner().invoke(cli, ["config", *map(str, args)])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == expect, (args, result.exit_code, result.output)
    return result.output


def config_file() -> Path:
    return Path(os.environ["HOME"]) / ".config" / "runicorn" / "config.json"


def test_config_json(tmp_path):
    shown = json.loads(config("--json"))
    assert shown["settings"] == {"storage": None}
    assert shown["config_file"] == str(config_file())
    assert shown["storage_in_effect"] == os.environ["RUNICORN_DIR"]  # the environment wins over the setting
    config("storage", tmp_path / "experiments")
    assert json.loads(config("--json"))["settings"] == {"storage": str(tmp_path / "experiments")}


def test_config_usage_line_reads_well():
    result = CliRunner().invoke(cli, ["config", "--help"], prog_name="runicorn")
    usage = result.output.splitlines()[0]
    assert usage == "Usage: runicorn config [OPTIONS] [KEY [VALUE]]", usage
    assert "--unset" in result.output and "--json" in result.output


def test_config_of_an_unset_key_is_not_blank():
    out = config("storage")
    assert out.strip() != "", repr(out)
    assert out.startswith("storage is not set"), out
    assert "storage       (not set)" in config()


def test_config_storage_empty_string_unsets_instead_of_setting_an_empty_path(tmp_path):
    config("storage", tmp_path / "experiments")
    assert config("storage").strip() == str(tmp_path / "experiments")
    out = config("storage", "")
    assert "set storage = " not in out, out
    assert out.strip() == f"unset storage (was {tmp_path / 'experiments'})", out
    assert "storage" not in json.loads(config_file().read_text())
    assert config("storage").startswith("storage is not set")


def test_config_unset(tmp_path):
    config("storage", "~/experiments")
    assert config("storage").strip() == str(Path(os.environ["HOME"]) / "experiments")  # made absolute
    assert config("storage", "--unset").strip().startswith("unset storage (was ")
    assert json.loads(config("--json"))["settings"] == {"storage": None}
    assert config("storage", "--unset").strip() == "unset storage (it was not set)"
    assert "--unset needs the KEY" in config("--unset", expect=2)
