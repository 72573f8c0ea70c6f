"""The content-addressed object store: bytes and ids, nothing about runs.

Layers, bottom up: ``ids`` (what an id is) -> ``atomic`` (how a file is
written) -> ``objects`` (blobs on disk) -> ``trees``/``ingest``/``materialize``
(folders) and ``statcache`` -> ``gc`` and ``verify``. This package imports
nothing from the SDK, the CLI or the viewer.
"""

from .gc import DEFAULT_GRACE_SECONDS, GcPlan, GcResult, Root, collect, mark
from .ids import ObjectId, hash_bytes
from .ingest import Ingester, IngestResult
from .materialize import materialize_blob, materialize_tree
from .objects import Batch, ObjectStore, StoredObject
from .statcache import StatCache
from .trees import TreeEntry, parse_tree, read_tree, serialize_tree, walk_tree
from .verify import VerifyReport, verify

__all__ = [
    "Batch",
    "DEFAULT_GRACE_SECONDS",
    "GcPlan",
    "GcResult",
    "IngestResult",
    "Ingester",
    "ObjectId",
    "ObjectStore",
    "Root",
    "StatCache",
    "StoredObject",
    "TreeEntry",
    "VerifyReport",
    "collect",
    "hash_bytes",
    "mark",
    "materialize_blob",
    "materialize_tree",
    "parse_tree",
    "read_tree",
    "serialize_tree",
    "verify",
    "walk_tree",
]
