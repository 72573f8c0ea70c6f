"""capture_env=True: what the run ran on, and never a secret from the environment."""

from __future__ import annotations

import json
import platform
import sys
from importlib import metadata
from pathlib import Path

import runicorn as rn


def test_environment_json_lists_packages_python_platform_and_hardware(storage):
    with rn.init(path="env", capture_env=True) as run:
        pass
    env = json.loads((run.run_dir / "environment.json").read_text())
    assert {"packages", "python", "platform", "hardware"} <= set(env)

    assert env["python"]["version"] == platform.python_version()
    assert env["python"]["implementation"] == platform.python_implementation()
    assert env["platform"]["system"] == platform.system()
    assert env["platform"]["machine"] == platform.machine()

    packages = env["packages"]
    for name in ("runicorn", "pytest", "blake3", "pillow"):
        versions = {k.lower(): v for k, v in packages.items()}
        assert versions[name] == metadata.version(name), name
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in packages.items())

    hardware = env["hardware"]
    assert isinstance(hardware["cpu_count"], int) and hardware["cpu_count"] >= 1
    assert isinstance(hardware["gpus"], list)
    assert hardware["memory_bytes"] is None or hardware["memory_bytes"] > 0

    assert rn.Api().run(run.id).environment == env


def test_no_environment_variable_is_recorded_anywhere_in_the_run(storage, monkeypatch, git_repo):
    secret = "tok_9f8e7d6c5b4a_DO_NOT_LEAK"
    monkeypatch.setenv("RUNICORN_TEST_API_TOKEN", secret)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret + "_aws")
    repo = git_repo().write({"train.py": "x"})
    repo.commit()
    with rn.init(path="env", capture_env=True, snapshot_code=True, workspace_root=str(repo.root),
                 capture_console=True) as run:
        run.log({"loss": 1.0})
        run.log_text("training")
    for path in Path(storage).rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert secret.encode() not in data, path
            assert b"RUNICORN_TEST_API_TOKEN" not in data and b"AWS_SECRET_ACCESS_KEY" not in data, path


def test_without_capture_env_there_is_no_environment_file(storage):
    with rn.init(path="env") as run:
        pass
    assert not (run.run_dir / "environment.json").exists()
    assert rn.Api().run(run.id).environment is None


def test_capture_env_does_not_import_torch(storage):
    """GPU details come from torch only when the script already imported it (SPEC: never block start-up)."""
    before = set(sys.modules)
    with rn.init(path="env", capture_env=True):
        pass
    assert "torch" not in set(sys.modules) - before
