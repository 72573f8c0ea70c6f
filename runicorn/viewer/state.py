"""What every request handler shares: the read API, the run finder, the series cache, the store."""

from __future__ import annotations

from dataclasses import dataclass, field

from starlette.requests import Request

from ..api import Api, RunView
from ..errors import ObjectNotFound
from ..store import ObjectStore
from .lookup import RunFinder
from .series import DEFAULT_BUDGET, SeriesCache


@dataclass
class ViewerState:
    api: Api
    finder: RunFinder
    series: SeriesCache = field(default_factory=SeriesCache)

    @classmethod
    def over(cls, api: Api, *, series_budget: int = DEFAULT_BUDGET) -> "ViewerState":
        return cls(api, RunFinder(api), SeriesCache(series_budget))

    def store(self) -> ObjectStore:
        """The root's object store; a root without one holds no objects (and none is created for it)."""
        self.api.require_root()
        if not self.api.storage.store_dir.is_dir():
            raise ObjectNotFound(f"{self.api.root} has no object store yet: no run stored code, images or files")
        return self.api.store

    def run(self, run_id: str) -> RunView:
        return self.finder.open(run_id)


def state_of(request: Request) -> ViewerState:
    return request.app.state.viewer
