"""Shared helpers of the SDK tests (fixtures live in conftest.py): child processes and polling."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
from pathlib import Path

import runicorn as rn


class Script:
    """A Python script written to a file and run in a child process with the test's environment."""

    def __init__(self, path: Path, cwd: Path):
        self.path = path
        self.cwd = cwd

    def env(self, extra: dict | None = None) -> dict:
        env = dict(os.environ)
        env.pop("PYTHONWARNINGS", None)
        env["PYTHONUNBUFFERED"] = "1"
        env.update(extra or {})
        return env

    def run(self, *args: str, env: dict | None = None, timeout: float = 30.0) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, str(self.path), *args], cwd=self.cwd, env=self.env(env),
                              capture_output=True, text=True, timeout=timeout, preexec_fn=_as_in_a_terminal)

    def start(self, *args: str, env: dict | None = None, **popen) -> subprocess.Popen:
        popen.setdefault("stdout", subprocess.PIPE)
        popen.setdefault("stderr", subprocess.PIPE)
        return subprocess.Popen([sys.executable, str(self.path), *args], cwd=self.cwd, env=self.env(env),
                                text=True, preexec_fn=_as_in_a_terminal, **popen)


def _as_in_a_terminal() -> None:
    """Children get SIGINT's default disposition, as under a shell prompt, even when the test run itself
    ignores SIGINT (a background job `pytest &` does); otherwise Python would never see Ctrl-C."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def read_line(proc: subprocess.Popen, timeout: float = 15.0) -> str:
    """The next stdout line of a child started with ``text=True``; fails if the child dies first."""
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            proc.kill()
            raise AssertionError(f"child printed nothing for {timeout} s; stderr: {proc.stderr.read()}")
    line = proc.stdout.readline()
    if not line:
        proc.wait()
        raise AssertionError(f"child exited ({proc.returncode}) early; stderr: {proc.stderr.read()}")
    return line.strip()


def only_run(api: rn.Api) -> rn.RunView:
    runs = api.runs()
    assert len(runs) == 1, runs
    return runs[0]


TIMESTAMP = r"\[\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}\] "


def sigterm_and_wait(proc: subprocess.Popen, timeout: float = 15.0) -> str:
    """Send SIGTERM and wait for the process (killed if it hangs, so a deadlock fails the test); its stdout."""
    proc.send_signal(signal.SIGTERM)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise
    return out or ""
