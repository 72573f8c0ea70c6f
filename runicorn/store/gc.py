"""Garbage collection: plan, then execute. Roots come from the caller (run manifests, pins).

The contract with concurrent writers (docs/format.md, "Garbage collection"):
1. gc lists objects, then marks everything reachable from the roots.
2. A candidate is unreachable *and* older than the grace period at the start
   of the gc; writers refresh the mtime of every object they reuse, so an
   object a live run is about to reference is never a candidate.
3. The sweep re-checks each candidate's mtime and *moves* it to ``trash/``.
   A writer that refreshed it in the instant between check and move finds it
   missing and takes it back from the trash (``ObjectStore.has``/``open``).
4. A later gc purges trash entries that are still unreferenced and were
   trashed longer than the grace period ago; marking puts a referenced one back.
An exclusive lock keeps two gcs apart; writers never take it.
"""

from __future__ import annotations

import fcntl
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

from ..errors import GcLocked, StoreError
from .ids import ObjectId
from .objects import ObjectStore, StoredObject
from .trees import tree_children

DEFAULT_GRACE_SECONDS = 3600.0
# Stray temp files of crashed writers; a live writer's temp file is fresh because it is being written.
_TEMP_MIN_AGE_SECONDS = 3600.0


@dataclass(frozen=True)
class Root:
    """A gc root: an object id and whether it is a tree (whose children are reachable too)."""

    id: ObjectId
    is_tree: bool


@dataclass
class GcPlan:
    """What a gc would do, computed without changing anything."""

    started_at: float
    grace_seconds: float
    reachable: set[ObjectId]
    garbage: list[StoredObject] = field(default_factory=list)
    trash_purge: list[StoredObject] = field(default_factory=list)
    stale_temp_files: list[str] = field(default_factory=list)
    missing: list[ObjectId] = field(default_factory=list)

    @property
    def cutoff(self) -> float:
        return self.started_at - self.grace_seconds

    @property
    def garbage_bytes(self) -> int:
        return sum(o.size for o in self.garbage)

    @property
    def purge_bytes(self) -> int:
        return sum(o.size for o in self.trash_purge)


@dataclass
class GcResult:
    objects_trashed: int = 0
    bytes_trashed: int = 0
    objects_purged: int = 0
    bytes_purged: int = 0
    skipped_fresh: int = 0


def mark(store: ObjectStore, roots: Iterable[Root],
         progress: Callable[[int], None] | None = None) -> tuple[set[ObjectId], list[ObjectId]]:
    """Every id reachable from ``roots``, and the referenced ids that are missing; ``progress(1)`` per id reached."""
    reachable: set[ObjectId] = set()
    missing: list[ObjectId] = []
    # Visited as (id, is_tree): the same bytes may be a blob to one root and a tree to another,
    # and only the tree reference reaches the children.
    visited: set[tuple[ObjectId, bool]] = set()
    stack = [(r.id, r.is_tree) for r in roots]
    while stack:
        item = stack.pop()
        if item in visited:
            continue
        visited.add(item)
        oid, is_tree = item
        if oid not in reachable and not store.has(oid):
            if oid not in missing:  # named by several trees: count it once
                missing.append(oid)
            continue
        reachable.add(oid)
        if progress is not None:
            progress(1)
        if is_tree:
            stack.extend(child for child in tree_children(store, oid) if child not in visited)
    return reachable, missing


def plan(store: ObjectStore, roots: Iterable[Root], grace_seconds: float = DEFAULT_GRACE_SECONDS,
         progress: Callable[[int], None] | None = None) -> GcPlan:
    """Decide what to delete. Listing happens before marking: see the module docstring.

    ``progress(n)`` counts the objects classified, up to the number listed.
    """
    if grace_seconds < 0:
        raise ValueError(f"grace period must be >= 0 seconds, got {grace_seconds}")
    started = time.time()
    listed = list(store.iter_objects())
    reachable, missing = mark(store, roots, progress)
    result = GcPlan(started_at=started, grace_seconds=grace_seconds, reachable=reachable, missing=missing)
    cutoff = result.cutoff
    unreached = [o for o in listed if o.id not in reachable]
    result.garbage = [o for o in unreached if o.mtime < cutoff]
    if progress is not None:
        progress(len(unreached))
    # Marking already took referenced objects back out of the trash.
    result.trash_purge = [o for o in store.iter_trash() if o.id not in reachable and o.mtime < cutoff]
    temp_cutoff = started - max(grace_seconds, _TEMP_MIN_AGE_SECONDS)
    for entry in _scan(store.tmp_dir):
        try:
            if entry.stat(follow_symlinks=False).st_mtime < temp_cutoff:
                result.stale_temp_files.append(entry.name)
        except FileNotFoundError:
            pass
    return result


def execute(store: ObjectStore, gc_plan: GcPlan) -> GcResult:
    """Carry out a plan: move the garbage to the trash and purge old trash."""
    if gc_plan.missing:
        raise StoreError(
            f"{len(gc_plan.missing)} referenced objects are missing (first: {gc_plan.missing[0]}); "
            "gc refuses to delete anything while references are broken. Run `runicorn verify`."
        )
    outcome = GcResult()
    for obj in gc_plan.garbage:
        if _move_to_trash(store, obj, gc_plan.cutoff):
            outcome.objects_trashed += 1
            outcome.bytes_trashed += obj.size
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
    for name in gc_plan.stale_temp_files:
        (store.tmp_dir / name).unlink(missing_ok=True)
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


def collect(store: ObjectStore, roots: Iterable[Root], grace_seconds: float = DEFAULT_GRACE_SECONDS,
            *, dry_run: bool = False, progress: Callable[[int], None] | None = None) -> tuple[GcPlan, GcResult | None]:
    """Plan and (unless ``dry_run``) execute under the gc lock."""
    with gc_lock(store):
        gc_plan = plan(store, roots, grace_seconds, progress)
        if dry_run:
            return gc_plan, None
        return gc_plan, execute(store, gc_plan)


def _scan(folder) -> list[os.DirEntry]:
    try:
        with os.scandir(folder) as listing:
            return list(listing)
    except FileNotFoundError:
        return []
