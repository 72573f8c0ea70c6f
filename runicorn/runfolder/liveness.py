"""Whether a run is still being written: a heartbeat file's mtime, and the writer's host and pid."""

from __future__ import annotations

import os
import socket
import time
from typing import Any

HEARTBEAT_INTERVAL_SECONDS = 5.0
HEARTBEAT_STALE_SECONDS = 30.0


def effective_status(recorded: str, started_at: float | None, heartbeat: float | None, host: Any, pid: Any,
                     now: float | None = None) -> str:
    """The status to show: a 'running' run whose writer is gone (stale heartbeat, dead pid on this host) is 'crashed'."""
    if recorded != "running":
        return recorded
    now = time.time() if now is None else now
    beat = heartbeat if heartbeat is not None else (started_at or 0.0)
    if now - beat > HEARTBEAT_STALE_SECONDS:
        return "crashed"
    if host == socket.gethostname() and not _pid_alive(pid):
        return "crashed"
    return "running"


def _pid_alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return True  # unknown: trust the heartbeat
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
