"""Which runs a command acts on: run ids (or unique prefixes), or every run under ``--path``."""

from __future__ import annotations

import click

from ..api import Api, RunView


def select_runs(api: Api, runs: tuple[str, ...], path_prefix: str | None) -> list[RunView]:
    """The runs named, each once (an id and its prefix name one run); never an empty list."""
    if bool(runs) == bool(path_prefix):
        raise click.UsageError("give run ids or --path PREFIX (one of them)")
    api.require_root()
    views = api.runs(path_prefix) if path_prefix else [api.run(r) for r in runs]
    views = list({str(v.run_dir): v for v in views}.values())
    if not views:
        raise click.ClickException(f"no runs under path {path_prefix!r} in {api.root}")
    return views
