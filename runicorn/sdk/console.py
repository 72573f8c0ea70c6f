"""Console capture: what the script prints also goes to the run's text log, the terminal sees no change.

Progress bars (tqdm and friends) redraw a line with ``\\r``. ``tqdm_mode``:
``"smart"`` keeps the final state of each redrawn line, ``"all"`` keeps every
redraw, ``"none"`` drops redrawn lines altogether. Colour and cursor escape
codes reach the terminal but not the log.

Whatever reaches the terminal from Python is caught, in whatever order the
script set things up: ``logging`` handlers made before the capture started
(``logging.basicConfig()`` first, then ``rn.init``) hold the original stream,
so their streams are switched to the capture while it lasts.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from typing import Callable

TQDM_MODES = ("smart", "all", "none")


class LineAssembler:
    """Turns a stream of writes into complete log lines, collapsing ``\\r`` redraws per the mode.

    A ``\\r`` followed by ``\\n`` (possibly in a later write) ends the line like ``\\n`` alone (CRLF); a
    ``\\r`` followed by text redraws the line. Redrawing a blank line (a bar cleared with spaces, or the
    start of a line) is not a progress update: what follows is an ordinary line.
    """

    def __init__(self, emit: Callable[[str], None], mode: str):
        self.emit = emit
        self.mode = mode
        self._line = ""
        self._redrawn = False
        self._last_state = ""
        self._carriage_return = False
        self._lock = threading.Lock()

    def write(self, text: str) -> None:
        with self._lock:
            for part in _split_keep(text):
                if part == "\n":
                    self._commit()
                elif part == "\r":
                    self._carriage_return = True
                else:
                    if self._carriage_return:
                        self._redraw()
                    self._line += part

    def _redraw(self) -> None:
        self._carriage_return = False
        if self._line.strip():
            if self.mode == "all":
                self.emit(self._line)
            self._last_state = self._line
            self._redrawn = True
        else:
            self._cleared()
        self._line = ""

    def _cleared(self) -> None:
        """The line was blanked (tqdm's ``leave=False``): in smart mode the bar's last state is its final one."""
        if self._redrawn and self.mode == "smart":
            self.emit(self._last_state)
        self._redrawn = False

    def _commit(self) -> None:
        if not self._line.strip() and self._redrawn:
            self._cleared()  # a bar cleared, then the line ended
        elif not (self._redrawn and self.mode == "none"):
            self.emit(self._line)
        self._line = ""
        self._redrawn = False
        self._carriage_return = False

    def close(self) -> None:
        with self._lock:
            if self._line.strip() or self._redrawn:
                self._commit()


_BREAKS = re.compile(r"([\r\n])")
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")  # CSI, OSC, Fe


def _split_keep(text: str) -> list[str]:
    """Text split into runs of characters and single line breaks, in order."""
    return [part for part in _BREAKS.split(text) if part]


class TeeStream:
    """Wraps sys.stdout/stderr: writes pass through unchanged and are copied to the assembler."""

    def __init__(self, original, assembler: LineAssembler):
        self._original = original
        self._assembler = assembler

    def write(self, text):
        written = self._original.write(text)
        if isinstance(text, str) and self._assembler is not None:
            self._assembler.write(_ANSI.sub("", text) if "\x1b" in text else text)
        return written

    def __getattr__(self, name):  # isatty, fileno, encoding, flush... behave as the terminal's
        return getattr(self._original, name)


class ConsoleCapture:
    def __init__(self, emit: Callable[[str], None], tqdm_mode: str = "smart"):
        if tqdm_mode not in TQDM_MODES:
            raise ValueError(f"tqdm_mode must be one of {TQDM_MODES}, got {tqdm_mode!r}")
        self._assemblers = [LineAssembler(emit, tqdm_mode), LineAssembler(emit, tqdm_mode)]
        self._originals = (sys.stdout, sys.stderr)
        self._tees = (TeeStream(sys.stdout, self._assemblers[0]), TeeStream(sys.stderr, self._assemblers[1]))
        sys.stdout, sys.stderr = self._tees
        self._handlers = _redirect_logging(dict(zip(map(id, self._originals), self._tees)))

    def stop(self) -> None:
        """Restore the streams (only if nobody replaced ours since) and emit partial lines.

        A tee that something else still wraps stays in place but only passes writes through from now on.
        """
        for name, original, tee in zip(("stdout", "stderr"), self._originals, self._tees):
            if getattr(sys, name) is tee:
                setattr(sys, name, original)
            tee._assembler = None
        for handler, original in self._handlers:
            if handler.stream in self._tees:
                handler.setStream(original)
        for assembler in self._assemblers:
            assembler.close()


def _redirect_logging(tees: dict[int, TeeStream]) -> list[tuple[object, object]]:
    """Point every logging StreamHandler that writes to the original stdout/stderr at its tee; returns
    (handler, original stream) to restore at stop."""
    handlers = list(logging.getLogger().handlers)
    for logger in list(logging.Logger.manager.loggerDict.values()):
        handlers += getattr(logger, "handlers", [])
    switched = []
    for handler in handlers:
        stream = getattr(handler, "stream", None)
        if isinstance(handler, logging.StreamHandler) and id(stream) in tees:
            switched.append((handler, stream))
            handler.setStream(tees[id(stream)])
    return switched
