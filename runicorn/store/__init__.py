"""The content-addressed object store: bytes and ids, nothing about runs.

Layers, bottom up: ``ids`` (what an id is) and ``owner`` (who wrote a temp
file) -> ``atomic`` (how a file is written) -> ``streams`` and ``batch`` ->
``objects`` (blobs on disk) -> ``trees``/``ingest``/``materialize`` (folders)
and ``statcache`` -> ``reach`` (the one reachability walk) -> ``gc`` and
``verify``. This package imports nothing from the rest of Runicorn but its
errors; everything else uses it through the names below.
"""

from .atomic import TempFile, atomic_write_bytes, atomic_write_json, dumps_json, fsync_dir, stale_temp_files
from .batch import Batch
from .faults import crash_point
from .gc import DEFAULT_GRACE_SECONDS, GcPlan, GcResult, collect
from .ids import ObjectId, hash_bytes
from .ingest import Ingester, IngestResult
from .materialize import MaterializeResult, check_tree, make_real_dir, materialize_blob, materialize_tree, \
    prepare_target
from .objects import DAMAGED, PENDING, PUBLISHED, TRASHED, ObjectStore, StoredObject
from .owner import current_owner, owner_alive, pid_alive
from .progress import NO_PROGRESS, Progress
from .chunked import ChunkedReader, StoredFile, declare_if_chunk_list, open_file, put_file, stored_file
from .reach import BLOB, CHUNKS, TREE, Listing, Reach, Ref, Walker
from .statcache import StatCache
from .streams import CHUNK_SIZE, ProgressReader, VerifyingReader, hash_stream
from .trees import DIR, FILE, SYMLINK, TreeEntry, check_name, content_bytes, parse_tree, prune_tree, put_tree, \
    read_tree, serialize_tree, walk_tree
from .verify import VerifyReport, verify

__all__ = [
    "BLOB",
    "Batch",
    "CHUNKS",
    "ChunkedReader",
    "CHUNK_SIZE",
    "DAMAGED",
    "DEFAULT_GRACE_SECONDS",
    "DIR",
    "FILE",
    "GcPlan",
    "GcResult",
    "IngestResult",
    "Ingester",
    "Listing",
    "MaterializeResult",
    "NO_PROGRESS",
    "ObjectId",
    "ObjectStore",
    "PENDING",
    "PUBLISHED",
    "Progress",
    "ProgressReader",
    "Reach",
    "Ref",
    "SYMLINK",
    "TRASHED",
    "StatCache",
    "StoredFile",
    "StoredObject",
    "TREE",
    "TempFile",
    "TreeEntry",
    "VerifyReport",
    "VerifyingReader",
    "Walker",
    "atomic_write_bytes",
    "atomic_write_json",
    "check_name",
    "check_tree",
    "collect",
    "content_bytes",
    "crash_point",
    "current_owner",
    "declare_if_chunk_list",
    "dumps_json",
    "fsync_dir",
    "hash_bytes",
    "hash_stream",
    "make_real_dir",
    "materialize_blob",
    "materialize_tree",
    "open_file",
    "owner_alive",
    "parse_tree",
    "pid_alive",
    "prepare_target",
    "prune_tree",
    "put_file",
    "put_tree",
    "read_tree",
    "serialize_tree",
    "stored_file",
    "stale_temp_files",
    "verify",
    "walk_tree",
]
