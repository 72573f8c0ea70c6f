"""Fixtures for the reliability suite: the CLI tests' sample runs and ``invoke``, and a subprocess runner.

The suite injects faults as restic and git test themselves: kill -9 at chosen
points (``RUNICORN_TEST_CRASH_AFTER``), writers beside gc, full disks, and
hostile or damaged inputs. Each test states the exact outcome it expects.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "cli"))

from cli_fixtures import invoke, sample_template, samples, storage_root, target_template  # noqa: E402,F401
