"""`runicorn viewer`: its options, and a one-line error naming the pip command when the extra is missing."""

from __future__ import annotations

import sys

from click.testing import CliRunner

import runicorn.viewer
from runicorn.cli import cli


def test_help_names_the_options():
    result = CliRunner().invoke(cli, ["viewer", "--help"])
    assert result.exit_code == 0
    for option in ("--host", "--port", "--open"):
        assert option in result.output


def test_without_the_extra_it_says_what_to_install(monkeypatch):
    for name in ("starlette", "uvicorn", "plotly"):
        monkeypatch.setitem(sys.modules, name, None)  # what an environment without the extra looks like
    assert runicorn.viewer.missing_dependencies() == ["starlette", "uvicorn", "plotly"]
    result = CliRunner().invoke(cli, ["viewer"])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "pip install 'runicorn[viewer]'" in lines[0] and "Traceback" not in result.output


def test_it_serves_the_chosen_root_on_the_chosen_address(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(runicorn.viewer, "missing_dependencies", lambda: [])
    monkeypatch.setattr(runicorn.viewer, "serve", lambda api, **kwargs: calls.append((api.root, kwargs)))
    result = CliRunner().invoke(cli, ["--storage", str(tmp_path), "viewer", "--host", "0.0.0.0", "--port", "8123",
                                      "--open"])
    assert result.exit_code == 0, result.output
    (root, kwargs), = calls
    assert root == tmp_path and kwargs["host"] == "0.0.0.0" and kwargs["port"] == 8123 and kwargs["open_browser"]
    CliRunner().invoke(cli, ["viewer"])
    assert calls[-1][1]["host"] == "127.0.0.1" and calls[-1][1]["port"] == 23300
    assert CliRunner().invoke(cli, ["viewer", "--port", "70000"]).exit_code == 2
