"""Fixtures for the SDK tests; helpers are in sdk_support.py.

The hermetic fixture in tests/conftest.py has already pointed HOME and
RUNICORN_DIR into tmp_path and made tmp_path the working directory; child
processes inherit that environment.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

import runicorn as rn
from runicorn.sdk import exithooks
from sdk_support import Script


@pytest.fixture
def storage(tmp_path) -> Path:
    """The storage root the hermetic environment points RUNICORN_DIR at."""
    return Path(os.environ["RUNICORN_DIR"])


@pytest.fixture
def api(storage) -> rn.Api:
    return rn.Api(storage)


@pytest.fixture(autouse=True)
def clean_sdk_state():
    """No test leaks an enable override or a live run (with its writer thread) into the next."""
    rn.reset_enabled()
    yield
    rn.reset_enabled()
    for run in list(exithooks._live_runs):
        run.finish()


@pytest.fixture
def script(tmp_path):
    """``script(code)`` -> a Script; ``code`` is dedented. Names are unique per call."""
    counter = iter(range(1000))

    def make(code: str, *, name: str | None = None, cwd: Path | None = None) -> Script:
        folder = cwd or tmp_path
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / (name or f"script_{next(counter)}.py")
        path.write_text(textwrap.dedent(code), encoding="utf-8")
        return Script(path, folder)

    return make
