"""The CLI in shell pipelines, as a user types them (issue 12): `runicorn show RUN | head -1` and
`runicorn du | head -1` end quietly; `python -m runicorn` works; `export RUN -o - | runicorn import -`
pipes a bundle from one root into another."""

import json

import pytest

import runicorn as rn
from cli_support import RUN_A, RUN_B
from newuser_support import PY, cli, python_m, runicorn_cmd, shell

BIG = "20250301_090000_b1b1b1"


@pytest.fixture
def big_root(tmp_path):
    """A root with one run whose `show` prints far more than a pipe holds (so `head -1` closes it early)."""
    root = tmp_path / "big-root"
    run = rn.init(path="sweep/wide", storage=str(root), run_id=BIG)
    run.log_config(args={f"param_{i:05d}": "v" * 40 for i in range(3000)})
    run.log({"loss": 1.0})
    run.finish()
    return root


def _pipeline(tmp_path, left: str, right: str):
    """``left | right`` in bash; returns (stdout of right, stderr of left, [exit of left, exit of right])."""
    err, status = tmp_path / "left.err", tmp_path / "status"
    done = shell(f"{left} 2>'{err}' | {right}; echo ${{PIPESTATUS[@]}} > '{status}'", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    return done.stdout, err.read_text(), [int(code) for code in status.read_text().split()]


def _ends_quietly(stderr: str, codes: list[int]) -> None:
    assert "Broken pipe" not in stderr and "Error" not in stderr and "Traceback" not in stderr, stderr
    assert stderr == "", stderr
    assert codes[0] in (0, 141), codes  # 141 (128 + SIGPIPE) when the pipe closed under it, as git exits
    assert codes[1] == 0, codes


def test_show_run_piped_into_head_1_ends_quietly(big_root, tmp_path):
    out, err, codes = _pipeline(tmp_path, f"{runicorn_cmd()} --storage '{big_root}' show {BIG}", "head -1")
    assert out == f"run       {BIG}\n"
    _ends_quietly(err, codes)
    assert codes[0] == 141  # the output is larger than a pipe: the closed pipe was certainly met


def test_du_piped_into_head_1_ends_quietly(samples, tmp_path):
    out, err, codes = _pipeline(tmp_path, f"{runicorn_cmd()} --storage '{samples.root}' du", "head -1")
    assert out.split() == ["RUN", "PATH", "LOGICAL", "PHYSICAL", "ONLY", "THIS", "RUN"]
    _ends_quietly(err, codes)


def test_du_into_a_pipe_closed_before_it_writes_ends_quietly(samples, tmp_path):
    """The same pipe, closed for certain before du writes (`head -1` closes it while du may still be writing)."""
    out, err, codes = _pipeline(tmp_path, f"{runicorn_cmd()} --storage '{samples.root}' du", "head -c 0")
    assert out == ""
    _ends_quietly(err, codes)
    assert codes[0] == 141


def test_python_dash_m_runicorn_help_works(tmp_path):
    done = python_m("--help", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Usage: runicorn ")  # named as the user knows it, not __main__.py
    assert "  export " in done.stdout and "  import " in done.stdout
    assert python_m("--version", cwd=tmp_path).stdout.startswith("runicorn, version ")
    # and in a shell line, as the user typed it
    assert shell(f"'{PY}' -m runicorn ls --json", cwd=tmp_path).returncode == 0


def test_export_to_stdout_piped_into_import_from_stdin(samples, tmp_path):
    other = tmp_path / "gpu2-root"
    line = (f"{runicorn_cmd()} --storage '{samples.root}' export {RUN_A} -o - | "
            f"{runicorn_cmd()} --storage '{other}' import -")
    done = shell(f"{line}; echo ${{PIPESTATUS[@]}} >&2", cwd=tmp_path)
    assert done.returncode == 0
    assert done.stderr.split()[-2:] == ["0", "0"], done.stderr
    assert "exported 1 run and" in done.stderr and "to stdout" in done.stderr  # export speaks on stderr
    assert done.stdout.startswith("imported 1 run, "), done.stdout
    listed = json.loads(cli("ls", "--json", storage=other).stdout)
    assert [r["id"] for r in listed] == [RUN_A]
    assert cli("verify", storage=other).returncode == 0
    assert not list(tmp_path.glob("*.rnbundle*")) and not list(other.parent.glob("*stdin*"))  # no temp left

    # Two runs through one pipe, into a root that already holds one of them.
    line = (f"{runicorn_cmd()} --storage '{samples.root}' export {RUN_A} {RUN_B} -o - | "
            f"{runicorn_cmd()} --storage '{other}' import - --json")
    report = json.loads(shell(line, cwd=tmp_path).stdout)
    assert report["runs"] == [RUN_B] and report["skipped_runs"] == [RUN_A]

