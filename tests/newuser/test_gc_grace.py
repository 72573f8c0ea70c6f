"""rm, du and gc when the grace period holds garbage back: each says how many objects, how many bytes,
when they become collectable and how to collect them now (issue 12, "Things that mislead", first item).

The user's steps: `runicorn rm RUN --yes`, then `runicorn du`, `runicorn gc --dry-run`, `runicorn gc`
(which removes nothing: the run's objects were written minutes ago), then `runicorn gc --grace 0s`.
"""

import json
import time

from cli_support import RUN_B, object_files


def _json(invoke, *args):
    return json.loads(invoke(*args, "--json", expect=0).stdout)


def _removed_b(samples, invoke):
    """rm run B; returns (its objects no other run holds, their bytes), as gc with no grace would see them."""
    result = invoke("rm", RUN_B, "--yes", expect=0)
    plan = _json(invoke, "gc", "--dry-run", "--grace", "0s")
    assert plan["objects_to_trash"] > 0 and plan["bytes_to_trash"] > 0
    return result, plan["objects_to_trash"], plan["bytes_to_trash"]


def test_rm_says_gc_reclaims_after_the_grace_period_or_now_with_grace_0s(samples, invoke):
    result, _, _ = _removed_b(samples, invoke)
    out = result.output
    assert "deleted 1 run;" in out
    assert "grace period (1h)" in out and "runicorn gc --grace 0s" in out, out


def test_du_after_rm_says_what_the_grace_period_keeps_instead_of_promising_gc(samples, invoke):
    _, objects, size = _removed_b(samples, invoke)
    usage = _json(invoke, "du")
    assert usage["unreferenced_bytes"] == size
    assert usage["unreferenced_fresh_bytes"] == size  # all of it is younger than the grace period
    assert usage["fresh_until"] is not None and time.time() < usage["fresh_until"] <= time.time() + 3600 + 60

    out = invoke("du", expect=0).output
    assert "`runicorn gc` reclaims 0 B now" in out, out
    assert "younger than the grace period (1h)" in out and "runicorn gc --grace 0s" in out, out


def test_gc_dry_run_says_how_many_objects_and_bytes_the_grace_period_keeps(samples, invoke):
    _, objects, size = _removed_b(samples, invoke)
    out = invoke("gc", "--dry-run", expect=0).output
    assert "would remove 0 unreferenced objects" in out, out
    kept = [line for line in out.splitlines() if "younger than the grace period" in line]
    assert len(kept) == 1, out
    line = kept[0]
    assert line.startswith(f"{objects} unreferenced object{'s' if objects != 1 else ''} (")
    assert "collectable from 20" in line and "now with `runicorn gc --grace 0s`" in line, line


def test_gc_json_counts_what_the_grace_period_kept(samples, invoke):
    _, objects, size = _removed_b(samples, invoke)
    before = object_files(samples.root)
    for args in (("--dry-run",), ()):
        report = _json(invoke, "gc", *args)
        assert report["objects_deleted"] == 0, report
        kept = report["kept_for_grace"]
        assert kept["objects"] == objects and kept["bytes"] == size, report
        assert time.time() < kept["collectable_at"] <= time.time() + 3600 + 60
    assert report["kept_fresh"] >= objects  # the old key no longer says 0 while objects were kept
    assert object_files(samples.root) == before  # nothing left the store


def test_gc_text_says_why_it_removed_nothing_and_how_to_collect_now(samples, invoke):
    _, objects, size = _removed_b(samples, invoke)
    out = invoke("gc", expect=0).output
    assert out.startswith("removed 0 unreferenced objects"), out
    assert "younger than the grace period (1h" in out and ") and kept" in out and "`runicorn gc --grace 0s`" in out, out

    # ... and the advice works: gc --grace 0s takes exactly what was kept.
    report = _json(invoke, "gc", "--grace", "0s")
    assert report["objects_deleted"] == objects and report["bytes_freed"] == size, report
    assert report["kept_for_grace"]["objects"] == 0
    assert _json(invoke, "du")["unreferenced_bytes"] == 0
    assert "younger than the grace period" not in invoke("gc", expect=0).output
