"""Runicorn: local-first experiment tracking with a content-addressed artifact store.

    import runicorn as rn
    with rn.init(path="cv/resnet50/baseline", alias="seed-42") as run:
        run.log({"loss": 0.42}, step=1)

The public API is what ``__all__`` lists; everything else is implementation.
"""

from ._version import __version__

from .api import Api, RunView
from .errors import (AmbiguousRunId, BundleError, CorruptObject, ObjectNotFound, RunError, RunExists,
                     RunicornError, RunNotFound, StoreError)
from .sdk.enable import enabled, is_enabled, reset_enabled, set_enabled
from .sdk.init import init
from .sdk.noop import NoOpRun
from .sdk.run import Run, get_active_run

__all__ = [
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
