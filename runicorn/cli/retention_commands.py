"""Commands that decide what to keep: pin, unpin, forget."""

from __future__ import annotations

import click

from ..retention import DROP_ASSETS, REMOVE, Policy, apply_retention, plan_retention
from .main import cli
from .output import Duration, PathPrefix, echo_json, human_bytes, plural, table


@cli.command("pin")
@click.argument("run")
@click.option("--note", help="Why this run is kept (shown by show and forget).")
@click.pass_obj
def pin_command(obj, run, note):
    """Keep a run through every retention policy (`runicorn forget`) and `rm` without --force.

    \b
    Example: runicorn pin 20261126_1612 --note "paper, table 2"
    """
    view = obj.api.run(run)
    view.folder.write_pin(note)
    click.echo(f"pinned run {view.id}" + (f" ({note})" if note else ""))


@cli.command("unpin")
@click.argument("run")
@click.pass_obj
def unpin_command(obj, run):
    """Let retention policies and `rm` take a run again.

    \b
    Example: runicorn unpin 20261126_1612
    """
    view = obj.api.run(run)
    was = view.pinned
    view.folder.remove_pin()
    click.echo(f"unpinned run {view.id}" if was else f"run {view.id} was not pinned")


@cli.command("forget")
@click.argument("path_prefix", required=False, type=PathPrefix())
@click.option("--keep-best", type=click.IntRange(min=1), metavar="N", help="Keep the N best runs by primary metric, per group.")
@click.option("--group-by", default="path", show_default=True, metavar="path|config.KEY",
              help="Groups for --keep-best and --keep-last: the run path, or a logged config value.")
@click.option("--keep-last", type=click.IntRange(min=1), metavar="N", help="Keep the N newest runs, per group.")
@click.option("--keep-tag", "keep_tags", multiple=True, metavar="TAG", help="Keep runs with this tag (repeatable).")
@click.option("--keep-within", type=Duration(), metavar="DURATION", help="Keep runs younger than this (30d, 12h).")
@click.option("--keep-versions", type=click.IntRange(min=0), metavar="K",
              help="In kept runs, keep only the last K archived versions of each output.")
@click.option("--drop-assets", is_flag=True,
              help="Instead of removing the other runs, drop only their outputs, saved datasets and pretrained "
                   "copies; metrics, config, code and summary stay.")
@click.option("--dry-run", is_flag=True, help="Show the plan; change nothing.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@click.pass_obj
def forget_command(obj, path_prefix, keep_best, group_by, keep_last, keep_tags, keep_within, keep_versions,
                   drop_assets, dry_run, yes, as_json):
    """Keep the runs that matter under a path prefix; remove the rest, or drop only their heavy assets.

    Running, pinned and damaged runs are always kept. The plan shows each run,
    whether it is kept and why, and the bytes `runicorn gc` then frees.

    \b
    Example: runicorn forget cv/sweep --keep-best 3 --keep-tag paper --dry-run
             runicorn forget cv/sweep --keep-best 3 --group-by config.lr --drop-assets --yes
    """
    api = obj.api
    api.require_root()
    policy = Policy(keep_best=keep_best, group_by=group_by, keep_last=keep_last, keep_tags=tuple(keep_tags),
                    keep_within=keep_within, keep_versions=keep_versions, action=DROP_ASSETS if drop_assets else REMOVE)
    try:
        plan = plan_retention(api, path_prefix, policy)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    if as_json:
        echo_json({"dry_run": dry_run, "prefix": path_prefix, "freed_bytes": plan.freed_bytes,
                   "freed_objects": plan.freed_objects,
                   "runs": [{"id": d.view.id, "path": d.view.path, "kept": d.kept, "why": d.kept_because,
                             "action": d.action, "dropped": sorted({e.ref.id.tagged for e in d.drops})}
                            for d in plan.decisions]})
    else:
        rows = [[d.view.id, d.view.path, d.view.status, _best(d.view), d.action or "keep",
                 "; ".join(d.kept_because) or "-"] for d in plan.decisions]
        if rows:
            click.echo(table(["RUN", "PATH", "STATUS", "BEST", "ACTION", "KEPT BECAUSE"], rows, 40))
        click.echo(f"{plural(len(plan.affected), 'run')} affected of {len(plan.decisions)}; `runicorn gc` then frees "
                   f"{human_bytes(plan.freed_bytes)} ({plural(plan.freed_objects, 'object')})")
    if dry_run or not plan.affected:
        return
    if not yes:
        click.confirm(f"apply this plan to {plural(len(plan.affected), 'run')}?", abort=True, err=as_json)
    apply_retention(api, plan)
    if not as_json:
        click.echo(f"done; run `runicorn gc` to reclaim {human_bytes(plan.freed_bytes)} "
                   "(after its grace period, or now with --grace 0s)")


def _best(view) -> str:
    primary = view.primary
    return "-" if primary is None or primary.best is None else f"{primary.name}={primary.best:.6g}"
