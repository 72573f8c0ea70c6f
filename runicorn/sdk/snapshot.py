"""Code snapshots: the workspace as a tree in the object store, minus what git would ignore.

The workspace defaults to the git top-level of the running script, else the
current folder. Files over the per-file limit, or past the total limit, are
skipped with a warning naming them unless ``force_snapshot=True``. Through the
stat cache, an unchanged workspace re-reads no file and adds no object bytes.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .warn import shown_list, warn_user
from ..store import Ingester, ObjectId, ObjectStore, StatCache
from .gitinfo import git_diff, git_metadata, git_toplevel
from .ignore import IgnoreRules

MAX_FILE_BYTES = 10 * 1024 * 1024
MAX_TOTAL_BYTES = 500 * 1024 * 1024


@dataclass
class Snapshot:
    workspace: Path
    tree_id: ObjectId
    files: int
    bytes: int
    hashed_bytes: int
    skipped: list[str] = field(default_factory=list)
    git: dict | None = None
    diff_id: ObjectId | None = None


def default_workspace() -> Path:
    script = Path(sys.argv[0]).resolve().parent if sys.argv and sys.argv[0] not in ("", "-c") else Path.cwd()
    if not script.is_dir():
        script = Path.cwd()
    return git_toplevel(script) or Path.cwd()


class _SizeLimits:
    """Wraps the ignore rules with the snapshot's size limits."""

    def __init__(self, rules: IgnoreRules, force: bool, max_file: int, max_total: int):
        self.rules, self.force, self.max_file, self.max_total = rules, force, max_file, max_total
        self.total = 0
        self.skipped: list[str] = []

    def __call__(self, rel: str, entry: os.DirEntry, is_dir: bool) -> bool:
        if not self.rules(rel, entry, is_dir):
            return False
        if is_dir or self.force or not entry.is_file(follow_symlinks=False):
            return True
        size = entry.stat(follow_symlinks=False).st_size
        if size > self.max_file:
            self.skipped.append(f"{rel} ({size / 1e6:.1f} MB > {self.max_file / 1e6:.0f} MB per file)")
            return False
        if self.total + size > self.max_total:
            self.skipped.append(f"{rel} (snapshot would exceed {self.max_total / 1e6:.0f} MB in all)")
            return False
        self.total += size
        return True


def snapshot_workspace(store: ObjectStore, workspace: Path, *, storage_root: Path, force: bool = False,
                       max_file_bytes: int = MAX_FILE_BYTES, max_total_bytes: int = MAX_TOTAL_BYTES) -> Snapshot:
    workspace = Path(workspace).resolve()
    if not workspace.is_dir():
        raise FileNotFoundError(f"workspace_root {workspace} is not a folder; pass an existing folder or omit it")
    storage = Path(os.path.realpath(storage_root))
    if workspace == storage or storage in workspace.parents:
        raise ValueError(f"workspace_root {workspace} is inside the storage root {storage}: the store would "
                         "snapshot itself; pass the folder of your code as workspace_root")
    limits = _SizeLimits(IgnoreRules(workspace, exclude_paths=(storage_root,)), force, max_file_bytes, max_total_bytes)
    with StatCache(store.cache_dir / "stat.sqlite") as cache:
        result = Ingester(store, stat_cache=cache, accept=limits).ingest(workspace)
    skipped = limits.skipped + result.skipped
    if limits.skipped:
        warn_user(f"code snapshot skipped large files: {shown_list(limits.skipped)}; pass force_snapshot=True "
                  "to include them, or list them in .rnignore")
    if result.skipped:
        warn_user(f"code snapshot skipped what it cannot store: {shown_list(result.skipped)}")
    if limits.rules.defaulted:
        warn_user(f"code snapshot (outside git) left out weights, checkpoints and data files: "
                  f"{shown_list(limits.rules.defaulted)}; a .rnignore line such as !*.pt takes them back")
    skipped += [f"{rel} (weights or data outside git)" for rel in limits.rules.defaulted]
    if result.outside_links:
        warn_user(f"code snapshot holds symlinks that point outside the workspace: {shown_list(result.outside_links)}; "
                  "`runicorn restore --code` leaves them out, so make them relative or list them in .rnignore")
    snapshot = Snapshot(workspace, result.id, result.files, result.bytes, result.hashed_bytes, skipped)
    if limits.rules.is_git:
        snapshot.git = git_metadata(workspace)
        diff = git_diff(workspace) if snapshot.git else None
        if diff:
            snapshot.diff_id = store.put_bytes(diff)
    return snapshot
