"""W3r: W3 with real checkpoint formats: safetensors and torch.save files that share a frozen backbone.

Each of `runs` runs writes `epochs` (5) epochs of checkpoints with per-epoch names: `epoch_<n>.safetensors`
(written by `safetensors.numpy.save_file`) and `epoch_<n>.pt` (written by `torch.save`), then archives them
with `init`, `scan_outputs_once(output_dirs=[...], patterns=["*.safetensors", "*.pt"], stable_required=1,
min_age_sec=0)` and `finish`, as W3 does (the patterns are named because the peer's defaults leave out
`*.safetensors`). Every file holds the same frozen backbone (`backbone_mib` MiB in 16 float32 tensors, the
same bytes in every file and run) and a head of its own: two weight tensors whose size differs per run (2 to
8 MiB each) and two small biases, new bytes in every epoch.

The files are written by `writer_python` (the harness's interpreter, ours), not by the side being measured:
the peer's venv has neither safetensors nor torch, and both sides must archive files of the same layout.
Where `safetensors` is missing there, the same layout is written by hand (8-byte header length, JSON header
padded to 8 bytes, the tensors' bytes); where torch is missing, no `.pt` files are written and the torch
rows read "n/a". Neither package is a dependency of Runicorn: `pip install safetensors torch==2.13.0` into
the harness's venv for this benchmark only. Writing the files is not timed; init, scan and finish are. The
writer is a child of the measured process, so the phase's peak RSS is the larger of the two (torch's, about
320 MiB, where torch writes the files), on both sides alike.

Unique bytes (the lower bound of what must be stored): the backbone's tensors once, each epoch's head tensors
once (an epoch's .safetensors and .pt hold the same tensors), and every file's bytes that are not tensor data
(its header, or its zip records and data.pkl).
"""

import json
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

from common import MiB, Params, Report, disk_bytes, run_phases, stopwatch, storage_root

PATTERNS = ["*.safetensors", "*.pt"]
BACKBONE_TENSORS = 16
BIAS_FLOATS = 1024


def sweep(params: Params, report: Report) -> None:
    root = storage_root(params)
    run_seconds, logical, unique, files, formats = [], 0, 0, 0, None
    for index in range(params.runs):
        outputs = Path(params.workdir) / f"outputs_{index}"
        written = generate(params, index, outputs)
        formats = written["formats"]
        for size, tensor_bytes in written["files"]:
            logical += size
            unique += size - tensor_bytes  # headers, zip records
            files += 1
        unique += written["new_tensor_bytes"]
        run_seconds.append(archive_run(root, outputs))
        shutil.rmtree(outputs)
    unique += written["frozen_tensor_bytes"]
    physical = disk_bytes(root)
    report.add("checkpoint files written by", ", ".join(formats), "")
    report.add("checkpoint files", files, "count")
    report.add("logical bytes (outputs offered)", logical, "bytes")
    report.add("unique bytes (lower bound)", unique, "bytes")
    report.add("physical bytes added to the root", physical, "bytes")
    report.add("physical / unique", physical / unique, "ratio")
    report.add("dedup ratio (logical / physical)", logical / physical, "ratio")
    report.add("total time", sum(run_seconds), "s")
    report.add("first run", run_seconds[0], "s")
    if len(run_seconds) > 1:
        report.add("per run after the first (median)", statistics.median(run_seconds[1:]), "s")
    report.add("torch.save files", "yes" if "torch" in " ".join(formats) else "n/a (torch not installed)", "")


def archive_run(root: Path, outputs: Path) -> float:
    import runicorn as rn

    with stopwatch() as watch:
        run = rn.init(path="bench/w3r", storage=str(root))
        # Patterns named: the peer's defaults leave out *.safetensors.
        run.scan_outputs_once(output_dirs=[str(outputs)], patterns=PATTERNS, stable_required=1, min_age_sec=0)
        run.finish()
    return watch.seconds


def generate(params: Params, index: int, outputs: Path) -> dict:
    """Write one run's checkpoints with the writer interpreter; return what it wrote."""
    spec = {"run": index, "outputs": str(outputs), "backbone_mib": params.backbone_mib, "epochs": params.epochs}
    done = subprocess.run([params.writer_python, __file__, "--write", json.dumps(spec)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"writing the checkpoints failed: {done.stderr.strip().splitlines()[-1:]}")
    return json.loads(done.stdout)


# -- the writer side: runs under writer_python, imports numpy, safetensors and torch (never runicorn) ----------


def write_checkpoints(spec: dict) -> dict:
    import numpy as np

    outputs = Path(spec["outputs"])
    outputs.mkdir(parents=True)
    count = BACKBONE_TENSORS
    floats = spec["backbone_mib"] * MiB // 4 // count
    frozen_rng = np.random.default_rng(31)
    backbone = {f"backbone.{i:02d}.weight": frozen_rng.standard_normal(floats, dtype=np.float32)
                for i in range(count)}
    frozen_rng = np.random.default_rng(32)
    backbone.update({f"backbone.{i:02d}.bias": frozen_rng.standard_normal(BIAS_FLOATS, dtype=np.float32)
                     for i in range(count)})
    head_floats = (2 << (spec["run"] % 3)) * MiB // 4  # 2, 4 or 8 MiB per weight tensor: heads differ per run
    save_safetensors, safetensors_name = _safetensors_writer()
    torch = _torch()
    formats = [safetensors_name] + ([f"torch.save (torch {torch.__version__})"] if torch else [])
    files, new_tensor_bytes = [], 0
    for epoch in range(spec["epochs"]):
        rng = np.random.default_rng(1000 * spec["run"] + epoch)
        trained = {**{f"head.fc{j}.weight": rng.standard_normal(head_floats, dtype=np.float32) for j in range(2)},
                   **{f"head.fc{j}.bias": rng.standard_normal(BIAS_FLOATS, dtype=np.float32) for j in range(2)}}
        new_tensor_bytes += sum(array.nbytes for array in trained.values())
        tensors = {**backbone, **trained}
        tensor_bytes = sum(array.nbytes for array in tensors.values())
        path = outputs / f"epoch_{epoch}.safetensors"
        save_safetensors(tensors, path, {"epoch": str(epoch), "run": str(spec["run"])})
        files.append((path.stat().st_size, tensor_bytes))
        if torch:
            path = outputs / f"epoch_{epoch}.pt"
            torch.save({name: torch.from_numpy(array) for name, array in tensors.items()}, path)
            files.append((path.stat().st_size, tensor_bytes))
    return {"files": files, "new_tensor_bytes": new_tensor_bytes, "formats": formats,
            "frozen_tensor_bytes": sum(array.nbytes for array in backbone.values())}


def _safetensors_writer():
    try:
        from safetensors import __version__ as version
        from safetensors.numpy import save_file
    except ImportError:
        return _save_safetensors_by_hand, "safetensors layout written by hand (safetensors not installed)"
    return lambda tensors, path, metadata: save_file(tensors, str(path), metadata=metadata), \
        f"safetensors {version}"


def _save_safetensors_by_hand(tensors: dict, path: Path, metadata: dict) -> None:
    """The layout safetensors writes: sorted names, F32 tensors back to back, the header padded to 8 bytes."""
    import struct

    header, offset = {"__metadata__": metadata}, 0
    names = sorted(tensors)
    for name in names:
        length = tensors[name].nbytes
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape), "data_offsets": [offset, offset + length]}
        offset += length
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as handle:
        handle.write(struct.pack("<Q", len(text)) + text)
        for name in names:
            handle.write(tensors[name].tobytes())


def _torch():
    try:
        import torch
    except ImportError:
        return None
    return torch


if __name__ == "__main__":
    if sys.argv[1] == "--write":
        json.dump(write_checkpoints(json.loads(sys.argv[2])), sys.stdout)
    else:
        run_phases({"sweep": sweep})
