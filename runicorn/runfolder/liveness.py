"""Whether a run is still being written: a heartbeat file's mtime, and the writer's host and pid."""

from __future__ import annotations

import socket
import time
from typing import Any

from ..store import pid_alive

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
    # An unknown pid (an older writer's status) leaves the judgement to the heartbeat.
    if host == socket.gethostname() and isinstance(pid, int) and pid > 0 and not pid_alive(pid):
        return "crashed"
    return "running"
