"""Retention policies over runs: keep what matters, remove the rest or drop only its heavy assets.

In the spirit of restic's ``forget``, for ML: over a path prefix, a run is kept
when any rule keeps it (the best N by primary metric per group, the last N per
group, a tag, younger than a duration), and always when it is running, pinned
or damaged (a damaged run cannot be judged). The others are removed, or, with
``drop-assets``, keep their metrics, config, code and summary while their
outputs, saved datasets and pretrained copies stop being roots. Within kept
runs, ``keep_versions`` keeps only the last K archived versions of each output.

Plan, then apply: the plan says what happens to each run and why, and the
exact bytes a gc would then free (the store's one walk, before and after).
Dropping appends a ``dropped`` line to the run's manifest (docs/format.md 5.3);
nothing is deleted from the store here: gc does that, after its grace period.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

from .api import Api, RunView
from .maintenance import collect_roots, remove_runs
from .runfolder import DROPPED, ManifestEntry
from .store import Listing, Ref, Walker

HEAVY_ROLES = ("outputs", "dataset", "pretrained")
REMOVE, DROP_ASSETS, DROP_VERSIONS = "remove", "drop-assets", "drop-versions"
DROP_ASSETS_REASON = "retention policy: heavy assets dropped"
DROP_VERSIONS_REASON = "retention policy: older output versions dropped"


@dataclass(frozen=True)
class Policy:
    keep_best: int | None = None
    group_by: str = "path"  # "path", or "config.<key>" (a key of the logged args or extra values)
    keep_last: int | None = None
    keep_tags: tuple[str, ...] = ()
    keep_within: float | None = None  # seconds
    keep_versions: int | None = None  # within kept runs: the last K versions of each output
    action: str = REMOVE  # what happens to the runs no rule keeps: REMOVE or DROP_ASSETS

    def check(self) -> None:
        for name in ("keep_best", "keep_last", "keep_versions"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise ValueError(f"{name} must be a whole number >= 0, got {value!r}")
        if self.action not in (REMOVE, DROP_ASSETS):
            raise ValueError(f"action must be {REMOVE!r} or {DROP_ASSETS!r}, got {self.action!r}")
        if self.group_by != "path" and not self.group_by.startswith("config."):
            raise ValueError(f"group_by must be 'path' or 'config.<key>', got {self.group_by!r}")
        if not (self.keep_best or self.keep_last or self.keep_tags or self.keep_within is not None
                or self.keep_versions is not None):
            raise ValueError("a policy needs at least one keep rule (best, last, tag, within or versions); "
                             "without one it would take every run")

    @property
    def judges_runs(self) -> bool:
        """Whether any rule decides about whole runs (``keep_versions`` alone only thins kept runs' outputs)."""
        return bool(self.keep_best or self.keep_last or self.keep_tags or self.keep_within is not None)


@dataclass
class Decision:
    """What the policy does to one run, and why."""

    view: RunView
    kept_because: list[str] = field(default_factory=list)
    action: str | None = None  # REMOVE, DROP_ASSETS, DROP_VERSIONS or None (kept as it is)
    drops: list[ManifestEntry] = field(default_factory=list)  # entries whose objects stop being roots

    @property
    def kept(self) -> bool:
        return bool(self.kept_because)


@dataclass
class RetentionPlan:
    prefix: str | None
    policy: Policy
    decisions: list[Decision]
    freed_bytes: int = 0  # what a gc after applying the plan frees (exact: the store's walk before and after)
    freed_objects: int = 0

    @property
    def affected(self) -> list[Decision]:
        return [d for d in self.decisions if d.action is not None]


def plan_retention(api: Api, prefix: str | None, policy: Policy, now: float | None = None) -> RetentionPlan:
    policy.check()
    now = time.time() if now is None else now
    views = api.runs(prefix)
    decisions = {v.id: Decision(v) for v in views}
    for view in views:
        reasons = decisions[view.id].kept_because
        if view.status == "running":
            reasons.append("running")
        if view.pinned:
            note = (view.pin or {}).get("note")
            reasons.append(f"pinned ({note})" if note else "pinned")
        if view.damaged:
            reasons.append("damaged (not judged)")
        if policy.keep_tags and set(policy.keep_tags) & set(view.tags):
            reasons.append("tagged " + ",".join(sorted(set(policy.keep_tags) & set(view.tags))))
        if policy.keep_within is not None and view.created_at is not None and now - view.created_at <= policy.keep_within:
            reasons.append("recent")
    if not policy.judges_runs:
        for decision in decisions.values():
            decision.kept_because.append("no run rule")
    for group, members in _groups(views, policy.group_by).items():
        if policy.keep_last:
            for rank, view in enumerate(sorted(members, key=lambda v: (v.created_at or 0.0, v.id), reverse=True)
                                        [:policy.keep_last], 1):
                decisions[view.id].kept_because.append(f"last {rank} of {group}")
        if policy.keep_best:
            for metric, ranked in _ranked(members).items():
                for rank, view in enumerate(ranked[:policy.keep_best], 1):
                    decisions[view.id].kept_because.append(f"best {rank} by {metric} in {group}")
    for decision in decisions.values():
        view = decision.view
        if not decision.kept:
            decision.action = policy.action
            if policy.action == DROP_ASSETS:
                decision.drops = _heavy_roots(view)
                if not decision.drops:
                    decision.action = None  # nothing heavy to drop
        elif policy.keep_versions is not None and not view.pinned and view.status != "running":
            decision.drops = _old_versions(view, policy.keep_versions)
            if decision.drops:
                decision.action = DROP_VERSIONS
    plan = RetentionPlan(prefix, policy, [decisions[v.id] for v in views])
    _count_freed(api, plan)
    return plan


def apply_retention(api: Api, plan: RetentionPlan) -> None:
    """Carry out a plan: remove runs, or append a ``dropped`` line naming what stops being a root."""
    removed = [d.view for d in plan.affected if d.action == REMOVE]
    for decision in plan.affected:
        if decision.action != REMOVE:
            reason = DROP_ASSETS_REASON if decision.action == DROP_ASSETS else DROP_VERSIONS_REASON
            decision.view.folder.append_manifest(ManifestEntry.new(
                DROPPED, "retention", ids=sorted({e.ref.id.tagged for e in decision.drops}), reason=reason))
    if removed:
        remove_runs(api, removed)


def _groups(views: list[RunView], group_by: str) -> dict[str, list[RunView]]:
    groups: dict[str, list[RunView]] = {}
    for view in views:
        if group_by == "path":
            key = view.path
        else:
            value = view.run_config.values.get(group_by.removeprefix("config."), "(unset)")
            key = f"{group_by}={value}"
        groups.setdefault(key, []).append(view)
    return groups


def _ranked(members: list[RunView]) -> dict[str, list[RunView]]:
    """Runs with a finite best value, per primary metric (name and mode), best first; ties go to the earlier run."""
    by_metric: dict[str, list[RunView]] = {}
    for view in members:
        primary = view.primary
        if primary is None or not isinstance(primary.best, (int, float)) or not math.isfinite(primary.best):
            continue
        by_metric.setdefault(f"{primary.name} ({primary.mode})", []).append(view)
    for metric, views in by_metric.items():
        views.sort(key=lambda v: (-v.best if v.primary.mode == "max" else v.best, v.created_at or 0.0, v.id))
    return by_metric


def _heavy_roots(view: RunView) -> list[ManifestEntry]:
    manifest = view.read_manifest()  # read once: roots and entries come from the same lines
    roots = set(manifest.roots())
    return [e for e in manifest.entries if e.role in HEAVY_ROLES and e.ref is not None and e.ref in roots]


def _old_versions(view: RunView, keep: int) -> list[ManifestEntry]:
    """Root versions of each output beyond the last ``keep``."""
    manifest = view.read_manifest()
    drops = []
    for role, name in {(e.role, e.name) for e in manifest.entries if e.role == "outputs"}:
        rooted = [entry for entry, why in manifest.versions(role, name) if why is None]
        drops += rooted[: max(0, len(rooted) - keep)]
    return drops


def _count_freed(api: Api, plan: RetentionPlan) -> None:
    """Exact bytes and objects a gc would free after the plan: what every root reaches now, less what it would."""
    if not plan.affected:
        return
    store = api.store
    walker = Walker(store, Listing(store))
    roots = collect_roots(api)
    before = walker.walk(roots.all()).reached
    removed = {d.view.folder.location_id for d in plan.affected if d.action == REMOVE}
    dropped: dict[str, set[Ref]] = {}
    for decision in plan.affected:
        if decision.action != REMOVE:
            dropped.setdefault(decision.view.folder.location_id, set()).update(e.ref for e in decision.drops)
    after_roots = [ref for run, refs in roots.by_run.items() if run not in removed
                   for ref in refs if ref not in dropped.get(run, ())]
    freed = before - walker.walk(after_roots).reached
    plan.freed_objects = len(freed)
    plan.freed_bytes = sum(walker.size(oid) for oid in freed)
