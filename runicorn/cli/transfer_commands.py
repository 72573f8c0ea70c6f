"""Commands that move bytes out of and into a storage root: restore, export, import."""

from __future__ import annotations

import contextlib
import shutil
import sys
from pathlib import Path

import click

from ..bundle import export_runs, export_to_stream, import_bundle, plan_export
from ..store import TempFile
from ..restore import plan_restore, restore
from .main import cli
from .output import PathPrefix, echo_json, human_bytes, plural, progress
from .selection import select_runs

_ALL_OUTPUTS = "\0all"  # --outputs or --images given without a NAME


@cli.command("restore")
@click.argument("run")
@click.option("--code", is_flag=True, help="The code snapshot.")
@click.option("--outputs", "outputs", is_flag=False, flag_value=_ALL_OUTPUTS, default=None, metavar="[NAME]",
              help="The latest archived outputs (or only the output folder NAME).")
@click.option("--dataset", metavar="NAME", help="A dataset saved with save=True.")
@click.option("--pretrained", metavar="NAME", help="Pretrained weights saved with save=True.")
@click.option("--config", is_flag=True, help="Config files and logged arguments.")
@click.option("--images", "images", is_flag=False, flag_value=_ALL_OUTPUTS, default=None, metavar="[KEY]",
              help="Logged images (or only those of KEY), as KEY/STEP.FORMAT files.")
@click.option("--version", "version", type=click.IntRange(min=1), metavar="N",
              help="With --outputs: version N (`runicorn outputs RUN` lists them).")
@click.option("--step", type=int, metavar="S", help="With --outputs: the last version archived at or before step S.")
@click.option("--to", "target", required=True, type=click.Path(file_okay=False), help="Folder to write into.")
@click.option("--force", is_flag=True, help="Write into a non-empty folder, overwriting files.")
@click.pass_obj
def restore_command(obj, run, code, outputs, dataset, pretrained, config, images, version, step, target, force):
    """Write exactly what a run stored into a folder (hashes verified while writing).

    \b
    Example: runicorn restore 20261126_1612 --code --to ./code-of-that-run
             runicorn restore 20261126_1612 --dataset train --to ./train
             runicorn restore 20261126_1612 --outputs --step 500 --to ./ckpt-500
    """
    names = {"code": None, "config": None, "dataset": dataset, "pretrained": pretrained,
             "outputs": None if outputs == _ALL_OUTPUTS else outputs, "images": None if images == _ALL_OUTPUTS else images}
    given = {"code": code, "config": config, "outputs": outputs is not None, "dataset": dataset is not None,
             "pretrained": pretrained is not None, "images": images is not None}
    chosen = [what for what, on in given.items() if on]
    if len(chosen) != 1:
        raise click.UsageError("choose exactly one of --code, --outputs [NAME], --dataset NAME, --pretrained NAME, "
                               "--config, --images [KEY]")
    what = chosen[0]
    name = names[what]
    if (version is not None or step is not None) and what != "outputs":
        raise click.UsageError("--version and --step go with --outputs")
    if version is not None and step is not None:
        raise click.UsageError("give --version or --step, not both")
    api = obj.api
    view = api.run(run)
    plan = plan_restore(api.store, view, what, name, version=version, step=step)
    with progress("restoring") as bar:
        result = restore(api.store, plan, target, force=force, progress=bar)
    click.echo(f"restored {what}{' ' + name if name else ''} of run {view.id}: {plural(result.files, 'file')} "
               f"({human_bytes(result.bytes)}) into {result.target}")
    if result.left_out_note:
        click.echo(f"warning: {result.left_out_note}", err=True)


@cli.command("export")
@click.argument("runs", nargs=-1)
@click.option("--path", "path_prefix", type=PathPrefix(), help="Export every run under this path prefix.")
@click.option("-o", "--output", "bundle", required=True, type=click.Path(dir_okay=False),
              help="Bundle file to write; - writes it to stdout (to pipe it through ssh).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts (on stderr with -o -).")
@click.pass_obj
def export_command(obj, runs, path_prefix, bundle, as_json):
    """Write runs and exactly the objects they reference into one bundle file.

    \b
    Example: runicorn export --path cv/resnet50 -o resnet50.rnbundle
             runicorn export RUN -o - | ssh gpu2 runicorn import -
    """
    api = obj.api
    plan = plan_export(api, select_runs(api, runs, path_prefix))
    for run_id in plan.live:
        click.echo(f"warning: run {run_id} is still running; the bundle holds it as it is now (export it again "
                   "once it finished: importing the later bundle updates this copy)", err=True)
    to_stdout = bundle == "-"
    with progress("exporting") as bar:
        if to_stdout:
            report = export_to_stream(api, plan, sys.stdout.buffer, bar)
        else:
            report = export_runs(api, plan, bundle, bar)
    if as_json:
        echo_json({"runs": report.runs, "objects": report.objects, "object_bytes": report.object_bytes,
                   "bundle_bytes": report.bundle_bytes, "bundle": bundle}, err=to_stdout)
        return
    click.echo(f"exported {plural(len(report.runs), 'run')} and {plural(report.objects, 'object')} "
               f"({human_bytes(report.object_bytes)}) to {'stdout' if to_stdout else bundle}"
               + ("" if to_stdout else f" ({human_bytes(report.bundle_bytes)})"), err=to_stdout)


@cli.command("import")
@click.argument("bundle", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.pass_obj
def import_command(obj, bundle, as_json):
    """Merge a bundle into this storage root (verified; all or nothing; idempotent).

    BUNDLE - reads the bundle from stdin. A good copy of an object that is
    damaged here replaces it (the repair `runicorn verify` advises).

    \b
    Example: runicorn --storage ~/runs import resnet50.rnbundle
             ssh gpu1 runicorn export RUN -o - | runicorn import -
    """
    with progress("importing") as bar:
        if bundle == "-":
            with spooled_stdin(obj.api.root) as path:
                report = import_bundle(obj.api, path, bar)
        else:
            report = import_bundle(obj.api, bundle, bar)
    if as_json:
        echo_json({"runs": report.runs, "skipped_runs": report.skipped_runs, "updated_runs": report.updated_runs,
                   "objects": report.objects, "object_bytes": report.object_bytes,
                   "objects_already_present": report.objects_already_present,
                   "objects_repaired": report.objects_repaired})
        return
    new = [r for r in report.runs if r not in report.updated_runs]
    click.echo(f"imported {plural(len(new), 'run')}, {plural(report.objects, 'new object')} "
               f"({human_bytes(report.object_bytes)}); {plural(report.objects_already_present, 'object')} and "
               f"{plural(len(report.skipped_runs), 'run')} were already here")
    if report.updated_runs:
        click.echo(f"updated {plural(len(report.updated_runs), 'run')} held here unfinished to their later state: "
                   f"{', '.join(report.updated_runs)}")
    if report.objects_repaired:
        click.echo(f"repaired {plural(report.objects_repaired, 'damaged object')} with the bundle's good copies")


@contextlib.contextmanager
def spooled_stdin(root):
    """stdin copied to a temp file beside the storage root (import reads a bundle twice: members, then its end)."""
    folder = root.parent if root.parent.is_dir() else Path.cwd()
    temp = TempFile(folder, "stdin.rnbundle.", 0o600)
    try:
        shutil.copyfileobj(sys.stdin.buffer, temp, 1 << 20)
        temp.close(durable=False)
        yield Path(temp.path)
    finally:
        temp.discard()
