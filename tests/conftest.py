"""Hermetic tests: every test gets its own storage root and HOME (so its own cache folder) under tmp_path."""

import pytest


@pytest.fixture(autouse=True)
def hermetic_environment(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("RUNICORN_DIR", str(tmp_path / "storage"))
    for name in ("XDG_CACHE_HOME", "RUNICORN_ON", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
