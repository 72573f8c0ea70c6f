"""Runs by alias and tag (issue 12, "Things a user reaches for"): show, restore, diff, export and rm accept
a unique alias; an alias two runs share is a clear error; `ls --tag` and `ls --alias` filter.

The sample runs: A (alias "baseline", tags cv, base), B (alias "sweep", tag cv), C (no alias, no tags)."""

import json

import runicorn as rn
from cli_support import RUN_A, RUN_B, RUN_C, read_members


def _ids(invoke, *args):
    return [r["id"] for r in json.loads(invoke("ls", *args, "--json", expect=0).output)]


def test_show_by_alias(samples, invoke):
    out = invoke("show", "baseline", expect=0).output
    assert out.splitlines()[0] == f"run       {RUN_A}"
    assert json.loads(invoke("show", "sweep", "--json", expect=0).output)["id"] == RUN_B


def test_restore_by_alias(samples, invoke, tmp_path):
    invoke("restore", "baseline", "--code", "--to", tmp_path / "code", expect=0)
    assert (tmp_path / "code" / "pkg" / "old_util.py").is_file()  # A's code, not B's


def test_diff_by_alias(samples, invoke):
    by_alias = json.loads(invoke("diff", "baseline", "sweep", "--json", expect=0).output)
    by_id = json.loads(invoke("diff", RUN_A, RUN_B, "--json", expect=0).output)
    assert by_alias == by_id and by_alias["a"] == RUN_A and by_alias["b"] == RUN_B


def test_export_by_alias(samples, invoke, tmp_path):
    bundle = tmp_path / "baseline.rnbundle"
    invoke("export", "baseline", "-o", bundle, expect=0)
    names = {info.name for info, _ in read_members(bundle)}
    assert any(RUN_A in name for name in names) and not any(RUN_B in name for name in names)


def test_rm_by_alias(samples, invoke):
    out = invoke("rm", "sweep", "--yes", expect=0).output
    assert "deleted 1 run" in out
    assert _ids(invoke) == [RUN_A, RUN_C]


def test_an_alias_two_runs_share_is_a_clear_error(samples, invoke, tmp_path):
    rn.init(path="cv/resnet/baseline", storage=str(samples.root), alias="baseline").finish()
    for args in (["show", "baseline"], ["restore", "baseline", "--code", "--to", tmp_path / "c"],
                 ["diff", "baseline", "sweep"], ["export", "baseline", "-o", tmp_path / "b.rnbundle"],
                 ["rm", "baseline", "--yes"]):
        result = invoke(*args, expect=1)
        message = result.output
        assert "alias 'baseline' matches 2 runs" in message and "Traceback" not in message, (args, message)
        assert RUN_A in message  # names the runs it could mean
    assert len(_ids(invoke)) == 4  # rm removed nothing
    assert not (tmp_path / "c").exists() and not (tmp_path / "b.rnbundle").exists()


def test_ls_filters_by_tag_and_by_alias(samples, invoke):
    assert _ids(invoke, "--tag", "cv") == [RUN_A, RUN_B]
    assert _ids(invoke, "--tag", "base") == [RUN_A]
    assert _ids(invoke, "--tag", "cv", "--tag", "base") == [RUN_A]  # all of them
    assert _ids(invoke, "--tag", "nlp") == []
    assert _ids(invoke, "--alias", "sweep") == [RUN_B]
    text = invoke("ls", "--tag", "base", expect=0).output
    assert RUN_A in text and RUN_B not in text
    assert "tagged nlp" in invoke("ls", "--tag", "nlp", expect=0).output
