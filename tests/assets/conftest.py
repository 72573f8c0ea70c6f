"""Fixtures for the asset tests (code snapshots, config, datasets, outputs, images, manifests).

Git runs for real: every repository is generated under ``tmp_path`` and configured
locally, and the environment is cleared of anything that could point git (or the
code under test) at another repository or at the machine's own git config.
"""

import pytest

from assets_support import GitRepo, ReadCounter


@pytest.fixture(autouse=True)
def hermetic_git(monkeypatch, tmp_path):
    for name in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_CONFIG_GLOBAL", "GIT_CONFIG",
                 "XDG_CONFIG_HOME", "GIT_OBJECT_DIRECTORY", "GIT_COMMON_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_TERMINAL_PROMPT", "0")
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))


@pytest.fixture
def storage(tmp_path):
    """The storage root the hermetic environment points RUNICORN_DIR at."""
    return tmp_path / "storage"


@pytest.fixture
def git_repo(tmp_path):
    """Factory: ``git_repo("name")`` -> a fresh ``GitRepo`` under tmp_path."""

    def make(name: str = "repo") -> GitRepo:
        return GitRepo(tmp_path / name)

    return make


@pytest.fixture
def reads(monkeypatch):
    """A ``ReadCounter``: ``reads.watch(folder)``, then ``reads.take()`` lists files read below it."""
    return ReadCounter(monkeypatch)
