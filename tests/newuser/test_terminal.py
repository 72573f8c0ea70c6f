"""What the CLI looks like on a terminal (issue 12, "Things that surprise"): `ls` fits an 80-column
terminal, plurals are right, `diff` prints no line with a trailing space, and the top-level --help shows
each command's first sentence whole."""

import fcntl
import inspect
import os
import pty
import re
import select
import struct
import subprocess
import termios
import time

import runicorn as rn
from cli_support import RUN_A, RUN_B, RUN_C, runicorn_script
from newuser_support import WAIT, environment
from runicorn.cli import cli


def run_in_terminal(*args, columns: int = 80) -> str:
    """The CLI with stdin, stdout and stderr on a pseudo-terminal of ``columns`` columns; what it printed."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    proc = subprocess.Popen([runicorn_script(), *map(str, args)], stdin=slave, stdout=slave, stderr=slave,
                            env=environment(COLUMNS=columns, TERM="xterm"), close_fds=True)
    os.close(slave)
    output, deadline = b"", time.monotonic() + WAIT
    try:
        while time.monotonic() < deadline:
            if select.select([master], [], [], 0.1)[0]:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the terminal's other side closed
                    break
                if not chunk:
                    break
                output += chunk
            elif proc.poll() is not None:
                break
        proc.wait(timeout=WAIT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=WAIT)
        os.close(master)
    assert proc.returncode == 0, output
    return output.decode().replace("\r\n", "\n")


def test_ls_fits_an_80_column_terminal(samples):
    rn.init(path="cv/resnet/long-experiment-name/with-sub-path", storage=str(samples.root),
            alias="a-rather-long-alias", tags=["sweep-2025-01", "ablation", "paper"]).finish()
    wide = subprocess.run([runicorn_script(), "--storage", str(samples.root), "ls"], capture_output=True, text=True,
                          timeout=WAIT).stdout
    assert max(len(line) for line in wide.splitlines()) > 80  # piped: every column, whatever the width

    out = run_in_terminal("--storage", samples.root, "ls")
    lines = out.rstrip("\n").splitlines()
    assert len(lines) == 5, out  # a header and 4 rows, none wrapped
    for line in lines:
        assert len(line) <= 80, f"{len(line)} columns: {line!r}"
    header = lines[0].split()
    assert header[:2] == ["ID", "PATH"] and "STATUS" in header, header
    for run_id in (RUN_A, RUN_B, RUN_C):  # ids are whole: they are what the other commands take
        assert any(line.startswith(run_id + " ") for line in lines[1:]), out


def test_plurals_for_one_object_and_one_run(storage_root, invoke, tmp_path):
    config = tmp_path / "base.yaml"
    config.write_text("lr: 0.1\n")
    run = rn.init(path="solo", storage=str(storage_root), run_id="20251101_080000_one001")
    run.log_config(config_files=[config])  # the one object of this root
    run.finish()

    assert "in 1 object" in invoke("du", expect=0).output
    verify = invoke("verify", expect=0).output
    exported = invoke("export", run.id, "-o", tmp_path / "solo.rnbundle", expect=0).output
    assert exported.startswith("exported 1 run and 1 object ("), exported
    imported = invoke("import", tmp_path / "solo.rnbundle", storage=tmp_path / "other", expect=0).output
    assert imported.startswith("imported 1 run, 1 new object ("), imported
    assert invoke("rm", run.id, "--yes", expect=0).output.startswith("deleted 1 run;")
    dry = invoke("gc", "--dry-run", expect=0).output
    assert "1 unreferenced object (8 B) is younger than the grace period" in dry, dry
    for text in (exported, imported, dry):
        assert not re.search(r"\b1 (object|run)s\b", text) and "(s)" not in text, text
    assert verify.startswith("checked 1 object ("), verify


def test_diff_prints_no_line_with_a_trailing_space(samples, invoke):
    for a, b in ((RUN_A, RUN_B), (RUN_A, RUN_C), (RUN_A, RUN_A)):
        out = invoke("diff", a, b, expect=0).output
        assert out.startswith("config:"), out
        for line in out.splitlines():
            assert line == line.rstrip(), f"trailing space in diff {a} {b}: {line!r}"


def _first_sentence(command) -> str:
    paragraph = inspect.cleandoc(command.help or "").split("\n\n")[0]
    words = " ".join(paragraph.split())
    match = re.match(r"(.+?\.)(?:\s|$)", words)
    return match.group(1) if match else words


def test_top_level_help_shows_each_command_first_sentence_whole():
    done = subprocess.run([runicorn_script(), "--help"], capture_output=True, text=True, timeout=WAIT,
                          env=environment(COLUMNS=80))
    assert done.returncode == 0, done.stderr
    commands = done.stdout.split("Commands:")[1]
    flat = " ".join(re.sub(r"-\n\s+", "-", commands).split())  # the lines as wrapped (also after a hyphen)
    assert "..." not in flat, commands
    for name, command in sorted(cli.commands.items()):
        sentence = _first_sentence(command)
        assert f"{name} {sentence}" in flat, f"{name}: {sentence!r} not whole in:\n{commands}"
