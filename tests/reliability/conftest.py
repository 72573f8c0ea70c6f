"""Fixtures for the reliability suite: the CLI tests' sample runs and ``invoke``, and a subprocess runner.

The suite injects faults as restic and git test themselves: kill -9 at chosen
points (``RUNICORN_TEST_CRASH_AFTER``), writers beside gc, full disks, and
hostile or damaged inputs. Each test states the exact outcome it expects.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "cli"))

from cli_support import Invoker, SampleRuns, build_sample_runs  # noqa: E402


@pytest.fixture(scope="session")
def sample_template(tmp_path_factory) -> SampleRuns:
    return build_sample_runs(tmp_path_factory.mktemp("sample-runs"))


@pytest.fixture
def storage_root(tmp_path):
    return (tmp_path / "storage").absolute()


@pytest.fixture
def samples(sample_template, storage_root) -> SampleRuns:
    """A private copy of the sample storage root (runs A, B, C)."""
    shutil.copytree(sample_template.root, storage_root, symlinks=True)
    return sample_template.with_root(storage_root)


@pytest.fixture
def invoke(storage_root) -> Invoker:
    return Invoker(storage_root)
