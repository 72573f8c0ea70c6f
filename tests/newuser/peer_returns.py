"""What every SDK call of the seed's SDK overview returns, here and in Runicorn 0.7.2, side by side.

Not a test (pytest does not collect it): a script to run by hand.

    python tests/newuser/peer_returns.py [OUR_PYTHON] [PEER_PYTHON]

OUR_PYTHON defaults to /work/main/.venv/bin/python; PEER_PYTHON to
~/.cache/runicorn-bench/peer-venv/bin/python (runicorn 0.7.2, installed nowhere else). Each interpreter runs
the same driver (the calls of /work/shared/seed/sdk-overview.txt, plus the save=True, image and outputs
variants its table names) in a fresh folder with its own HOME and storage root, and prints the type and
shape of each return value; tests/newuser/test_sdk_returns.py pins ours where 0.7 scripts rely on them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

OURS = "/work/main/.venv/bin/python"
PEER = os.path.expanduser("~/.cache/runicorn-bench/peer-venv/bin/python")

DRIVER = r'''
import json, logging, os, re, sys
from pathlib import Path

import numpy as np
import runicorn as rn

HEX = re.compile(r"^[0-9a-f]{16,}$")


def shape(value, depth=0):
    if value is None or isinstance(value, (bool, int, float)):
        return "None" if value is None else type(value).__name__
    if isinstance(value, str):
        if value.startswith("blake3:"):
            return "str(blake3:hex)"
        if HEX.match(value):
            return f"str(hex{len(value)})"
        return "str(path)" if os.sep in value else "str"
    if isinstance(value, dict):
        if depth >= 3:
            return "dict"
        return "{" + ", ".join(f"{k}: {shape(v, depth + 1)}" for k, v in sorted(value.items())) + "}"
    if isinstance(value, (list, tuple)):
        inner = shape(value[0], depth + 1) if value else ""
        return f"{type(value).__name__}[{inner}]"
    if isinstance(value, logging.Handler):
        return "logging.Handler"
    return type(value).__name__


def report(call, value):
    print(json.dumps({"call": call, "shape": shape(value)}), flush=True)


def call(name, fn):
    try:
        value = fn()
    except Exception as exc:  # a call that fails is a result too
        print(json.dumps({"call": name, "shape": f"raises {type(exc).__name__}: {str(exc)[:60]}"}), flush=True)
        return None
    report(name, value)
    return value


work = Path.cwd()
(work / "data" / "train").mkdir(parents=True)
(work / "data" / "train" / "0.csv").write_text("x,y\n1,2\n")
(work / "weights").mkdir()
(work / "weights" / "model.bin").write_bytes(b"w" * 1000)
(work / "out").mkdir()
(work / "out" / "ckpt.pt").write_bytes(b"c" * 1000)
storage = str(work / "root")

run = call("rn.init(path, alias, capture_console, snapshot_code)",
           lambda: rn.init(path="cv/resnet50/baseline", alias="trial-01", storage=storage, capture_console=True,
                           snapshot_code=True))
call("run.set_primary_metric('val_acc', mode='max')", lambda: run.set_primary_metric("val_acc", mode="max"))
call("run.log_config(extra=...)", lambda: run.log_config(extra={"lr": 1e-3, "epochs": 10, "batch_size": 64}))
call("run.log({...}, step=1, stage='epoch_1')",
     lambda: run.log({"train_loss": 0.42, "val_acc": 0.88}, step=1, stage="epoch_1"))
call("run.log_text('finished warmup')", lambda: run.log_text("finished warmup"))
call("run.get_logging_handler()", lambda: run.get_logging_handler())
call("run.log_dataset('train', './data/train', context='train')",
     lambda: run.log_dataset("train", "./data/train", context="train"))
call("run.log_dataset(..., save=True)", lambda: run.log_dataset("train-saved", "./data/train", save=True))
call("run.log_pretrained('bert-base-uncased', source_type='huggingface')",
     lambda: run.log_pretrained("bert-base-uncased", path_or_uri="bert-base-uncased", source_type="huggingface"))
call("run.log_pretrained(local dir, save=True)",
     lambda: run.log_pretrained("backbone", path_or_uri="./weights", save=True, source_type="local"))
call("run.log_image(key, ndarray, step=1)", lambda: run.log_image("samples", np.zeros((8, 8, 3), np.uint8), step=1))
call("run.scan_outputs_once(output_dirs, stable_required=1, min_age_sec=0)",
     lambda: run.scan_outputs_once(output_dirs=["./out"], stable_required=1, min_age_sec=0))
call("run.scan_outputs_once(...) again, nothing new",
     lambda: run.scan_outputs_once(output_dirs=["./out"], stable_required=1, min_age_sec=0))
call("run.watch_outputs(output_dirs, interval_sec=30)",
     lambda: run.watch_outputs(output_dirs=["./out"], interval_sec=30))
call("run.stop_outputs_watch()", lambda: run.stop_outputs_watch())
call("run.summary({...})", lambda: run.summary({"notes": "first stable run"}))
call("run.finish()", lambda: run.finish())
call("run.is_finished", lambda: run.is_finished)


def with_block():
    with rn.init(path="nlp/bert-finetune/base", alias="lr-1e5", storage=storage) as inner:
        entered = inner
    return entered


call("with rn.init(...) as run: (run)", with_block)
'''


def run_driver(python: str) -> tuple[str, dict[str, str]]:
    """(version, call -> shape) from one interpreter."""
    with tempfile.TemporaryDirectory(prefix="peer-returns-") as folder:
        work = Path(folder) / "work"
        home = Path(folder) / "home"
        work.mkdir()
        home.mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNICORN", "PYTHONPATH", "XDG_"))}
        env.update(HOME=str(home), PYTHONWARNINGS="ignore")
        version = subprocess.run([python, "-c", "import runicorn; print(runicorn.__version__)"], cwd=work, env=env,
                                 capture_output=True, text=True, timeout=120).stdout.strip()
        (work / "driver.py").write_text(DRIVER)
        done = subprocess.run([python, "driver.py"], cwd=work, env=env, capture_output=True, text=True, timeout=300)
        shapes = {}
        for line in done.stdout.splitlines():
            if line.startswith("{"):
                record = json.loads(line)
                shapes[record["call"]] = record["shape"]
        if done.returncode != 0:
            shapes["(driver)"] = f"exit {done.returncode}: {done.stderr.strip().splitlines()[-1:]}"
        return version, shapes


def main() -> None:
    ours_python = sys.argv[1] if len(sys.argv) > 1 else OURS
    peer_python = sys.argv[2] if len(sys.argv) > 2 else PEER
    ours_version, ours = run_driver(ours_python)
    peer_version, peer = run_driver(peer_python)
    calls = list(dict.fromkeys([*ours, *peer]))
    print(f"| call | ours ({ours_version}) | runicorn {peer_version} | same |")
    print("|---|---|---|---|")
    for name in calls:
        a, b = ours.get(name, "-"), peer.get(name, "-")
        print(f"| `{name}` | {a} | {b} | {'yes' if a == b else 'no'} |")


if __name__ == "__main__":
    main()
