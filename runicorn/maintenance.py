"""Storage-root maintenance: gc, du, verify and rm, with every run manifest as the roots.

These are the operations behind ``runicorn gc|du|verify|rm``; they know runs
(through the read API) and hand the store its roots.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from typing import Callable, Iterable

from .api import Api, RunView
from .errors import RunError
from .store import DEFAULT_GRACE_SECONDS, GcPlan, GcResult, ObjectId, Root, VerifyReport, collect, verify
from .store.trees import content_bytes, read_tree

TRASH_FOLDER = ".trash"  # under runs/: run folders being deleted (never listed)


def run_roots(api: Api, runs: Iterable[RunView] | None = None) -> dict[str, list[Root]]:
    return {view.id: view.roots() for view in (api.runs() if runs is None else runs)}


# -- gc ---------------------------------------------------------------------------


def collect_garbage(api: Api, *, grace_seconds: float = DEFAULT_GRACE_SECONDS, dry_run: bool = False,
                    progress: Callable[[int], None] | None = None) -> tuple[GcPlan, GcResult | None]:
    """gc with every run's manifest as roots (runs being written are protected by the grace period)."""
    if not dry_run:  # a dry run changes nothing, not even leftovers of an interrupted rm
        _purge_deleted_runs(api)
    roots = [root for roots in run_roots(api).values() for root in roots]
    return collect(api.store, roots, grace_seconds, dry_run=dry_run, progress=progress)


# -- du ---------------------------------------------------------------------------


@dataclass
class RunUsage:
    id: str
    path: str
    logical_bytes: int = 0
    physical_bytes: int = 0
    exclusive_bytes: int = 0  # what deleting this run would free


@dataclass
class DiskUsage:
    logical_bytes: int = 0
    physical_bytes: int = 0
    store_bytes: int = 0
    store_objects: int = 0
    unreferenced_bytes: int = 0
    missing_objects: int = 0  # referenced by a run, absent from the store: not counted in any figure
    runs: list[RunUsage] = field(default_factory=list)

    @property
    def dedup_ratio(self) -> float:
        return self.logical_bytes / self.physical_bytes if self.physical_bytes else 1.0


class _Reachability:
    """Shared walk over trees: each tree is read once however many runs refer to it."""

    def __init__(self, api: Api):
        self.store = api.store
        self.sizes = {obj.id: obj.size for obj in self.store.iter_objects()}
        self._children: dict[ObjectId, list[tuple[ObjectId, bool]]] = {}
        self._logical: dict[ObjectId, int] = {}
        self.missing: set[ObjectId] = set()

    def _entries(self, tree_id: ObjectId) -> list[tuple[ObjectId, bool]]:
        if tree_id not in self._children:
            entries = read_tree(self.store, tree_id)
            self._children[tree_id] = [(e.id, e.kind == "dir") for e in entries if e.id is not None]
            self._logical[tree_id] = content_bytes(entries)
        return self._children[tree_id]

    def reachable(self, roots: list[Root]) -> set[ObjectId]:
        # Visited as (id, is_tree), as in gc's mark: only a tree reference reaches children.
        visited: set[tuple[ObjectId, bool]] = set()
        stack = [(r.id, r.is_tree) for r in roots]
        while stack:
            item = stack.pop()
            if item in visited:
                continue
            if item[0] not in self.sizes:
                self.missing.add(item[0])
                continue
            visited.add(item)
            if item[1]:
                stack.extend(self._entries(item[0]))
        return {oid for oid, _ in visited}

    def logical(self, root: Root) -> int:
        """Bytes a restore of this root would write."""
        if root.id not in self.sizes:
            return 0
        if not root.is_tree:
            return self.sizes[root.id]
        self._entries(root.id)
        return self._logical[root.id]


def disk_usage(api: Api, path_prefix: str | None = None,
               progress: Callable[[int], None] | None = None) -> DiskUsage:
    """Logical vs physical bytes of the runs under a prefix, and what deleting each would free.

    ``progress(1)`` per run walked: every run is, since "only this run" is judged against all of them.
    """
    walk = _Reachability(api)
    everyone = api.runs()
    selected = {v.id for v in api.runs(path_prefix)} if path_prefix else {v.id for v in everyone}
    per_run: dict[str, set[ObjectId]] = {}
    holders: dict[ObjectId, int] = {}
    usage = DiskUsage(store_bytes=sum(walk.sizes.values()), store_objects=len(walk.sizes))
    for view in everyone:
        roots = view.roots()
        reach = walk.reachable(roots)
        per_run[view.id] = reach
        if progress is not None:
            progress(1)
        for oid in reach:
            holders[oid] = holders.get(oid, 0) + 1
        if view.id in selected:
            # The same root named twice (an unchanged outputs tree re-recorded) is one copy for a restore.
            logical = sum(walk.logical(root) for root in set(roots))
            usage.runs.append(RunUsage(view.id, view.path, logical_bytes=logical,
                                       physical_bytes=sum(walk.sizes[o] for o in reach)))
    for run in usage.runs:
        run.exclusive_bytes = sum(walk.sizes[o] for o in per_run[run.id] if holders[o] == 1)
    usage.logical_bytes = sum(r.logical_bytes for r in usage.runs)
    physical: set[ObjectId] = set().union(*(per_run[r.id] for r in usage.runs)) if usage.runs else set()
    usage.physical_bytes = sum(walk.sizes[o] for o in physical)
    usage.unreferenced_bytes = sum(size for oid, size in walk.sizes.items() if oid not in holders)
    usage.missing_objects = len(walk.missing)
    return usage


# -- verify -------------------------------------------------------------------------


def verify_storage(api: Api, progress: Callable[[int], None] | None = None) -> VerifyReport:
    """Re-hash every object and check every run's references; damage is reported with the runs that need it."""
    return verify(api.store, run_roots(api), progress)


# -- rm -----------------------------------------------------------------------------


def remove_runs(api: Api, views: list[RunView], *, force: bool = False) -> list[str]:
    """Delete run folders; refuse a live run unless ``force``. Their objects become garbage for gc.

    A folder is first renamed into ``runs/.trash/`` (atomic: the run vanishes
    from every listing at once), then deleted; a crash in between leaves only
    trash that the next rm or gc clears.
    """
    views = list({str(v.run_dir): v for v in views}.values())  # a run named twice (id and prefix) goes once
    live = [v.id for v in views if v.status == "running"]
    if live and not force:
        raise RunError(f"run(s) {', '.join(live)} are still running (fresh heartbeat); "
                       "stop them first, or pass --force")
    trash = api.storage.runs_dir / TRASH_FOLDER
    trash.mkdir(parents=True, exist_ok=True)
    removed = []
    for view in views:
        target = trash / f"{view.id}-{os.urandom(4).hex()}"
        os.rename(view.run_dir, target)
        removed.append(view.id)
        _prune_empty_parents(view.run_dir.parent, api.storage.runs_dir)
    _purge_deleted_runs(api)
    return removed


def _purge_deleted_runs(api: Api) -> None:
    trash = api.storage.runs_dir / TRASH_FOLDER
    if trash.is_dir():
        for entry in trash.iterdir():
            shutil.rmtree(entry, ignore_errors=True)


def _prune_empty_parents(folder, stop) -> None:
    """Remove path folders left empty by a deletion, up to (not including) ``runs/``."""
    while folder != stop and folder.is_relative_to(stop):
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent
