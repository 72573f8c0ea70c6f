"""capture_console=True: the terminal sees no change, the text log gets the lines, tqdm bars per tqdm_mode."""

from __future__ import annotations

import io
import re
import sys
from datetime import datetime

import pytest
from tqdm import tqdm

import runicorn as rn
from runicorn.sdk.console import LineAssembler
from sdk_support import TIMESTAMP, only_run

BAR = "{desc}: {n_fmt}/{total_fmt}"  # no rates or times: the bar's output is deterministic

CHILD = f"""\
import sys
import runicorn as rn
from tqdm import tqdm

mode = sys.argv[1]
run = rn.init(path="console", capture_console=mode != "off", tqdm_mode="smart" if mode == "off" else mode)
print("hello from print")
print("two", "words", 3)
for i in tqdm(range(20), desc="train", bar_format={BAR!r}, mininterval=0, miniters=1):
    pass
print("to stderr", file=sys.stderr)
sys.stdout.write("no newline yet")
run.finish()
print(" / after finish")
"""


@pytest.fixture(scope="module")
def terminal_without_capture(tmp_path_factory):
    """What the child prints when Runicorn does not capture the console."""
    import os
    import subprocess

    folder = tmp_path_factory.mktemp("plain")
    path = folder / "child.py"
    path.write_text(CHILD)
    result = subprocess.run([sys.executable, str(path), "off"], cwd=folder, capture_output=True, text=True,
                            env={**os.environ, "RUNICORN_DIR": str(folder / "storage")}, timeout=30)
    assert result.returncode == 0, result.stderr
    return result


def bar_states(stderr: str) -> list[str]:
    """Every state tqdm drew, in order: the pieces between carriage returns and newlines."""
    return [piece for piece in re.split(r"[\r\n]", stderr) if piece.startswith("train:")]


@pytest.mark.parametrize("mode", ["smart", "all", "none"])
def test_console_capture_modes(mode, script, api, terminal_without_capture):
    result = script(CHILD, name="child.py").run(mode)
    assert result.returncode == 0, result.stderr

    # the terminal output is byte for byte what it is without capture
    assert result.stdout == terminal_without_capture.stdout
    assert result.stderr == terminal_without_capture.stderr
    assert result.stdout == "hello from print\ntwo words 3\nno newline yet / after finish\n"
    states = bar_states(result.stderr)
    assert states[0] == "train: 0/20" and states[-1] == "train: 20/20" and len(states) >= 21

    view = only_run(api)
    raw_lines = view.text_log().splitlines()
    assert all(re.match(TIMESTAMP, line) for line in raw_lines), raw_lines
    lines = [re.sub("^" + TIMESTAMP, "", line) for line in raw_lines]
    bar_lines = {"smart": ["train: 20/20"], "all": states, "none": []}[mode]
    assert lines == ["hello from print", "two words 3", *bar_lines, "to stderr", "no newline yet"]


def test_print_lines_carry_local_timestamps_with_milliseconds(script, api):
    result = script("""
import runicorn as rn
run = rn.init(path="console", capture_console=True)
for i in range(3):
    print(f"line {i}")
print("a\\nb")
run.finish()
""").run()
    assert result.returncode == 0, result.stderr
    view = only_run(api)
    lines = view.text_log().splitlines()
    assert [line.split("] ", 1)[1] for line in lines] == ["line 0", "line 1", "line 2", "a", "b"]
    start, end = view.status_record.started_at, view.status_record.ended_at
    for line in lines:
        stamp = re.match(r"\[(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3})\] ", line).group(1)
        when = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S.%f").timestamp()  # local time
        assert start - 0.002 <= when <= end + 0.002


def test_capture_ends_at_finish_and_restores_the_streams(capsys):
    before = (sys.stdout, sys.stderr)
    run = rn.init(path="console", capture_console=True)
    assert (sys.stdout, sys.stderr) != before
    assert sys.stdout.isatty() == before[0].isatty() and sys.stdout.encoding == before[0].encoding
    print("captured")
    run.finish()
    assert (sys.stdout, sys.stderr) == before
    print("not captured")
    assert capsys.readouterr().out == "captured\nnot captured\n"
    lines = rn.Api().run(run.id).text_log().splitlines()
    assert [line.split("] ", 1)[1] for line in lines] == ["captured"]


def test_bad_tqdm_mode_is_refused():
    with pytest.raises(ValueError, match="tqdm_mode"):
        rn.init(path="console", capture_console=True, tqdm_mode="some")


# -- the line assembler, fed real tqdm output ------------------------------------------------------

def tqdm_output(total: int, **options) -> str:
    out = io.StringIO()
    for _ in tqdm(range(total), desc="bar", bar_format=BAR, file=out, mininterval=0, miniters=1, **options):
        pass
    return out.getvalue()


def assemble(mode: str, *writes: str) -> list[str]:
    lines: list[str] = []
    assembler = LineAssembler(lines.append, mode)
    for text in writes:
        assembler.write(text)
    assembler.close()
    return lines


@pytest.mark.parametrize("mode", ["smart", "all", "none"])
def test_assembler_with_leave_true_and_leave_false_bars(mode):
    kept = tqdm_output(3)
    cleared = tqdm_output(2, leave=False)  # ends by blanking its line
    assert cleared.endswith("\r") and not cleared.endswith("\n")
    drawn = [piece.strip() for piece in re.split(r"[\r\n]", kept + cleared) if piece.strip()]
    assert drawn[0] == "bar: 0/3" and drawn[-1] == "bar: 2/2" and len(drawn) >= 6
    expected = {
        "smart": ["before", "bar: 3/3", "between", "bar: 2/2", "after"],  # a cleared bar keeps its last state
        "all": ["before", *[d for d in drawn if d.endswith("/3")], "between", *[d for d in drawn if d.endswith("/2")],
                "after"],
        "none": ["before", "between", "after"],
    }[mode]
    writes = ["before\n", *kept, "between\n", *cleared, "after\n"]  # one character per write
    assert [line.rstrip() for line in assemble(mode, *writes)] == expected
    assert [line.rstrip() for line in assemble(mode, "before\n" + kept + "between\n" + cleared + "after\n")] == expected


@pytest.mark.parametrize("mode", ["smart", "all", "none"])
def test_assembler_treats_crlf_as_a_line_end_even_across_writes(mode):
    assert assemble(mode, "dos line\r\n", "split\r", "\n", "plain\n") == ["dos line", "split", "plain"]


def test_assembler_keeps_blank_lines_and_flushes_a_partial_line_at_close():
    assert assemble("smart", "a\n\nb", "c") == ["a", "", "bc"]
    assert assemble("smart", "\rtick 1\rtick 2") == ["tick 2"]  # a bar never ended with a newline
    assert assemble("none", "\rtick 1\rtick 2") == []


def test_two_capturing_runs_finished_out_of_order(capsys):
    first = rn.init(path="console", capture_console=True)
    print("one")
    second = rn.init(path="console", capture_console=True)
    print("both")
    first.finish()
    print("second only")
    second.finish()
    print("neither")
    assert capsys.readouterr().out == "one\nboth\nsecond only\nneither\n"
    assert first._writer.buffers["logs.txt"] == [], "a finished run's capture no longer collects lines"

    def lines(run):
        return [line.split("] ", 1)[1] for line in rn.Api().run(run.id).text_log().splitlines()]

    assert lines(first) == ["one", "both"]
    assert lines(second) == ["both", "second only"]
