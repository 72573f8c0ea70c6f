"""Doc examples run as tests: every ```python block of README.md and docs/guide.md, in a fresh interpreter.

Each block runs on its own in an empty folder, with the storage root and HOME
in tmp_path, and must exit 0. A block that is a fragment on purpose is marked
with ``<!-- not-a-test -->`` on the line before its fence. The README's shell
commands are checked against what CI (``.ci/run``) runs.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DOCS = ("README.md", "docs/guide.md")
SKIP_MARKER = "<!-- not-a-test -->"
_FENCE = re.compile(r"^```(\S*)\s*$")


def fenced_blocks(path: Path) -> list[tuple[str, int, str, bool]]:
    """(language, line of the opening fence, code, skipped) for every fenced block of a markdown file."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks = []
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if opening is None:
            i += 1
            continue
        start = i
        body = []
        i += 1
        while i < len(lines) and lines[i].rstrip() != "```":
            body.append(lines[i])
            i += 1
        if i == len(lines):
            raise AssertionError(f"{path.name}:{start + 1}: code fence is never closed")
        skipped = start > 0 and lines[start - 1].strip() == SKIP_MARKER
        blocks.append((opening.group(1), start + 1, "\n".join(body) + "\n", skipped))
        i += 1
    return blocks


def python_examples() -> list:
    params = []
    for name in DOCS:
        for language, line, code, skipped in fenced_blocks(REPO / name):
            if language != "python":
                continue
            marks = [pytest.mark.skip(reason=f"marked {SKIP_MARKER}")] if skipped else []
            params.append(pytest.param(code, id=f"{name}:{line}", marks=marks))
    return params


def example_environment(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("RUNICORN_ON", "RANK", "LOCAL_RANK", "XDG_CONFIG_HOME", "PYTHONSTARTUP")}
    env.update(HOME=str(tmp_path / "home"), RUNICORN_DIR=str(tmp_path / "storage"), PYTHONIOENCODING="utf-8")
    return env


@pytest.mark.parametrize("code", python_examples())
def test_python_example_runs(code: str, tmp_path: Path) -> None:
    # The script lives beside the working folder, not in it, so code snapshots see an empty project.
    work = tmp_path / "work"
    work.mkdir()
    (tmp_path / "home").mkdir(exist_ok=True)
    script = tmp_path / "example.py"
    script.write_text(code, encoding="utf-8")
    done = subprocess.run([sys.executable, str(script)], cwd=work, env=example_environment(tmp_path),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"example failed (exit {done.returncode}):\n{code}\n--- stdout\n{done.stdout}" \
                                 f"\n--- stderr\n{done.stderr}"


def test_docs_have_python_examples() -> None:
    """The extractor finds the examples (a broken fence pattern must not make the suite pass vacuously)."""
    counts = {name: sum(1 for lang, *_ in fenced_blocks(REPO / name) if lang == "python") for name in DOCS}
    assert counts["README.md"] >= 1
    assert counts["docs/guide.md"] >= 10


def test_skip_marker_only_before_python_fences() -> None:
    """A marker that is not right above a ```python fence skips nothing: it is a mistake."""
    for name in DOCS:
        lines = (REPO / name).read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines, start=1):
            if line.strip() == SKIP_MARKER:
                following = lines[number] if number < len(lines) else ""
                assert following.startswith("```python"), f"{name}:{number}: {SKIP_MARKER} is not above a python fence"


def readme_shell_commands() -> list[str]:
    return [code.strip() for language, _, code, _ in fenced_blocks(REPO / "README.md")
            if language in ("bash", "sh", "shell", "console")]


def test_readme_test_command_is_what_ci_runs() -> None:
    commands = readme_shell_commands()
    assert len(commands) >= 2, "README.md needs the try-it command and the test command as its first shell blocks"
    test_command = commands[1]
    assert "\n" not in test_command, "the README's test command is one line"
    ci_lines = [line.strip() for line in (REPO / ".ci/run").read_text(encoding="utf-8").splitlines()]
    assert test_command in ci_lines, f".ci/run does not run the README's test command verbatim: {test_command!r}"


def test_readme_try_it_command_sets_up_like_ci() -> None:
    """The first command installs into the same kind of fresh virtual environment as CI, then runs the demo."""
    try_it, test_command = readme_shell_commands()[:2]
    setup = "python3 -m venv .venv && . .venv/bin/activate && pip install"
    assert try_it.startswith(setup) and test_command.startswith(setup)
    assert try_it.endswith("runicorn demo")
    assert test_command.endswith("python -m pytest")
