"""Getting started: demo and config."""

from __future__ import annotations

import os
import shlex

import click

from ..storage import read_user_config, resolve_storage_root, user_config_path, write_user_config
from .main import cli
from .output import echo_json
from .maintenance_commands import du_command
from .run_commands import ls_command

_SETTINGS = ("storage",)


@cli.command("demo")
@click.pass_context
def demo_command(ctx):
    """Run three short simulated trainings, then show what Runicorn stored.

    \b
    Example: runicorn demo && runicorn ls
    """
    from ..demo import DEMO_PATH, run_demo

    obj = ctx.obj
    click.echo(f"training 3 demo runs into {resolve_storage_root(obj.storage)} ...")
    run_ids = run_demo(obj.storage)
    click.echo("")
    ctx.invoke(ls_command, path_prefix=DEMO_PATH, status=None, as_json=False)
    click.echo("")
    ctx.invoke(du_command, path_prefix=DEMO_PATH, as_json=False)
    prefix = "runicorn" + (f" --storage {shlex.quote(str(obj.storage))}" if obj.storage else "")
    # Whole ids: runs started within the same second share every shorter prefix.
    first, last = run_ids[0], run_ids[-1]
    click.echo(f"""
Each run snapshotted the same example code and archived the same 4 MiB backbone
checkpoint: the store keeps one copy of each (see the dedup ratio above).

See the runs, their charts and a comparison in your browser: {prefix} viewer

Try next:
  {prefix} show {last}
  {prefix} diff {first} {last}
  {prefix} restore {first} --code --to ./demo-code
  {prefix} verify
""")


@cli.command("config")
@click.argument("key", required=False, type=click.Choice(_SETTINGS), metavar="[KEY")
@click.argument("value", required=False, metavar="[VALUE]]")
@click.option("--unset", is_flag=True, help="Remove KEY's setting (the default applies again).")
@click.option("--json", "as_json", is_flag=True, help="Print the settings as JSON.")
@click.pass_obj
def config_command(obj, key, value, unset, as_json):
    """Show or set user settings (stored in ~/.config/runicorn/config.json). KEY: storage.

    \b
    Example: runicorn config storage ~/experiments   (the default storage root)
             runicorn config                          (show the settings)
             runicorn config storage --unset          (back to $RUNICORN_DIR or ./.runicorn)
    """
    config = read_user_config()
    if unset or value == "":
        if key is None:
            raise click.UsageError("--unset needs the KEY to remove, e.g. `runicorn config storage --unset`")
        was = config.pop(key, None)
        write_user_config(config, replace=True)
        click.echo(f"unset {key}" + (f" (was {was})" if was else " (it was not set)"))
        return
    if key is not None and value is not None:
        if key == "storage":
            # An absolute path: a relative one would name a different folder from every working directory.
            value = os.path.abspath(os.path.expanduser(value))
        path = write_user_config({key: value})
        click.echo(f"set {key} = {value} in {path}")
        return
    settings = {name: config.get(name) for name in _SETTINGS}
    in_effect = str(resolve_storage_root(obj.storage))
    if as_json:
        echo_json({"config_file": str(user_config_path()), "settings": settings, "storage_in_effect": in_effect})
    elif key is not None:
        click.echo(settings[key] if settings[key] is not None else f"{key} is not set (in effect: {in_effect})")
    else:
        click.echo(f"config file   {user_config_path()}")
        click.echo(f"storage       {settings['storage'] or '(not set)'}")
        click.echo(f"in effect     {in_effect}")
