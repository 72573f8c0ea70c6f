"""Fixtures of the retention tests: this test's storage root and ``invoke`` (the CLI in process)."""

from __future__ import annotations

import pytest

from retention_support import Invoker


@pytest.fixture
def storage_root(tmp_path):
    """This test's storage root (where the hermetic environment points RUNICORN_DIR), as an absolute path."""
    return (tmp_path / "storage").absolute()


@pytest.fixture
def invoke(storage_root) -> Invoker:
    return Invoker(storage_root)
