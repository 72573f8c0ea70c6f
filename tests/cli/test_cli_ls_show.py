"""`runicorn ls` and `runicorn show`: tables for people, the SPEC §5 JSON shapes, and bad run ids."""

import json

import pytest

from cli_support import AMBIGUOUS_PREFIX, RUN_A, RUN_B, RUN_C


def error_lines(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.strip()]


def assert_one_line_error(result, *needles):
    lines = error_lines(result)
    assert len(lines) == 1, result.output
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert "Traceback" not in result.output


# -- ls ------------------------------------------------------------------------------


def test_ls_table_lists_every_run_with_its_columns(samples, invoke):
    result = invoke("ls", expect=0)
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["ID", "PATH", "ALIAS", "TAGS", "STATUS", "CREATED", "DURATION", "PRIMARY", "METRIC"]
    body = "\n".join(lines[1:])
    for run_id, path in ((RUN_A, "cv/resnet/baseline"), (RUN_B, "cv/resnet/lr-sweep"), (RUN_C, "nlp/bert")):
        assert run_id in body and path in body
    row_a = next(line for line in lines if RUN_A in line)
    assert "baseline" in row_a and "cv,base" in row_a and "finished" in row_a
    assert "val_acc (max): 0.8 @2" in row_a
    row_b = next(line for line in lines if RUN_B in line)
    assert "loss (min): 0.4 @2" in row_b
    row_c = next(line for line in lines if RUN_C in line)
    assert "failed" in row_c
    # oldest first
    assert [line.split()[0] for line in lines[1:]] == [RUN_A, RUN_B, RUN_C]


def test_ls_json_has_the_spec_shape(samples, invoke):
    rows = json.loads(invoke("ls", "--json", expect=0).stdout)
    assert isinstance(rows, list) and [r["id"] for r in rows] == [RUN_A, RUN_B, RUN_C]
    for row in rows:
        assert {"id", "path", "alias", "tags", "status", "created_at", "primary_metric"} <= set(row)
        assert isinstance(row["created_at"], (int, float))
        assert isinstance(row["tags"], list)
    a, b, c = rows
    assert (a["path"], a["alias"], a["tags"], a["status"]) == ("cv/resnet/baseline", "baseline", ["cv", "base"], "finished")
    assert a["primary_metric"] == {"name": "val_acc", "mode": "max", "best": 0.8, "step": 2}
    assert b["primary_metric"] == {"name": "loss", "mode": "min", "best": 0.4, "step": 2}
    assert (c["alias"], c["tags"], c["status"], c["primary_metric"]) == (None, [], "failed", None)


def test_ls_filters_by_path_prefix_and_status(samples, invoke):
    assert [r["id"] for r in json.loads(invoke("ls", "cv", "--json", expect=0).stdout)] == [RUN_A, RUN_B]
    assert [r["id"] for r in json.loads(invoke("ls", "cv/resnet/lr-sweep", "--json", expect=0).stdout)] == [RUN_B]
    assert [r["id"] for r in json.loads(invoke("ls", "--status", "failed", "--json", expect=0).stdout)] == [RUN_C]
    assert json.loads(invoke("ls", "nothing/here", "--json", expect=0).stdout) == []


def test_ls_on_an_empty_root_says_so(storage_root, invoke):
    result = invoke("ls", expect=0)
    assert "no runs" in result.stdout and str(storage_root) in result.stdout
    assert json.loads(invoke("ls", "--json", expect=0).stdout) == []


def test_ls_bad_input(samples, invoke):
    result = invoke("ls", "--status", "sleeping", expect=2)
    assert "sleeping" in result.stderr
    result = invoke("ls", "../etc")
    assert result.exit_code == 2, result.output
    assert "../etc" in result.stderr and "Traceback" not in result.output


def test_ls_lists_a_damaged_run_folder_as_damaged_and_goes_on(samples, invoke):
    """A run.json that does not parse leaves a damaged run, known by its folder; the other runs list as ever."""
    broken = samples.root / "runs" / "cv" / "broken" / "x1"
    broken.mkdir(parents=True)
    (broken / "run.json").write_text("{not json")
    listed = {r["id"]: r for r in json.loads(invoke("ls", "--json", expect=0).stdout)}
    assert sorted(listed) == sorted([RUN_A, RUN_B, RUN_C, "x1"])
    assert (listed["x1"]["status"], listed["x1"]["path"]) == ("damaged", "cv/broken")
    assert {listed[r]["status"] for r in (RUN_A, RUN_B, RUN_C)} <= {"finished", "failed", "interrupted", "crashed"}


# -- show ----------------------------------------------------------------------------


def test_show_prints_identity_summary_config_metrics_and_assets(samples, invoke):
    out = invoke("show", RUN_A, expect=0).stdout
    for needle in (f"run       {RUN_A}", "path      cv/resnet/baseline", "alias     baseline", "tags      cv, base",
                   "status    finished", "val_acc (max): 0.8 @2", "summary:", "final_acc", "config:", "lr",
                   "metrics:", "assets:", "mnist", "backbone", "base.yaml", "samples"):
        assert needle in out, needle
    metrics = out.split("metrics:")[1].split("assets:")[0]
    assert any(line.split()[:3] == ["loss", "3", "0.5"] for line in metrics.splitlines())
    assets = out.split("assets:")[1]
    code_row = next(line for line in assets.splitlines() if line.startswith("code"))
    assert "blake3:" in code_row


def test_show_json_has_the_spec_shape(samples, invoke):
    shown = json.loads(invoke("show", RUN_A, "--json", expect=0).stdout)
    assert {"id", "path", "alias", "tags", "status", "summary", "config", "metrics", "assets"} <= set(shown)
    assert (shown["id"], shown["path"], shown["alias"], shown["tags"], shown["status"]) == \
        (RUN_A, "cv/resnet/baseline", "baseline", ["cv", "base"], "finished")
    assert shown["summary"] == {"final_acc": 0.7, "best_epoch": 2}
    assert shown["config"]["args"] == {"lr": 0.1, "epochs": 3, "opt": {"name": "sgd", "momentum": 0.9}}
    assert shown["config"]["extra"] == {"seed": 1}
    assert [f["name"] for f in shown["config"]["config_files"]] == ["base.yaml", "extra.json"]
    assert shown["metrics"] == {"val_acc": {"count": 3, "last": 0.7}, "loss": {"count": 3, "last": 0.5}}
    assets = shown["assets"]
    assert isinstance(assets, dict)
    assert {"code", "config_file", "dataset", "pretrained", "outputs", "image"} <= set(assets)
    for role in ("code", "dataset", "pretrained", "outputs"):
        assert assets[role][0]["type"] == "tree" and assets[role][0]["id"].startswith("blake3:")
    image = assets["image"][0]
    assert image["type"] == "blob" and isinstance(image["size"], int) and image["size"] > 0


def test_show_accepts_a_unique_prefix(samples, invoke):
    assert json.loads(invoke("show", "20250102", "--json", expect=0).stdout)["id"] == RUN_C


def test_show_of_a_run_with_few_records(samples, invoke):
    shown = json.loads(invoke("show", RUN_C, "--json", expect=0).stdout)
    assert shown["status"] == "failed"
    assert shown["metrics"] == {"loss": {"count": 2, "last": 1.5}}
    assert shown["config"]["args"] == {"lr": 3e-5}
    assert shown["summary"] == {}


def test_show_unknown_run_exits_1_with_one_line_naming_it(samples, invoke):
    result = invoke("show", "nosuchrun", expect=1)
    assert_one_line_error(result, "nosuchrun")
    assert result.stdout == ""


def test_show_ambiguous_prefix_exits_1_naming_the_matches(samples, invoke):
    result = invoke("show", AMBIGUOUS_PREFIX, expect=1)
    assert_one_line_error(result, AMBIGUOUS_PREFIX, RUN_A, RUN_B)


@pytest.mark.parametrize("args", [["show"], ["show", RUN_A, "--bogus"]])
def test_show_usage_errors_exit_2(samples, invoke, args):
    result = invoke(*args, expect=2)
    assert "Usage:" in result.stderr


def test_errors_raise_with_debug(samples, invoke):
    """--debug lets the exception through (a traceback for bug reports) instead of one line."""
    from click.testing import CliRunner

    from runicorn.cli import cli
    from runicorn.errors import RunNotFound

    result = CliRunner().invoke(cli, ["--storage", str(samples.root), "--debug", "show", "nosuchrun"])
    assert isinstance(result.exception, RunNotFound)


def _strict_json(text):
    def refuse(constant):
        raise ValueError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def test_json_output_stays_valid_json_with_nan_and_infinity(storage_root, invoke):
    import runicorn as rn

    run = rn.init(path="nan", storage=str(storage_root), run_id="20250106_000000_0a0a0a")
    run.set_primary_metric("acc", mode="max")
    run.log({"acc": float("nan"), "gap": float("inf")})
    run.log({"acc": 0.5, "gap": float("-inf")})
    run.summary({"score": float("nan")})
    run.finish()
    shown = _strict_json(invoke("show", run.id, "--json", expect=0).stdout)
    assert shown["metrics"] == {"acc": {"count": 2, "last": 0.5}, "gap": {"count": 2, "last": "-Infinity"}}
    assert shown["summary"] == {"score": "NaN"}
    assert _strict_json(invoke("ls", "--json", expect=0).stdout)[0]["primary_metric"]["best"] == 0.5
    table = invoke("show", run.id, expect=0).stdout
    assert "-inf" in table and "nan" in table


def test_a_killed_run_shows_as_crashed_and_rm_needs_no_force(storage_root, invoke):
    """A process that dies without finishing (os._exit skips every hook, like kill -9)."""
    import subprocess
    import sys

    script = ("import os, runicorn as rn\n"
              f"run = rn.init(path='killed', storage={str(storage_root)!r}, run_id='20250107_000000_dead01')\n"
              "os._exit(0)\n")
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    rows = json.loads(invoke("ls", "--json", expect=0).stdout)
    assert [(r["id"], r["status"]) for r in rows] == [("20250107_000000_dead01", "crashed")]
    assert [r["id"] for r in json.loads(invoke("ls", "--status", "crashed", "--json", expect=0).stdout)] == \
        ["20250107_000000_dead01"]
    assert json.loads(invoke("ls", "--status", "running", "--json", expect=0).stdout) == []
    shown = json.loads(invoke("show", "20250107", "--json", expect=0).stdout)
    assert shown["status"] == "crashed" and shown["path"] == "killed"
    invoke("rm", "20250107", "--yes", expect=0)
    assert json.loads(invoke("ls", "--json", expect=0).stdout) == []


@pytest.mark.parametrize("args", [["ls"], ["ls", "--json"], ["show", RUN_A], ["show", RUN_B, "--json"], ["du"],
                                  ["du", "--json"], ["diff", RUN_A, RUN_B], ["verify"], ["gc", "--dry-run"]])
def test_reading_commands_change_nothing_on_disk(samples, invoke, args):
    from cli_support import disk_state

    invoke("gc", "--dry-run", expect=0)  # the gc lock file exists from here on
    before = disk_state(samples.root)
    invoke(*args, expect=0)
    assert disk_state(samples.root) == before
