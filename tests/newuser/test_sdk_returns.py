"""What the SDK returns keeps Runicorn 0.7's shapes where 0.7 scripts rely on them (issue 12, last item).

A script calls every SDK method of the seed's SDK overview (as peer_returns.py does, which prints the
comparison with runicorn 0.7.2 side by side) and reports what each returned; the tests pin the shapes:
scan_outputs_once's counts and entries, log_dataset/log_pretrained returning a dict, log_image a str, and
None, a Run or a logging handler where 0.7 returns those."""

import json
import re

import pytest

from newuser_support import environment, run_script

TAGGED = re.compile(r"^blake3:[0-9a-f]{64}$")

SCRIPT = r'''
import json, logging
from pathlib import Path

import numpy as np
import runicorn as rn

out = {}


def kind(value):
    return "Handler" if isinstance(value, logging.Handler) else type(value).__name__


Path("data/train").mkdir(parents=True)
Path("data/train/0.csv").write_text("x,y\n1,2\n")
Path("weights").mkdir()
Path("weights/model.bin").write_bytes(b"w" * 1000)
Path("checkpoints").mkdir()
Path("checkpoints/last.pt").write_bytes(b"c" * 1000)

run = rn.init(path="cv/resnet50/baseline", alias="trial-01", capture_console=True)
out["init"] = kind(run)
out["run_id"] = run.id
out["set_primary_metric"] = kind(run.set_primary_metric("val_acc", mode="max"))
out["log_config"] = kind(run.log_config(extra={"lr": 1e-3}))
out["log"] = kind(run.log({"train_loss": 0.42, "val_acc": 0.88}, step=1, stage="epoch_1"))
out["log_text"] = kind(run.log_text("finished warmup"))
out["get_logging_handler"] = kind(run.get_logging_handler())
out["log_dataset"] = run.log_dataset("train", "./data/train", context="train")
out["log_dataset_saved"] = run.log_dataset("train-copy", "./data/train", save=True)
out["log_pretrained"] = run.log_pretrained("bert-base-uncased", path_or_uri="bert-base-uncased",
                                           source_type="huggingface")
out["log_pretrained_saved"] = run.log_pretrained("backbone", path_or_uri="./weights", save=True, source_type="local")
image = run.log_image("samples", np.zeros((8, 8, 3), np.uint8), step=1)
out["log_image"] = {"type": kind(image), "value": image}

res = run.scan_outputs_once(output_dirs=["./checkpoints"], stable_required=1, min_age_sec=0)
out["scan_first"] = res
try:
    if res["archived"] > 0:  # what a Runicorn 0.7 script does with the report
        out["script_saw_archived"] = True
except TypeError as exc:  # reported, so the calls after it are still looked at
    out["script_saw_archived"] = f"TypeError: {exc}"
out["scan_again"] = run.scan_outputs_once(output_dirs=["./checkpoints"], stable_required=1, min_age_sec=0)
out["watch_outputs"] = kind(run.watch_outputs(output_dirs=["./checkpoints"], interval_sec=30))
out["stop_outputs_watch"] = kind(run.stop_outputs_watch())
out["summary"] = kind(run.summary({"notes": "first stable run"}))
out["finish"] = kind(run.finish())
with rn.init(path="nlp/bert-finetune/base", alias="lr-1e5") as inner:
    out["with_as"] = kind(inner)
out["images"] = rn.Api().run(run.id).images()
print(json.dumps(out, default=repr))
'''


@pytest.fixture(scope="module")
def returned(tmp_path_factory):
    """What each call returned, from one run of the script (its own folder and storage root)."""
    folder = tmp_path_factory.mktemp("sdk-returns")
    done = run_script(folder, SCRIPT, env=environment(RUNICORN_DIR=folder / "root", HOME=folder))
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_scan_outputs_once_counts_are_ints_as_in_0_7(returned):
    first = returned["scan_first"]
    assert returned.get("script_saw_archived") is True  # `res["archived"] > 0` works
    for key in ("scanned", "archived", "changed"):
        assert type(first[key]) is int, (key, first[key])
    assert (first["scanned"], first["archived"], first["changed"]) == (1, 1, 1)
    assert first["run_id"] == returned["run_id"]
    again = returned["scan_again"]
    assert (again["scanned"], again["archived"], again["changed"], again["archived_entries"]) == (1, 0, 0, [])


def test_scan_outputs_once_archived_entries_is_a_list_of_dicts(returned):
    (entry,) = returned["scan_first"]["archived_entries"]
    assert isinstance(entry, dict)
    assert entry["key"] == "checkpoints/last.pt" and entry["name"] == "last.pt"
    assert entry["kind"] == "file" and entry["saved"] is True and entry["mode"] == "rolling"
    assert entry["path"].endswith("checkpoints/last.pt") and type(entry["archived_at"]) is int
    assert TAGGED.match(entry["id"]) and entry["size"] == 1000


def test_scan_outputs_once_tree_is_a_tagged_id(returned):
    assert TAGGED.match(returned["scan_first"]["tree"]), returned["scan_first"]["tree"]
    assert returned["scan_again"]["tree"] == returned["scan_first"]["tree"]  # nothing new: the same version


def test_scan_outputs_once_extra_keys_are_the_documented_ones(returned):
    first = returned["scan_first"]
    assert set(first) == {"run_id", "scanned", "archived", "changed", "archived_entries",  # 0.7's keys
                          "pending", "unchanged", "skipped", "bytes_read", "mode", "tree"}  # docs/guide.md
    assert first["pending"] == [] and first["skipped"] == [] and type(first["unchanged"]) is int


def test_scan_outputs_once_entries_keep_every_key_of_0_7(returned):
    """0.7.2 gives each entry archive_path, fingerprint_kind and fingerprint too ("more keys are fine", fewer
    are not: a 0.7 script reading entry["fingerprint"] must not break)."""
    (entry,) = returned["scan_first"]["archived_entries"]
    keys_0_7 = {"key", "name", "kind", "path", "saved", "archive_path", "fingerprint_kind", "fingerprint", "mode",
                "archived_at"}
    assert keys_0_7 <= set(entry), f"missing 0.7 keys: {sorted(keys_0_7 - set(entry))}"


def test_log_dataset_returns_a_dict(returned):
    reference, saved = returned["log_dataset"], returned["log_dataset_saved"]
    assert isinstance(reference, dict) and isinstance(saved, dict)
    assert (reference["role"], reference["name"], reference["context"], reference["saved"]) == (
        "dataset", "train", "train", False)
    assert TAGGED.match(reference["fingerprint"]["id"]) and reference["fingerprint"]["files"] == 1
    assert saved["saved"] is True and TAGGED.match(saved["id"]) and saved["id"] == reference["fingerprint"]["id"]


def test_log_pretrained_returns_a_dict(returned):
    hub, local = returned["log_pretrained"], returned["log_pretrained_saved"]
    assert isinstance(hub, dict) and isinstance(local, dict)
    assert (hub["role"], hub["name"], hub["uri"], hub["source_type"], hub["saved"]) == (
        "pretrained", "bert-base-uncased", "bert-base-uncased", "huggingface", False)
    assert local["saved"] is True and TAGGED.match(local["id"])


def test_log_image_returns_a_str_naming_the_stored_image(returned):
    image = returned["log_image"]
    assert image["type"] == "str" and image["value"]
    (row,) = returned["images"]
    assert row["id"] in (image["value"], "blake3:" + image["value"])  # the object the media row names


def test_the_other_calls_return_what_0_7_returns(returned):
    assert returned["init"] == "Run" and returned["with_as"] == "Run"
    assert returned["get_logging_handler"] == "Handler"
    for call in ("set_primary_metric", "log_config", "log", "log_text", "watch_outputs", "stop_outputs_watch",
                 "summary", "finish"):
        assert returned[call] == "NoneType", call
