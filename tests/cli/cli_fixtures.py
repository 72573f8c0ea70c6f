"""The fixtures of the CLI tests, shared with the reliability suite: sample runs made through the real SDK
(built once per session, copied into each test's own storage root) and ``invoke`` around CliRunner."""

from __future__ import annotations

import shutil

import pytest

from cli_support import Invoker, SampleRuns, build_sample_runs


@pytest.fixture(scope="session")
def sample_template(tmp_path_factory) -> SampleRuns:
    return build_sample_runs(tmp_path_factory.mktemp("sample-runs"))


@pytest.fixture
def storage_root(tmp_path):
    """This test's storage root (where the hermetic environment points RUNICORN_DIR), as an absolute path."""
    return (tmp_path / "storage").absolute()


@pytest.fixture
def samples(sample_template, storage_root) -> SampleRuns:
    """A private copy of the sample storage root (runs A, B, C); objects keep their mode and mtime."""
    shutil.copytree(sample_template.root, storage_root, symlinks=True)
    return sample_template.with_root(storage_root)


@pytest.fixture
def invoke(storage_root) -> Invoker:
    return Invoker(storage_root)
