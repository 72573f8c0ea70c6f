"""Fixtures for the store tests, and the hypothesis profiles they run under.

The ``ci`` profile (the default) is derandomized, so every run tests the same
examples and a failure reproduces; ``HYPOTHESIS_PROFILE=thorough`` explores more.
"""

import os

import pytest
from hypothesis import HealthCheck, settings

from runicorn.store import Ingester, ObjectStore, StatCache

settings.register_profile(
    "ci",
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=25,
    # Examples make their own folders under tmp_path; sharing the fixture between them is intended.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.register_profile("thorough", settings.get_profile("ci"), derandomize=False, max_examples=300)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def storage(tmp_path):
    """The storage root the hermetic environment points RUNICORN_DIR at."""
    return tmp_path / "storage"


@pytest.fixture
def store(storage):
    return ObjectStore(storage / "store")


@pytest.fixture
def stat_cache(store):
    with StatCache(store.cache_dir / "stat.sqlite") as cache:
        yield cache


@pytest.fixture
def ingest(store, stat_cache):
    """Ingest a path into ``store`` through the stat cache, as the SDK does."""

    def ingest(path, **options):
        return Ingester(store, stat_cache=stat_cache, **options).ingest(path)

    return ingest
