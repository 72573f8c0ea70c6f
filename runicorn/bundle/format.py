"""What a bundle holds: the header, member names, and how a member is written."""

from __future__ import annotations

import json
import tarfile
from dataclasses import dataclass, field
from typing import BinaryIO

BUNDLE_FORMAT = "runicorn-bundle"
BUNDLE_VERSION = 1
HEADER_NAME = "runicorn-bundle.json"
MAX_HEADER_BYTES = 64 << 20


@dataclass
class BundleReport:
    runs: list[str] = field(default_factory=list)
    skipped_runs: list[str] = field(default_factory=list)
    updated_runs: list[str] = field(default_factory=list)  # held here unfinished, replaced by a later state
    objects: int = 0
    object_bytes: int = 0
    objects_already_present: int = 0
    objects_repaired: int = 0  # present here but corrupt, replaced by the bundle's good copy
    bundle_bytes: int = 0


def header_bytes(runs: list[dict], objects: int, created_at: float, runicorn_version: str) -> bytes:
    header = {"format": BUNDLE_FORMAT, "version": BUNDLE_VERSION, "created_at": created_at,
              "runicorn_version": runicorn_version, "runs": runs, "objects": objects}
    return json.dumps(header, indent=1, sort_keys=True).encode("utf-8")


def run_member(path: str, run_id: str, name: str) -> str:
    return f"runs/{path}/{run_id}/{name}"


def object_member(oid: str) -> str:
    return f"objects/{oid[:2]}/{oid[2:]}"


def add_stream(tar: tarfile.TarFile, name: str, stream: BinaryIO, size: int, mtime: float) -> None:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o644
    info.mtime = mtime  # run files keep theirs: a heartbeat's age is how liveness is judged
    tar.addfile(info, stream)
