"""Store a folder in a Runicorn object store, store it again, and restore it byte for byte.

Usage: python examples/store_folder.py [FOLDER] (default: this repository's docs/)
"""

import sys
import tempfile
from pathlib import Path

from runicorn.store import ObjectStore, StatCache, materialize_tree
from runicorn.store.ingest import Ingester

source = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / "docs")
storage = Path(".runicorn")
store = ObjectStore(storage / "store")
with StatCache(store.cache_dir / "stat.sqlite") as cache:
    first = Ingester(store, stat_cache=cache).ingest(source)
    second = Ingester(store, stat_cache=cache).ingest(source)
print(f"stored {source}: tree {first.id} ({first.files} files, {first.bytes} bytes, read {first.hashed_bytes})")
print(f"stored again:  tree {second.id} (read {second.hashed_bytes} bytes: unchanged files are not re-read)")
target = Path(tempfile.mkdtemp(prefix="runicorn-restore-"))
restored = materialize_tree(store, first.id, target, force=True)
print(f"restored {restored.files} files to {target} (hashes verified while writing)")
print(f"objects live under {store.objects_dir}; `b3sum` on any of them prints its own name")
