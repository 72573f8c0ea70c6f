"""The run folder format (layer 2): every file under ``runs/<path>/<run id>/``, written and read here only.

``RunFolder`` opens a run's files; ``records`` gives their content as typed,
checked values; ``scan_runs`` finds every run folder, damaged ones included;
``timeline`` is the binary metric log. See docs/format.md, section 5.
"""

from .appender import Appender
from .discovery import STAGING_PREFIX, RunScan, remove_stale_staging, scan_runs
from .folder import RunFolder, make_run_folder
from .index import CachedRun, RunIndex, collection_paused
from .jsonio import decode_line, encode_line, jsonable_tree
from .liveness import HEARTBEAT_INTERVAL_SECONDS, HEARTBEAT_STALE_SECONDS, effective_status
from .names import (APPEND_ONLY_FILES, CONFIG, ENVIRONMENT, HEARTBEAT, IDENTITY, MANIFEST, MEDIA, METRICS, PIN, PRIMARY_METRIC,
                    RESERVED_KEYS, RUN_FILES, STATUS, SUMMARY, TEXT_LOG, new_run_id, run_folder, validate_path,
                    validate_run_id)
from .records import DROPPED, ROLLING, STATUSES, Identity, Manifest, ManifestEntry, PrimaryMetric, RunConfig, Status
from .timeline import TimelineEncoder

__all__ = [
    "APPEND_ONLY_FILES",
    "Appender",
    "CachedRun",
    "CONFIG",
    "DROPPED",
    "ENVIRONMENT",
    "HEARTBEAT",
    "HEARTBEAT_INTERVAL_SECONDS",
    "HEARTBEAT_STALE_SECONDS",
    "IDENTITY",
    "Identity",
    "MANIFEST",
    "MEDIA",
    "METRICS",
    "Manifest",
    "ManifestEntry",
    "PIN",
    "PRIMARY_METRIC",
    "PrimaryMetric",
    "RESERVED_KEYS",
    "ROLLING",
    "RUN_FILES",
    "RunConfig",
    "RunFolder",
    "RunIndex",
    "RunScan",
    "STAGING_PREFIX",
    "STATUS",
    "STATUSES",
    "SUMMARY",
    "Status",
    "TEXT_LOG",
    "TimelineEncoder",
    "collection_paused",
    "decode_line",
    "effective_status",
    "encode_line",
    "jsonable_tree",
    "make_run_folder",
    "new_run_id",
    "remove_stale_staging",
    "run_folder",
    "scan_runs",
    "validate_path",
    "validate_run_id",
]
