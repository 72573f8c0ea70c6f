"""The root command group: resolves the storage root once and maps our errors to exit codes.

Exit codes (docs/cli.md): 0 success; 1 the operation failed or found a problem
(verify found damage, a run was not found, a bundle was refused); 2 usage error
(bad option or argument). Errors print one line, without a traceback unless --debug.
"""

from __future__ import annotations

import functools

import click

from .. import __version__
from ..api import Api
from ..errors import RunicornError


class CliContext:
    """What every command receives on ``ctx.obj``: the storage root and the output switches."""

    def __init__(self, storage: str | None, debug: bool):
        self.storage = storage
        self.debug = debug

    @functools.cached_property
    def api(self) -> Api:
        return Api(self.storage)


_STORAGE_HELP = "Storage root (default: $RUNICORN_DIR, then `runicorn config`, then ./.runicorn)."


def _set_storage(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value is not None:
        ctx.find_object(CliContext).storage = value


class RunicornGroup(click.Group):
    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        """Every command also takes ``--storage`` after its name (`runicorn gc --storage DIR`), like git's -C."""
        cmd.params.append(click.Option(["--storage"], metavar="DIR", expose_value=False, callback=_set_storage,
                                       help=_STORAGE_HELP))
        super().add_command(cmd, name)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (RunicornError, OSError, ValueError, TypeError) as exc:
            if isinstance(ctx.obj, CliContext) and ctx.obj.debug:
                raise
            raise click.ClickException(str(exc) or type(exc).__name__) from exc


@click.group(cls=RunicornGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="runicorn")
@click.option("--storage", metavar="DIR", help=_STORAGE_HELP)
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.pass_context
def cli(ctx: click.Context, storage: str | None, debug: bool) -> None:
    """Runicorn: local-first experiment tracking with a content-addressed artifact store.

    \b
    Start with `runicorn demo`, then `runicorn ls` and `runicorn du`.
    Exit codes: 0 ok, 1 failure or problem found, 2 usage error.
    """
    ctx.obj = CliContext(storage, debug)


def main() -> None:
    cli(prog_name="runicorn")
