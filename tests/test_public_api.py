"""The public API is exactly what ``runicorn.__all__`` lists (after httpx's tests/test_exported_members.py)."""

import runicorn as rn

EXPECTED = [
    "AmbiguousRunId",
    "Api",
    "BundleError",
    "CorruptObject",
    "NoOpRun",
    "ObjectNotFound",
    "Run",
    "RunError",
    "RunExists",
    "RunNotFound",
    "RunView",
    "RunicornError",
    "StoreError",
    "__version__",
    "enabled",
    "get_active_run",
    "init",
    "is_enabled",
    "reset_enabled",
    "set_enabled",
]


def test_all_is_pinned_and_sorted():
    assert rn.__all__ == EXPECTED
    assert rn.__all__ == sorted(rn.__all__)


def test_every_exported_member_exists_and_belongs_to_runicorn():
    for name in rn.__all__:
        member = getattr(rn, name)
        if name == "__version__":
            assert isinstance(member, str) and member
            continue
        assert member.__module__.startswith("runicorn"), name


def test_public_members_not_in_all_are_modules_only():
    """Anything public at the top level that is not in __all__ is a submodule, not an unlisted API."""
    import types

    unlisted = {name for name in dir(rn) if not name.startswith("_")} - set(rn.__all__)
    assert all(isinstance(getattr(rn, name), types.ModuleType) for name in unlisted), sorted(unlisted)


def test_error_hierarchy():
    assert issubclass(rn.RunNotFound, rn.RunError) and issubclass(rn.RunNotFound, KeyError)
    assert issubclass(rn.AmbiguousRunId, rn.RunError) and issubclass(rn.AmbiguousRunId, ValueError)
    assert issubclass(rn.RunExists, rn.RunError)
    for error in (rn.RunError, rn.StoreError, rn.BundleError):
        assert issubclass(error, rn.RunicornError)
    assert issubclass(rn.CorruptObject, rn.StoreError) and issubclass(rn.ObjectNotFound, rn.StoreError)
