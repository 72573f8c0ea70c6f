"""The root command group: resolves the storage root once and maps our errors to exit codes.

Exit codes (docs/cli.md): 0 success; 1 the operation failed or found a problem
(verify found damage, a run was not found, a bundle was refused); 2 usage error
(bad option or argument); 130 interrupted (Ctrl-C). Our errors (``RunicornError``,
each carrying its exit code) and the environment's (``OSError``: a full disk, a
folder without permission) print one line, without a traceback unless --debug.
Anything else is a bug in Runicorn: it prints the traceback and asks for a report.
A closed stdout (``runicorn ls | head -1``) ends the command quietly, as for git.
"""

from __future__ import annotations

import functools
import os
import sys
import traceback

import click

from .._version import __version__
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
    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list with each command's first sentence whole (click cuts it at 45 characters)."""
        rows = [(name, self.get_command(ctx, name).get_short_help_str(limit=200)) for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        """Every command also takes ``--storage`` after its name (`runicorn gc --storage DIR`), like git's -C."""
        cmd.params.append(click.Option(["--storage"], metavar="DIR", expose_value=False, callback=_set_storage,
                                       help=_STORAGE_HELP))
        super().add_command(cmd, name)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except click.Abort as exc:
            if isinstance(exc.__context__, KeyboardInterrupt):  # Ctrl-C at a confirmation prompt
                click.echo("interrupted", err=True)
                raise click.exceptions.Exit(130) from None
            raise
        except (click.exceptions.Exit, click.ClickException):
            raise
        except BrokenPipeError:
            _silence_stdout()
            raise click.exceptions.Exit(141) from None  # 128 + SIGPIPE, what git's exit looks like
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            raise click.exceptions.Exit(130) from None
        except (RunicornError, OSError) as exc:
            if _debug(ctx):
                raise
            error = click.ClickException(str(exc) or type(exc).__name__)
            error.exit_code = getattr(exc, "exit_code", 1)
            raise error from exc
        except Exception:
            if _debug(ctx):
                raise
            click.echo(traceback.format_exc().rstrip(), err=True)
            click.echo(f"This is a bug in Runicorn {__version__}, not a problem with your data or command. "
                       "Please report it with the traceback above.", err=True)
            raise click.exceptions.Exit(1) from None


def _debug(ctx: click.Context) -> bool:
    return isinstance(ctx.obj, CliContext) and ctx.obj.debug


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's last flush does not fail on the closed pipe again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no real file descriptor (a test runner's stream)
        pass


@click.group(cls=RunicornGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 120})
@click.version_option(__version__, prog_name="runicorn")
@click.option("--storage", metavar="DIR", help=_STORAGE_HELP)
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.pass_context
def cli(ctx: click.Context, storage: str | None, debug: bool) -> None:
    """Runicorn: local-first experiment tracking with a content-addressed artifact store.

    \b
    Start with `runicorn demo`, then `runicorn ls` and `runicorn du`.
    Exit codes: 0 ok, 1 failure or problem found, 2 usage error, 130 interrupted,
    141 output closed (`runicorn ls | head`).
    """
    ctx.obj = CliContext(storage, debug)


def main() -> None:
    cli(prog_name="runicorn")
