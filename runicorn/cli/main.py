"""The root command group: resolves the storage root once and hands it to every command on ``ctx.obj``."""

from __future__ import annotations

import click

from .. import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="runicorn")
@click.option("--storage", type=click.Path(file_okay=False), envvar=None,
              help="Storage root (default: $RUNICORN_DIR, then the user config, then ./.runicorn).")
@click.pass_context
def cli(ctx: click.Context, storage: str | None) -> None:
    """Runicorn: local-first experiment tracking with a content-addressed artifact store."""
    ctx.obj = storage


def main() -> None:
    cli(prog_name="runicorn")
