"""``runicorn demo``: three short simulated trainings that exercise the SDK.

Each run snapshots the example project shipped beside this file, logs config,
metrics, text and an image, and archives outputs whose "backbone" checkpoint
is byte-identical across runs, so ``du`` shows the deduplication.
"""

from __future__ import annotations

import math
import os
import random
import tempfile
import time
from pathlib import Path

import runicorn as rn

EXAMPLE_PROJECT = Path(__file__).resolve().parent / "example_project"
DEMO_PATH = "demo/mnist-mlp"
_BACKBONE_BYTES = 4 << 20
_EPOCHS = 6


def _backbone() -> bytes:
    """Frozen pretrained weights: the same bytes in every run."""
    return random.Random(0).randbytes(_BACKBONE_BYTES)


def _sample_image(seed: int, epoch: int):
    """A 64x64 RGB pattern that changes with seed and epoch, made with pillow alone (numpy is not a dependency)."""
    from PIL import Image

    phase = seed + epoch / _EPOCHS
    blue = round(255 * (epoch + 1) / _EPOCHS)
    pixels = bytearray()
    for y in range(64):
        green = round(255 * (0.5 + 0.5 * math.cos(6.0 * y / 63 - phase)))
        for x in range(64):
            pixels += bytes((round(255 * (0.5 + 0.5 * math.sin(6.0 * x / 63 + phase))), green, blue))
    return Image.frombytes("RGB", (64, 64), bytes(pixels))


def run_demo(storage: str | os.PathLike | None = None, *, seeds=(1, 2, 3), pause: float = 0.15) -> list[str]:
    """Run the demo trainings into ``storage`` (default: the resolved storage root); return the run ids."""
    backbone = _backbone()
    run_ids = []
    for seed in seeds:
        rng = random.Random(seed)
        lr = [3e-3, 1e-2, 3e-2][seed % 3]
        with tempfile.TemporaryDirectory(prefix="runicorn-demo-") as scratch, rn.init(
                path=DEMO_PATH, storage=storage, alias=f"seed-{seed}", tags=["demo"], snapshot_code=True,
                workspace_root=str(EXAMPLE_PROJECT)) as run:
            run.set_primary_metric("val/acc", mode="max")
            run.log_config(extra={"lr": lr, "epochs": _EPOCHS, "batch_size": 64, "seed": seed, "hidden": 128})
            run.log_pretrained("backbone", path_or_uri="hf://runicorn/demo-backbone", source_type="huggingface")
            outputs = Path(scratch) / "outputs"
            checkpoints = outputs / "checkpoints"
            checkpoints.mkdir(parents=True)
            (checkpoints / "backbone.pt").write_bytes(backbone)
            for epoch in range(_EPOCHS):
                loss = 2.3 * math.exp(-lr * 40 * (epoch + 1)) + 0.05 + rng.uniform(0, 0.02)
                acc = min(0.99, 1.0 - loss / 2.5 + rng.uniform(-0.01, 0.01))
                run.log({"train/loss": loss, "val/acc": acc, "lr": lr}, step=epoch + 1, stage=f"epoch_{epoch + 1}")
                run.log_text(f"epoch {epoch + 1}: loss {loss:.4f}, val/acc {acc:.4f}")
                if epoch % 2 == 1:
                    run.log_image("samples", _sample_image(seed, epoch), step=epoch + 1, caption=f"epoch {epoch + 1}")
                time.sleep(pause)
            (checkpoints / "head.pt").write_bytes(rng.randbytes(256 << 10))
            (outputs / "metrics.json").write_text(f'{{"val/acc": {acc:.4f}}}\n')
            run.scan_outputs_once(output_dirs=[outputs], stable_required=1, min_age_sec=0)
            run.summary({"final_loss": loss, "final_acc": acc})
            run_ids.append(run.id)
    return run_ids
