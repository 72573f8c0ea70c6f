"""Hostile bundles, damaged run folders and damaged stores: each with the exact outcome it must have.

Whatever the damage: no traceback, a clear one-line error and exit 1 where
something is refused, nothing written outside the storage root (besides the
folder or bundle a command was asked to write), nothing lost inside it, every
other run still usable, and ``rm`` able to remove a damaged run.

- A. hostile bundles, built by tar surgery from a real export of sample runs A and B
  (tests/cli/cli_support.py) and the damaged run files of tests/data/corpus;
- B. run folders damaged in place: a table of damage x command, one expectation per cell;
- C. damaged stores: objects that are not files, a missing config, a missing or odd runs/,
  an object that cannot be read.

tests/cli/test_cli_hostile_bundles.py covers malformed tar members (links, devices,
``..`` names, truncation, wrong hashes); the bundle cases here are about what the
members say.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from cli_support import (OWN, OWN_PATH, RUN_A, RUN_B, RUN_C, Invoker, disk_state, file_tree, object_path, read_members,
                         tar_bytes)
from corpus_support import (SMALL_BUNDLE, assert_no_traceback, copy_root, damage_folder, damage_members, error_line,
                            flip_byte, header, manifest_ids, objects_of, outside, plant_garbage, rehome, run_file_case,
                            run_file_cases, run_member_index, set_mtime, unlistable, unreadable_file)
from runicorn.runfolder.timeline import check, iter_rows

PATH_A = "cv/resnet/baseline"
NEW_ID = "20250301_000000_dddd04"
DEEP_LINE = b"[" * 100_000 + b"]" * 100_000 + b"\n"  # a manifest line 100 000 levels deep (200 kB: made here)


def fill(text: str, names: dict) -> str:
    """``text`` with ``{name}`` replaced (JSON braces stay as they are)."""
    for key, value in names.items():
        text = text.replace("{" + key + "}", value)
    return text


def a_dir(root: Path) -> Path:
    return root / "runs" / PATH_A / RUN_A


# =====================================================================================================
# A. Hostile bundles
# =====================================================================================================


@pytest.fixture(scope="session")
def cv_members(sample_template, tmp_path_factory):
    """The members of a real export of sample runs A and B (`export --path cv`)."""
    bundle = tmp_path_factory.mktemp("export") / "cv.rnbundle"
    Invoker(sample_template.root)("export", "--path", "cv", "-o", bundle, expect=0)
    return read_members(bundle)


@pytest.fixture
def target(target_template, tmp_path):
    """The target root inside a sentinel folder that holds a file of its own: nothing may change beside the root."""
    root = copy_root(target_template, tmp_path / "sentinel" / "root")
    (tmp_path / "sentinel" / "beside.txt").write_text("untouched\n")
    return root


def refuse(invoke, bundle: Path, target: Path, says: str) -> str:
    """Import must exit 1 with one line saying ``says``, and change nothing in or beside the root."""
    before = disk_state(target.parent)
    result = invoke("import", bundle, storage=target)
    assert result.exit_code == 1, result.output
    line = error_line(result)
    assert says in line, line
    assert result.stdout == ""
    assert disk_state(target.parent) == before
    assert_target_runs_intact(invoke, target)
    return line


def assert_target_runs_intact(invoke, target: Path, *also: str) -> None:
    listed = json.loads(invoke("ls", "--json", storage=target, expect=0).stdout)
    assert sorted(r["id"] for r in listed) == sorted([OWN, *also])
    assert json.loads(invoke("show", OWN, "--json", storage=target, expect=0).stdout)["status"] == "finished"
    assert json.loads(invoke("verify", "--json", storage=target, expect=0).stdout)["ok"] is True


def write_bundle(tmp_path: Path, members) -> Path:
    path = tmp_path / "hostile.rnbundle"
    path.write_bytes(tar_bytes(members))
    return path


def test_the_unchanged_export_imports_into_the_target(cv_members, target, invoke, tmp_path):
    """The control: the cases below are refused for what they change, not for the target or the export."""
    invoke("import", write_bundle(tmp_path, cv_members), storage=target, expect=0)
    assert_target_runs_intact(invoke, target, RUN_A, RUN_B)


def test_a_run_id_that_climbs_out_of_runs_is_refused_and_rm_of_such_a_run_stays_inside(cv_members, target, invoke,
                                                                                        tmp_path):
    """run.json says id "../../../tmp/x": refused; and a run folder in place that says so is removed inside runs/."""
    members = damage_members(cv_members, RUN_A, run_file_case("identity-id-traversal"))
    refuse(invoke, write_bundle(tmp_path, members), target, "'../../../tmp/x' is invalid")

    # The same run.json in a run folder of the root: rm must use the folder's name, never the file's id.
    own = target / "runs" / OWN_PATH / OWN
    identity = json.loads((own / "run.json").read_text())
    (own / "run.json").write_text(json.dumps({**identity, "id": "../../../tmp/x"}))
    beside = outside(disk_state(tmp_path), "sentinel/root", "hostile.rnbundle")
    listed = json.loads(invoke("ls", "--json", storage=target, expect=0).stdout)
    assert [(r["id"], r["status"]) for r in listed] == [(OWN, "damaged")]
    result = invoke("rm", "--path", OWN_PATH, "--yes", storage=target, expect=0)
    assert_no_traceback(result)
    assert "deleted 1 run;" in result.stdout
    assert outside(disk_state(tmp_path), "sentinel/root", "hostile.rnbundle") == beside
    assert not own.exists() and list((target / "runs" / ".trash").iterdir()) == []
    assert not (tmp_path / "sentinel" / "tmp").exists() and not (target / "tmp").exists()
    assert json.loads(invoke("ls", "--json", storage=target, expect=0).stdout) == []


def test_a_folder_named_innocent_whose_run_json_claims_a_run_of_the_root_is_refused(cv_members, target, invoke,
                                                                                   tmp_path):
    members = rehome(cv_members, RUN_A, "imported", "innocent", id=OWN, path=OWN_PATH)
    refuse(invoke, write_bundle(tmp_path, members), target, "does not match where the folder lies")


def test_a_run_with_the_id_of_a_run_of_the_root_under_another_path_is_refused(cv_members, target, invoke, tmp_path):
    members = rehome(cv_members, RUN_A, "imported", OWN)
    refuse(invoke, write_bundle(tmp_path, members), target, f"a different run with id {OWN} already exists here")


def test_a_second_run_landing_on_a_folder_that_holds_runs_refuses_the_first_too(cv_members, target, invoke, tmp_path):
    """B would land at runs/local/own, the folder that holds the root's run: nothing is imported, A neither."""
    members = rehome(cv_members, RUN_B, "local", "own")
    assert [r["id"] for r in header(members)["runs"]] == [RUN_A, "own"]
    line = refuse(invoke, write_bundle(tmp_path, members), target, "would land in")
    assert "already exists" in line


def test_a_second_run_landing_inside_a_run_folder_refuses_the_first_too(cv_members, target, invoke, tmp_path):
    members = rehome(cv_members, RUN_B, f"{OWN_PATH}/{OWN}", "nested")
    refuse(invoke, write_bundle(tmp_path, members), target, f"would land inside the folder of run {OWN}")


def test_the_two_run_bundle_with_a_free_place_imports_both(cv_members, target, invoke, tmp_path):
    """The control of the two cases above: the same surgery to a free place imports."""
    members = rehome(cv_members, RUN_B, "local/elsewhere", NEW_ID)
    invoke("import", write_bundle(tmp_path, members), storage=target, expect=0)
    assert_target_runs_intact(invoke, target, RUN_A, NEW_ID)


@pytest.mark.parametrize("pax_mtime", ["1e30", "-1e30", "nan", "inf"])
def test_a_member_with_an_absurd_pax_mtime_imports_without_keeping_it(cv_members, target, invoke, tmp_path, pax_mtime):
    """docs/format.md section 10: a member's mtime outside 1970-2100 is not kept; the bundle is otherwise fine."""
    members = set_mtime(cv_members, run_member_index(cv_members, RUN_A, "run.json"), pax_mtime)
    objects = [i for i, (info, _) in enumerate(members) if info.name.startswith("objects/")]
    members = set_mtime(members, objects[0], pax_mtime)
    beside = outside(disk_state(tmp_path / "sentinel"), "root")
    result = invoke("import", write_bundle(tmp_path, members), storage=target)
    assert_no_traceback(result)
    assert result.exit_code == 0, result.output
    assert outside(disk_state(tmp_path / "sentinel"), "root") == beside
    assert_target_runs_intact(invoke, target, RUN_A, RUN_B)
    mtime = os.stat(target / "runs" / PATH_A / RUN_A / "run.json").st_mtime
    assert 0 <= mtime <= 4102444800


# Every damaged run file of the corpus, put into run A inside the bundle: refused, saying what is wrong.
BUNDLE_RUN_FILE_CASES = {
    "identity-tags-5": "tags is 5, not a list of strings",
    "identity-created-at-yesterday": "created_at is 'yesterday', not a number",
    "identity-json-list": "run.json is damaged: it is not a Runicorn run identity",
    "identity-not-json": "run.json is not JSON",
    "identity-id-traversal": "'../../../tmp/x' is invalid",
    "status-json-list": "status.json is damaged: the status is list",
    "status-float-marker-list": "status.json",
    "config-entry-without-path": "config.json is damaged: config file 1's path",
    "manifest-line-list": "manifest.jsonl: line 8 is damaged: the line is list",
    "manifest-line-id-dotdot": "manifest.jsonl: line 8 is damaged: its object reference is not valid",
    "manifest-line-id-sha1": "manifest.jsonl: line 8 is damaged: its object reference is not valid",
    "manifest-line-float-marker-id": "manifest.jsonl: line 8 is damaged",
    "manifest-garbage": "manifest.jsonl: line 1 is not JSON",
    "timeline-unknown-type": "timeline.bin: the record at offset 8 does not read",
    "timeline-float-marker-step": "timeline.bin: the record at offset 8 does not read",
}


def test_every_corpus_case_has_an_expected_bundle_outcome():
    assert sorted(BUNDLE_RUN_FILE_CASES) == run_file_cases()


@pytest.mark.parametrize("case", sorted(BUNDLE_RUN_FILE_CASES))
def test_a_bundle_whose_run_files_do_not_read_is_refused(case, cv_members, target, invoke, tmp_path):
    members = damage_members(cv_members, RUN_A, run_file_case(case))
    line = refuse(invoke, write_bundle(tmp_path, members), target, BUNDLE_RUN_FILE_CASES[case])
    assert f"run {RUN_A} in the bundle does not read" in line


def test_a_manifest_line_nested_too_deeply_in_a_bundle_is_refused(cv_members, target, invoke, tmp_path):
    members = damage_members(cv_members, RUN_A, {"manifest.jsonl.append": DEEP_LINE})
    refuse(invoke, write_bundle(tmp_path, members), target, "manifest.jsonl: line 8")


# =====================================================================================================
# B. Damaged run folders, in place: damage x command
# =====================================================================================================


def corpus(case: str):
    def damage(root: Path, monkeypatch):
        damage_folder(a_dir(root), run_file_case(case))
    return damage


def deep_manifest_line(root: Path, monkeypatch):
    damage_folder(a_dir(root), {"manifest.jsonl.append": DEEP_LINE})


def unlistable_folder(root: Path, monkeypatch):
    return lambda: unlistable(monkeypatch, a_dir(root))


def corrupt_code_tree(root: Path, monkeypatch):
    flip_byte(object_path(root, manifest_ids(a_dir(root))["code"]), 40)


DAMAGES = {
    "undamaged": lambda root, monkeypatch: None,
    "identity-tags-5": corpus("identity-tags-5"),
    "identity-created-at-yesterday": corpus("identity-created-at-yesterday"),
    "identity-json-list": corpus("identity-json-list"),
    "identity-not-json": corpus("identity-not-json"),
    "status-json-list": corpus("status-json-list"),
    "status-float-marker-list": corpus("status-float-marker-list"),
    "manifest-line-list": corpus("manifest-line-list"),
    "manifest-line-id-dotdot": corpus("manifest-line-id-dotdot"),
    "manifest-line-id-sha1": corpus("manifest-line-id-sha1"),
    "manifest-line-float-marker-id": corpus("manifest-line-float-marker-id"),
    "manifest-line-nested-100000-deep": deep_manifest_line,
    "manifest-garbage": corpus("manifest-garbage"),
    "config-entry-without-path": corpus("config-entry-without-path"),
    "timeline-unknown-type": corpus("timeline-unknown-type"),
    "timeline-float-marker-step": corpus("timeline-float-marker-step"),
    "run-folder-unlistable": unlistable_folder,
    "code-tree-bytes-flipped": corrupt_code_tree,
}


@dataclass(frozen=True)
class Cell:
    """What one command must do. ``says``: text its output must hold (stderr; verify: its JSON report).

    exit 0 with nothing to say means a silent stderr; exit 1 means one error line (show of a damaged
    run: only ``damaged:`` lines). ``status``: run A's status in ls (None: not listed). For rm:
    ``then_verify`` is verify's exit code afterwards, and ``then_gc`` whether a gc --grace 0s must
    then make verify pass (a corrupt object nobody needs any more).
    """

    exit: int
    says: tuple[str, ...] = ()
    status: str | None = "finished"
    then_verify: int = 0
    then_gc: bool = False


def ok(*says: str) -> Cell:
    return Cell(0, says)


def fails(*says: str) -> Cell:
    return Cell(1, says)


def listed(status: str | None, *says: str) -> Cell:
    return Cell(0, says, status)


def removed(then_verify: int = 0, then_gc: bool = False) -> Cell:
    return Cell(0, (), then_verify=then_verify, then_gc=then_gc)


RUN_JSON_TAGS = "run.json is damaged: tags is 5, not a list of strings"
RUN_JSON_CREATED = "run.json is damaged: created_at is 'yesterday', not a number"
RUN_JSON_LIST = "run.json is damaged: it is not a Runicorn run identity"
RUN_JSON_NOT_JSON = "run.json is not JSON"
STATUS_LIST = "status.json is damaged: the status is list, not a JSON object"
STATUS_MARKER = "status.json is damaged"
LINE_8 = "manifest.jsonl: line 8 is damaged"
DOTDOT = "'../../etc' is not an object id"
SHA1 = "'sha1:abc' uses hash 'sha1'"
GARBAGE = "manifest.jsonl: line 1 is not JSON"
CONFIG = "config.json is damaged: config file 1's path is None"
TIMELINE = "timeline.bin: the record at offset 8"
UNLISTABLE = f"{RUN_A} cannot be listed: Permission denied"
REFUSED = "refused: gc deletes nothing while it cannot see every reference"

# fmt: off
TABLE: dict[str, dict[str, Cell]] = {
    "undamaged": dict(
        ls=listed("finished"), ls_json=listed("finished"), show_bad=ok(), show_good=ok(),
        restore_bad_config=ok(), restore_bad_code=ok(), restore_good=ok(), verify=ok(),
        gc_dry=ok(), gc=ok(), du=ok(), export_bad=ok(), rm_bad=removed()),
    "identity-tags-5": dict(
        ls=listed("damaged"), ls_json=listed("damaged"), show_bad=fails(RUN_JSON_TAGS), show_good=ok(),
        restore_bad_config=ok(), restore_bad_code=ok(), restore_good=ok(), verify=fails(RUN_JSON_TAGS),
        gc_dry=ok(), gc=ok(), du=ok(RUN_JSON_TAGS), export_bad=fails(RUN_JSON_TAGS), rm_bad=removed()),
    "identity-created-at-yesterday": dict(
        ls=listed("damaged"), ls_json=listed("damaged"), show_bad=fails(RUN_JSON_CREATED), show_good=ok(),
        restore_bad_config=ok(), restore_bad_code=ok(), restore_good=ok(), verify=fails(RUN_JSON_CREATED),
        gc_dry=ok(), gc=ok(), du=ok(RUN_JSON_CREATED), export_bad=fails(RUN_JSON_CREATED), rm_bad=removed()),
    "identity-json-list": dict(
        ls=listed("damaged"), ls_json=listed("damaged"), show_bad=fails(RUN_JSON_LIST), show_good=ok(),
        restore_bad_config=ok(), restore_bad_code=ok(), restore_good=ok(), verify=fails(RUN_JSON_LIST),
        gc_dry=ok(), gc=ok(), du=ok(RUN_JSON_LIST), export_bad=fails(RUN_JSON_LIST), rm_bad=removed()),
    "identity-not-json": dict(
        ls=listed("damaged"), ls_json=listed("damaged"), show_bad=fails(RUN_JSON_NOT_JSON), show_good=ok(),
        restore_bad_config=ok(), restore_bad_code=ok(), restore_good=ok(), verify=fails(RUN_JSON_NOT_JSON),
        gc_dry=ok(), gc=ok(), du=ok(RUN_JSON_NOT_JSON), export_bad=fails(RUN_JSON_NOT_JSON), rm_bad=removed()),
    "status-json-list": dict(
        ls=listed("damaged"), ls_json=listed("damaged"), show_bad=fails(STATUS_LIST), show_good=ok(),
        restore_bad_config=ok(), restore_bad_code=ok(), restore_good=ok(), verify=fails(STATUS_LIST),
        gc_dry=ok(), gc=ok(), du=ok(), export_bad=fails(STATUS_LIST), rm_bad=removed()),
    "status-float-marker-list": dict(
        ls=listed("damaged"), ls_json=listed("damaged"), show_bad=fails(STATUS_MARKER), show_good=ok(),
        restore_bad_config=ok(), restore_bad_code=ok(), restore_good=ok(), verify=fails(STATUS_MARKER),
        gc_dry=ok(), gc=ok(), du=ok(), export_bad=fails(STATUS_MARKER), rm_bad=removed()),
    "manifest-line-list": dict(
        ls=listed("finished"), ls_json=listed("finished"), show_bad=ok(LINE_8), show_good=ok(),
        restore_bad_config=ok(), restore_bad_code=ok(), restore_good=ok(), verify=fails(LINE_8),
        gc_dry=fails(REFUSED, LINE_8), gc=fails(REFUSED, LINE_8), du=ok(LINE_8), export_bad=fails(LINE_8),
        rm_bad=removed()),
    "manifest-line-id-dotdot": dict(
        ls=listed("finished"), ls_json=listed("finished"), show_bad=ok(LINE_8, DOTDOT), show_good=ok(),
        restore_bad_config=ok(), restore_bad_code=ok(), restore_good=ok(), verify=fails(LINE_8, DOTDOT),
        gc_dry=fails(REFUSED, DOTDOT), gc=fails(REFUSED, DOTDOT), du=ok(DOTDOT), export_bad=fails(LINE_8),
        rm_bad=removed()),
    "manifest-line-id-sha1": dict(
        ls=listed("finished"), ls_json=listed("finished"), show_bad=ok(LINE_8, SHA1), show_good=ok(),
        restore_bad_config=ok(), restore_bad_code=ok(), restore_good=ok(), verify=fails(LINE_8, SHA1),
        gc_dry=fails(REFUSED, SHA1), gc=fails(REFUSED, SHA1), du=ok(SHA1), export_bad=fails(LINE_8),
        rm_bad=removed()),
    "manifest-line-float-marker-id": dict(
        ls=listed("finished"), ls_json=listed("finished"), show_bad=ok(LINE_8), show_good=ok(),
        restore_bad_config=ok(), restore_bad_code=ok(), restore_good=ok(), verify=fails(LINE_8),
        gc_dry=fails(REFUSED, LINE_8), gc=fails(REFUSED, LINE_8), du=ok(LINE_8), export_bad=fails(LINE_8),
        rm_bad=removed()),
    "manifest-line-nested-100000-deep": dict(
        ls=listed("finished"), ls_json=listed("finished"), show_bad=ok("manifest.jsonl: line 8"), show_good=ok(),
        restore_bad_config=ok(), restore_bad_code=ok(), restore_good=ok(), verify=fails("manifest.jsonl: line 8"),
        gc_dry=fails(REFUSED, "manifest.jsonl: line 8"), gc=fails(REFUSED, "manifest.jsonl: line 8"),
        du=ok("manifest.jsonl: line 8"), export_bad=fails("manifest.jsonl: line 8"), rm_bad=removed()),
    "manifest-garbage": dict(
        ls=listed("finished"), ls_json=listed("finished"), show_bad=ok(GARBAGE), show_good=ok(),
        restore_bad_config=ok(), restore_bad_code=fails("manifest.jsonl"), restore_good=ok(), verify=fails(GARBAGE),
        gc_dry=fails(REFUSED, GARBAGE), gc=fails(REFUSED, GARBAGE), du=ok(GARBAGE), export_bad=fails(GARBAGE),
        rm_bad=removed()),
    "config-entry-without-path": dict(
        ls=listed("finished"), ls_json=listed("finished"), show_bad=ok(CONFIG), show_good=ok(),
        restore_bad_config=fails("config.json"), restore_bad_code=ok(), restore_good=ok(), verify=fails(CONFIG),
        gc_dry=ok(), gc=ok(), du=ok(), export_bad=fails(CONFIG), rm_bad=removed()),
    "timeline-unknown-type": dict(
        ls=listed("finished"), ls_json=listed("finished"), show_bad=ok(TIMELINE), show_good=ok(),
        restore_bad_config=ok(), restore_bad_code=ok(), restore_good=ok(), verify=fails(TIMELINE),
        gc_dry=ok(), gc=ok(), du=ok(), export_bad=fails(TIMELINE), rm_bad=removed()),
    "timeline-float-marker-step": dict(
        ls=listed("finished"), ls_json=listed("finished"), show_bad=ok(TIMELINE), show_good=ok(),
        restore_bad_config=ok(), restore_bad_code=ok(), restore_good=ok(), verify=fails(TIMELINE),
        gc_dry=ok(), gc=ok(), du=ok(), export_bad=fails(TIMELINE), rm_bad=removed()),
    "run-folder-unlistable": dict(
        ls=listed(None, UNLISTABLE), ls_json=listed(None, UNLISTABLE), show_bad=fails(UNLISTABLE), show_good=ok(),
        restore_bad_config=fails(UNLISTABLE), restore_bad_code=fails(UNLISTABLE), restore_good=ok(),
        verify=fails(UNLISTABLE), gc_dry=fails(REFUSED, UNLISTABLE), gc=fails(REFUSED, UNLISTABLE),
        du=ok(UNLISTABLE), export_bad=fails(UNLISTABLE), rm_bad=Cell(1, (UNLISTABLE,), then_verify=1)),
    "code-tree-bytes-flipped": dict(
        ls=listed("finished"), ls_json=listed("finished"), show_bad=ok(), show_good=ok(),
        restore_bad_config=ok(), restore_bad_code=fails("{code} is corrupt"), restore_good=ok(),
        verify=fails('"corrupt": ["{code}"]', '"{code}": ["' + RUN_A + '"]'),
        gc_dry=fails(REFUSED, "{code}"), gc=fails(REFUSED, "{code}"), du=ok("1 objects the runs refer to cannot be read"),
        export_bad=fails("{code}"), rm_bad=removed(then_verify=1, then_gc=True)),
}
# fmt: on

COMMANDS = ("ls", "ls_json", "show_bad", "show_good", "restore_bad_config", "restore_bad_code", "restore_good",
            "verify", "gc_dry", "gc", "du", "export_bad", "rm_bad")


def test_the_table_is_complete():
    assert set(TABLE) == set(DAMAGES)
    for damage, row in TABLE.items():
        assert tuple(row) == COMMANDS, damage


def command_args(command: str, out: Path) -> tuple:
    return {
        "ls": ("ls",), "ls_json": ("ls", "--json"),
        "show_bad": ("show", RUN_A), "show_good": ("show", RUN_B, "--json"),
        "restore_bad_config": ("restore", RUN_A, "--config", "--to", out / "restored"),
        "restore_bad_code": ("restore", RUN_A, "--code", "--to", out / "restored"),
        "restore_good": ("restore", RUN_B, "--code", "--to", out / "restored"),
        "verify": ("verify", "--json"), "gc_dry": ("gc", "--dry-run"), "gc": ("gc", "--grace", "0s"),
        "du": ("du",), "export_bad": ("export", RUN_A, "-o", out / "a.rnbundle"), "rm_bad": ("rm", RUN_A, "--yes"),
    }[command]


BASELINE_RESTORES = {"restore_bad_config": (RUN_A, "--config"), "restore_bad_code": (RUN_A, "--code"),
                     "restore_good": (RUN_B, "--code")}


@pytest.fixture
def root(sample_template, storage_root) -> Path:
    """A private copy of the sample root (runs A, B, C), as lean as copy_root makes it."""
    copy_root(sample_template.root, storage_root)
    return storage_root


@pytest.fixture(scope="session")
def baseline(sample_template, tmp_path_factory):
    """What the commands print and write on an undamaged copy of the sample root."""
    base = tmp_path_factory.mktemp("baseline")
    root = base / "storage"
    copy_root(sample_template.root, root)
    invoke = Invoker(root)
    seen = {"ls_json": {r["id"]: r for r in json.loads(invoke("ls", "--json", expect=0).stdout)},
            "ls": {line.split()[0]: line.split() for line in invoke("ls", expect=0).stdout.splitlines()[1:]},
            "show_good": invoke("show", RUN_B, "--json", expect=0).stdout.replace(str(root), "<root>")}
    for command, (run, kind) in BASELINE_RESTORES.items():
        invoke("restore", run, kind, "--to", base / command, expect=0)
        seen[command] = file_tree(base / command)
    return seen


def check_output(cell: Cell, command: str, result, names: dict) -> None:
    assert_no_traceback(result)
    assert result.exit_code == cell.exit, f"exit {result.exit_code}, wanted {cell.exit}:\n{result.output}"
    says = [fill(text, names) for text in cell.says]
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    if command == "verify":
        report = json.loads(result.stdout)
        assert report["ok"] is (cell.exit == 0)
        text = json.dumps(report)
        assert all(s in text for s in says), (says, text)
        return
    for s in says:
        assert s in result.stderr, (s, result.stderr)
    if cell.exit == 0 and not says:
        assert lines == [], result.stderr
    if cell.exit != 0 and not (command == "show_bad" and lines and all(x.startswith("damaged: ") for x in lines)):
        assert len(lines) == 1, f"wanted one error line:\n{result.stderr}"


def check_listing(cell: Cell, command: str, result, baseline: dict) -> None:
    if command == "ls_json":
        runs = {r["id"]: r for r in json.loads(result.stdout)}
        assert runs.pop(RUN_A, {}).get("status") == cell.status
        assert runs == {k: v for k, v in baseline["ls_json"].items() if k != RUN_A}
    else:
        rows = {line.split()[0]: line.split() for line in result.stdout.splitlines()[1:]}
        assert (cell.status in rows[RUN_A]) if cell.status else RUN_A not in rows
        rows.pop(RUN_A, None)
        assert rows == {k: v for k, v in baseline["ls"].items() if k != RUN_A}


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("damage", list(TABLE))
def test_damaged_run_folder(damage, command, root, invoke, baseline, tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    names = {"code": manifest_ids(a_dir(root))["code"]}
    garbage = plant_garbage(root)
    blocker = DAMAGES[damage](root, monkeypatch) or contextlib.nullcontext
    cell = TABLE[damage][command]
    root_before = disk_state(root)
    beside_before = outside(disk_state(tmp_path), "storage", "out")

    with blocker():
        result = invoke(*command_args(command, out))
    check_output(cell, command, result, names)
    assert outside(disk_state(tmp_path), "storage", "out") == beside_before
    root_after = disk_state(root)

    if command in ("ls", "ls_json"):
        check_listing(cell, command, result, baseline)
    elif command == "show_good":
        assert result.stdout.replace(str(root), "<root>") == baseline["show_good"]
    elif command.startswith("restore"):
        restored = file_tree(out / "restored") if (out / "restored").exists() else {}
        if cell.exit == 0:
            assert restored == baseline[command]
        else:
            assert [v for v in restored.values() if v[0] == "file"] == []
    elif command == "export_bad":
        assert os.listdir(out) == (["a.rnbundle"] if cell.exit == 0 else [])
    elif command == "gc_dry":
        if cell.exit == 0:
            assert "would remove 1 unreferenced object (" in result.stdout
    elif command == "gc":
        root_after.pop("store/gc.lock", None)
        root_before.pop("store/gc.lock", None)
        gone = {f"store/objects/{garbage[:2]}/{garbage[2:]}"} if cell.exit == 0 else set()
        assert objects_of(root_after) == {k: v for k, v in objects_of(root_before).items() if k not in gone}
        assert [p for p, v in root_after.items() if p.startswith("store/trash/") and v != "dir"] == []
        assert {k: v for k, v in root_after.items() if not k.startswith("store/")} == \
            {k: v for k, v in root_before.items() if not k.startswith("store/")}
    elif command == "rm_bad":
        if cell.exit == 0:  # A's folder (and its emptied path folder) went, through the emptied runs/.trash
            assert os.listdir(root / "runs" / ".trash") == []
            assert {k: v for k, v in root_after.items() if k != "runs/.trash"} == \
                {k: v for k, v in root_before.items() if not k.startswith(f"runs/{PATH_A}")}
        with blocker():
            after = invoke("verify", "--json")
            assert_no_traceback(after)
            assert after.exit_code == cell.then_verify, after.output
            if cell.then_gc:
                invoke("gc", "--grace", "0s", expect=0)
                invoke("verify", expect=0)
            listed = {r["id"] for r in json.loads(invoke("ls", "--json", expect=0).stdout)}
        assert listed == {RUN_B, RUN_C}
    if command != "gc" and not (command == "rm_bad" and cell.exit == 0):
        assert root_after == root_before  # everything else changes nothing in the root, not even an mtime


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\x85"])
def test_a_manifest_name_holding_a_unicode_line_separator_reads_back_exactly(separator, root, invoke, tmp_path):
    """Writers put non-ASCII characters into manifest lines as they are (encode_line, ensure_ascii=False), and
    U+2028, U+2029 and U+0085 are characters, not line ends, in a JSON-lines file."""
    from runicorn.runfolder import encode_line

    name = f"set{separator}one"
    blob = manifest_ids(a_dir(root))["extra.json"]
    record = {"role": "dataset", "name": name, "at": 1.0, "id": f"blake3:{blob}", "type": "blob", "path": f"/d/{name}"}
    damage_folder(a_dir(root), {"manifest.jsonl.append": (encode_line(record) + "\n").encode()})
    shown = json.loads(invoke("show", RUN_A, "--json", expect=0).stdout)
    assert name in [entry["name"] for entry in shown["assets"]["dataset"]], shown["assets"]["dataset"]
    invoke("restore", RUN_A, "--dataset", name, "--to", tmp_path / "out", expect=0)
    assert os.listdir(tmp_path / "out") == [name]

    damage_folder(a_dir(root), {"manifest.jsonl.append": b"[1, 2]\n"})  # a damaged line after it: line 9
    shown = json.loads(invoke("show", RUN_A, "--json", expect=0).stdout)
    assert name in [entry["name"] for entry in shown["assets"]["dataset"]]
    assert len(shown["problems"]) == 1 and "line 9 is damaged" in shown["problems"][0], shown["problems"]


def test_the_corpus_timeline_skips_the_damaged_records_and_goes_on(tmp_path):
    """The timeline-unknown-type file itself: the schema of type 'x' and its rows are skipped and reported; the
    intact schema after them is read."""
    path = tmp_path / "timeline.bin"
    path.write_bytes(run_file_case("timeline-unknown-type")["timeline.bin"])
    assert [(r["_step"], r["loss"]) for r in iter_rows(path)] == [(2, 0.25), (3, 0.125)]
    problems = check(path)
    assert len(problems) == 2 and "offset 8" in problems[0], problems


# =====================================================================================================
# C. Damaged stores
# =====================================================================================================


def shared_blob(root: Path) -> str:
    """The extra.json config blob: A's config file, also in B's code tree."""
    return manifest_ids(a_dir(root))["extra.json"]


def object_is_a_folder(root: Path, monkeypatch, tmp_path: Path):
    path = object_path(root, shared_blob(root))
    path.unlink()
    path.mkdir()


def object_is_a_symlink(root: Path, monkeypatch, tmp_path: Path):
    path = object_path(root, shared_blob(root))
    elsewhere = tmp_path / "elsewhere" / "same-bytes"
    elsewhere.parent.mkdir()
    elsewhere.write_bytes(path.read_bytes())
    path.unlink()
    os.symlink(elsewhere, path)


def config_missing(root: Path, monkeypatch, tmp_path: Path):
    (root / "store" / "config.json").unlink()


def runs_missing(root: Path, monkeypatch, tmp_path: Path):
    shutil.rmtree(root / "runs")


def runs_is_a_file(root: Path, monkeypatch, tmp_path: Path):
    shutil.rmtree(root / "runs")
    (root / "runs").write_text("not a folder\n")


def object_unreadable(root: Path, monkeypatch, tmp_path: Path):
    return lambda: unreadable_file(monkeypatch, object_path(root, manifest_ids(a_dir(root))["code"]))


STORE_DAMAGES = {
    "object-is-a-folder": object_is_a_folder,
    "object-is-a-symlink": object_is_a_symlink,
    "store-config-missing": config_missing,
    "runs-missing": runs_missing,
    "runs-is-a-file": runs_is_a_file,
    "object-unreadable-eacces": object_unreadable,
}

STORE_COMMANDS = {
    "ls": ("ls",), "show": ("show", RUN_A), "verify": ("verify", "--json"), "gc_dry": ("gc", "--dry-run"),
    "gc": ("gc", "--grace", "0s"), "du": ("du",), "export": ("export", RUN_A, "-o", "{out}/a.rnbundle"),
    "import": ("import", str(SMALL_BUNDLE)),
}

NOT_A_FILE = "not a regular file"
NO_CONFIG = "{root}/store holds objects but no config.json"
NO_RUN_A = f"no run with id, alias or id prefix '{RUN_A}'"
RUNS_MISSING = "the store holds objects but {root}/runs is missing"
RUNS_FILE = "{root}/runs is not a folder"
EACCES = "Permission denied"
IMPORTED = "imported 2 runs"

# verify: exit 1 and, per field of its JSON report, texts that field must hold ("{blob}", "{code}": object ids).
# fmt: off
STORE_TABLE = {
    "object-is-a-folder": dict(
        ls=ok(), show=ok(), verify=fails('"unreadable": {"{blob}": "not a regular file"}', RUN_A, RUN_B),
        gc_dry=fails(REFUSED, NOT_A_FILE), gc=fails(REFUSED, NOT_A_FILE), du=ok("cannot be read"),
        export=fails("unreadable objects", NOT_A_FILE), import_=ok()),
    "object-is-a-symlink": dict(
        ls=ok(), show=ok(), verify=fails('"unreadable": {"{blob}": "not a regular file"}',
                                         '"foreign_files": ["objects/{blob_path}"]'),
        gc_dry=fails(REFUSED, NOT_A_FILE), gc=fails(REFUSED, NOT_A_FILE), du=ok("cannot be read"),
        export=fails("unreadable objects", NOT_A_FILE), import_=ok()),
    "store-config-missing": dict(
        ls=ok(), show=fails(NO_CONFIG), verify=fails(NO_CONFIG), gc_dry=fails(NO_CONFIG), gc=fails(NO_CONFIG),
        du=fails(NO_CONFIG), export=fails(NO_CONFIG), import_=fails(NO_CONFIG)),
    "runs-missing": dict(
        ls=ok(), show=fails(NO_RUN_A), verify=fails(RUNS_MISSING), gc_dry=fails(REFUSED, RUNS_MISSING),
        gc=fails(REFUSED, RUNS_MISSING), du=ok(), export=fails(NO_RUN_A), import_=fails("/runs is missing")),
    "runs-is-a-file": dict(
        ls=ok(), show=fails(NO_RUN_A), verify=fails(RUNS_FILE), gc_dry=fails(REFUSED, RUNS_FILE),
        gc=fails(REFUSED, RUNS_FILE), du=ok(), export=fails(NO_RUN_A), import_=fails("runs")),
    "object-unreadable-eacces": dict(
        ls=ok(), show=ok(), verify=fails('"unreadable": {"{code}": "Permission denied"}', '"{code}": ["' + RUN_A),
        gc_dry=fails(REFUSED, EACCES), gc=fails(REFUSED, EACCES), du=ok("cannot be read"),
        export=fails("unreadable objects", EACCES), import_=ok()),
}
# fmt: on


def test_the_store_table_is_complete():
    assert set(STORE_TABLE) == set(STORE_DAMAGES)
    for row in STORE_TABLE.values():
        assert [k.rstrip("_") for k in row] == list(STORE_COMMANDS)


@pytest.mark.parametrize("command", list(STORE_COMMANDS))
@pytest.mark.parametrize("damage", list(STORE_TABLE))
def test_damaged_store(damage, command, root, invoke, tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    ids = manifest_ids(a_dir(root))
    names = {"root": str(root), "blob": ids["extra.json"], "code": ids["code"],
             "blob_path": f"{ids['extra.json'][:2]}/{ids['extra.json'][2:]}"}
    plant_garbage(root)
    blocker = STORE_DAMAGES[damage](root, monkeypatch, tmp_path) or contextlib.nullcontext
    cell = STORE_TABLE[damage]["import_" if command == "import" else command]
    root_before = disk_state(root)
    beside_before = outside(disk_state(tmp_path), "storage", "out")

    with blocker():
        result = invoke(*[str(a).format(out=out) for a in STORE_COMMANDS[command]])
    assert_no_traceback(result)
    assert result.exit_code == cell.exit, f"exit {result.exit_code}, wanted {cell.exit}:\n{result.output}"
    says = [fill(text, names) for text in cell.says]
    if command == "verify" and result.stdout.startswith("{"):
        report = json.loads(result.stdout)
        assert report["ok"] is False
        text = json.dumps(report)
        assert all(s in text for s in says), (says, text)
    else:
        assert all(s in result.stderr for s in says), (says, result.stderr)
        if cell.exit != 0:
            error_line(result)
        elif not says:
            assert result.stderr == ""
    assert outside(disk_state(tmp_path), "storage", "out") == beside_before  # the symlink's target too
    root_after = disk_state(root)
    root_after.pop("store/gc.lock", None)
    root_before.pop("store/gc.lock", None)
    if command == "import" and cell.exit == 0:
        assert IMPORTED in result.stdout
        assert objects_of(root_after).items() >= objects_of(root_before).items()
        return
    assert root_after == root_before  # gc deleted nothing; no config, runs/ or staging folder was made
    if command == "export" and cell.exit != 0:
        assert os.listdir(out) == []


# =====================================================================================================
# The corpus itself
# =====================================================================================================


def test_the_corpus_run_files_belong_to_sample_run_a():
    """The damaged run.json files name run A of cli_support (or say nothing valid about it)."""
    for case in run_file_cases():
        data = run_file_case(case).get("run.json")
        if data is None:
            continue
        try:
            value = json.loads(data)
        except ValueError:
            continue
        value = value[0] if isinstance(value, list) else value
        assert value["path"] == PATH_A and value["id"] in (RUN_A, "../../../tmp/x"), case


def test_the_small_corpus_bundle_imports_and_verifies(invoke, tmp_path):
    root = tmp_path / "fresh"
    invoke("import", SMALL_BUNDLE, storage=root, expect=0)
    assert json.loads(invoke("verify", "--json", storage=root, expect=0).stdout)["ok"] is True
    assert len(json.loads(invoke("ls", "--json", storage=root, expect=0).stdout)) == 2
