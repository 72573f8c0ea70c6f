"""Helpers shared by the reliability tests: Python and the CLI in child processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def run_python(code: str, *args: str, env: dict | None = None, cwd=None, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter (SIGINT at its default), with extra environment variables."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-c", code, *args], env=full_env, cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)


def runicorn_cli(*args: str, storage: Path, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """The real CLI as a subprocess (``python -m runicorn.cli`` is not needed: the console entry point's module)."""
    code = "import sys; from runicorn.cli import main; sys.argv = ['runicorn'] + sys.argv[1:]; main()"
    return run_python(code, "--storage", str(storage), *map(str, args), env=env, timeout=timeout)
