"""Whether runs write anything: ``rn.set_enabled``, ``rn.enabled()``, ``RUNICORN_ON`` and distributed ranks.

Under a distributed launcher (``RANK`` or ``LOCAL_RANK`` set and not ``0``) only
rank 0 writes, unless ``RUNICORN_ON=1`` says otherwise.
"""

from __future__ import annotations

import contextlib
import os
from typing import Iterator

_override: bool | None = None
_FALSE = {"0", "false", "no", "off"}


def set_enabled(value: bool) -> None:
    """Turn Runicorn on or off for this process (``None`` returns to the environment's choice)."""
    global _override
    if value is not None and not isinstance(value, bool):
        raise TypeError(f"set_enabled takes True, False or None, got {value!r}")
    _override = value


def is_enabled() -> bool:
    if _override is not None:
        return _override
    switch = os.environ.get("RUNICORN_ON")
    if switch is not None and switch.strip() != "":
        return switch.strip().lower() not in _FALSE
    for name in ("RANK", "LOCAL_RANK"):
        rank = os.environ.get(name)
        if rank is not None and rank.strip() not in ("", "0"):
            return False
    return True


@contextlib.contextmanager
def enabled(value: bool = True) -> Iterator[None]:
    """Temporarily turn Runicorn on or off: ``with rn.enabled(False): ...``."""
    global _override
    previous = _override
    set_enabled(value)
    try:
        yield
    finally:
        _override = previous


def reset_enabled() -> None:
    """Forget ``set_enabled``: the environment (``RUNICORN_ON``, ranks) decides again."""
    set_enabled(None)
