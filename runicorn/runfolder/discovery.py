"""Finding run folders under ``runs/``: every folder that holds a run file, whatever state its files are in.

A folder is a run folder when it holds ``run.json``, ``manifest.jsonl`` or
``status.json``, so a run whose identity was damaged is still found (and its
manifest still protects its objects). Dot folders (``runs/.trash``, import
staging) are never runs. The walk also looks inside run folders, so a run
that an older version let nest inside another is found too. A folder that
cannot be listed is reported, not skipped in silence.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..store import owner_alive
from .folder import RunFolder
from .names import MARKER_FILES, validate_path

_MARKERS = frozenset(MARKER_FILES)
STAGING_PREFIX = ".import-"  # runs/.import-<owner>-<random>/: run folders an import is staging


@dataclass
class RunScan:
    folders: list[RunFolder] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # folders that could not be listed, and why


def scan_runs(runs_dir: Path, prefix: str | None = None) -> RunScan:
    """Every run folder under ``runs_dir`` (or under a path prefix of it)."""
    scan = RunScan()
    start = runs_dir.joinpath(*validate_path(prefix).split("/")) if prefix else runs_dir
    stack = [str(start)]
    while stack:
        folder = stack.pop()
        listed = attempt(list_folder, folder, scan.problems)
        if listed is None:
            continue
        subfolders, is_run = listed
        stack.extend(os.path.join(folder, name) for name in subfolders)
        if is_run:
            scan.folders.append(RunFolder(Path(folder), runs_dir))
    return scan


def list_folder(folder: str) -> tuple[list[str], bool]:
    """A folder's sub-folders that may hold runs, and whether it is a run folder itself (OSError if unlistable)."""
    with os.scandir(folder) as listing:
        entries = [entry for entry in listing if not entry.name.startswith(".")]
    subfolders = [entry.name for entry in entries if entry.is_dir(follow_symlinks=False)]
    return subfolders, any(entry.name in _MARKERS and not entry.is_dir(follow_symlinks=False) for entry in entries)


def attempt(read, folder: str, problems: list[str]):
    """``read(folder)``, or None when the folder is gone (skipped) or cannot be read (said in ``problems``)."""
    try:
        return read(folder)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        problems.append(f"{folder} cannot be listed: {exc.strerror or exc}")
        return None


def remove_stale_staging(runs_dir: Path) -> None:
    """Remove staging folders of imports whose process is gone (killed mid-import)."""
    try:
        entries = list(os.scandir(runs_dir))
    except (FileNotFoundError, NotADirectoryError):
        return
    now = time.time()
    for entry in entries:
        if not entry.name.startswith(STAGING_PREFIX) or not entry.is_dir(follow_symlinks=False):
            continue
        owner = entry.name[len(STAGING_PREFIX):].rpartition("-")[0]
        try:
            age = now - entry.stat(follow_symlinks=False).st_mtime
        except FileNotFoundError:
            continue
        if not owner_alive(owner, age):
            shutil.rmtree(entry.path, ignore_errors=True)

