"""Commands that look after the store: gc, du, verify."""

from __future__ import annotations

import click

from ..maintenance import collect_garbage, disk_usage, verify_storage
from ..store import DEFAULT_GRACE_SECONDS
from .main import cli
from .output import Duration, PathPrefix, echo_json, human_bytes, human_duration, human_time, plural, progress, table


@cli.command("gc")
@click.option("--dry-run", is_flag=True, help="Report what would be deleted; change nothing.")
@click.option("--grace", type=Duration(), default=f"{int(DEFAULT_GRACE_SECONDS)}s", show_default="1h",
              help="Keep unreferenced objects younger than this (protects runs still writing). 0s: no grace.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.pass_obj
def gc_command(obj, dry_run, grace, as_json):
    """Reclaim objects no run refers to.

    Garbage older than the grace period is moved to the store's trash and purged
    by a later gc once it has stayed unreferenced for the grace period
    (`--grace 0s` purges at once). Safe beside running trainings.

    \b
    Example: runicorn gc --dry-run
             runicorn rm --path old --yes && runicorn gc --grace 0s
    """
    api = obj.api
    with progress("collecting") as bar:
        plan, result = collect_garbage(api, grace_seconds=grace, dry_run=dry_run, progress=bar)
    report = {"dry_run": dry_run, "reachable_objects": len(plan.reachable), "grace_seconds": plan.grace_seconds,
              "kept_for_grace": {"objects": len(plan.kept_fresh), "bytes": plan.kept_fresh_bytes,
                                 "collectable_at": plan.collectable_at},
              "missing_objects": len(plan.reach.missing), "unreadable_objects": len(plan.reach.damaged),
              "refused": plan.refusal}
    if dry_run:
        freed = plan.purge_bytes + (plan.garbage_bytes if plan.grace_seconds == 0 else 0)
        report.update({"objects_deleted": len(plan.garbage), "bytes_freed": freed,
                       "objects_to_trash": len(plan.garbage), "bytes_to_trash": plan.garbage_bytes,
                       "objects_to_purge": len(plan.trash_purge), "bytes_to_purge": plan.purge_bytes})
    elif result is not None:
        # objects_deleted: objects that left the store; bytes_freed: bytes that left the disk (trash purged).
        report.update({"objects_deleted": result.objects_trashed, "bytes_freed": result.bytes_purged,
                       "objects_trashed": result.objects_trashed, "bytes_trashed": result.bytes_trashed,
                       "objects_purged": result.objects_purged, "bytes_purged": result.bytes_purged,
                       "kept_fresh": result.skipped_fresh + len(plan.kept_fresh), "taken_back": result.taken_back})
    if as_json:
        echo_json(report)
    elif dry_run:
        click.echo(f"would remove {plural(len(plan.garbage), 'unreferenced object')} "
                   f"({human_bytes(plan.garbage_bytes)}) and purge {plural(len(plan.trash_purge), 'object')} from the "
                   f"trash ({human_bytes(plan.purge_bytes)}); {plural(len(plan.reachable), 'referenced object')} kept")
    elif result is not None:
        click.echo(f"removed {plural(result.objects_trashed, 'unreferenced object')} "
                   f"({human_bytes(result.bytes_trashed)}); freed {human_bytes(result.bytes_purged)} "
                   f"({plural(result.objects_purged, 'object')} purged from the trash)")
        pending = 0 if plan.grace_seconds == 0 else result.bytes_trashed
        if pending:
            click.echo(f"{human_bytes(pending)} stay in the trash until a gc after {human_duration(grace)} "
                       "(or `runicorn gc --grace 0s` now)")
    if not as_json and plan.kept_fresh:
        click.echo(grace_note(len(plan.kept_fresh), plan.kept_fresh_bytes, plan.collectable_at, grace))
    if plan.refusal:
        if not as_json:
            click.echo(f"refused: {plan.refusal}", err=True)
        raise SystemExit(1)


def grace_note(objects: int, size: int, collectable_at: float | None, grace: float) -> str:
    """What the grace period holds back, when it lets go, and how to collect it now."""
    when = human_time(collectable_at) if collectable_at else "later"
    return (f"{plural(objects, 'unreferenced object')} ({human_bytes(size)}) "
            f"{'is' if objects == 1 else 'are'} younger than the grace period ({human_duration(grace)}) and kept: "
            f"collectable from {when}, or now with `runicorn gc --grace 0s`")


@cli.command("du")
@click.argument("path_prefix", required=False, type=PathPrefix())
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.pass_obj
def du_command(obj, path_prefix, as_json):
    """Logical vs physical bytes, dedup ratio, and what deleting each run would free.

    \b
    Example: runicorn du cv/resnet50
    """
    api = obj.api
    with progress("measuring") as bar:
        usage = disk_usage(api, path_prefix, progress=bar)
    if as_json:
        echo_json({"matched_runs": len(usage.runs), "logical_bytes": usage.logical_bytes, "physical_bytes": usage.physical_bytes,
                   "dedup_ratio": usage.dedup_ratio, "store_bytes": usage.store_bytes,
                   "store_objects": usage.store_objects, "unreferenced_bytes": usage.unreferenced_bytes,
                   "unreferenced_fresh_bytes": usage.unreferenced_fresh_bytes, "fresh_until": usage.fresh_until,
                   "missing_objects": usage.missing_objects, "damaged_objects": usage.damaged_objects,
                   "problems": usage.problems, "runs": [vars(r) for r in usage.runs]})
        return
    if path_prefix and not usage.runs:
        click.echo(f"no runs under {path_prefix!r}; the store totals below are for the whole root")
    if usage.runs:
        click.echo(table(["RUN", "PATH", "LOGICAL", "PHYSICAL", "ONLY THIS RUN"],
                         [[r.id, r.path, human_bytes(r.logical_bytes), human_bytes(r.physical_bytes),
                           human_bytes(r.exclusive_bytes)] for r in usage.runs]))
        click.echo("")
    click.echo(f"logical  {human_bytes(usage.logical_bytes)}  (what the runs refer to)")
    click.echo(f"physical {human_bytes(usage.physical_bytes)}  (what the store holds for them)")
    click.echo(f"dedup    {usage.dedup_ratio:.2f}x")
    click.echo(f"store    {human_bytes(usage.store_bytes)} in {plural(usage.store_objects, 'object')}"
               + (f", {human_bytes(usage.unreferenced_bytes)} unreferenced" if usage.unreferenced_bytes else ""))
    if usage.unreferenced_bytes and usage.problems:
        click.echo("         gc reclaims none of it while the problems below remain (it cannot see every reference)")
    elif usage.unreferenced_bytes:
        now = usage.unreferenced_bytes - usage.unreferenced_fresh_bytes
        click.echo(f"         `runicorn gc` reclaims {human_bytes(now)} now"
                   + (f"; {human_bytes(usage.unreferenced_fresh_bytes)} is younger than the grace period (1h), "
                      f"collectable from {human_time(usage.fresh_until)} or now with `runicorn gc --grace 0s`"
                      if usage.unreferenced_fresh_bytes else ""))
    for problem in usage.problems:
        click.echo(f"warning: {problem}", err=True)
    if usage.damaged_objects:
        click.echo(f"warning: {usage.damaged_objects} objects the runs refer to cannot be read; what lies below them "
                   "is not counted. Run `runicorn verify`", err=True)
    if usage.missing_objects:
        click.echo(f"warning: {usage.missing_objects} objects the runs refer to are missing and not counted above; "
                   "run `runicorn verify` to see which runs need them", err=True)


@cli.command("verify")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.pass_obj
def verify_command(obj, as_json):
    """Re-hash every object and check every run's references. Exit 1 on damage.

    \b
    Example: runicorn verify --json
    """
    api = obj.api
    with progress("verifying") as bar:
        storage_report = verify_storage(api, bar)
    report = storage_report.store
    if as_json:
        echo_json({"ok": storage_report.ok, "corrupt": report.corrupt, "missing": report.missing,
                   "unreadable": report.unreadable, "in_trash": report.in_trash,
                   "needed_by": report.needed_by, "foreign_files": report.foreign_files,
                   "damaged_runs": storage_report.damaged_runs,
                   "objects_checked": report.objects_checked, "bytes_checked": report.bytes_checked})
    else:
        click.echo(f"checked {plural(report.objects_checked, 'object')} ({human_bytes(report.bytes_checked)})")
        damaged = [("corrupt", oid, "") for oid in report.corrupt] + [("missing", oid, "") for oid in report.missing]
        damaged += [("unreadable", oid, f" ({why})") for oid, why in report.unreadable.items()]
        for label, oid, why in damaged:
            runs = ", ".join(report.needed_by.get(oid, [])) or "no run"
            click.echo(f"{label}: {oid}{why} (needed by {runs})")
        for name in report.foreign_files:
            click.echo(f"foreign file: {name}")
        for problem in storage_report.damaged_runs:
            click.echo(f"damaged run: {problem}")
        if report.in_trash:
            click.echo(f"{len(report.in_trash)} referenced objects are in the trash; the next read or gc takes them back")
        click.echo("ok" if storage_report.ok else
                   "damaged. To repair objects, import a bundle holding good copies (`runicorn export` of the same "
                   "runs from another storage root, then `runicorn import BUNDLE` here), or restore the store from "
                   "a backup; remove runs whose folders are damaged with `runicorn rm`")
    if not storage_report.ok:
        raise SystemExit(1)
