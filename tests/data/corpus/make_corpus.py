"""Regenerate the hostile-input corpus under tests/data/corpus/ (see README.md there).

Run from the repository root: ``python tests/data/corpus/make_corpus.py``. The
output is committed; the tests never run this script. Everything is built from
fixed bytes (no clock, no host name, no random source without a seed), so running
it again leaves ``git status`` clean.

Two kinds of files:

- ``bundles/small.rnbundle``: a real export (``runicorn.bundle.export_runs``) of two
  tiny hand-made runs, with every member's mtime and the header's ``created_at``
  set to a fixed time. It is the seed the bundle fuzzer mutates.
- ``run-files/<case>/<run file>``: damaged run files, written from docs/format.md
  section 5 (not from Runicorn's writers). They belong to the sample run A of
  ``tests/cli/cli_support.py`` (id and path below): the tests put them into that
  run's folder in place, or into its files inside an exported bundle. A file named
  ``<run file>.append`` is appended to the run's file; any other replaces it.
"""

from __future__ import annotations

import io
import json
import os
import random
import shutil
import struct
import tarfile
import tempfile
import zlib
from pathlib import Path

from runicorn.api import Api
from runicorn.bundle import export_runs, plan_export
from runicorn.store import FILE, DIR, ObjectStore, TreeEntry, dumps_json, hash_bytes, put_tree

HERE = Path(__file__).resolve().parent
FIXED_TIME = 1717200000  # 2024-06-01 00:00:00 UTC: every mtime and time stamp in the corpus

# Sample run A of tests/cli/cli_support.py: the run the damaged run files belong to.
RUN_A = "20250101_120000_aaaa01"
PATH_A = "cv/resnet/baseline"
A_BASE_YAML = b"lr: 0.1\nepochs: 3\n"  # A's config files, as make_workspace writes them
A_EXTRA_JSON = b'{"augment": true}\n'

# The two runs of the small bundle.
ALPHA = ("corpus/alpha", "20240601_000000_a1a1a1")
BETA = ("corpus/beta", "20240601_000000_b2b2b2")

MAGIC = b"RNTL\x00\x00\x00\x01"


# -- timeline records, from docs/format.md section 5.1 ---------------------------------------------------


def frame(payload: bytes) -> bytes:
    """length:u32 crc:u32 payload, little-endian, crc = CRC-32 (zlib) of the payload."""
    return struct.pack("<II", len(payload), zlib.crc32(payload)) + payload


def schema(schema_id: int, keys: list[str], types: str) -> bytes:
    return frame(b"S" + struct.pack("<H", schema_id) + json.dumps({"keys": keys, "types": types}).encode())


def rows(schema_id: int, types: str, *values: tuple) -> bytes:
    packer = struct.Struct("<qd" + types)
    return frame(b"R" + struct.pack("<HI", schema_id, len(values)) + b"".join(packer.pack(*v) for v in values))


def json_row(row: dict) -> bytes:
    return frame(b"J" + json.dumps(row).encode())


def stage(name: str) -> bytes:
    return frame(b"G" + name.encode())


# -- run files ---------------------------------------------------------------------------------------


def identity(run_id: str, path: str, **changes) -> dict:
    record = {"format": "runicorn-run", "version": 1, "id": run_id, "path": path, "alias": None, "tags": [],
              "created_at": FIXED_TIME, "host": "corpus", "pid": 1, "python": "3.11.7", "platform": "Linux",
              "argv": ["train.py"], "runicorn_version": "1.0.0.dev0", "git": None}
    record.update(changes)
    return record


def status(**changes) -> dict:
    record = {"status": "finished", "started_at": FIXED_TIME, "ended_at": FIXED_TIME + 60, "error": None,
              "resumed_at": [], "pid": 1, "host": "corpus"}
    record.update(changes)
    return record


def a_identity(**changes) -> dict:
    return identity(RUN_A, PATH_A, **{"alias": "baseline", "tags": ["cv", "base"], **changes})


def tagged(data: bytes) -> str:
    return "blake3:" + hash_bytes(data)


def run_file_cases() -> dict[str, dict[str, bytes]]:
    """case -> {run file name (``.append``: appended) -> bytes}."""
    good_line = {"role": "config_file", "name": "evil", "at": FIXED_TIME, "type": "blob", "path": "/x", "size": 1}
    garbage = random.Random(20240601).randbytes(2048)
    garbage = garbage.replace(b"\n", b" ")  # lines of our choosing: 16 lines of 127 bytes, each not JSON
    garbage = b"".join(garbage[i:i + 127] + b"\n" for i in range(0, 16 * 127, 127))
    return {
        "identity-tags-5": {"run.json": dumps_json(a_identity(tags=5))},
        "identity-created-at-yesterday": {"run.json": dumps_json(a_identity(created_at="yesterday"))},
        "identity-json-list": {"run.json": dumps_json([a_identity()])},
        "identity-not-json": {"run.json": dumps_json(a_identity())[:57]},
        "identity-id-traversal": {"run.json": dumps_json(a_identity(id="../../../tmp/x"))},
        "status-json-list": {"status.json": b"[1]\n"},
        "status-float-marker-list": {"status.json": dumps_json(status(status={"$float": []}))},
        "config-entry-without-path": {"config.json": dumps_json({
            "args": {"epochs": 3, "lr": 0.1}, "extra": {"seed": 1},
            "config_files": [{"id": tagged(A_BASE_YAML), "name": "base.yaml", "size": len(A_BASE_YAML)},
                             {"id": tagged(A_EXTRA_JSON), "name": "extra.json", "path": "/ws/configs/extra.json",
                              "size": len(A_EXTRA_JSON)}]})},
        "manifest-line-list": {"manifest.jsonl.append": b"[1, 2]\n"},
        "manifest-line-id-dotdot": {"manifest.jsonl.append": (json.dumps({**good_line, "id": "blake3:../../etc"})
                                                              + "\n").encode()},
        "manifest-line-id-sha1": {"manifest.jsonl.append": (json.dumps({**good_line, "id": "sha1:abc"})
                                                            + "\n").encode()},
        "manifest-line-float-marker-id": {"manifest.jsonl.append": (json.dumps({**good_line, "id": {"$float": [1]}})
                                                                    + "\n").encode()},
        "manifest-garbage": {"manifest.jsonl": garbage},
        "timeline-unknown-type": {"timeline.bin": MAGIC + schema(0, ["loss"], "x") + rows(0, "d", (1, 1.0, 0.5))
                                  + schema(1, ["loss"], "d") + rows(1, "d", (2, 2.0, 0.25), (3, 3.0, 0.125))},
        "timeline-float-marker-step": {"timeline.bin": MAGIC + json_row({"_step": {"$float": []}, "_time": 1.0,
                                                                         "loss": 0.5})
                                       + json_row({"_step": 2, "_time": 2.0, "loss": 0.25})},
    }


# -- the small bundle -----------------------------------------------------------------------------------


def write_run(runs: Path, path: str, run_id: str, files: dict[str, bytes]) -> None:
    folder = runs.joinpath(*path.split("/"), run_id)
    folder.mkdir(parents=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
        os.utime(folder / name, (FIXED_TIME, FIXED_TIME))


def make_small_root(root: Path) -> None:
    store = ObjectStore(root / "store")
    train = b"from pkg.util import helper\nprint(helper())\n"
    util = b"def helper():\n    return 42\n"
    config = b"lr: 0.01\nbatch: 8\n"
    pkg = put_tree(store, [TreeEntry("util.py", FILE, len(util), id=store.put_bytes(util))])
    code = put_tree(store, [TreeEntry("train.py", FILE, len(train), id=store.put_bytes(train), executable=True),
                            TreeEntry("pkg", DIR, len(util), id=pkg)])
    config_id = store.put_bytes(config)
    manifest = [
        {"role": "code", "name": "code", "at": FIXED_TIME, "id": f"blake3:{code}", "type": "tree",
         "workspace": "/ws", "files": 2, "bytes": len(train) + len(util), "skipped": []},
        {"role": "config_file", "name": "config.yaml", "at": FIXED_TIME, "id": f"blake3:{config_id}", "type": "blob",
         "path": "/ws/config.yaml", "size": len(config)},
    ]
    alpha_timeline = (MAGIC + schema(0, ["loss", "acc"], "dd") + rows(0, "dd", (1, 1.0, 0.9, 0.5), (2, 2.0, 0.5, 0.7))
                      + stage("eval") + json_row({"_step": 3, "_time": 3.0, "note": "text", "loss": 0.4}))
    write_run(root / "runs", *ALPHA, {
        "run.json": dumps_json(identity(ALPHA[1], ALPHA[0], alias="alpha", tags=["corpus"])),
        "status.json": dumps_json(status()),
        "summary.json": dumps_json({"final_loss": 0.4}),
        "config.json": dumps_json({"args": {"lr": 0.01}, "extra": {},
                                   "config_files": [{"id": f"blake3:{config_id}", "name": "config.yaml",
                                                     "path": "/ws/config.yaml", "size": len(config)}]}),
        "primary_metric.json": dumps_json({"name": "loss", "mode": "min", "best": 0.4, "step": 3}),
        "manifest.jsonl": "".join(json.dumps(line, sort_keys=True) + "\n" for line in manifest).encode(),
        "timeline.bin": alpha_timeline,
        "logs.txt": b"[2024-06-01 00:00:00.000] hello\n",
    })
    write_run(root / "runs", *BETA, {
        "run.json": dumps_json(identity(BETA[1], BETA[0])),
        "status.json": dumps_json(status(status="failed", error={"type": "ValueError", "message": "boom"})),
        "timeline.bin": MAGIC + schema(0, ["loss"], "d") + rows(0, "d", (1, 1.0, 2.0)),
    })


def normalized(bundle: bytes) -> bytes:
    """The bundle with every member's mtime and the header's created_at fixed (an export stamps the clock)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(bundle)) as source, \
            tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as target:
        for member in source.getmembers():
            data = source.extractfile(member).read()
            if member.name == "runicorn-bundle.json":
                header = json.loads(data)
                header.update(created_at=FIXED_TIME, runicorn_version="corpus")
                data = json.dumps(header, indent=1, sort_keys=True).encode()
            info = tarfile.TarInfo(member.name)
            info.size, info.mode, info.mtime = len(data), 0o644, FIXED_TIME
            target.addfile(info, io.BytesIO(data))
    return out.getvalue()


def make_small_bundle(target: Path) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch) / "root"
        make_small_root(root)
        api = Api(root)
        export_runs(api, plan_export(api, api.runs()), Path(scratch) / "small.rnbundle")
        target.write_bytes(normalized((Path(scratch) / "small.rnbundle").read_bytes()))


def main() -> None:
    for folder in ("bundles", "run-files"):
        shutil.rmtree(HERE / folder, ignore_errors=True)
    (HERE / "bundles").mkdir()
    make_small_bundle(HERE / "bundles" / "small.rnbundle")
    for case, files in run_file_cases().items():
        (HERE / "run-files" / case).mkdir(parents=True)
        for name, data in files.items():
            (HERE / "run-files" / case / name).write_bytes(data)
    total = sum(p.stat().st_size for p in HERE.rglob("*") if p.is_file())
    print(f"corpus written to {HERE}: {total} bytes")


if __name__ == "__main__":
    main()
