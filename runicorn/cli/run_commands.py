"""Commands about runs: ls, show, diff, rm."""

from __future__ import annotations

import click

from ..api import RunView
from ..errors import ObjectNotFound, UnsupportedFormat
from ..restore import output_versions
from ..retention import DROP_ASSETS_REASON
from ..store import BLOB
from ..compare import diff_runs
from ..maintenance import remove_runs
from .main import cli
from .output import PathPrefix, echo_json, human_bytes, human_duration, human_time, human_value, plural, table
from .selection import select_runs


def run_summary(view: RunView) -> dict:
    """The `ls --json` shape (SPEC §5): keys may be added, never removed."""
    return {"id": view.id, "path": view.path, "alias": view.alias, "tags": view.tags, "status": view.status,
            "created_at": view.created_at, "ended_at": view.ended_at, "duration": view.duration,
            "primary_metric": view.primary_metric, "pinned": view.pinned,
            "assets_dropped": sorted({f"{d['role']}/{d['name']}" for d in view.dropped()})}


def status_text(view: RunView) -> str:
    """The status as people read it: with a mark for pinned runs and runs whose heavy assets were dropped."""
    marks = (["pinned"] if view.pinned else []) + (["assets dropped"] if _heavy_dropped(view) else [])
    return view.status + (f" ({', '.join(marks)})" if marks else "")


def _heavy_dropped(view: RunView) -> bool:
    return any(d["reason"] == DROP_ASSETS_REASON for d in view.dropped())


def _primary(view: RunView) -> str:
    metric = view.primary_metric
    if not metric:
        return "-"
    if metric.get("best") is None:
        return f"{metric['name']} ({metric['mode']}): -"
    return f"{metric['name']} ({metric['mode']}): {human_value(metric['best'])} @{metric.get('step')}"


@cli.command("ls")
@click.argument("path_prefix", required=False, type=PathPrefix())
@click.option("--status", type=click.Choice(["running", "finished", "failed", "interrupted", "crashed", "damaged"]),
              help="Only runs with this status.")
@click.option("--tag", "tags", multiple=True, metavar="TAG", help="Only runs with this tag (repeatable: all of them).")
@click.option("--alias", help="Only runs with this alias.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.pass_obj
def ls_command(obj, path_prefix, status, tags, alias, as_json):
    """List runs, oldest first.

    \b
    Example: runicorn ls cv/resnet50 --status finished
             runicorn ls --tag sweep-1 --tag cv
    """
    views = obj.api.runs(path_prefix, status=status, tags=tags, alias=alias)
    for problem in obj.api.problems:
        click.echo(f"warning: {problem}; the runs inside it are not listed", err=True)
    if as_json:
        echo_json([run_summary(v) for v in views])
        return
    if not views:
        wanted = [f"under {path_prefix!r}" if path_prefix else "", f"with status {status}" if status else "",
                  f"tagged {', '.join(tags)}" if tags else "", f"with alias {alias!r}" if alias else ""]
        click.echo(f"no runs in {obj.api.root} " + " ".join(w for w in wanted if w))
        return
    rows = [[v.id, v.path, v.alias or "-", ",".join(v.tags) or "-", status_text(v), human_time(v.created_at),
             human_duration(v.duration), _primary(v)] for v in views]
    click.echo(table(["ID", "PATH", "ALIAS", "TAGS", "STATUS", "CREATED", "DURATION", "PRIMARY METRIC"], rows,
                     droppable=("TAGS", "DURATION", "ALIAS", "CREATED")))


def _asset_rows(view: RunView, store) -> dict:
    assets: dict[str, list[dict]] = {}
    for role, entries in view.assets().items():
        described = []
        for entry in entries:
            item = {k: v for k, v in entry.items() if k != "role"}
            if entry.ref is not None and entry.ref.kind == BLOB and "size" not in item:
                try:
                    item["size"] = store.size(entry.ref.id)
                except ObjectNotFound:
                    item["size"] = None
            described.append(item)
        assets[role] = described
    return assets


@cli.command("show")
@click.argument("run")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.pass_obj
def show_command(obj, run, as_json):
    """Show one run: identity, status, summary, config, metrics and assets.

    RUN is a run id or a unique id prefix.

    \b
    Example: runicorn show 20261126_1612
    """
    view = obj.api.run(run)
    if view.unsupported:
        raise UnsupportedFormat(view.unsupported)
    view.check()  # every file read, so what does not read is reported below
    metrics = view.metric_keys()
    assets = _asset_rows(view, obj.api.store)
    if as_json:
        echo_json({**run_summary(view), "summary": view.summary, "config": view.config, "metrics": metrics,
                   "assets": assets, "error": view.error, "git": view.git, "run_dir": str(view.run_dir),
                   "problems": view.problems, "pin": view.pin, "dropped": view.dropped()})
        if view.damaged:
            raise SystemExit(1)
        return
    lines = [f"run       {view.id}", f"path      {view.path}", f"alias     {view.alias or '-'}",
             f"tags      {', '.join(view.tags) or '-'}", f"status    {status_text(view)}",
             f"created   {human_time(view.created_at)}   duration {human_duration(view.duration)}",
             f"primary   {_primary(view)}", f"folder    {view.run_dir}"]
    if view.error:
        lines.append(f"error     {view.error.get('type')}: {view.error.get('message')}")
    if view.pin:
        lines.append(f"pinned    {human_time(view.pin.get('pinned_at'))}" + (f": {view.pin['note']}" if view.pin.get("note") else ""))
    for drop in view.dropped():
        lines.append(f"dropped   {drop['role']} {drop['name']!r} at {human_time(drop['at'])}: {drop['reason']}")
    versions = output_versions(obj.api.store, view)
    if versions:
        kept = sum(1 for v in versions if v.no_root_because is None)
        restorable = sum(1 for v in versions if v.available)
        lines.append(f"outputs   {plural(len(versions), 'version')} archived, {kept} kept through gc, {restorable} "
                     f"restorable now (`runicorn outputs {view.id}`)")
    git = view.git
    if git:
        lines.append(f"git       {git.get('commit', '')[:12]} on {git.get('branch')}" + (" (dirty)" if git.get("dirty") else ""))
    click.echo("\n".join(lines))
    for title, mapping in (("summary", view.summary), ("config", view.run_config.values)):
        if mapping:
            click.echo(f"\n{title}:")
            click.echo(table(["KEY", "VALUE"], [[k, human_value(v)] for k, v in sorted(mapping.items())], 80))
    if metrics:
        click.echo("\nmetrics:")
        click.echo(table(["NAME", "COUNT", "LAST"], [[k, m["count"], human_value(m["last"])] for k, m in sorted(metrics.items())]))
    if assets:
        click.echo("\nassets:")
        rows = []
        for role, entries in sorted(assets.items()):
            for entry in entries:
                size = entry.get("bytes", entry.get("size", (entry.get("fingerprint") or {}).get("bytes")))
                oid = entry.get("id") or (entry.get("fingerprint") or {}).get("id") or entry.get("uri") or "-"
                rows.append([role, entry.get("name", "-"), human_bytes(size) if isinstance(size, int) else "-",
                             "stored" if entry.get("id") else "reference", oid])
        click.echo(table(["ROLE", "NAME", "SIZE", "KIND", "OBJECT / URI"], rows, 80))
    _report_damage(view)


def _report_damage(view: RunView) -> None:
    """What does not read in a run's folder, on stderr; exit 1 when its identity or status is among it."""
    for problem in view.problems:
        click.echo(f"damaged: {problem}", err=True)
    if view.damaged:
        raise SystemExit(1)


@cli.command("outputs")
@click.argument("run")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.pass_obj
def outputs_command(obj, run, as_json):
    """List the archived versions of a run's outputs, and which can still be restored.

    In the default rolling mode only the latest version is kept through gc; older
    ones stay restorable until a gc collects them.

    \b
    Example: runicorn outputs 20261126_1612
             runicorn restore 20261126_1612 --outputs --version 2 --to ./v2
    """
    api = obj.api
    view = api.run(run)
    versions = output_versions(api.store, view)
    if as_json:
        echo_json([{"version": v.number, "id": v.entry.ref.id.tagged, "archived_at": v.entry.at, "step": v.step,
                    "files": v.entry.get("files"), "mode": v.entry.get("mode"), "root": v.no_root_because is None,
                    "why_not_root": v.no_root_because, "available": v.available} for v in versions])
        return
    if not versions:
        click.echo(f"run {view.id} archived no outputs")
        return
    rows = [[v.number, human_time(v.entry.at), "-" if v.step is None else v.step, v.entry.get("files", "-"),
             v.entry.get("mode") or "-", "kept" if v.no_root_because is None else
             (v.no_root_because + ("; still restorable" if v.available else "; collected"))] for v in versions]
    click.echo(table(["VERSION", "ARCHIVED", "STEP", "FILES", "MODE", "STATE"], rows, 70))


@cli.command("diff")
@click.argument("run_a")
@click.argument("run_b")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.pass_obj
def diff_command(obj, run_a, run_b, as_json):
    """Config, summary and code differences between two runs.

    \b
    Example: runicorn diff 20261126_1612 20261126_1630
    """
    api = obj.api
    result = diff_runs(api.store, api.run(run_a), api.run(run_b))
    if as_json:
        echo_json({"a": result.a, "b": result.b,
                   "config": [vars(c) for c in result.config], "summary": [vars(c) for c in result.summary],
                   "code": vars(result.code)})
        return
    for title, changes in (("config", result.config), ("summary", result.summary)):
        click.echo(f"{title}:" + (" no differences" if not changes else ""))
        if changes:
            click.echo(table(["KEY", result.a, result.b], [[c.key, human_value(c.a), human_value(c.b)] for c in changes], 60))
    code = result.code
    if not code.available:
        click.echo("code: not compared (a run has no code snapshot)")
        return
    if not (code.added or code.removed or code.changed):
        click.echo("code: identical")
        return
    click.echo(f"code: {len(code.added)} added, {len(code.removed)} removed, {len(code.changed)} changed")
    for path in code.added:
        click.echo(f"  + {path}")
    for path in code.removed:
        click.echo(f"  - {path}")
    for path in code.changed:
        click.echo(f"  ~ {path}")
    for path in code.changed:
        click.echo("\n" + code.patches.get(path, "").rstrip("\n"))


@cli.command("rm")
@click.argument("runs", nargs=-1)
@click.option("--path", "path_prefix", type=PathPrefix(), help="Delete every run under this path prefix.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option("--force", is_flag=True, help="Also delete runs that are still running, or pinned.")
@click.pass_obj
def rm_command(obj, runs, path_prefix, yes, force):
    """Delete runs (their objects become garbage for `runicorn gc`).

    \b
    Example: runicorn rm 20261126_1612 --yes
             runicorn rm --path cv/old-experiments
    """
    api = obj.api
    views = select_runs(api, runs, path_prefix)
    if not yes:
        click.echo("\n".join(f"  {v.id}  {v.path}  {v.status}" for v in views))
        click.confirm(f"delete {'this run' if len(views) == 1 else f'these {len(views)} runs'}?", abort=True)
    removed = remove_runs(api, views, force=force)
    click.echo(f"deleted {plural(len(removed), 'run')}; their objects are garbage now: `runicorn gc` reclaims them "
               "once the grace period (1h) has passed, or at once with `runicorn gc --grace 0s`")
