"""Garbage collection: plan, then execute. Roots come from the caller (run manifests, pins).

The contract with concurrent writers (docs/format.md, "Garbage collection"):
1. gc lists objects, then walks everything reachable from the roots (``reach``).
2. A candidate is unreachable *and* older than the cutoff: the start of the gc
   minus the grace period. Writers refresh the mtime of every object they
   reuse, so an object a live run is about to reference is never a candidate.
3. The sweep re-checks each candidate's mtime and *moves* it to ``trash/``.
   A writer that refreshed it in the instant between check and move finds it
   missing and takes it back from the trash (``ObjectStore.has``/``open``).
4. A later gc purges trash entries that are still unreferenced and were
   trashed longer than the grace period ago; referenced ones are taken back.
5. A writer holds a lease (``leases``) from before it puts objects until a root
   names them: everything younger than the oldest live lease is kept, whatever
   the grace period.
6. gc deletes nothing while it cannot see every reference: a referenced object
   that is missing or unreadable, or a problem the caller reports (a run folder
   it cannot read), makes the plan a refusal.
An exclusive lock keeps two gcs apart; writers never take it. Planning changes nothing.
"""

from __future__ import annotations

import fcntl
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

from ..errors import GcLocked, GcRefused
from .atomic import stale_temp_files
from .faults import crash_point
from .ids import ObjectId
from .objects import ObjectStore, StoredObject
from .progress import NO_PROGRESS, Progress
from .leases import scan_leases
from .reach import Listing, Reach, Ref, Walker

DEFAULT_GRACE_SECONDS = 3600.0


@dataclass
class GcPlan:
    """What a gc would do, computed without changing anything."""

    started_at: float
    grace_seconds: float
    reach: Reach
    garbage: list[StoredObject] = field(default_factory=list)
    kept_fresh: list[StoredObject] = field(default_factory=list)  # unreferenced but younger than the cutoff
    trash_purge: list[StoredObject] = field(default_factory=list)
    stale_temp_files: list[str] = field(default_factory=list)
    dead_leases: list[str] = field(default_factory=list)
    leased_since: float | None = None  # a live writer's lease protects everything younger than this
    problems: list[str] = field(default_factory=list)  # reported by the caller: each one blocks the sweep

    @property
    def cutoff(self) -> float:
        """Objects with an mtime before this, and unreferenced, are garbage."""
        cutoff = self.started_at - self.grace_seconds
        return cutoff if self.leased_since is None else min(cutoff, self.leased_since)

    @property
    def reachable(self) -> set[ObjectId]:
        return self.reach.reached

    @property
    def garbage_bytes(self) -> int:
        return sum(o.size for o in self.garbage)

    @property
    def kept_fresh_bytes(self) -> int:
        return sum(o.size for o in self.kept_fresh)

    @property
    def purge_bytes(self) -> int:
        return sum(o.size for o in self.trash_purge)

    @property
    def collectable_at(self) -> float | None:
        """When the youngest object kept for the grace period becomes garbage a gc would take."""
        return max(o.mtime for o in self.kept_fresh) + self.grace_seconds if self.kept_fresh else None

    @property
    def refusal(self) -> str | None:
        """Why executing this plan would delete nothing, or None."""
        reach = self.reach
        reasons = list(self.problems)
        if reach.missing:
            reasons.append(f"{len(reach.missing)} referenced objects are missing (first: {min(reach.missing)})")
        if reach.damaged:
            first = min(reach.damaged)
            reasons.append(f"{len(reach.damaged)} referenced objects cannot be read "
                           f"(first: {first}: {reach.damaged[first]})")
        if not reasons:
            return None
        return ("gc deletes nothing while it cannot see every reference: " + "; ".join(reasons)
                + ". Run `runicorn verify` to see the damage and the runs it touches.")


@dataclass
class GcResult:
    objects_trashed: int = 0
    bytes_trashed: int = 0
    objects_purged: int = 0
    bytes_purged: int = 0
    skipped_fresh: int = 0  # candidates a writer refreshed between the plan and the sweep
    taken_back: int = 0  # referenced objects moved back out of the trash


RootsFn = Callable[[], tuple[Iterable[Ref], list[str]]]


def plan(store: ObjectStore, roots: Iterable[Ref] | RootsFn, grace_seconds: float = DEFAULT_GRACE_SECONDS,
         progress: Progress = NO_PROGRESS, *, problems: Iterable[str] = ()) -> GcPlan:
    """Decide what to delete. Listing happens before marking: see the module docstring.

    ``roots`` may be a function returning the roots and the problems found reading them: it is called
    after the listing, so a root written meanwhile names only objects that are younger than the listing
    (or leased). ``progress`` counts the objects classified, out of the number listed.
    """
    if grace_seconds < 0:
        raise ValueError(f"grace period must be >= 0 seconds, got {grace_seconds}")
    started = time.time()
    # Leases are read before the listing: an object put under a lease taken later is younger than the listing.
    leased_since, dead_leases = scan_leases(store.leases_dir, started)
    listing = Listing(store)
    progress.start(len(listing.objects), "objects")
    if callable(roots):
        roots, found = roots()
        problems = [*problems, *found]
    reach = Walker(store, listing).walk(roots, progress=progress)
    result = GcPlan(started_at=started, grace_seconds=grace_seconds, reach=reach, problems=list(problems),
                    leased_since=leased_since, dead_leases=dead_leases)
    cutoff = result.cutoff
    unreached = [o for o in listing.objects.values() if o.id not in reach.reached]
    for obj in unreached:
        (result.garbage if obj.mtime < cutoff else result.kept_fresh).append(obj)
    progress.advance(len(unreached))
    result.trash_purge = [o for o in listing.trash.values() if o.id not in reach.reached and o.mtime < cutoff]
    result.stale_temp_files = stale_temp_files(store.tmp_dir, started)
    return result


def execute(store: ObjectStore, gc_plan: GcPlan) -> GcResult:
    """Carry out a plan: take referenced objects back from the trash, move garbage there, purge old trash."""
    refusal = gc_plan.refusal
    if refusal:
        raise GcRefused(refusal)
    outcome = GcResult()
    for oid in gc_plan.reach.trashed:
        outcome.taken_back += store.take_back(oid)
    for obj in gc_plan.garbage:
        if _move_to_trash(store, obj, gc_plan.cutoff):
            outcome.objects_trashed += 1
            outcome.bytes_trashed += obj.size
            crash_point("objects")
        else:
            outcome.skipped_fresh += 1
    purge = list(gc_plan.trash_purge)
    if gc_plan.grace_seconds == 0:
        # --grace 0s: what this run trashed goes at once too.
        purge += [o for o in gc_plan.garbage if store.trash_path_for(o.id).exists()]
    for obj in purge:
        try:
            os.unlink(store.trash_path_for(obj.id))
        except FileNotFoundError:
            continue  # a writer took it back
        outcome.objects_purged += 1
        outcome.bytes_purged += obj.size
        crash_point("objects")
    for path in gc_plan.stale_temp_files + gc_plan.dead_leases:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
    return outcome


def _move_to_trash(store: ObjectStore, obj: StoredObject, cutoff: float) -> bool:
    source = store.path_for(obj.id)
    try:
        if os.lstat(source).st_mtime >= cutoff:
            return False  # freshened by a writer since the plan
    except FileNotFoundError:
        return False
    destination = store.trash_path_for(obj.id)
    destination.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(source, destination)
    except FileNotFoundError:
        return False
    try:
        # A writer that refreshed it between the check above and the move refreshed the file that moved
        # (a refresh after the move fails and takes it back itself): it is in use, so it goes back.
        if os.lstat(destination).st_mtime >= cutoff:
            store.take_back(obj.id)
            return False
        os.utime(destination)  # the trash time: when a later gc may purge it
    except FileNotFoundError:
        return False  # a writer took it back from the trash in between (rule 3)
    return True


@contextmanager
def gc_lock(store: ObjectStore) -> Iterator[None]:
    """Exclusive, non-blocking: a second gc fails fast instead of queueing."""
    path = store.root / "gc.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise GcLocked(f"another gc is running on {store.root} (lock {path}); wait for it to finish") from None
        yield
    finally:
        os.close(fd)


def collect(store: ObjectStore, roots: Iterable[Ref] | RootsFn, grace_seconds: float = DEFAULT_GRACE_SECONDS, *,
            dry_run: bool = False, progress: Progress = NO_PROGRESS,
            problems: Iterable[str] = ()) -> tuple[GcPlan, GcResult | None]:
    """Plan and (unless ``dry_run``) execute under the gc lock; a dry run takes no lock and writes nothing.

    A plan with a ``refusal`` is returned without executing it (the result is None): nothing is deleted.
    """
    if dry_run:
        return plan(store, roots, grace_seconds, progress, problems=problems), None
    with gc_lock(store):
        gc_plan = plan(store, roots, grace_seconds, progress, problems=problems)
        if gc_plan.refusal:
            return gc_plan, None
        return gc_plan, execute(store, gc_plan)
