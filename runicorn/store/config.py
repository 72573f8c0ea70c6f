"""The store's ``config.json``: format name, version, hash and extensions in use.

Code refuses a store whose version or extensions it does not know, so an old
Runicorn never misreads a newer store (see docs/format.md, "Store config").
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import UnsupportedFormat
from .atomic import atomic_write_json
from .ids import HASH_NAME

FORMAT_NAME = "runicorn-store"
FORMAT_VERSION = 1
KNOWN_EXTENSIONS: frozenset[str] = frozenset({"chunks"})  # large files stored as chunk lists (4.3)


def default_config() -> dict:
    return {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "hash": HASH_NAME,
        "layout": "objects/<2 hex>/<62 hex>",
        "extensions": [],
    }


def read_config(path: Path) -> dict:
    """Read and check a store config; raise ``UnsupportedFormat`` naming what is unknown."""
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UnsupportedFormat(f"cannot read store config {path}: {exc}; is this a Runicorn store?") from exc
    if not isinstance(config, dict) or config.get("format") != FORMAT_NAME:
        raise UnsupportedFormat(f"{path} is not a Runicorn store config (format {config.get('format')!r})"
                                if isinstance(config, dict) else f"{path} is not a Runicorn store config")
    version = config.get("version")
    if type(version) is not int or version != FORMAT_VERSION:  # JSON true or 1.0 is not version 1
        raise UnsupportedFormat(
            f"store {path.parent} has format version {version!r}; this Runicorn reads version "
            f"{FORMAT_VERSION}. Upgrade Runicorn to open it."
        )
    if config.get("hash") != HASH_NAME:
        raise UnsupportedFormat(f"store {path.parent} uses hash {config.get('hash')!r}; this Runicorn knows {HASH_NAME!r}")
    extensions = config.get("extensions", [])
    if not isinstance(extensions, list) or not all(isinstance(name, str) for name in extensions):
        raise UnsupportedFormat(
            f"store {path.parent} has a malformed extensions list {extensions!r}; expected a list of names"
        )
    unknown = sorted(set(extensions) - KNOWN_EXTENSIONS)
    if unknown:
        raise UnsupportedFormat(
            f"store {path.parent} uses extensions {unknown} that this Runicorn does not know; upgrade Runicorn to open it"
        )
    return config


def write_default_config(path: Path) -> dict:
    config = default_config()
    atomic_write_json(path, config)
    return config
