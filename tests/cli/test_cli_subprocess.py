"""The installed `runicorn` console script, run as a user runs it (there is no `python -m runicorn`)."""

import json
import os
import subprocess

from cli_support import COMMANDS, RUN_A, runicorn_script
from runicorn.cli import cli


def run(*args, timeout=120, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([runicorn_script(), *map(str, args)], capture_output=True, text=True, timeout=timeout,
                          **kwargs)


def test_the_console_script_is_installed():
    script = runicorn_script()
    assert os.access(script, os.X_OK)
    result = run("--version")
    assert result.returncode == 0 and result.stdout.startswith("runicorn")


def test_help_of_the_group_lists_every_command():
    result = run("--help")
    assert result.returncode == 0, result.stderr
    for name in COMMANDS:
        assert f"  {name} " in result.stdout
    assert "Exit codes: 0 ok, 1 failure or problem found, 2 usage error, 130 interrupted" in result.stdout


def test_help_of_every_command_exits_0_and_shows_an_example():
    names = sorted(cli.commands)
    assert set(COMMANDS) <= set(names)
    # started together: the interpreter start-up is the cost, and the two cores share it
    procs = {name: subprocess.Popen([runicorn_script(), name, "--help"], stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True) for name in names}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, (name, err)
        assert out.startswith(f"Usage: runicorn {name} "), name
        example = [line for line in out.splitlines() if line.strip().startswith("Example: runicorn")]
        assert example, f"`runicorn {name} --help` shows no example:\n{out}"
        assert err == ""


def test_errors_are_one_line_without_traceback_unless_debug(samples):
    result = run("--storage", samples.root, "show", "nosuchrun")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert "nosuchrun" in result.stderr and "Traceback" not in result.stderr and result.stdout == ""

    result = run("--storage", samples.root, "--debug", "show", "nosuchrun")
    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr and "RunNotFound" in result.stderr


def test_exit_codes_of_the_script(samples):
    assert run("--storage", samples.root, "gc", "--grace", "5x").returncode == 2
    assert run("--storage", samples.root, "restore", RUN_A, "--to", "x").returncode == 2
    assert run("--storage", samples.root, "no-such-command").returncode == 2
    ls = run("--storage", samples.root, "ls", "--json")
    assert ls.returncode == 0 and len(json.loads(ls.stdout)) == 3


def test_demo_in_a_subprocess(tmp_path):
    root = tmp_path / "demo root"  # a space: the printed next steps must still work when pasted
    result = run("--storage", root, "demo", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "ID" in out and "PATH" in out and "demo/mnist-mlp" in out  # the ls table
    assert "ONLY THIS RUN" in out and "dedup" in out  # the du output
    assert "Try next:" in out and "runicorn --storage" in out and " verify" in out
    assert "Traceback" not in result.stderr

    listed = run("--storage", root, "ls", "--json")
    runs = json.loads(listed.stdout)
    assert len(runs) == 3 and {r["status"] for r in runs} == {"finished"}
    show_step = next(line.strip() for line in out.splitlines() if " show " in line)
    shown = subprocess.run(show_step.replace("runicorn", runicorn_script(), 1), shell=True, capture_output=True,
                           text=True, timeout=60, cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert runs[-1]["id"] in shown.stdout


def test_demo_runs_with_the_base_dependencies_only(tmp_path):
    """The README's first command on a fresh machine: no numpy, no torch, no tqdm installed."""
    blocked = "import sys\nfor name in ('numpy', 'torch', 'tqdm'):\n    sys.modules[name] = None\n"
    (tmp_path / "sitecustomize.py").write_text(blocked)  # `import numpy` now raises ImportError
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "RUNICORN_DIR": str(tmp_path / "storage")}
    result = run("demo", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Try next:" in result.stdout
    runs = json.loads(run("ls", "--json", env=env).stdout)
    assert len(runs) == 3 and {r["status"] for r in runs} == {"finished"}


def _stderr_on_a_terminal(args, env) -> tuple[int, str]:
    """Run the script with stderr on a pseudo-terminal (stdout piped); its exit code and what the terminal got."""
    import pty

    master, slave = pty.openpty()
    with subprocess.Popen([runicorn_script(), *map(str, args)], stdout=subprocess.PIPE, stderr=slave,
                          env=env) as proc:
        os.close(slave)
        chunks = []
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        proc.communicate(timeout=60)
    os.close(master)
    return proc.returncode, b"".join(chunks).decode("utf-8", "replace")


def test_long_commands_show_a_progress_bar_on_a_terminal(samples, tmp_path):
    env = {**os.environ, "RUNICORN_DIR": str(samples.root)}
    bundle = tmp_path / "a.rnbundle"
    commands = [
        (["gc", "--dry-run"], "collecting"), (["du"], "measuring"), (["verify"], "verifying"),
        (["export", RUN_A, "-o", bundle], "exporting"),
        (["restore", RUN_A, "--outputs", "--to", tmp_path / "outputs"], "restoring"),
        (["--storage", tmp_path / "other", "import", bundle], "importing"),
    ]
    for args, label in commands:
        code, terminal = _stderr_on_a_terminal(args, env)
        assert code == 0, (args, terminal)
        assert label in terminal and "100%" in terminal, (args, terminal)
