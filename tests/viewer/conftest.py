"""Fixtures of the viewer tests: one sample storage root per module, and a test client over it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from viewer_support import make_sample  # noqa: E402


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    return make_sample(tmp_path_factory.mktemp("viewer-sample"))


@pytest.fixture(scope="module")
def client(sample):
    from starlette.testclient import TestClient

    from runicorn.api import Api
    from runicorn.viewer import create_app

    with TestClient(create_app(Api(sample.root)), base_url="http://127.0.0.1") as test_client:
        yield test_client
