"""Where runs live: resolving the storage root, and the user config that can name it.

Order (SDK and CLI alike): the explicit ``storage`` argument or ``--storage``,
then ``$RUNICORN_DIR``, then ``storage`` in the user config
(``$XDG_CONFIG_HOME/runicorn/config.json``, default ``~/.config/...``), then
``./.runicorn``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from .store import ObjectStore, atomic_write_json

ENV_STORAGE = "RUNICORN_DIR"
GITIGNORE = ".gitignore"
DEFAULT_FOLDER = ".runicorn"


def user_config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "runicorn" / "config.json"


def read_user_config() -> dict:
    try:
        config = json.loads(user_config_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return config if isinstance(config, dict) else {}


def write_user_config(updates: dict, *, replace: bool = False) -> Path:
    """Merge ``updates`` into the user config (or, with ``replace``, write exactly them)."""
    config = {} if replace else read_user_config()
    config.update(updates)
    path = user_config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, config)
    return path


def resolve_storage_root(storage: str | os.PathLike | None = None) -> Path:
    """The storage root to use, as an absolute path (not created here)."""
    chosen = storage or os.environ.get(ENV_STORAGE) or read_user_config().get("storage") or DEFAULT_FOLDER
    return Path(os.path.expanduser(str(chosen))).absolute()


class StorageRoot:
    """A storage root: ``runs/`` and the object store, opened lazily."""

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = resolve_storage_root(root)
        self.runs_dir = self.root / "runs"
        self.store_dir = self.root / "store"
        self._store: ObjectStore | None = None

    @property
    def store(self) -> ObjectStore:
        if self._store is None:
            self._store = ObjectStore(self.store_dir)
        return self._store

    def exists(self) -> bool:
        """Whether anything was ever stored here (a run or the object store)."""
        return self.runs_dir.is_dir() or self.store_dir.is_dir()

    def runs_lost(self) -> str | None:
        """What is wrong when ``runs/`` is not there to read (not a folder, or missing while the store holds
        objects), else None: gc and import refuse such a root instead of taking it for an empty one."""
        if self.runs_dir.is_dir():
            return None
        if os.path.lexists(self.runs_dir):
            return f"{self.runs_dir} is not a folder"
        if self.store_dir.is_dir() and any(self.store.iter_objects()):
            return (f"the store holds objects but {self.runs_dir} is missing (moved or not mounted?); "
                    "a store without its runs is damage, not an empty root")
        return None

    def prepare(self) -> bool:
        """Make the root folder; a root made here ignores itself for git, as a virtual environment does.

        Returns whether it made the folder.
        """
        if self.root.is_dir():
            return False
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / GITIGNORE).write_text("# created by runicorn: a storage root is not source code\n*\n")
        return True

    def __repr__(self) -> str:
        return f"StorageRoot({str(self.root)!r})"
