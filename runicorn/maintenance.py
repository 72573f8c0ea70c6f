"""Storage-root maintenance: gc, du, verify and rm, with every run manifest as the roots.

These are the operations behind ``runicorn gc|du|verify|rm``. They know runs
(through the read API and the run folder format) and hand the store its
roots; what is reachable is decided by the store's one walk (``Walker``).

Every manifest under ``runs/`` is a root, whatever state its run's other files
are in. What keeps the roots from being known whole (a folder that cannot be
listed, a manifest line that does not read, a missing ``runs/`` beside a store
that holds objects) is a *problem*: gc then deletes nothing, and verify fails.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field

from .api import Api, RunView
from .errors import RunError
from .runfolder import remove_stale_staging, validate_path
from .store import (DEFAULT_GRACE_SECONDS, NO_PROGRESS, GcPlan, GcResult, Listing, Progress, Ref, VerifyReport,
                    Walker, collect, crash_point, verify)

TRASH_FOLDER = ".trash"  # under runs/: run folders being deleted (never listed)


@dataclass
class RootSet:
    """Every reference under ``runs/``, by run, and what keeps the set from being known whole."""

    by_run: dict[str, list[Ref]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def all(self) -> list[Ref]:
        return [ref for refs in self.by_run.values() for ref in refs]


def collect_roots(api: Api) -> RootSet:
    """Read every manifest under ``runs/``; a run is labelled by its folder's id, damaged or not."""
    roots = RootSet()
    runs_dir = api.storage.runs_dir
    if not runs_dir.is_dir():
        lost = api.storage.runs_lost()
        if lost is not None:
            roots.problems.append(lost)
        return roots
    scan = api.scan()
    roots.problems += scan.problems
    for folder in scan.folders:
        manifest = folder.read_manifest()
        roots.by_run.setdefault(folder.location_id, []).extend(manifest.roots())
        roots.problems += [f"run folder {folder.path}: {problem}" for problem in manifest.problems]
    return roots


# -- gc ---------------------------------------------------------------------------


def collect_garbage(api: Api, *, grace_seconds: float = DEFAULT_GRACE_SECONDS, dry_run: bool = False,
                    progress: Progress = NO_PROGRESS) -> tuple[GcPlan, GcResult | None]:
    """gc with every run's manifest as roots (runs being written are protected by the grace period)."""
    if not dry_run:  # a dry run changes nothing, not even leftovers of an interrupted rm or import
        _purge_deleted_runs(api)
        remove_stale_staging(api.storage.runs_dir)
    def roots():  # read by gc after it listed the objects (docs/format.md, gc rule 8)
        found = collect_roots(api)
        return found.all(), found.problems

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
    unreferenced_fresh_bytes: int = 0  # of those, younger than the default grace period: gc keeps them for now
    fresh_until: float | None = None  # when the youngest of them becomes collectable
    missing_objects: int = 0  # referenced by a run, absent from the store: not counted in any figure
    damaged_objects: int = 0  # referenced but unreadable (a tree that does not parse): what lies below is not counted
    runs: list[RunUsage] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def dedup_ratio(self) -> float:
        return self.logical_bytes / self.physical_bytes if self.physical_bytes else 1.0


def disk_usage(api: Api, path_prefix: str | None = None, progress: Progress = NO_PROGRESS) -> DiskUsage:
    """Logical vs physical bytes of the runs under a prefix, and what deleting each would free.

    ``progress`` counts runs walked: every run is, since "only this run" is judged against all of them.
    """
    store = api.store
    listing = Listing(store)
    walker = Walker(store, listing)
    everyone = api.runs()
    hidden = list(api.problems)  # runs in folders that cannot be listed: their objects look unreferenced
    selected = {v.id for v in api.runs(path_prefix)} if path_prefix else {v.id for v in everyone}
    per_run: dict[str, set] = {}
    holders: dict = {}
    usage = DiskUsage(store_bytes=listing.object_bytes, store_objects=len(listing.objects))
    missing: set = set()
    damaged: set = set()
    progress.start(len(everyone), "runs")
    for view in everyone:
        manifest = view.read_manifest()
        roots = manifest.roots()
        reach = walker.walk(roots)
        per_run[view.id] = reach.reached
        missing |= reach.missing
        damaged |= set(reach.damaged)
        usage.problems += view.problems
        progress.advance(1)
        for oid in reach.reached:
            holders[oid] = holders.get(oid, 0) + 1
        if view.id in selected:
            # The same root named twice (an unchanged outputs tree re-recorded) is one copy for a restore.
            logical = sum(walker.content_size(ref) for ref in set(roots))
            usage.runs.append(RunUsage(view.id, view.path, logical_bytes=logical,
                                       physical_bytes=sum(walker.size(o) for o in reach.reached)))
    for run in usage.runs:
        run.exclusive_bytes = sum(walker.size(o) for o in per_run[run.id] if holders[o] == 1)
    usage.logical_bytes = sum(r.logical_bytes for r in usage.runs)
    physical: set = set().union(*(per_run[r.id] for r in usage.runs)) if usage.runs else set()
    usage.physical_bytes = sum(walker.size(o) for o in physical)
    unreferenced = [o for oid, o in listing.objects.items() if oid not in holders]
    usage.unreferenced_bytes = sum(o.size for o in unreferenced)
    fresh = [o for o in unreferenced if o.mtime > time.time() - DEFAULT_GRACE_SECONDS]
    usage.unreferenced_fresh_bytes = sum(o.size for o in fresh)
    usage.fresh_until = max(o.mtime for o in fresh) + DEFAULT_GRACE_SECONDS if fresh else None
    usage.missing_objects = len(missing)
    usage.damaged_objects = len(damaged)
    usage.problems = hidden + usage.problems
    return usage


# -- verify -------------------------------------------------------------------------


@dataclass
class StorageReport:
    """verify of a whole storage root: the store's report, and the run folders that do not read."""

    store: VerifyReport
    damaged_runs: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.store.ok and not self.damaged_runs


def verify_storage(api: Api, progress: Progress = NO_PROGRESS) -> StorageReport:
    """Re-hash every object, check every run's references, and read every run folder's files."""
    roots = collect_roots(api)
    report = StorageReport(verify(api.store, roots.by_run, progress), list(roots.problems))
    for folder in api.scan().folders:
        for problem in RunView(folder).check():
            if problem not in report.damaged_runs:
                report.damaged_runs.append(problem)
    return report


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
    pinned = [v.id for v in views if v.pinned]
    if pinned and not force:
        raise RunError(f"run(s) {', '.join(pinned)} are pinned; `runicorn unpin` them first, or pass --force")
    runs_dir = api.storage.runs_dir
    trash = runs_dir / TRASH_FOLDER
    trash.mkdir(parents=True, exist_ok=True)
    removed = []
    for view in views:
        if runs_dir not in view.run_dir.parents:  # never move a folder that is not below runs/
            raise RunError(f"run folder {view.run_dir} is not inside {runs_dir}; refusing to remove it")
        # The trash name keeps where the run was (path segments joined by '+', which no segment holds), so
        # whoever finishes a removal a crash cut short can prune the path folders it left empty.
        where = "+".join(view.run_dir.parent.relative_to(runs_dir).parts)
        target = trash / f"{where}+{view.id}-{os.urandom(4).hex()}"
        os.rename(view.run_dir, target)
        removed.append(view.id)
        crash_point("runs")
        _prune_empty_parents(view.run_dir.parent, runs_dir)
    _purge_deleted_runs(api)
    return removed


def _purge_deleted_runs(api: Api) -> None:
    """Finish removals a crash cut short: the trash of run folders, and the path folders they left empty."""
    runs_dir = api.storage.runs_dir
    trash = runs_dir / TRASH_FOLDER
    if trash.is_dir():
        for entry in trash.iterdir():
            shutil.rmtree(entry, ignore_errors=True)
            try:  # the trash name is the run's path, "+"-joined, then its id
                path = validate_path("/".join(entry.name.split("+")[:-1]))
            except ValueError:
                continue
            _prune_empty_parents(runs_dir.joinpath(*path.split("/")), runs_dir)


def _prune_empty_parents(folder, stop) -> None:
    """Remove path folders left empty by a deletion, up to (not including) ``runs/``."""
    while folder != stop and folder.is_relative_to(stop):
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent
