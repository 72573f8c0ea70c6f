"""Commands that read what a run logged over time: history (metrics) and logs (the text log)."""

from __future__ import annotations

import csv
import json
import sys
import time

import click

from .main import cli
from .output import json_safe

_FOLLOW_POLL_SECONDS = 0.5


@cli.command("history")
@click.argument("run")
@click.argument("keys", nargs=-1)
@click.option("--csv", "as_csv", is_flag=True, help="CSV with a header row (the default).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per row (JSON lines).")
@click.pass_obj
def history_command(obj, run, keys, as_csv, as_json):
    """Print a run's metric timeline: every row, or only the KEYS given (with _step).

    \b
    Example: runicorn history 20261126_1612 loss val_acc > metrics.csv
             pandas: pd.read_csv(io.StringIO(subprocess.check_output(["runicorn", "history", run_id])))
    """
    if as_csv and as_json:
        raise click.UsageError("choose --csv or --json, not both")
    view = obj.api.run(run)
    wanted = set(keys)
    # With KEYS: rows that hold one of them, with _step, _time and _stage as every row has (CSV and JSON alike).
    rows = (row for row in view.iter_history(list(keys) + ["_time", "_stage"] if keys else None)
            if not wanted or wanted.intersection(row))
    if as_json:
        for row in rows:
            click.echo(json.dumps(json_safe(row), allow_nan=False))  # NaN as "NaN": what pandas reads back as a float
        return
    columns = ["_step", "_time", "_stage"] + (list(keys) or sorted(view.metric_keys()))
    writer = csv.DictWriter(sys.stdout, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(row)


@cli.command("logs")
@click.argument("run")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new lines while the run is running.")
@click.pass_obj
def logs_command(obj, run, follow):
    """Print a run's text log (print output, log_text, logging); --follow tails a running run.

    \b
    Example: runicorn logs 20261126_1612 --follow
    """
    api = obj.api
    view = api.run(run)
    path = view.folder.text_log_path
    offset = 0
    while True:
        # Judged before the read: a run that finished meanwhile gets one last read that sees all it wrote.
        running = follow and view.reread().status == "running"
        try:
            with open(path, "rb") as handle:
                handle.seek(offset)
                data = handle.read()
        except FileNotFoundError:
            data = b""
        end = data.rfind(b"\n") + 1 if follow else len(data)  # a line still being written waits for its end
        if end:
            click.echo(data[:end].decode("utf-8", errors="replace"), nl=False)
            offset += end
        if not running:
            if follow and data[end:]:
                click.echo(data[end:].decode("utf-8", errors="replace"))
            return
        time.sleep(_FOLLOW_POLL_SECONDS)

