"""Fixtures for the new-user tests (issue 12): the CLI tests' sample runs and ``invoke``.

Every test here follows what a new user did, step by step: the CLI through
CliRunner or as a real subprocess (`python -m runicorn ...`, shell pipelines),
and the SDK as a script run in a subprocess.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "cli"))

from cli_fixtures import invoke, sample_template, samples, storage_root  # noqa: E402,F401


@pytest.fixture(autouse=True)
def _own_user_config(monkeypatch):
    """`runicorn config` writes under $XDG_CONFIG_HOME when it is set: keep it inside the test's HOME."""
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.delenv("COLUMNS", raising=False)
