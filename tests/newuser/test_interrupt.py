"""Ctrl-C ends a command with exit code 130 and one word on stderr, no traceback and no "Aborted!" (issue 12).

The user's step: `runicorn logs RUN --follow` on a live run, then Ctrl-C (SIGINT to the command, whose SIGINT
is at its default disposition, as in an interactive shell)."""

import os
import select
import signal
import subprocess
import time

from cli_support import RUN_A, runicorn_script
from newuser_support import WAIT, LineReader, LiveRun

DEFAULT_SIGINT = {"preexec_fn": lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)}


def test_ctrl_c_on_logs_follow_exits_130_saying_interrupted(storage_root, tmp_path):
    with LiveRun(tmp_path / "script", storage_root, "20251001_090000_c7c7c7", interval=0.05) as live:
        live.wait_rows(1)
        follow = subprocess.Popen([runicorn_script(), "--storage", str(storage_root), "logs", live.run_id, "--follow"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **DEFAULT_SIGINT)
        try:
            LineReader(follow.stdout).wait_for("line 2")  # it is following
            follow.send_signal(signal.SIGINT)
            follow.wait(timeout=WAIT)
            stderr = follow.stderr.read()
        finally:
            if follow.poll() is None:
                follow.kill()
                follow.wait(timeout=WAIT)
        assert live.proc.poll() is None  # the training goes on
    assert follow.returncode == 130, (follow.returncode, stderr)
    assert stderr.strip() == "interrupted", stderr
    assert "Traceback" not in stderr and "Aborted" not in stderr


def _read_until(stream, text: bytes, timeout: float = WAIT) -> bytes:
    """What the child wrote until ``text`` appears (a prompt has no newline to wait for)."""
    seen, deadline = b"", time.monotonic() + timeout
    while text not in seen:
        left = deadline - time.monotonic()
        assert left > 0, f"no {text!r} within {timeout:.0f}s; got {seen!r}"
        if select.select([stream], [], [], left)[0]:
            chunk = os.read(stream.fileno(), 4096)
            assert chunk, f"the output ended without {text!r}; got {seen!r}"
            seen += chunk
    return seen


def test_ctrl_c_at_the_rm_confirmation_prompt_exits_130(samples):
    rm = subprocess.Popen([runicorn_script(), "--storage", str(samples.root), "rm", RUN_A], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, **DEFAULT_SIGINT)
    try:
        _read_until(rm.stdout, b"delete this run? [y/N]: ")
        rm.send_signal(signal.SIGINT)
        _, stderr = rm.communicate(timeout=WAIT)
    finally:
        if rm.poll() is None:
            rm.kill()
            rm.wait(timeout=WAIT)
    stderr = stderr.decode()
    assert rm.returncode == 130, (rm.returncode, stderr)
    assert stderr.strip() == "interrupted" and "Aborted" not in stderr, stderr
    assert any(samples.root.glob(f"runs/**/{RUN_A}"))  # nothing deleted
