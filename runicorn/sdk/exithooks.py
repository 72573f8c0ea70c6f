"""Finishing runs the script forgot to finish: at interpreter exit, on SIGTERM, after an uncaught exception.

- normal exit without ``finish()`` -> ``finished``;
- an uncaught exception -> ``failed`` (``KeyboardInterrupt`` -> ``interrupted``);
- SIGTERM -> ``interrupted``, then the previous handler (default: the process dies as it would have).
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading

_live_runs: list = []
_installed = False
_uncaught: BaseException | None = None
_previous_excepthook = None
_previous_sigterm = None


def register(run) -> None:
    _install()
    _live_runs.append(run)


def unregister(run) -> None:
    try:
        _live_runs.remove(run)
    except ValueError:
        pass


def _install() -> None:
    global _installed, _previous_excepthook, _previous_sigterm
    if _installed:
        return
    _installed = True
    atexit.register(_at_exit)
    _previous_excepthook = sys.excepthook
    sys.excepthook = _excepthook
    if threading.current_thread() is threading.main_thread():
        try:
            _previous_sigterm = signal.signal(signal.SIGTERM, _on_sigterm)
        except (ValueError, OSError):
            _previous_sigterm = None


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


def _at_exit() -> None:
    if _uncaught is None:
        _finish_all("finished")
    elif isinstance(_uncaught, KeyboardInterrupt):
        _finish_all("interrupted", _uncaught)
    else:
        _finish_all("failed", _uncaught)


def _on_sigterm(signum, frame) -> None:
    _finish_all("interrupted")
    previous = _previous_sigterm
    if callable(previous):
        previous(signum, frame)
        return
    if previous == signal.SIG_IGN:
        return
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)
