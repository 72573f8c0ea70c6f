"""The two code examples of the users' SDK documentation run verbatim, and the read API sees what they logged."""

from __future__ import annotations

import math
import re

from sdk_support import TIMESTAMP, only_run

# Copied verbatim from the SDK overview ("Minimal example").
MINIMAL_EXAMPLE = '''\
import runicorn as rn

run = rn.init(
    path="cv/resnet50/baseline",
    alias="trial-01",
    capture_console=True,
    snapshot_code=True,
) 

run.set_primary_metric("val_acc", mode="max")
run.log_config(extra={"lr": 1e-3, "epochs": 10, "batch_size": 64})
run.log({"train_loss": 0.42, "val_acc": 0.88}, step=1, stage="epoch_1")
run.log_text("finished warmup")
run.summary({"notes": "first stable run"})
run.finish()
'''

# Copied verbatim from the SDK overview ("A realistic training pattern").
TRAINING_EXAMPLE = '''\
import logging
import runicorn as rn

logger = logging.getLogger(__name__)

with rn.init(
    path="nlp/bert-finetune/base",
    alias="lr-1e5",
    capture_console=True,
    snapshot_code=True,
) as run:
    run.set_primary_metric("eval/f1", mode="max")
    logger.addHandler(run.get_logging_handler())

    run.log_config(extra={"lr": 1e-5, "epochs": 3})
    run.log_dataset("train", "./data/train", context="train")
    run.log_pretrained(
        "bert-base-uncased",
        path_or_uri="bert-base-uncased",
        source_type="huggingface",
    )

    for step in range(1, 101):
        run.log({"train/loss": 1.0 / step}, step=step, stage="epoch_1")

    run.summary({"final_f1": 0.91})
'''


def test_minimal_example(script, tmp_path, api):
    result = script(MINIMAL_EXAMPLE, name="train.py", cwd=tmp_path / "project").run()
    assert result.returncode == 0, result.stderr

    run = only_run(api)
    assert api.run(run.id).id == run.id
    assert re.fullmatch(r"\d{8}_\d{6}_[0-9a-f]{6}", run.id)
    assert (run.path, run.alias, run.tags) == ("cv/resnet50/baseline", "trial-01", [])
    assert run.status == "finished"
    assert run.error is None
    assert run.summary == {"notes": "first stable run"}
    assert run.config["extra"] == {"lr": 1e-3, "epochs": 10, "batch_size": 64}
    assert run.primary_metric == {"name": "val_acc", "mode": "max", "best": 0.88, "step": 1}
    assert run.best == 0.88

    rows = run.history()
    assert [{k: v for k, v in row.items() if k != "_time"} for row in rows] == [
        {"_step": 1, "_stage": "epoch_1", "train_loss": 0.42, "val_acc": 0.88}]
    assert isinstance(rows[0]["_time"], float) and rows[0]["_time"] >= run.created_at - 1
    assert run.history(["val_acc"]) == [{"_step": 1, "val_acc": 0.88}]
    assert run.metric_keys() == {"train_loss": {"count": 1, "last": 0.42}, "val_acc": {"count": 1, "last": 0.88}}

    log_lines = run.text_log().splitlines()
    assert [line for line in log_lines if line.endswith("finished warmup")] == [log_lines[-1]]
    assert re.fullmatch(TIMESTAMP + "finished warmup", log_lines[-1])
    # snapshot_code=True: the manifest names a code tree
    assert [entry["type"] for entry in run.manifest() if entry["role"] == "code"] == ["tree"]


def test_training_example(script, tmp_path, api):
    result = script(TRAINING_EXAMPLE, name="train.py", cwd=tmp_path / "project").run()
    assert result.returncode == 0, result.stderr

    run = only_run(api)
    assert (run.path, run.alias, run.status) == ("nlp/bert-finetune/base", "lr-1e5", "finished")
    assert run.summary == {"final_f1": 0.91}
    assert run.config["extra"] == {"lr": 1e-5, "epochs": 3}
    assert run.primary_metric == {"name": "eval/f1", "mode": "max", "best": None, "step": None}

    rows = run.history()
    assert [row["_step"] for row in rows] == list(range(1, 101))
    assert all(row["_stage"] == "epoch_1" for row in rows)
    assert all(math.isclose(row["train/loss"], 1.0 / row["_step"]) for row in rows)
    assert run.history(["train/loss"])[-1] == {"_step": 100, "train/loss": 0.01}
    assert run.metric_keys() == {"train/loss": {"count": 100, "last": 0.01}}

    assets = run.assets()
    assert [e["name"] for e in assets["dataset"]] == ["train"]
    assert assets["dataset"][0]["context"] == "train"
    assert [e["name"] for e in assets["pretrained"]] == ["bert-base-uncased"]
    assert assets["pretrained"][0]["source_type"] == "huggingface"
    assert "code" in assets

    # capture_console=True: what the script wrote to the terminal (the missing-dataset warning) is
    # in the text log too, each line timestamped.
    text = run.text_log()
    assert result.stderr.strip(), "the example's missing ./data/train should produce a warning"
    for line in result.stderr.splitlines():
        assert re.search("^" + TIMESTAMP + re.escape(line) + "$", text, re.M), line
