"""How long work reports its progress: the work announces its total once it knows it, then advances.

The total comes from the plan the work made anyway (the objects it listed,
the bytes it will copy), never from a second pass made only for the bar; the
unit is bytes wherever bytes are what takes the time, so one large file moves
the bar smoothly. The CLI draws a bar; the library default draws nothing.
"""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    def start(self, total: int, unit: str = "bytes") -> None:
        """The work is ``total`` units long (``"bytes"``, ``"objects"``, ``"runs"``)."""

    def advance(self, amount: int) -> None:
        """``amount`` more units are done."""


class NoProgress:
    """The default: report to nobody."""

    def start(self, total: int, unit: str = "bytes") -> None:
        pass

    def advance(self, amount: int) -> None:
        pass


NO_PROGRESS = NoProgress()
