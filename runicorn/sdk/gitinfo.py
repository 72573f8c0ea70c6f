"""Git metadata of a workspace: commit, branch, dirty flag, and the diff against HEAD.

Uses the ``git`` command when it is installed; everything is optional, and a
workspace without git (or without the command) simply has no git metadata.
Remote URLs are never recorded (they may carry credentials).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

_TIMEOUT = 10.0


def _git(workspace: Path, *args: str) -> bytes | None:
    try:
        completed = subprocess.run(
            ["git", "-C", str(workspace), *args],
            capture_output=True, timeout=_TIMEOUT, check=False,
            env={**os.environ, "GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C"},
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return completed.stdout if completed.returncode == 0 else None


def git_toplevel(start: Path) -> Path | None:
    out = _git(start, "rev-parse", "--show-toplevel")
    return Path(out.decode().strip()) if out else None


def git_metadata(workspace: Path) -> dict | None:
    """``{commit, branch, dirty}`` or None outside a git work tree."""
    commit = _git(workspace, "rev-parse", "HEAD")
    if commit is None:
        return None
    branch = _git(workspace, "rev-parse", "--abbrev-ref", "HEAD")
    status = _git(workspace, "status", "--porcelain", "--untracked-files=no")
    return {
        "commit": commit.decode().strip(),
        "branch": branch.decode().strip() if branch else None,
        "dirty": bool(status.strip()) if status is not None else None,
    }


def git_diff(workspace: Path) -> bytes | None:
    """``git diff HEAD`` (binary-safe), or None when unavailable."""
    return _git(workspace, "diff", "--binary", "HEAD")
