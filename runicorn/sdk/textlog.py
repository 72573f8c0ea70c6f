"""The run's text log as the SDK writes it: timestamped lines, from ``log_text``, the console and ``logging``."""

from __future__ import annotations

import logging
import time
from typing import Callable


def log_timestamp(seconds: float | None = None) -> str:
    """The text log's timestamp: local time with the date, to the millisecond."""
    now = time.time() if seconds is None else seconds
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now)) + f".{int(now * 1000) % 1000:03d}"


def stamped_lines(text: str, seconds: float | None = None) -> list[str]:
    """``text`` as log lines, each with the timestamp (an empty text is one empty line)."""
    stamp = log_timestamp(seconds)
    return [f"[{stamp}] {line}" for line in str(text).splitlines() or [""]]


class RunLogHandler(logging.Handler):
    """Sends ``logging`` records to a run's text log until the run finishes."""

    def __init__(self, write: Callable[[list[str]], None], finished: Callable[[], bool], level: int):
        super().__init__(level)
        self._write = write
        self._finished = finished

    def emit(self, record: logging.LogRecord) -> None:
        if self._finished():
            return
        try:
            message = self.format(record)
        except Exception:
            self.handleError(record)
            return
        self._write(stamped_lines(message, record.created))
