"""A storage root that rn.init creates ignores itself for git, as a virtual environment does (issue 12):
`git status` in the user's repository does not show `.runicorn/`."""

import shutil
import subprocess

import pytest

from newuser_support import environment, run_script

SCRIPT = """
import runicorn as rn

with rn.init(path="cv/first", snapshot_code=True) as run:
    run.log({"loss": 0.5})
"""


def _git(repo, *args) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True,
                          timeout=30, env=environment(GIT_CONFIG_NOSYSTEM=1)).stdout


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_git_status_of_a_repo_with_the_default_storage_root_does_not_show_it(tmp_path):
    repo = tmp_path / "my-project"
    repo.mkdir()
    _git(repo, "init", "-q")
    # The default root, ./.runicorn: no --storage, no $RUNICORN_DIR, no user setting.
    done = run_script(repo, SCRIPT, env=environment(RUNICORN_DIR=None))
    assert done.returncode == 0, done.stderr
    assert (repo / ".runicorn" / "runs").is_dir()
    assert (repo / ".runicorn" / ".gitignore").is_file()

    status = _git(repo, "status", "--porcelain", "--untracked-files=all")
    assert status.splitlines() == ["?? train.py"], status
    assert ".runicorn" not in _git(repo, "status")

    # `git add .` does not take it either.
    _git(repo, "add", ".")
    assert _git(repo, "diff", "--cached", "--name-only").split() == ["train.py"]
