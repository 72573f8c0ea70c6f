"""Regenerate the frozen fixture stores under tests/data/stores/ (see README.md).

Run from the repository root: ``python tests/data/make_stores.py``. The output is
committed; the tests never run this script. Re-running it with a Runicorn that
still writes store format 1 must leave ``git status`` clean.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from runicorn.store import Ingester, ObjectStore, dumps_json, hash_bytes

HERE = Path(__file__).resolve().parent
STORES = HERE / "stores"
RUN_1 = ("mnist", "20250101_120000_a1b2c3", 1735732800)
RUN_2 = ("mnist", "20250102_090000_d4e5f6", 1735808400)


class Exec(bytes):
    """The content of an owner-executable file."""


LIB = {"__init__.py": b"", "util.py": b"def answer():\n    return 42\n"}


def write_folder(root: Path, spec: dict) -> None:
    root.mkdir()
    for name, value in spec.items():
        path = root / name
        if isinstance(value, dict):
            write_folder(path, value)
        elif isinstance(value, tuple):  # ("link", target)
            os.symlink(value[1], path)
        else:
            path.write_bytes(value)
            os.chmod(path, 0o755 if isinstance(value, Exec) else 0o644)


def ingest(store: ObjectStore, spec: dict) -> str:
    with tempfile.TemporaryDirectory() as scratch:
        write_folder(Path(scratch) / "src", spec)
        return Ingester(store).ingest(Path(scratch) / "src").id


def write_run(storage: Path, run: tuple, roots: list[dict]) -> None:
    path, run_id, created = run
    folder = storage / "runs" / path / run_id
    folder.mkdir(parents=True)
    (folder / "run.json").write_bytes(dumps_json({
        "format": "runicorn-run", "version": 1, "id": run_id, "path": path, "alias": None, "tags": [],
        "created_at": created, "host": "fixture", "pid": 1, "python": "3.11.7", "platform": "Linux",
        "argv": ["train.py"], "runicorn_version": "1.0.0.dev0", "git": None,
    }))
    (folder / "status.json").write_bytes(dumps_json({
        "status": "finished", "started_at": created, "ended_at": created + 60, "error": None, "resumed_at": [],
    }))
    lines = [json.dumps({**root, "at": created + 1}, sort_keys=True) + "\n" for root in roots]
    (folder / "manifest.jsonl").write_text("".join(lines), encoding="utf-8")


def make_good(storage: Path) -> dict[str, str]:
    store = ObjectStore(storage / "store")
    ids = {
        "code_1": ingest(store, {
            "train.py": Exec(b"import lib.util\nprint(lib.util.answer())\n"),
            "README.md": b"# mnist\n",
            "lib": LIB,
            "data dir": {"\u00fcn\u00efcode.txt": "\u00e9\n".encode()},
            "empty": {},
            "latest.py": ("link", "lib/util.py"),
        }),
        "config": store.put_bytes(b"lr: 0.1\nepochs: 3\n"),
        "code_2": ingest(store, {
            "train.py": b"import lib.util\nprint(lib.util.answer() + 1)\n",
            "lib": LIB,
        }),
        "outputs_2": ingest(store, {"model.bin": bytes(range(256)) * 4, "metrics.txt": b"acc 0.99\n"}),
        "orphan": store.put_bytes(b"orphan: no run names me\n"),
    }
    write_run(storage, RUN_1, [
        {"role": "code", "name": "code", "id": "blake3:" + ids["code_1"], "type": "tree"},
        {"role": "config_file", "name": "config.yaml", "id": "blake3:" + ids["config"], "type": "blob"},
    ])
    write_run(storage, RUN_2, [
        {"role": "code", "name": "code", "id": "blake3:" + ids["code_2"], "type": "tree"},
        {"role": "outputs", "name": "outputs", "id": "blake3:" + ids["outputs_2"], "type": "tree"},
    ])
    for empty in ("tmp", "trash", "cache"):  # git keeps no empty folders; the tests recreate them
        (store.root / empty).rmdir()
    return ids


def object_path(storage: Path, data: bytes) -> Path:
    oid = hash_bytes(data)
    return storage / "store" / "objects" / oid[:2] / oid[2:]


def make_writable(folder: Path) -> None:
    """Objects are 0444 in a store; git records no such mode, so the fixtures hold them as 0644."""
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink():
            path.chmod(0o644)


def make_damaged(good: Path, name: str) -> Path:
    storage = STORES / name
    shutil.copytree(good, storage)
    make_writable(storage)
    return storage


def main() -> None:
    if STORES.exists():
        make_writable(STORES)
        shutil.rmtree(STORES)
    STORES.mkdir()
    good = STORES / "v1-good"
    ids = make_good(good)

    # Bit rot in lib/util.py, a blob both runs' code trees share: same length, one byte changed.
    util = object_path(make_damaged(good, "v1-corrupt-object"), LIB["util.py"])
    util.write_bytes(LIB["util.py"].replace(b"42", b"43"))

    # The outputs' model.bin, needed by run 2 only, deleted by hand.
    object_path(make_damaged(good, "v1-dangling-reference"), bytes(range(256)) * 4).unlink()

    foreign = make_damaged(good, "v1-foreign-files") / "store" / "objects"
    config_id = ids["config"]
    (foreign / "README.txt").write_text("notes left by hand\n")
    (foreign / config_id[:2] / "not-an-object").write_text("x\n")
    (foreign / config_id[:2] / config_id[2:].upper()).write_bytes(b"lr: 0.1\nepochs: 3\n")
    (foreign / "00" / "11").mkdir(parents=True)  # named like an object, but one level too deep
    (foreign / "00" / "11" / config_id[2:]).write_bytes(b"lr: 0.1\nepochs: 3\n")

    future = STORES / "v2-future" / "store"
    future.mkdir(parents=True)
    (future / "config.json").write_bytes(dumps_json({
        "extensions": ["chunks"], "format": "runicorn-store", "hash": "blake3",
        "layout": "objects/<2 hex>/<62 hex>", "version": 2,
    }))
    make_writable(STORES)
    print(json.dumps(ids, indent=1))


if __name__ == "__main__":
    main()
