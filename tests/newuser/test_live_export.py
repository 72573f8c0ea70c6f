"""Exporting a run that is still training (issue 12, "Things that surprise"): export warns that the run is
live; importing a later export of it (once finished) into the root that holds the older, unfinished copy
updates that copy; a different run that happens to have the same id is still refused."""

import json

import runicorn as rn
from newuser_support import LiveRun

RUN = "20250801_120000_11ve01"


def _ls(invoke, root):
    return {r["id"]: r for r in json.loads(invoke("ls", "--json", storage=root, expect=0).output)}


def test_export_of_a_live_run_warns_and_a_later_export_updates_the_imported_copy(storage_root, invoke, tmp_path):
    cluster, laptop, impostor_root = storage_root, tmp_path / "laptop", tmp_path / "other-lab"
    with LiveRun(tmp_path / "script", cluster, RUN, interval=0.05) as live:
        live.wait_rows(3)
        early = invoke("export", RUN, "-o", tmp_path / "early.rnbundle", expect=0)
        assert f"warning: run {RUN} is still running" in early.stderr, early.output
        assert "export it again once it finished" in early.stderr
        invoke("import", tmp_path / "early.rnbundle", storage=laptop, expect=0)
        early_rows = len(rn.Api(str(laptop)).run(RUN).history())
        finished = live.stop()
    steps = int(finished.stdout.strip())
    assert early_rows < steps
    assert _ls(invoke, laptop)[RUN]["status"] != "finished"

    # Another lab's run that happens to carry the same id is not this run: refused, the copy untouched.
    rn.init(path="live/train", storage=str(impostor_root), run_id=RUN).finish()
    invoke("export", RUN, "-o", tmp_path / "impostor.rnbundle", storage=impostor_root, expect=0)
    refused = invoke("import", tmp_path / "impostor.rnbundle", storage=laptop, expect=1)
    assert RUN in refused.output, refused.output
    assert len(rn.Api(str(laptop)).run(RUN).history()) == early_rows

    # The run, finished, exported again: importing it updates the unfinished copy.
    late = invoke("export", RUN, "-o", tmp_path / "late.rnbundle", expect=0)
    assert "still running" not in late.output
    imported = invoke("import", tmp_path / "late.rnbundle", storage=laptop, expect=0)
    assert f"updated 1 run held here unfinished to their later state: {RUN}" in imported.output, imported.output
    copy = _ls(invoke, laptop)[RUN]
    assert copy["status"] == "finished" and copy["ended_at"] is not None
    history = rn.Api(str(laptop)).run(RUN).history()
    assert [row["_step"] for row in history] == list(range(1, steps + 1))  # all rows
    assert rn.Api(str(laptop)).run(RUN).history() == rn.Api(str(cluster)).run(RUN).history()
    invoke("verify", storage=laptop, expect=0)

    # Once it holds the finished run, the impostor is refused still, and the same bundle changes nothing.
    invoke("import", tmp_path / "impostor.rnbundle", storage=laptop, expect=1)
    again = json.loads(invoke("import", tmp_path / "late.rnbundle", "--json", storage=laptop, expect=0).output)
    assert again["skipped_runs"] == [RUN] and again["updated_runs"] == []
