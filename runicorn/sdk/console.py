"""Console capture: what the script prints also goes to the run's text log, the terminal sees no change.

Progress bars (tqdm and friends) redraw a line with ``\\r``. ``tqdm_mode``:
``"smart"`` keeps the final state of each redrawn line, ``"all"`` keeps every
redraw, ``"none"`` drops redrawn lines altogether.
"""

from __future__ import annotations

import re
import sys
import threading
from typing import Callable

TQDM_MODES = ("smart", "all", "none")


class LineAssembler:
    """Turns a stream of writes into complete log lines, collapsing ``\\r`` redraws per the mode."""

    def __init__(self, emit: Callable[[str], None], mode: str):
        self.emit = emit
        self.mode = mode
        self._line = ""
        self._redrawn = False
        self._lock = threading.Lock()

    def write(self, text: str) -> None:
        with self._lock:
            for part in _split_keep(text):
                if part == "\n":
                    self._commit()
                elif part == "\r":
                    if self._line:
                        if self.mode == "all":
                            self.emit(self._line)
                        self._redrawn = True
                    self._line = ""
                else:
                    self._line += part

    def _commit(self) -> None:
        if not (self._redrawn and self.mode == "none"):
            self.emit(self._line)
        self._line = ""
        self._redrawn = False

    def close(self) -> None:
        with self._lock:
            if self._line:
                self._commit()


_BREAKS = re.compile(r"([\r\n])")


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
        if isinstance(text, str):
            self._assembler.write(text)
        return written

    def __getattr__(self, name):  # isatty, fileno, encoding, flush... behave as the terminal's
        return getattr(self._original, name)


class ConsoleCapture:
    def __init__(self, emit: Callable[[str], None], tqdm_mode: str = "smart"):
        if tqdm_mode not in TQDM_MODES:
            raise ValueError(f"tqdm_mode must be one of {TQDM_MODES}, got {tqdm_mode!r}")
        self._assemblers = [LineAssembler(emit, tqdm_mode), LineAssembler(emit, tqdm_mode)]
        self._originals = (sys.stdout, sys.stderr)
        sys.stdout = TeeStream(sys.stdout, self._assemblers[0])
        sys.stderr = TeeStream(sys.stderr, self._assemblers[1])

    def stop(self) -> None:
        """Restore the streams (only if nobody replaced ours since) and emit partial lines."""
        for name, original in zip(("stdout", "stderr"), self._originals):
            current = getattr(sys, name)
            if isinstance(current, TeeStream) and current._original is original:
                setattr(sys, name, original)
        for assembler in self._assemblers:
            assembler.close()
