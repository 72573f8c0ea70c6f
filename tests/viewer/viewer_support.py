"""Sample storage roots for the viewer tests, made through the public SDK (and a little damage by hand)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import runicorn as rn

XSS = "<img src=x onerror=alert(1)>"
LOSS = [0.9, 0.7, 0.4375, 0.3, 0.25]  # 0.4375 is exact in binary: its hover text is exactly "0.4375"


@dataclass
class Sample:
    root: Path
    ids: dict = field(default_factory=dict)  # name -> run id


def get(client, url, status=200, **params):
    """GET through the test client; the answer must have ``status``; its JSON."""
    response = client.get(url, params=params)
    assert response.status_code == status, response.text
    return response.json()


def _png(seed: int) -> bytes:
    from PIL import Image

    image = Image.new("RGB", (8, 8), (seed * 40 % 256, 100, 200))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _workspace(folder: Path, model_body: str) -> Path:
    (folder / "pkg").mkdir(parents=True, exist_ok=True)
    (folder / "train.py").write_text("from pkg.model import Model\nprint(Model().forward(2))\n")
    (folder / "pkg" / "model.py").write_text(model_body)
    (folder / "README.md").write_text("# sample\n")
    return folder


def make_sample(base: Path) -> Sample:
    """Runs of every kind the pages show: finished with everything, an alias that is markup, failed, crashed,
    damaged. Deterministic values; ids are chosen so tests can name them."""
    root = base / "storage"
    sample = Sample(root)
    ws_a = _workspace(base / "ws_a", "class Model:\n    def forward(self, x):\n        return x * 2\n")
    ws_b = _workspace(base / "ws_b", "class Model:\n    def forward(self, x):\n        return x * 3\n")
    outputs = base / "outputs"
    outputs.mkdir()

    run = rn.init(path="cv/resnet/baseline", storage=str(root), run_id="20250101_100000_aaaaaa", alias="seed-1",
                  tags=["baseline", "cv"], snapshot_code=True, workspace_root=str(ws_a), capture_env=True)
    run.set_primary_metric("val_acc", mode="max")
    run.log_config(extra={"lr": 0.001, "epochs": 5, "opt": {"name": "adam", "beta": 0.9}})
    for step, loss in enumerate(LOSS):
        run.log({"loss": loss, "val_acc": 0.5 + step / 10, "phase": "train"}, step=step)
        run.log_text(f"epoch {step} loss={loss}")
    run.log({"loss": float("nan")}, step=5)
    for step in range(3):
        run.log_image("samples", _png(step), step=step, caption=f"sample {step}")
    (outputs / "ckpt.txt").write_text("weights v1\n")
    run.scan_outputs_once(output_dirs=[str(outputs)], stable_required=1, min_age_sec=0)
    (outputs / "ckpt.txt").write_text("weights v2\n")
    os.utime(outputs / "ckpt.txt", (1_700_000_000, 1_700_000_000))
    run.scan_outputs_once(output_dirs=[str(outputs)], stable_required=1, min_age_sec=0)
    run.summary({"final_acc": 0.9, "note": "<script>alert(2)</script>"})
    run.finish()
    sample.ids["alpha"] = run.id

    run = rn.init(path="cv/resnet/lr-sweep", storage=str(root), run_id="20250101_110000_bbbbbb", alias=XSS,
                  tags=["sweep", "<b>bold</b>"], snapshot_code=True, workspace_root=str(ws_b))
    run.set_primary_metric("val_acc", mode="max")
    run.log_config(extra={"lr": 0.01, "epochs": 5, "opt": {"name": "adam", "beta": 0.9}})
    for step in range(5):
        run.log({"loss": 1.0 - step / 10, "val_acc": 0.4 + step / 10}, step=step)
    run.log_text(XSS)
    run.summary({"final_acc": 0.8})
    run.finish()
    sample.ids["xss"] = run.id

    run = rn.init(path="nlp/bert", storage=str(root), run_id="20250102_090000_cccccc", alias="broken", tags=["nlp"])
    run.log({"loss": 2.0}, step=0)
    run.finish("failed")
    sample.ids["failed"] = run.id

    sample.ids["crashed"] = "20250102_100000_dddddd"
    crash = textwrap.dedent(f"""
        import os, runicorn as rn
        run = rn.init(path="nlp/bert", storage={str(root)!r}, run_id={sample.ids['crashed']!r}, alias="killed")
        run.log({{"loss": 3.0}}, step=0)
        os._exit(0)  # no finish, no exit hook: what kill -9 leaves
    """)
    subprocess.run([sys.executable, "-c", crash], check=True, env={**os.environ, "RUNICORN_ON": "1"})

    run = rn.init(path="nlp/bert", storage=str(root), run_id="20250102_110000_eeeeee", alias="damaged")
    run.finish()
    (run.run_dir / "run.json").write_text("{not json")
    sample.ids["damaged"] = "20250102_110000_eeeeee"
    return sample
