"""`runicorn viewer`: the web viewer (SPEC §6, docs/viewer.md), a thin command over ``runicorn.viewer``."""

from __future__ import annotations

import click

from .main import cli


@cli.command("viewer")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind. Anything but loopback requires the printed token.")
@click.option("--port", type=click.IntRange(0, 65535), default=None, help="Port to bind (default 23300).")
@click.option("--open", "open_browser", is_flag=True, help="Open the page in the default browser.")
@click.pass_obj
def viewer_command(obj, host, port, open_browser):
    """Browse runs, charts and comparisons in a local web page (read-only).

    \b
    Example: runicorn viewer            then open http://127.0.0.1:23300/
             runicorn viewer --host 0.0.0.0 --port 8080   (prints a token to open it with)
    """
    from .. import viewer

    missing = viewer.missing_dependencies()
    if missing:
        raise click.ClickException(f"the viewer needs {', '.join(missing)} (not installed): run {viewer.INSTALL_HINT}")
    viewer.serve(obj.api, host=host, port=viewer.DEFAULT_PORT if port is None else port,
                 open_browser=open_browser, echo=click.echo)
