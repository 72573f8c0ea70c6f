"""The peer: runicorn 0.7.2 from PyPI, in a virtual environment of its own.

The peer is never a dependency of our package and never imported in our
process; the harness only runs its interpreter as a child. The venv is built
on first use and reused afterwards, because installing it takes half a minute.
"""

import os
import subprocess
import sys
import venv
from pathlib import Path

# The images extra brings numpy and pillow, which the peer's log_image needs (W5).
PEER_REQUIREMENT = "runicorn[images]==0.7.2"
VENV_ENV_VAR = "RUNICORN_BENCH_PEER_VENV"
# Written last, so a venv whose install was interrupted is rebuilt, not trusted.
READY_MARKER = ".runicorn-bench-requirement"


def peer_venv_dir() -> Path:
    """Where the peer venv lives: $RUNICORN_BENCH_PEER_VENV, else the user cache folder."""
    if override := os.environ.get(VENV_ENV_VAR):
        return Path(override).expanduser()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "runicorn-bench" / "peer-venv"


def ensure_peer_python() -> Path:
    """Return the peer venv's python, creating the venv first if it is missing or stale."""
    venv_dir = peer_venv_dir()
    python = venv_dir / "bin" / "python"
    marker = venv_dir / READY_MARKER
    if python.exists() and marker.exists() and marker.read_text() == PEER_REQUIREMENT:
        return python
    print(f"creating the peer venv ({PEER_REQUIREMENT}) in {venv_dir} ...", file=sys.stderr)
    venv.EnvBuilder(with_pip=True, clear=True).create(venv_dir)
    subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", PEER_REQUIREMENT],
        check=True,
    )
    marker.write_text(PEER_REQUIREMENT)
    return python
