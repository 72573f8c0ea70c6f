"""A crash switch for the crash tests: kill the process after so many bytes, objects or runs.

With ``RUNICORN_TEST_CRASH_AFTER=<what>:<n>`` in the environment (``bytes``,
``objects`` or ``runs``), the process sends itself SIGKILL once ``n`` of them
were written, published, trashed or moved, wherever that falls in a long
operation. The variable is read once, at import; unset (always, outside the
tests) a crash point costs one comparison.
"""

from __future__ import annotations

import os
import signal

ENV = "RUNICORN_TEST_CRASH_AFTER"


def _parse(value: str | None) -> tuple[str, int] | None:
    if not value:
        return None
    what, _, count = value.partition(":")
    return what, int(count)


_limit = _parse(os.environ.get(ENV))
_done = 0


def crash_point(what: str, amount: int = 1) -> None:
    """Count ``amount`` more ``what``; past the limit, die as a kill -9 would."""
    global _done
    if _limit is None or _limit[0] != what:
        return
    _done += amount
    if _done >= _limit[1]:
        os.kill(os.getpid(), signal.SIGKILL)
