"""Commands that look after the store: gc, du, verify."""

from __future__ import annotations

import click

from ..maintenance import collect_garbage, disk_usage, verify_storage
from ..store import DEFAULT_GRACE_SECONDS
from .main import cli
from .output import Duration, PathPrefix, echo_json, human_bytes, human_duration, progress, table


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
    with progress(sum(1 for _ in api.store.iter_objects()), "collecting") as update:
        plan, result = collect_garbage(api, grace_seconds=grace, dry_run=dry_run, progress=update)
    if dry_run:
        freed = plan.purge_bytes + (plan.garbage_bytes if plan.grace_seconds == 0 else 0)
        report = {"dry_run": True, "objects_deleted": len(plan.garbage), "bytes_freed": freed,
                  "objects_to_trash": len(plan.garbage), "bytes_to_trash": plan.garbage_bytes,
                  "objects_to_purge": len(plan.trash_purge), "bytes_to_purge": plan.purge_bytes,
                  "reachable_objects": len(plan.reachable), "grace_seconds": plan.grace_seconds}
        if as_json:
            echo_json(report)
        else:
            click.echo(f"would remove {len(plan.garbage)} unreferenced objects ({human_bytes(plan.garbage_bytes)}) "
                       f"and purge {len(plan.trash_purge)} from the trash ({human_bytes(plan.purge_bytes)}); "
                       f"{len(plan.reachable)} referenced objects kept (grace {human_duration(grace)})")
        return
    # objects_deleted: objects that left the store; bytes_freed: bytes that left the disk (trash purged).
    report = {"dry_run": False, "objects_deleted": result.objects_trashed, "bytes_freed": result.bytes_purged, "objects_trashed": result.objects_trashed,
              "bytes_trashed": result.bytes_trashed, "objects_purged": result.objects_purged,
              "bytes_purged": result.bytes_purged, "kept_fresh": result.skipped_fresh,
              "reachable_objects": len(plan.reachable), "grace_seconds": plan.grace_seconds}
    if as_json:
        echo_json(report)
        return
    click.echo(f"removed {result.objects_trashed} unreferenced objects ({human_bytes(result.bytes_trashed)}); "
               f"freed {human_bytes(result.bytes_purged)} ({result.objects_purged} objects purged from the trash)")
    pending = 0 if plan.grace_seconds == 0 else result.bytes_trashed
    if pending:
        click.echo(f"{human_bytes(pending)} stay in the trash until a gc after {human_duration(grace)} "
                   "(or `runicorn gc --grace 0s` now)")


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
    with progress(len(api.runs()), "measuring") as update:
        usage = disk_usage(api, path_prefix, progress=update)
    if as_json:
        echo_json({"logical_bytes": usage.logical_bytes, "physical_bytes": usage.physical_bytes,
                   "dedup_ratio": usage.dedup_ratio, "store_bytes": usage.store_bytes,
                   "store_objects": usage.store_objects, "unreferenced_bytes": usage.unreferenced_bytes,
                   "missing_objects": usage.missing_objects, "runs": [vars(r) for r in usage.runs]})
        return
    if usage.runs:
        click.echo(table(["RUN", "PATH", "LOGICAL", "PHYSICAL", "ONLY THIS RUN"],
                         [[r.id, r.path, human_bytes(r.logical_bytes), human_bytes(r.physical_bytes),
                           human_bytes(r.exclusive_bytes)] for r in usage.runs]))
        click.echo("")
    click.echo(f"logical  {human_bytes(usage.logical_bytes)}  (what the runs refer to)")
    click.echo(f"physical {human_bytes(usage.physical_bytes)}  (what the store holds for them)")
    click.echo(f"dedup    {usage.dedup_ratio:.2f}x")
    click.echo(f"store    {human_bytes(usage.store_bytes)} in {usage.store_objects} objects"
               + (f", {human_bytes(usage.unreferenced_bytes)} unreferenced (`runicorn gc` reclaims it)"
                  if usage.unreferenced_bytes else ""))
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
    total = sum(o.size for o in api.store.iter_objects())
    with progress(total, "verifying") as update:
        report = verify_storage(api, update)
    if as_json:
        echo_json({"ok": report.ok, "corrupt": report.corrupt, "missing": report.missing,
                   "needed_by": report.needed_by, "foreign_files": report.foreign_files,
                   "objects_checked": report.objects_checked, "bytes_checked": report.bytes_checked})
    else:
        click.echo(f"checked {report.objects_checked} objects ({human_bytes(report.bytes_checked)})")
        for label, ids in (("corrupt", report.corrupt), ("missing", report.missing)):
            for oid in ids:
                runs = ", ".join(report.needed_by.get(oid, [])) or "no run"
                click.echo(f"{label}: {oid} (needed by {runs})")
        for name in report.foreign_files:
            click.echo(f"foreign file: {name}")
        click.echo("ok" if report.ok else "store is damaged: restore affected runs from a bundle or backup")
    if not report.ok:
        raise SystemExit(1)
