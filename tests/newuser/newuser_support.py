"""Helpers for the new-user tests: the CLI and scripts as subprocesses, a live run in a child process,
and bounded waits (every wait here ends; none measures a duration)."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import runicorn as rn

from cli_support import runicorn_script
from common_support import WAIT, wait_until

PY = sys.executable


def cli(*args, storage=None, timeout=WAIT, **kwargs) -> subprocess.CompletedProcess:
    """``runicorn [--storage ROOT] ARGS...`` (the installed script) as a user runs it; text output captured."""
    argv = [runicorn_script()] + (["--storage", str(storage)] if storage is not None else []) + [str(a) for a in args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kwargs)


def python_m(*args, timeout=WAIT, **kwargs) -> subprocess.CompletedProcess:
    """``python -m runicorn ARGS...``."""
    return subprocess.run([PY, "-m", "runicorn", *map(str, args)], capture_output=True, text=True, timeout=timeout,
                          **kwargs)


def shell(command: str, *, timeout=WAIT, **kwargs) -> subprocess.CompletedProcess:
    """A bash command line (pipelines); name the CLI in it with ``runicorn_cmd()``."""
    return subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=timeout, **kwargs)


def runicorn_cmd() -> str:
    """How a shell line names the CLI: the script installed beside this interpreter (no PATH lookup)."""
    return f"'{runicorn_script()}'"


def run_script(folder: Path, code: str, *, name: str = "train.py", cwd: Path | None = None, env: dict | None = None,
               args=(), timeout=WAIT) -> subprocess.CompletedProcess:
    """Write ``code`` as a script in ``folder`` and run it as `python SCRIPT` (cwd defaults to ``folder``)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(code))
    return subprocess.run([PY, str(path), *map(str, args)], capture_output=True, text=True, timeout=timeout,
                          cwd=cwd or folder, env=env)


_LIVE_SCRIPT = """
import sys, time
from pathlib import Path
import runicorn as rn

storage, run_id, stop, interval = sys.argv[1], sys.argv[2], Path(sys.argv[3]), float(sys.argv[4])
run = rn.init(path="live/train", storage=storage, run_id=run_id, alias="live")
deadline = time.monotonic() + 60  # never outlives a test that forgot it
step = 0
while not stop.exists() and time.monotonic() < deadline:
    step += 1
    run.log({"loss": 1.0 / step}, step=step)
    run.log_text(f"line {step}")
    time.sleep(interval)
run.log_text(f"done after {step} steps")
run.finish()
print(step)
"""


class LiveRun:
    """A run logging in a child process (a row and a log line per ``interval``) until ``stop()``."""

    def __init__(self, folder: Path, storage: Path, run_id: str, interval: float = 0.05, **popen):
        folder.mkdir(parents=True, exist_ok=True)
        self.storage, self.run_id = Path(storage), run_id
        self.stop_file = folder / f"stop-{run_id}"
        script = folder / "live_run.py"
        script.write_text(_LIVE_SCRIPT)
        self.proc = subprocess.Popen([PY, str(script), str(storage), run_id, str(self.stop_file), str(interval)],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=folder, **popen)

    def rows(self) -> int:
        """How many timeline rows have reached the disk (read as a user would, through rn.Api)."""
        try:
            return len(rn.Api(str(self.storage)).run(self.run_id).history())
        except Exception:  # not created yet
            return 0

    def wait_rows(self, count: int) -> int:
        return wait_until(lambda: self._alive_or_fail() and self.rows() >= count and self.rows(),
                          f"{count} flushed rows of run {self.run_id}")

    def _alive_or_fail(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"the live run ended early ({self.proc.returncode}): {self.proc.stderr.read()}")
        return True

    def stop(self) -> subprocess.CompletedProcess:
        """Let the run finish cleanly; returns how the child ended."""
        self.stop_file.touch()
        out, err = self.proc.communicate(timeout=WAIT)
        assert self.proc.returncode == 0, err
        return subprocess.CompletedProcess(self.proc.args, self.proc.returncode, out, err)

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.communicate(timeout=WAIT)  # reaped: its pid no longer looks alive

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate(timeout=WAIT)

    def __enter__(self) -> "LiveRun":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class LineReader:
    """Reads a child's stdout lines in a thread, so a test can wait for a line with a bound."""

    def __init__(self, stream):
        self.lines: list[str] = []
        self._queue: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self._thread.start()

    def _pump(self, stream) -> None:
        for line in stream:
            self._queue.put(line)
        self._queue.put(None)

    def wait_for(self, text: str, timeout: float = WAIT) -> str:
        """The first line (read so far or later) containing ``text``."""
        deadline = time.monotonic() + timeout
        for line in self.lines:
            if text in line:
                return line
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no line with {text!r} within {timeout:.0f}s; got {self.lines}")
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError(f"the output ended without a line with {text!r}; got {self.lines}")
            self.lines.append(line)
            if text in line:
                return line

    def rest(self, timeout: float = WAIT) -> list[str]:
        """Every line until the stream ends."""
        deadline = time.monotonic() + timeout
        while True:
            line = self._queue.get(timeout=max(0.01, deadline - time.monotonic()))
            if line is None:
                return self.lines
            self.lines.append(line)


def environment(**changes) -> dict:
    """This process's environment (the hermetic one of the test) with ``changes``; None removes a name."""
    env = dict(os.environ)
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = str(value)
    return env
