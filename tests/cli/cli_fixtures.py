"""The fixtures of the CLI tests, shared with the reliability suite: sample runs made through the real SDK
(built once per session, copied into each test's own storage root) and ``invoke`` around CliRunner."""

from __future__ import annotations

import shutil

import pytest

import runicorn as rn
from cli_support import OWN, OWN_PATH, Invoker, SampleRuns, build_sample_runs


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


@pytest.fixture(scope="session")
def target_template(tmp_path_factory):
    """A root to import hostile bundles into: one run of its own (OWN at OWN_PATH, so it has a store) that
    shares no object with the sample runs."""
    base = tmp_path_factory.mktemp("target")
    config = base / "own.yaml"
    config.write_text("this root's own config\n")
    run = rn.init(path=OWN_PATH, storage=str(base / "root"), run_id=OWN)
    run.log_config(config_files=[config])
    run.log({"loss": 1.0})
    run.finish()
    return base / "root"
