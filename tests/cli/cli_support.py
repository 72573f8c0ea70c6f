"""Helpers shared by the CLI tests: the sample runs, disk snapshots, tar surgery, the installed script."""

from __future__ import annotations

import io
import json
import os
import shutil
import stat
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from click.testing import CliRunner

import runicorn as rn
from runicorn.cli import cli

# Explicit ids: A and B share the prefix "20250101_120000_aaaa0" (an ambiguous prefix); C stands alone.
RUN_A = "20250101_120000_aaaa01"
RUN_B = "20250101_120000_aaaa02"
RUN_C = "20250102_080000_cccc03"
OWN = "20240101_000000_0bb0bb"  # the import target root's own run, sharing no object with the samples
OWN_PATH = "local/own"
AMBIGUOUS_PREFIX = "20250101_120000_aaaa0"
COMMANDS = ("ls", "show", "diff", "rm", "gc", "du", "verify", "restore", "export", "import", "demo", "config", "outputs",
            "history", "logs", "pin", "unpin", "forget", "viewer")


@dataclass
class SampleRuns:
    """Where the sample runs and the sources they recorded live."""

    root: Path  # the storage root
    ws_a: Path  # run A's workspace (code snapshot)
    ws_b: Path  # run B's workspace: model.py edited, new_util.py added, old_util.py removed
    data: Path  # the dataset both A and B saved
    pretrained: Path  # the weights both A and B saved
    out_a: Path  # A's output folders: checkpoints/ and logs/
    out_b: Path

    def with_root(self, root: Path) -> "SampleRuns":
        return SampleRuns(root, self.ws_a, self.ws_b, self.data, self.pretrained, self.out_a, self.out_b)


def _write(path: Path, data: bytes | str, mode: int | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    if mode is not None:
        os.chmod(path, mode)
    return path


def _seeded(seed: int, size: int) -> bytes:
    return np.random.default_rng(seed).bytes(size)


def make_workspace(folder: Path) -> Path:
    _write(folder / "train.py", "#!/usr/bin/env python\nfrom pkg.model import Model\nprint(Model().forward(1))\n", 0o755)
    _write(folder / "pkg" / "__init__.py", "")
    _write(folder / "pkg" / "model.py", "class Model:\n    def forward(self, x):\n        return x * 2\n")
    _write(folder / "pkg" / "old_util.py", "def helper():\n    return 'old'\n")
    _write(folder / "configs" / "base.yaml", "lr: 0.1\nepochs: 3\n")
    _write(folder / "configs" / "extra.json", '{"augment": true}\n')
    _write(folder / "assets" / "blob.dat", _seeded(7, 3000))
    os.symlink("train.py", folder / "latest.py")  # a link that stays inside the workspace
    return folder


def build_sample_runs(base: Path) -> SampleRuns:
    """Three finished runs made through the real SDK (A and B share a dataset and weights; C is minimal)."""
    root = base / "storage"
    ws_a = make_workspace(base / "ws_a")
    ws_b = base / "ws_b"
    shutil.copytree(ws_a, ws_b, symlinks=True)
    _write(ws_b / "pkg" / "model.py", "class Model:\n    def forward(self, x):\n        return x * 3\n")
    _write(ws_b / "pkg" / "new_util.py", "def helper():\n    return 'new'\n")
    (ws_b / "pkg" / "old_util.py").unlink()
    _write(ws_b / "configs" / "base.yaml", "lr: 0.01\nepochs: 3\n")

    data = base / "data"
    _write(data / "train.csv", "x,y\n1,2\n3,4\n")
    _write(data / "images" / "0.bin", _seeded(1, 4000))
    _write(data / "images" / "1.bin", _seeded(2, 5000))
    pretrained = base / "pretrained"
    _write(pretrained / "weights.bin", _seeded(3, 8000))

    out_a, out_b = base / "out_a", base / "out_b"
    _write(out_a / "checkpoints" / "model.pt", _seeded(4, 6000))
    _write(out_a / "checkpoints" / "export.bin", _seeded(5, 1000), 0o755)
    _write(out_a / "logs" / "train.log", "epoch 1\nepoch 2\nepoch 3\n")
    _write(out_b / "checkpoints" / "model.pt", _seeded(6, 7000))

    run = rn.init(path="cv/resnet/baseline", storage=str(root), run_id=RUN_A, alias="baseline", tags=["cv", "base"],
                  snapshot_code=True, workspace_root=str(ws_a))
    run.set_primary_metric("val_acc", mode="max")
    run.log_config(args={"lr": 0.1, "epochs": 3, "opt": {"name": "sgd", "momentum": 0.9}}, extra={"seed": 1},
                   config_files=[ws_a / "configs" / "base.yaml", ws_a / "configs" / "extra.json"])
    run.log_dataset("mnist", str(data), save=True)
    run.log_pretrained("backbone", path_or_uri=str(pretrained), save=True, source_type="local")
    for step, (acc, loss) in enumerate([(0.5, 1.0), (0.8, 0.6), (0.7, 0.5)], start=1):
        run.log({"val_acc": acc, "loss": loss}, step=step)
    run.log_image("samples", np.full((8, 8, 3), 10, dtype=np.uint8), step=3)
    run.scan_outputs_once(output_dirs=[out_a / "checkpoints", out_a / "logs"], stable_required=1, min_age_sec=0)
    run.summary({"final_acc": 0.7, "best_epoch": 2})
    run.finish()

    run = rn.init(path="cv/resnet/lr-sweep", storage=str(root), run_id=RUN_B, alias="sweep", tags=["cv"],
                  snapshot_code=True, workspace_root=str(ws_b))
    run.set_primary_metric("loss", mode="min")
    run.log_config(args={"lr": 0.01, "epochs": 3, "opt": {"name": "sgd", "momentum": 0.9}}, extra={"seed": 1},
                   config_files=[ws_b / "configs" / "base.yaml"])
    run.log_dataset("mnist", str(data), save=True)
    run.log_pretrained("backbone", path_or_uri=str(pretrained), save=True, source_type="local")
    for step, loss in enumerate([0.9, 0.4, 0.45], start=1):
        run.log({"loss": loss, "val_acc": 1 - loss}, step=step)
    run.log_image("samples", np.full((8, 8, 3), 200, dtype=np.uint8), step=3)
    run.scan_outputs_once(output_dirs=[out_b / "checkpoints"], stable_required=1, min_age_sec=0)
    run.summary({"final_acc": 0.55})
    run.finish()

    run = rn.init(path="nlp/bert", storage=str(root), run_id=RUN_C)
    run.log_config(args={"lr": 3e-5})
    run.log({"loss": 2.0})
    run.log({"loss": 1.5})
    run.finish("failed")
    return SampleRuns(root, ws_a, ws_b, data, pretrained, out_a, out_b)


class Invoker:
    """``invoke(*args)``: the CLI in process through click's CliRunner, always with an absolute ``--storage``."""

    def __init__(self, storage_root):
        self.storage_root = storage_root

    def __call__(self, *args, input=None, storage=None, expect=None):
        """Run ``runicorn --storage ROOT ARGS...``; exceptions other than exits are re-raised with their traceback."""
        runner = CliRunner()
        argv = ["--storage", str(storage or self.storage_root), *map(str, args)]
        result = runner.invoke(cli, argv, input=input)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception.with_traceback(result.exc_info[2])
        if expect is not None:
            assert result.exit_code == expect, f"exit {result.exit_code}, wanted {expect}:\n{result.output}"
        return result


# -- looking at disk ---------------------------------------------------------------


def disk_state(top: Path) -> dict:
    """Every entry under ``top``: files and links with size, mtime and mode; folders by name only.

    The user's cache folder (the tests' ``home/.cache``, where listings keep the run index) is left out: it
    is a cache outside every storage root, rewritten by any command that lists runs."""
    state = {}
    if not top.exists():
        return state
    for folder, dirs, files in os.walk(top):
        if Path(folder) == top / "home":
            dirs[:] = [name for name in dirs if name != ".cache"]
        for name in dirs + files:
            path = Path(folder) / name
            st = os.lstat(path)
            rel = str(path.relative_to(top))
            state[rel] = "dir" if stat.S_ISDIR(st.st_mode) else (st.st_size, st.st_mtime_ns, st.st_mode)
    return state


def file_tree(top: Path) -> dict:
    """rel path -> ("file", bytes, owner-exec) or ("symlink", target) for everything below ``top``."""
    tree = {}
    for folder, dirs, files in os.walk(top):
        for name in dirs + files:
            path = Path(folder) / name
            rel = str(path.relative_to(top))
            if path.is_symlink():
                tree[rel] = ("symlink", os.readlink(path))
            elif path.is_file():
                tree[rel] = ("file", path.read_bytes(), bool(path.stat().st_mode & stat.S_IXUSR))
    return tree


def object_files(root: Path) -> dict[str, int]:
    """Object id -> size for every file under ``store/objects``."""
    objects = {}
    base = root / "store" / "objects"
    for fanout in sorted(base.iterdir()) if base.is_dir() else []:
        for entry in fanout.iterdir():
            objects[fanout.name + entry.name] = entry.stat().st_size
    return objects


def object_path(root: Path, oid: str) -> Path:
    return root / "store" / "objects" / oid[:2] / oid[2:]


# -- bundles by hand -----------------------------------------------------------------


def read_members(bundle: Path) -> list[tuple[tarfile.TarInfo, bytes | None]]:
    with tarfile.open(bundle) as tar:
        return [(m, tar.extractfile(m).read() if m.isreg() else None) for m in tar.getmembers()]


def tar_bytes(members) -> bytes:
    """A tar made by hand from ``(TarInfo, bytes or None)`` pairs (sizes are set from the bytes)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    return buffer.getvalue()


def write_members(bundle: Path, members) -> Path:
    bundle.write_bytes(tar_bytes(members))
    return bundle


def regular(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.mode = 0o644
    info.size = len(data)
    return info, data


def header_bytes(runs, version=1, **extra) -> bytes:
    return json.dumps({"format": "runicorn-bundle", "version": version, "created_at": 0, "runicorn_version": "x",
                       "runs": runs, "objects": 0, **extra}).encode()


# -- the installed script -------------------------------------------------------------


def runicorn_script() -> str:
    """The console script installed beside this interpreter (the pyenv shim on PATH is slower and indirect)."""
    beside = Path(sys.executable).parent / "runicorn"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("runicorn")
    if found is None:
        raise RuntimeError("the runicorn console script is not installed (pip install -e .)")
    return found
