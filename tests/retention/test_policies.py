"""Retention policies: ``plan_retention`` and ``runicorn forget`` on runs made with the real SDK.

One template storage root is built per session (about 45 small runs, each with the creation time the tables
need, written into its ``run.json``). The tables say, for a path prefix and a policy, which runs are kept; each
row is checked through the API (``plan_retention``) and through ``runicorn forget --dry-run --json`` on the
template itself (plans only: ``test_a_dry_run_changes_nothing_on_disk`` checks that they write nothing). Tests
that apply a policy work on a private copy. The other tests apply policies: running and pinned runs are never
touched, a dry run changes nothing on disk, gc then frees exactly what the plan said, and ``--drop-assets``
keeps a run's metrics while its dataset and outputs become unrestorable once gc has collected them.
"""

from __future__ import annotations

import math
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import runicorn as rn
from runicorn.api import Api
from runicorn.retention import DROP_ASSETS, REMOVE, Policy, plan_retention

from retention_support import Invoker, disk_state, manifest_lines, object_files, set_created_at

NAN = math.nan
HOUR = 3600.0
KiB = 1024


@dataclass(frozen=True)
class Spec:
    """One template run: its id and path, primary metric and logged values, age, config, tags, outputs."""

    id: str
    path: str
    age_hours: float
    primary: tuple[str, str] | None = None  # (name, mode)
    values: tuple = ()  # logged under the primary metric's name (or "acc" without one), steps 1, 2, ...
    config: dict | None = None  # {"args": ..., "extra": ...}
    tags: tuple[str, ...] = ()
    outputs: str | None = None  # None, or the mode of 3 archived versions of checkpoints/
    dataset: bool = False  # a saved dataset and one rolling outputs version


ACC, LOSS = ("acc", "max"), ("loss", "min")
SPECS = [
    # best/max: a tie at the top (mx9 is the earlier run, mx1 has the smaller id), NaN and missing values
    Spec("mx9", "best/max", 50, ACC, (0.2, 0.9)),
    Spec("mx1", "best/max", 40, ACC, (0.9,)),
    Spec("mx-mid", "best/max", 30, ACC, (0.7,)),
    Spec("mx-nanthen", "best/max", 25, ACC, (NAN, 0.6)),
    Spec("mx-low", "best/max", 20, ACC, (0.1, 0.5)),
    Spec("mx-nan", "best/max", 10, ACC, (NAN, NAN)),
    Spec("mx-unlogged", "best/max", 9, ACC, ()),  # a primary metric never logged
    Spec("mx-noprimary", "best/max", 8, None, (0.99,)),  # logs acc, but has no primary metric
    # best/min: lower is better; a tie at 0.2 (mn-z is the earlier run)
    Spec("mn-a", "best/min", 30, LOSS, (0.5, 0.3)),
    Spec("mn-b", "best/min", 29, LOSS, (0.1,)),
    Spec("mn-z", "best/min", 28, LOSS, (0.2,)),
    Spec("mn-nan", "best/min", 27, LOSS, (NAN,)),
    Spec("mn-e", "best/min", 26, LOSS, (0.2,)),
    # best/mixed: two primary metrics in one path, ranked apart
    Spec("mix-acc1", "best/mixed", 20, ACC, (0.8,)),
    Spec("mix-acc2", "best/mixed", 19, ACC, (0.7,)),
    Spec("mix-loss1", "best/mixed", 18, LOSS, (0.4,)),
    Spec("mix-loss2", "best/mixed", 17, LOSS, (0.2,)),
    # cfg/sweep: groups by a logged config value (args or extra), and runs without it
    Spec("c1", "cfg/sweep", 10, ACC, (0.6,), {"args": {"lr": 0.1, "bs": 32}}),
    Spec("c2", "cfg/sweep", 9, ACC, (0.8,), {"args": {"lr": 0.1, "bs": 64}}),
    Spec("c3", "cfg/sweep", 8, ACC, (0.7,), {"args": {"lr": 0.01}}),
    Spec("c4", "cfg/sweep", 7, ACC, (0.5,), {"args": {"lr": 0.01}}),
    Spec("c5", "cfg/sweep", 6, ACC, (0.9,), {"args": {"bs": 32}}),
    Spec("c6", "cfg/sweep", 5, ACC, (0.4,)),
    Spec("c7", "cfg/sweep", 4, ACC, (0.85,), {"args": {"bs": 16}, "extra": {"lr": 0.1}}),
    # tags
    Spec("t1", "tags/x", 4, ACC, (0.9,)),
    Spec("t2", "tags/x", 3, ACC, (0.1,), tags=("paper",)),
    Spec("t3", "tags/x", 2, ACC, (0.2,), tags=("baseline", "x")),
    Spec("t4", "tags/x", 1, ACC, (0.3,)),
    # ages (no primary metric)
    Spec("g-old", "age/x", 240),
    Spec("g-3d", "age/x", 72),
    Spec("g-47h", "age/x", 47),
    Spec("g-1h", "age/x", 1),
    # newest per path: ids in another order than creation
    Spec("la-c", "last/a", 5),
    Spec("la-a", "last/a", 4),
    Spec("la-b", "last/a", 3),
    Spec("lb-x", "last/b", 6),
    Spec("lb-y", "last/b", 1),
    # archived output versions (3 each; a small file shared by every version and run)
    Spec("v1", "ver/x", 3, ACC, (0.9,), outputs="overwrite_versions"),
    Spec("v2", "ver/x", 2, ACC, (0.5,), outputs="overwrite_versions"),
    Spec("v3", "ver/x", 1, ACC, (0.4,), outputs="rolling"),
    # saved datasets (sharing one file) and outputs, for --drop-assets
    Spec("d1", "drop/x", 2, ACC, (0.9,), {"args": {"lr": 0.1}}, dataset=True),
    Spec("d2", "drop/x", 1, ACC, (0.5,), {"args": {"lr": 0.2}}, dataset=True),
]
IDS = {spec.path: [s.id for s in SPECS if s.path == spec.path] for spec in SPECS}
SHARED_FILE = b"a b c d\n" * 1000  # in every outputs version and every saved dataset


def under(prefix: str | None) -> set[str]:
    return {s.id for s in SPECS if prefix is None or s.path == prefix or s.path.startswith(prefix + "/")}


def seeded(label: str, size: int = 64 * KiB) -> bytes:
    import random

    return random.Random(label).randbytes(size)


def build_run(spec: Spec, root: Path, sources: Path) -> None:
    run = rn.init(path=spec.path, storage=str(root), run_id=spec.id, tags=list(spec.tags))
    if spec.primary:
        run.set_primary_metric(*spec.primary)
    if spec.config:
        run.log_config(**spec.config)
    name = spec.primary[0] if spec.primary else "acc"
    for step, value in enumerate(spec.values, 1):
        run.log({name: value}, step=step)
    if spec.primary and not spec.values:
        run.log({"other": 1.0}, step=1)
    if spec.outputs:
        folder = sources / spec.id / "checkpoints"
        folder.mkdir(parents=True)
        (folder / "vocab.txt").write_bytes(SHARED_FILE)
        for version in range(1, 4):
            (folder / "last.pt").write_bytes(seeded(f"{spec.id}-{version}"))
            run.log({"epoch": version}, step=10 * version)
            run.scan_outputs_once(output_dirs=[folder], stable_required=1, min_age_sec=0, mode=spec.outputs)
    if spec.dataset:
        data = sources / spec.id / "data"
        data.mkdir(parents=True)
        (data / "labels.txt").write_bytes(SHARED_FILE)
        (data / "shard.bin").write_bytes(seeded(f"{spec.id}-shard"))
        run.log_dataset("train", str(data), save=True)
        folder = sources / spec.id / "checkpoints"
        folder.mkdir(parents=True)
        (folder / "model.pt").write_bytes(seeded(f"{spec.id}-model"))
        run.scan_outputs_once(output_dirs=[folder], stable_required=1, min_age_sec=0)
        run.summary({"final_acc": spec.values[-1]})
    run.finish()


@pytest.fixture(scope="session")
def template(tmp_path_factory):
    """(root, sources, now): the template storage root, the folders its runs saved, and its clock."""
    base = tmp_path_factory.mktemp("retention-template")
    root, sources = base / "storage", base / "sources"
    for spec in SPECS:
        build_run(spec, root, sources)
    now = time.time()
    folders = {v.id: v.run_dir for v in Api(root).runs()}
    for spec in SPECS:
        set_created_at(folders[spec.id], now - spec.age_hours * HOUR)
    return root, sources, now


@pytest.fixture
def root(template, storage_root) -> Path:
    """A private copy of the template root for this test (``invoke`` works on it)."""
    shutil.copytree(template[0], storage_root, symlinks=True)
    return storage_root


@pytest.fixture
def planner(template):
    """(root, invoke, now) on the template itself, for tests that only plan."""
    return template[0], Invoker(template[0]), template[2]


# -- plans as dicts: id -> (kept, action, why, dropped ids) -----------------------------------------------


def cli_plan(invoke, prefix: str | None, args: list[str]) -> dict:
    shown = invoke.json("forget", *([prefix] if prefix else []), *args, "--dry-run", "--json")
    assert shown["dry_run"] is True
    return {r["id"]: (r["kept"], r["action"], r["why"], sorted(r["dropped"])) for r in shown["runs"]}


def api_plan(root: Path, prefix: str | None, policy: Policy, now: float) -> dict:
    plan = plan_retention(Api(root), prefix, policy, now=now)
    return {d.view.id: (d.kept, d.action, d.kept_because, sorted({e.ref.id.tagged for e in d.drops}))
            for d in plan.decisions}


def cli_args(policy: dict) -> list[str]:
    args = []
    for key, value in policy.items():
        if key == "keep_tags":
            args += [item for tag in value for item in ("--keep-tag", tag)]
        elif key == "keep_within":
            args += ["--keep-within", value]
        elif key == "drop_assets":
            args += ["--drop-assets"] if value else []
        else:
            args += ["--" + key.replace("_", "-"), str(value)]
    return args


def api_policy(policy: dict) -> Policy:
    kwargs = {k: v for k, v in policy.items() if k not in ("keep_within", "drop_assets", "keep_tags")}
    if "keep_tags" in policy:
        kwargs["keep_tags"] = tuple(policy["keep_tags"])
    if "keep_within" in policy:
        number, unit = float(policy["keep_within"][:-1]), policy["keep_within"][-1]
        kwargs["keep_within"] = number * {"m": 60, "h": HOUR, "d": 24 * HOUR}[unit]
    return Policy(**kwargs, action=DROP_ASSETS if policy.get("drop_assets") else REMOVE)


def both_plans(root, invoke, now, prefix, policy) -> list[dict]:
    return [api_plan(root, prefix, api_policy(policy), now), cli_plan(invoke, prefix, cli_args(policy))]


# -- which runs a policy keeps -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    prefix: str | None
    policy: dict
    kept: set[str]
    why: dict = field(default_factory=dict)  # id -> exact reasons, where the row pins them down


ROWS = {
    "best 1 of max: the tie goes to the earlier run": Row(
        "best/max", {"keep_best": 1}, {"mx9"}, {"mx9": ["best 1 by acc (max) in best/max"]}),
    "best 2 of max: both tied runs, the earlier ranked first": Row(
        "best/max", {"keep_best": 2}, {"mx9", "mx1"},
        {"mx9": ["best 1 by acc (max) in best/max"], "mx1": ["best 2 by acc (max) in best/max"]}),
    "best 4 of max: NaN before a finite value does not hide it": Row(
        "best/max", {"keep_best": 4}, {"mx9", "mx1", "mx-mid", "mx-nanthen"}),
    "best 10 of max: NaN, unlogged and missing primaries never count": Row(
        "best/max", {"keep_best": 10}, {"mx9", "mx1", "mx-mid", "mx-nanthen", "mx-low"}),
    "best 1 of min": Row("best/min", {"keep_best": 1}, {"mn-b"}, {"mn-b": ["best 1 by loss (min) in best/min"]}),
    "best 2 of min: the tie goes to the earlier run": Row("best/min", {"keep_best": 2}, {"mn-b", "mn-z"}),
    "best 3 of min: both tied runs": Row("best/min", {"keep_best": 3}, {"mn-b", "mn-z", "mn-e"}),
    "best 9 of min: NaN never counts": Row("best/min", {"keep_best": 9}, {"mn-a", "mn-b", "mn-z", "mn-e"}),
    "best 1 per path, per primary metric": Row(
        "best", {"keep_best": 1}, {"mx9", "mn-b", "mix-acc1", "mix-loss2"}),
    "best 1 by config.lr (args or extra), unset is a group": Row(
        "cfg", {"keep_best": 1, "group_by": "config.lr"}, {"c7", "c3", "c5"}),
    "best 2 by config.lr": Row(
        "cfg", {"keep_best": 2, "group_by": "config.lr"}, {"c7", "c2", "c3", "c4", "c5", "c6"}),
    "best 1 by path ignores config": Row("cfg", {"keep_best": 1}, {"c5"}),
    "best 1 by config.bs": Row("cfg", {"keep_best": 1, "group_by": "config.bs"}, {"c5", "c2", "c7", "c3"}),
    "a tag": Row("tags", {"keep_tags": ["paper"]}, {"t2"}, {"t2": ["tagged paper"]}),
    "tags or best": Row("tags", {"keep_tags": ["paper", "baseline"], "keep_best": 1}, {"t1", "t2", "t3"}),
    "within 12h": Row("age", {"keep_within": "12h"}, {"g-1h"}, {"g-1h": ["recent"]}),
    "within 2d": Row("age", {"keep_within": "2d"}, {"g-1h", "g-47h"}),
    "within 5d": Row("age", {"keep_within": "5d"}, {"g-1h", "g-47h", "g-3d"}),
    "within 30m: nothing": Row("age", {"keep_within": "30m"}, set()),
    "last 1 per path, by creation time": Row(
        "last", {"keep_last": 1}, {"la-b", "lb-y"}, {"la-b": ["last 1 of last/a"]}),
    "last 2 per path": Row("last", {"keep_last": 2}, {"la-b", "la-a", "lb-y", "lb-x"}),
    "last 1 or within 4.5h": Row("last", {"keep_last": 1, "keep_within": "4.5h"}, {"la-b", "la-a", "lb-y"}),
    "best 1 or last 1": Row("best/max", {"keep_best": 1, "keep_last": 1}, {"mx9", "mx-noprimary"}),
    "no prefix: the whole root": Row(None, {"keep_tags": ["paper"]}, {"t2"}),
}


@pytest.mark.parametrize("name", list(ROWS))
def test_which_runs_a_policy_keeps(name, planner):
    row = ROWS[name]
    for plan in both_plans(*planner, row.prefix, row.policy):
        assert set(plan) == under(row.prefix), "the plan covers other runs than those under the prefix"
        assert {run for run, (kept, *_) in plan.items() if kept} == row.kept
        for run, (kept, action, why, dropped) in plan.items():
            assert action == (None if kept else REMOVE), (run, action)
            assert bool(why) == kept and dropped == []
        for run, why in row.why.items():
            assert plan[run][2] == why


def test_drop_assets_drops_only_runs_with_heavy_assets(planner):
    """With --drop-assets, a run no rule keeps loses its outputs and datasets; a run without any is left alone."""
    root, invoke, _ = planner
    for plan in both_plans(*planner, "best/max", {"keep_best": 1, "drop_assets": True}):
        assert all(action is None for _, action, _, _ in plan.values())
    versions = {run: [v["id"] for v in invoke.json("outputs", run, "--json")] for run in ("d1", "d2")}
    dataset = [e["id"] for e in manifest_lines(root, "d2") if e["role"] == "dataset"]
    for plan in both_plans(*planner, "drop", {"keep_best": 1, "drop_assets": True}):
        assert plan["d1"][:2] == (True, None)
        assert plan["d2"][:2] == (False, DROP_ASSETS)
        assert plan["d2"][3] == sorted(dataset + versions["d2"])


def output_ids(invoke, run: str) -> list[str]:
    return [v["id"] for v in invoke.json("outputs", run, "--json")]


@pytest.mark.parametrize("policy, expected", [
    # keep-versions alone judges no run: every run is kept, its outputs thinned (v3's rolling versions are
    # already no roots but the last)
    ({"keep_versions": 1}, {"v1": ("drop-versions", [1, 2]), "v2": ("drop-versions", [1, 2]), "v3": (None, [])}),
    ({"keep_versions": 3}, {"v1": (None, []), "v2": (None, []), "v3": (None, [])}),
    ({"keep_best": 1, "keep_versions": 2}, {"v1": ("drop-versions", [1]), "v2": (REMOVE, []), "v3": (REMOVE, [])}),
    ({"keep_best": 1, "keep_versions": 1, "drop_assets": True},
     {"v1": ("drop-versions", [1, 2]), "v2": (DROP_ASSETS, [1, 2, 3]), "v3": (DROP_ASSETS, [3])}),
], ids=["versions-1", "versions-3", "best-1-versions-2", "best-1-versions-1-drop-assets"])
def test_keep_versions_within_kept_runs(planner, policy, expected):
    ids = {run: output_ids(planner[1], run) for run in expected}
    for plan in both_plans(*planner, "ver", policy):
        for run, (action, numbers) in expected.items():
            assert plan[run][1] == action, (run, plan[run])
            assert plan[run][3] == sorted(ids[run][n - 1] for n in numbers), run


# -- applying policies ----------------------------------------------------------------------------------


def test_running_and_pinned_runs_are_never_touched(tmp_path, root, invoke):
    invoke("pin", "mx-low", "--note", "paper, table 2", expect=0)
    invoke("pin", "v2", expect=0)
    live = rn.init(path="best/max", storage=str(root), run_id="live-max")
    live_ver = rn.init(path="ver/x", storage=str(root), run_id="live-ver")
    try:
        live.set_primary_metric("acc", "max")
        live.log({"acc": 0.0}, step=1)
        folder = tmp_path / "live-outputs" / "checkpoints"
        folder.mkdir(parents=True)
        live_ver.set_primary_metric("acc", "max")
        live_ver.log({"acc": 0.0}, step=1)
        for version in (1, 2):
            (folder / "last.pt").write_bytes(seeded(f"live-{version}"))
            live_ver.scan_outputs_once(output_dirs=[folder], stable_required=1, min_age_sec=0,
                                       mode="overwrite_versions")
        statuses = {r["id"]: r["status"] for r in invoke.json("ls", "--json")}
        assert statuses["live-max"] == statuses["live-ver"] == "running"
        untouched = {run: manifest_text(root, run) for run in ("mx-low", "v2", "live-ver")}

        plan = invoke.json("forget", "best/max", "--keep-best", "1", "--yes", "--json")
        why = {r["id"]: (r["why"], r["action"]) for r in plan["runs"]}
        assert why["mx-low"] == (["pinned (paper, table 2)"], None) and why["live-max"] == (["running"], None)
        left = {r["id"] for r in invoke.json("ls", "best/max", "--json")}
        assert left == {"mx9", "mx-low", "live-max"}

        plan = invoke.json("forget", "ver", "--keep-best", "1", "--keep-versions", "1", "--drop-assets", "--yes",
                           "--json")
        why = {r["id"]: (r["why"], r["action"], r["dropped"]) for r in plan["runs"]}
        assert why["v2"] == (["pinned"], None, []) and why["live-ver"] == (["running"], None, [])
        assert why["v1"][1] == "drop-versions" and why["v3"][1] == DROP_ASSETS
        invoke("gc", "--grace", "0s", expect=0)
        for run, text in untouched.items():
            assert manifest_text(root, run) == text, f"the policy wrote into {run}'s manifest"
        for number in (1, 2, 3):
            invoke("restore", "v2", "--outputs", "--version", number, "--to", tmp_path / f"v2-{number}", expect=0)
        for number in (1, 2):
            invoke("restore", "live-ver", "--outputs", "--version", number, "--to", tmp_path / f"live-{number}",
                   expect=0)
            assert (tmp_path / f"live-{number}" / "checkpoints" / "last.pt").read_bytes() == seeded(f"live-{number}")
        ls = {r["id"]: r for r in invoke.json("ls", "--json")}
        assert ls["mx-low"]["pinned"] is True and ls["v2"]["pinned"] is True
        assert ls["v2"]["assets_dropped"] == [] and ls["live-ver"]["assets_dropped"] == []
    finally:
        live.finish()
        live_ver.finish()
    assert invoke.json("verify", "--json")["ok"] is True


def manifest_text(root: Path, run: str) -> str:
    path = Api(root).run(run).run_dir / "manifest.jsonl"
    return path.read_text() if path.exists() else ""


def test_rm_of_a_pinned_run_needs_force(root, invoke):
    invoke("pin", "t1", expect=0)
    invoke("pin", "t4", expect=0)
    refused = invoke("rm", "t1", "--yes", expect=1)
    assert "pinned" in refused.output and "t1" in refused.output
    refused = invoke("rm", "--path", "tags", "--yes", expect=1)
    assert "pinned" in refused.output
    assert {r["id"] for r in invoke.json("ls", "tags", "--json")} == {"t1", "t2", "t3", "t4"}
    invoke("rm", "t1", "--yes", "--force", expect=0)
    invoke("unpin", "t4", expect=0)
    invoke("rm", "t4", "--yes", expect=0)
    assert {r["id"] for r in invoke.json("ls", "tags", "--json")} == {"t2", "t3"}


@pytest.mark.parametrize("args", [
    ["best"],
    ["best", "--keep-versions"],
    ["best", "--group-by", "config.lr"],
    ["best", "--drop-assets"],
    ["best", "--keep-best", "0"],
    ["best", "--keep-best", "1", "--group-by", "lr"],
    ["best", "--keep-within", "3 weeks"],
    ["best", "--keep-last", "-1"],
], ids=["no-rule", "versions-without-k", "group-only", "drop-assets-only", "best-0", "bad-group",
        "bad-duration", "negative-last"])
def test_a_policy_without_a_valid_keep_rule_is_a_usage_error(root, invoke, args):
    before = disk_state(root)
    for extra in ([], ["--yes"], ["--dry-run", "--json"]):
        result = invoke("forget", *args, *extra)
        assert result.exit_code == 2, result.output
    assert disk_state(root) == before


def test_plan_retention_refuses_a_policy_without_a_keep_rule(root):
    for policy in (Policy(), Policy(group_by="config.lr"), Policy(action=DROP_ASSETS)):
        with pytest.raises(ValueError, match="keep rule"):
            plan_retention(Api(root), None, policy)


DRY_RUNS = {
    "remove": ["best", "--keep-best", "1"],
    "versions": ["ver", "--keep-versions", "1"],
    "drop-assets": ["drop", "--keep-best", "1", "--drop-assets"],
    "everything": ["--keep-tag", "paper", "--keep-versions", "0"],
}


@pytest.mark.parametrize("name", list(DRY_RUNS))
def test_a_dry_run_changes_nothing_on_disk(template, root, invoke, name):
    args = DRY_RUNS[name]
    before = disk_state(root)
    shown = invoke.json("forget", *args, "--dry-run", "--json")
    assert any(r["action"] for r in shown["runs"]), "the policy should affect some run"
    text = invoke("forget", *args, "--dry-run", expect=0)
    assert "affected" in text.output
    declined = invoke("forget", *args, input="n\n")  # asked for confirmation, declined
    assert declined.exit_code == 1, declined.output
    plan_retention(Api(root), args[0] if not args[0].startswith("-") else None, Policy(keep_best=1))
    assert disk_state(root) == before


EXACT = {
    "remove (a shared file stays)": ["ver", "--keep-best", "1"],
    "keep-versions": ["ver", "--keep-versions", "1"],
    "drop-assets (a shared file stays)": ["drop", "--keep-best", "1", "--drop-assets"],
    "best, versions and drop-assets": ["ver", "--keep-best", "1", "--keep-versions", "1", "--drop-assets"],
    "everything but a tag": ["--keep-tag", "paper"],
}


@pytest.mark.parametrize("name", list(EXACT))
def test_gc_frees_exactly_what_the_plan_said(root, invoke, name):
    invoke("gc", "--grace", "0s", expect=0)  # what is garbage already (superseded rolling versions) goes first
    assert invoke.json("gc", "--grace", "0s", "--dry-run", "--json")["objects_to_trash"] == 0
    before = object_files(root)
    plan = invoke.json("forget", *EXACT[name], "--yes", "--json")
    assert plan["dry_run"] is False and plan["freed_objects"] > 0 and plan["freed_bytes"] > 0
    assert object_files(root) == before, "forget deleted objects itself (gc's job)"
    gc = invoke.json("gc", "--grace", "0s", "--json")
    assert (gc["bytes_freed"], gc["objects_deleted"]) == (plan["freed_bytes"], plan["freed_objects"])
    after = object_files(root)
    assert set(after) <= set(before)
    assert sum(before[o] for o in set(before) - set(after)) == plan["freed_bytes"]
    assert invoke.json("verify", "--json")["ok"] is True
    # applied once: a second plan of the same policy has nothing left to free
    again = invoke.json("forget", *EXACT[name], "--dry-run", "--json")
    assert (again["freed_bytes"], again["freed_objects"]) == (0, 0)


def test_drop_assets_keeps_the_run_and_its_metrics(template, tmp_path, root, invoke):
    sources = template[1]
    shown_before = invoke.json("show", "d2", "--json")
    invoke.json("forget", "drop", "--keep-best", "1", "--drop-assets", "--yes", "--json")

    ls = {r["id"]: r for r in invoke.json("ls", "drop", "--json")}
    assert set(ls) == {"d1", "d2"}
    assert ls["d2"]["assets_dropped"] == ["dataset/train", "outputs/outputs"]
    assert ls["d1"]["assets_dropped"] == []
    assert ls["d2"]["primary_metric"] == shown_before["primary_metric"]
    shown = invoke.json("show", "d2", "--json")
    for key in ("summary", "config", "metrics", "primary_metric", "status"):
        assert shown[key] == shown_before[key], key
    assert shown["summary"] == {"final_acc": 0.5} and shown["config"]["args"] == {"lr": 0.2}
    assert shown["metrics"]["acc"]["count"] == 1
    assert {(d["role"], d["name"]) for d in shown["dropped"]} == {("dataset", "train"), ("outputs", "outputs")}
    text = invoke("show", "d2", expect=0).output
    assert "dropped" in text and "assets dropped" in text
    assert "dropped" not in invoke("show", "d1", expect=0).output
    assert Api(root).run("d2").history(["acc"])[0]["acc"] == 0.5

    # Still restorable while gc has not collected them.
    invoke("restore", "d2", "--dataset", "train", "--to", tmp_path / "early-data", expect=0)
    assert (tmp_path / "early-data" / "shard.bin").read_bytes() == (sources / "d2" / "data" / "shard.bin").read_bytes()

    invoke("gc", "--grace", "0s", expect=0)
    for what in (["--dataset", "train"], ["--outputs"]):
        target = tmp_path / ("d2" + what[0])
        result = invoke("restore", "d2", *what, "--to", target, expect=1)
        message = result.output.lower()
        assert "dropped" in message and "collected" in message and "cannot be restored" in message, result.output
        assert "missing" not in message, result.output
        assert not target.exists() or not any(target.iterdir())
    invoke("restore", "d1", "--dataset", "train", "--to", tmp_path / "d1-data", expect=0)
    assert (tmp_path / "d1-data" / "shard.bin").read_bytes() == (sources / "d1" / "data" / "shard.bin").read_bytes()
    assert (tmp_path / "d1-data" / "labels.txt").read_bytes() == SHARED_FILE
    invoke("restore", "d1", "--outputs", "--to", tmp_path / "d1-out", expect=0)
    assert (tmp_path / "d1-out" / "checkpoints" / "model.pt").read_bytes() == seeded("d1-model")
    assert invoke.json("verify", "--json")["ok"] is True
    listed = invoke.json("outputs", "d2", "--json")
    assert [(v["root"], v["available"]) for v in listed] == [(False, False)]
    assert listed[0]["why_not_root"].startswith("dropped")
