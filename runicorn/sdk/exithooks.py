"""Finishing runs the script forgot to finish: at interpreter exit, on SIGTERM, after an uncaught exception.

- normal exit without ``finish()`` -> ``finished``;
- ``sys.exit(code)`` -> ``finished`` for 0 or None, else ``failed`` (an exit hook cannot see the
  exit code, so, as W&B does, ``sys.exit`` is wrapped to remember it);
- an uncaught exception -> ``failed`` (``KeyboardInterrupt`` -> ``interrupted``);
- SIGTERM -> ``interrupted``, then the previous handler (default: the process dies as it would have).

A SIGTERM that arrives while a run is finishing waits until that run's status is written.

A forked child (a DataLoader or multiprocessing worker) inherits these hooks but not the runs: it
forgets them, so its exit or termination neither finishes its parent's runs nor writes their
buffered rows a second time (and never waits for a lock that a parent thread held at the fork).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import sys
import threading

_live_runs: list = []
_installed = False
_uncaught: BaseException | None = None
_previous_excepthook = None
_previous_sigterm = None
_closing: list = []  # runs in the middle of finish()
_deferred_sigterm = False
_exit_code = None  # what the script passed to sys.exit, if it called it
_original_exit = None


def register(run) -> None:
    _install()
    _live_runs.append(run)


def unregister(run) -> None:
    try:
        _live_runs.remove(run)
    except ValueError:
        pass


@contextlib.contextmanager
def closing(run):
    """Around a run's finish: a SIGTERM meanwhile is handled once it is done, so its final status is written."""
    global _deferred_sigterm
    _closing.append(run)
    try:
        yield
    finally:
        _closing.remove(run)
        if _deferred_sigterm and not _closing:
            _deferred_sigterm = False
            _on_sigterm(signal.SIGTERM, None)


def _install() -> None:
    global _installed, _previous_excepthook, _previous_sigterm, _original_exit
    if _installed:
        return
    _installed = True
    atexit.register(_at_exit)
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_forget_runs)
    _previous_excepthook = sys.excepthook
    sys.excepthook = _excepthook
    _original_exit = sys.exit
    sys.exit = _recording_exit
    if threading.current_thread() is threading.main_thread():
        try:
            _previous_sigterm = signal.signal(signal.SIGTERM, _on_sigterm)
        except (ValueError, OSError):
            _previous_sigterm = None


def _forget_runs() -> None:
    """In a forked child: the runs belong to the parent process."""
    global _deferred_sigterm
    _live_runs.clear()
    _closing.clear()
    _deferred_sigterm = False


def _finish_all(status: str, error: BaseException | None = None) -> None:
    for run in list(_live_runs):
        try:
            run._finish_from_hook(status, error)
        except Exception:  # an exit hook must never hide the script's own outcome
            pass


def _excepthook(exc_type, exc, tb) -> None:
    global _uncaught
    _uncaught = exc
    if _previous_excepthook is not None:
        _previous_excepthook(exc_type, exc, tb)


def _recording_exit(status=None):
    global _exit_code
    _exit_code = status
    _original_exit(status)


def _at_exit() -> None:
    if _uncaught is None and _exit_code not in (None, 0):
        _finish_all("failed", SystemExit(_exit_code))
    elif _uncaught is None:
        _finish_all("finished")
    elif isinstance(_uncaught, KeyboardInterrupt):
        _finish_all("interrupted", _uncaught)
    else:
        _finish_all("failed", _uncaught)


def _on_sigterm(signum, frame) -> None:
    global _deferred_sigterm
    if _closing:  # the handler interrupted a finish (maybe its own): let it complete first
        _deferred_sigterm = True
        return
    _finish_all("interrupted")
    previous = _previous_sigterm
    if callable(previous):
        previous(signum, frame)
        return
    if previous == signal.SIG_IGN:
        return
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)
