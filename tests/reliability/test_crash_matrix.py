"""The crash matrix: every long operation killed with SIGKILL at several points, and what must hold after.

Each operation runs in a child process with ``RUNICORN_TEST_CRASH_AFTER=<what>:<n>`` (``runicorn/store/faults.py``),
aimed at points computed from what the operation really writes (``crash_support``). After the kill:

1. the child died of SIGKILL;
2. ``runicorn verify --json`` finds nothing referenced missing, corrupt or unreadable (litter is no damage);
3. every finished run restores byte-exact (code, datasets, outputs: bytes, executable bits, links);
4. a run killed inside an SDK operation is listed as crashed and reads back to its last flush;
5. the next run of the same operation succeeds and removes what the crash left (temp files, staging,
   deleted run folders, a half-written bundle or restored file);
6. gc right after the crash deletes nothing a run references, and takes the crash's litter.

The checks run in this process (no crash switch here: the variable is removed for it and read at import).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import runicorn as rn
from runicorn.store import faults

from cli_support import RUN_A, RUN_B, Invoker, SampleRuns, file_tree, object_files
from crash_support import (KILLED, ROWS, Trace, cli_units, copy_root, crash_env, expected_rows, folder_bytes,
                           leftovers, make_dataset, make_outputs, make_small, make_workspace, same_tree, sdk_child,
                           temp_files, NEVER)
from reliability_support import runicorn_cli

SCRATCH = [f"20250103_09000{i}_5c5c0{i}" for i in range(4)]  # finished runs under scratch/, for rm and gc
OUTCOMES: list[dict] = []  # one row per crash, printed at the end of the module (pytest -s shows it)


@pytest.fixture(autouse=True)
def no_crash_switch_here(monkeypatch):
    """Children get the switch only when a test passes it; this process must never have it."""
    monkeypatch.delenv(faults.ENV, raising=False)
    assert faults._limit is None, f"the test process itself was started with {faults.ENV} set"


@pytest.fixture(scope="module", autouse=True)
def outcome_table():
    yield
    if OUTCOMES:
        keys = list(OUTCOMES[0])
        print("\n" + " | ".join(keys))
        for row in OUTCOMES:
            print(" | ".join(str(row.get(k, "")) for k in keys))


def record(op: str, point: str, spec: tuple, left: dict, **outcome) -> None:
    OUTCOMES.append({"operation": op, "point": point, "crash": f"{spec[0]}:{spec[1]}",
                     "left by the crash": ", ".join(f"{len(v)} {k}" for k, v in left.items() if v) or "nothing",
                     **outcome})


# -- the data, built once ----------------------------------------------------------------


@dataclass
class Matrix:
    samples: SampleRuns
    root: Path  # runs A, B, C (the CLI samples) and four finished scratch runs
    data: Path  # ~5.3 MB, 31 files: the dataset saved with save=True
    workspace: Path  # the workspace snapshotted
    outputs: Path  # the output folders scanned
    quiet: Path  # a small folder outside any git repository (the flush reference; the children's cwd)
    scratch: dict[str, Path] = field(default_factory=dict)  # scratch run id -> the folder it saved as "own"

    @property
    def expectations(self) -> dict[str, list[tuple[tuple[str, ...], Path]]]:
        """Finished run -> what it restores and the folder it must equal."""
        s = self.samples
        known = {RUN_A: [(("--code",), s.ws_a), (("--dataset", "mnist"), s.data), (("--outputs",), s.out_a)],
                 RUN_B: [(("--code",), s.ws_b), (("--dataset", "mnist"), s.data), (("--outputs",), s.out_b)]}
        for run_id, own in self.scratch.items():
            known[run_id] = [(("--dataset", "own"), own), (("--dataset", "mnist"), s.data)]
        return known

    def source(self, op: str) -> Path:
        return {"snapshot": self.workspace, "save": self.data, "outputs": self.outputs}[op]


@pytest.fixture(scope="module")
def matrix(sample_template, tmp_path_factory) -> Matrix:
    base = tmp_path_factory.mktemp("crash-matrix")
    quiet = base / "quiet"
    quiet.mkdir()
    (quiet / "reference.txt").write_text("a dataset recorded by reference only\n")
    m = Matrix(sample_template, copy_root(sample_template.root, base / "template"), make_dataset(base / "data"),
               make_workspace(base / "workspace"), make_outputs(base / "outputs"), quiet)
    m.samples = sample_template.with_root(m.root)
    for i, run_id in enumerate(SCRATCH):
        own = make_small(base / f"scratch-{i}", seed=i + 1)
        run = rn.init(path=f"scratch/s{i}", storage=str(m.root), run_id=run_id, workspace_root=str(quiet))
        run.log_dataset("own", str(own), save=True)
        run.log_dataset("mnist", str(sample_template.data), save=True)  # shared with runs A and B
        run.log({"loss": 1.0})
        run.finish()
        m.scratch[run_id] = own
    report = check_verify(m.root)
    assert report["objects_checked"] > 0
    assert gc_json(m.root, "--dry-run", "--grace", "0s")["objects_to_trash"] == 0  # no garbage to begin with
    return m


@pytest.fixture(scope="module")
def calibrations(matrix, tmp_path_factory):
    """Per SDK operation: what it writes and publishes, from a child that runs it with a limit never reached."""
    cache: dict[str, Trace] = {}

    def get(op: str) -> Trace:
        if op not in cache:
            base = tmp_path_factory.mktemp(f"calibrate-{op}")
            root = copy_root(matrix.root, base / "root")
            result = sdk_child(op, root, "calibration", matrix.source(op), matrix.quiet, ROWS,
                               trace=base / "trace.json", env=crash_env("bytes", NEVER))
            assert result.returncode == 0, result.stderr
            cache[op] = Trace.load(base / "trace.json", root / "store" / "tmp")
            assert cache[op].links >= 10 and len(cache[op].writes) >= 10, "too little to aim at"
        return cache[op]

    return get


# -- checks -----------------------------------------------------------------------------


def cli_json(root: Path, *args) -> dict:
    result = Invoker(root)(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def gc_json(root: Path, *args) -> dict:
    report = cli_json(root, "gc", *args)
    assert report["refused"] is None, report
    return report


def check_verify(root: Path) -> dict:
    """verify: ok; nothing referenced missing, corrupt, unreadable or in the trash; no damaged run, no foreign file."""
    result = Invoker(root)("verify", "--json")
    report = json.loads(result.stdout)
    assert result.exit_code == 0 and report["ok"], result.output
    for key in ("corrupt", "missing", "unreadable", "in_trash", "damaged_runs", "foreign_files"):
        assert not report[key], f"verify reports {key}: {report[key]}"
    return report


def check_restores(root: Path, expectations: dict, workdir: Path, must_include: set[str] = frozenset()) -> int:
    """Every finished run restores byte-exact; returns how many restores were compared."""
    views = rn.Api(root).runs()
    finished = {v.id for v in views if v.status == "finished"}
    assert set(must_include) <= finished, f"runs {sorted(set(must_include) - finished)} are not listed as finished"
    assert finished <= set(expectations), f"finished runs without expectations: {sorted(finished - set(expectations))}"
    workdir.mkdir(parents=True, exist_ok=True)
    count = 0
    for run_id in sorted(finished):
        for args, source in expectations[run_id]:
            target = Path(tempfile.mkdtemp(dir=workdir)) / "restored"
            result = Invoker(root)("restore", run_id, *args, "--to", target)
            assert result.exit_code == 0, f"restore {run_id} {args}: {result.output}"
            same_tree(target, source)
            count += 1
    return count


def assert_no_leftovers(root: Path) -> None:
    left = leftovers(root)
    assert not any(left.values()), f"left behind: {left}"


def trash_files(root: Path) -> list[Path]:
    return [p for p in (root / "store" / "trash").rglob("*") if p.is_file()]


def new_objects(root: Path, reference: Path) -> set[str]:
    return set(object_files(root)) - set(object_files(reference))


# -- SDK operations: snapshot, save, outputs scan ------------------------------------------

SDK_POINTS = [
    ("snapshot", "first-object-bytes"), ("snapshot", "half-published"), ("snapshot", "all-published"),
    ("save", "first-object-bytes"), ("save", "mid-file"), ("save", "half-published"), ("save", "all-published"),
    ("outputs", "first-object-bytes"), ("outputs", "half-published"), ("outputs", "all-published"),
]
NEXT_RUN = {"snapshot": ("next-code", ("--code",)), "save": ("next", ("--dataset", "big")),
            "outputs": ("next", ("--outputs",))}


@pytest.mark.parametrize("op,point", SDK_POINTS)
def test_sdk_operation_killed(matrix, calibrations, tmp_path, op, point):
    spec = calibrations(op).spec(point)
    root = copy_root(matrix.root, tmp_path / "root")
    source = matrix.source(op)

    killed = sdk_child(op, root, "killed", source, matrix.quiet, ROWS, env=crash_env(*spec))
    assert killed.returncode == KILLED, f"exit {killed.returncode}\n{killed.stdout}\n{killed.stderr}"
    assert "operation finished" not in killed.stdout
    left = leftovers(root)
    published = new_objects(root, matrix.root)
    if spec[0] == "bytes":
        assert left["store/tmp"] and not published, "killed while writing temp files: nothing is published yet"
    else:
        assert len(published) == spec[1], "killed after this many objects were published"

    sound = check_verify(root)
    restores = check_restores(root, matrix.expectations, tmp_path / "restored", must_include=set(matrix.expectations))

    # The killed run: listed as crashed, every row logged before the flush is there, and what follows is a prefix.
    api = rn.Api(root)
    view = api.run("killed")
    assert view.status == "crashed"
    rows = [(r["_step"], r["loss"], r["acc"]) for r in view.history()]
    assert len(rows) >= ROWS, f"rows logged before the flush were lost: {len(rows)} of {ROWS} read back"
    assert rows == expected_rows(2 * ROWS)[:len(rows)]
    # It died before the manifest line of the operation: it names none of the objects it published.
    assert [(e.role, e.name, e.ref) for e in view.manifest()] == [("dataset", "flush", None)]
    if op == "snapshot":
        code_run = api.run("killed-code")
        assert code_run.status == "crashed" and code_run.manifest() == []

    # gc right after the crash (on a copy): the litter and the unnamed objects go, nothing any run names does.
    gc_root = copy_root(root, tmp_path / "gc-root")
    report = gc_json(gc_root, "--grace", "0s")
    assert report["objects_deleted"] == len(published)
    assert set(object_files(gc_root)) == set(object_files(matrix.root))
    assert_no_leftovers(gc_root)
    check_verify(gc_root)
    check_restores(gc_root, matrix.expectations, tmp_path / "restored-gc", must_include=set(matrix.expectations))

    # The next run of the same operation succeeds, reuses what the crash published, and clears its temp files.
    next_id, restore_args = NEXT_RUN[op]
    again = sdk_child(op, root, "next", source, matrix.quiet, 0)
    assert again.returncode == 0 and "operation finished" in again.stdout, again.stderr
    remaining = temp_files(root / "store" / "tmp")
    expectations = {**matrix.expectations, next_id: [(restore_args, source)]}
    check_verify(root)
    check_restores(root, expectations, tmp_path / "restored-next", must_include={next_id, *matrix.expectations})
    # What the crash published is named by the next run now: gc keeps all of it.
    assert gc_json(root, "--grace", "0s")["objects_deleted"] == 0
    check_verify(root)
    check_restores(root, expectations, tmp_path / "restored-next-gc", must_include={next_id})
    record(op, point, spec, {**left, "unnamed objects": sorted(published)},
           **{"objects lost": len(sound["missing"]), "restores compared": restores,
              "next run cleaned up": not remaining})
    assert remaining == [], f"after the next {op}, store/tmp still holds {len(remaining)} temp files, " \
                            f"{len(set(remaining) & set(left['store/tmp']))} of them the killed process's: {remaining}"


# -- gc -----------------------------------------------------------------------------------


@dataclass
class Garbage:
    root: Path  # the template with the scratch runs removed and every object backdated two hours
    objects: int  # unreferenced objects (the scratch runs' own files)
    referenced: set[str]  # what stays after a complete gc


@pytest.fixture(scope="module")
def garbage(matrix, tmp_path_factory) -> Garbage:
    base = tmp_path_factory.mktemp("garbage")
    root = copy_root(matrix.root, base / "root")
    assert Invoker(root)("rm", "--path", "scratch", "--yes").exit_code == 0
    old = time.time() - 2 * 3600
    for folder, _, files in os.walk(root / "store" / "objects"):
        for name in files:
            os.utime(os.path.join(folder, name), (old, old))
    plan = gc_json(root, "--dry-run")
    collected = copy_root(root, base / "collected")
    gc_json(collected, "--grace", "0s")
    referenced = set(object_files(collected))
    assert plan["objects_to_trash"] == len(object_files(root)) - len(referenced) >= 12
    return Garbage(root, plan["objects_to_trash"], referenced)


GC_POINTS = ["first-trashed", "half-trashed", "half-purged"]


@pytest.mark.parametrize("point", GC_POINTS)
def test_gc_killed(matrix, garbage, tmp_path, point):
    n = garbage.objects
    args, spec = {"first-trashed": ((), ("objects", 1)),
                  "half-trashed": ((), ("objects", n // 2)),
                  "half-purged": (("--grace", "0s"), ("objects", n + n // 2))}[point]  # trash all, then purge
    root = copy_root(garbage.root, tmp_path / "root")

    killed = runicorn_cli("gc", *args, storage=root, env=crash_env(*spec))
    assert killed.returncode == KILLED, f"exit {killed.returncode}\n{killed.stdout}\n{killed.stderr}"
    left = leftovers(root)
    in_store, trashed = set(object_files(root)), len(trash_files(root))
    assert garbage.referenced <= in_store, "gc moved a referenced object"
    moved = spec[1] if point != "half-purged" else n
    assert len(in_store) == len(garbage.referenced) + n - moved
    assert trashed == moved - (spec[1] - n if point == "half-purged" else 0)

    sound = check_verify(root)
    expectations = {k: v for k, v in matrix.expectations.items() if k not in SCRATCH}
    restores = check_restores(root, expectations, tmp_path / "restored", must_include={RUN_A, RUN_B})

    # The next gc (the lock died with the killed one) finishes the job; --grace 0s then purges the trash.
    gc_json(root, *args)
    gc_json(root, "--grace", "0s")
    assert set(object_files(root)) == garbage.referenced
    assert trash_files(root) == [], "the trash still holds objects"
    assert_no_leftovers(root)
    check_verify(root)
    check_restores(root, expectations, tmp_path / "restored-after", must_include={RUN_A, RUN_B})
    record("gc", point, spec, {**left, "objects in the trash": [None] * trashed},
           **{"objects lost": len(sound["missing"]), "restores compared": restores, "next run cleaned up": True})


# -- export -------------------------------------------------------------------------------


@dataclass
class Exported:
    bundle: Path  # runs A and B
    object_bytes: int  # what export reads through its progress reader: the crash points' unit


@pytest.fixture(scope="module")
def exported(matrix, tmp_path_factory) -> Exported:
    base = tmp_path_factory.mktemp("exported")
    bundle = base / "ab.rnbundle"
    report = cli_json(matrix.root, "export", RUN_A, RUN_B, "-o", bundle)
    counted = cli_units("bytes", "export", RUN_A, RUN_B, "-o", base / "counted.rnbundle", storage=matrix.root)
    assert counted == report["object_bytes"] > 0
    return Exported(bundle, counted)


@pytest.mark.parametrize("point", ["first-read", "half", "last-read"])
def test_export_killed(matrix, exported, tmp_path, point):
    n = exported.object_bytes
    spec = ("bytes", {"first-read": 1, "half": n // 2, "last-read": n}[point])
    root = copy_root(matrix.root, tmp_path / "root")
    out = tmp_path / "out"
    out.mkdir()
    bundle = out / "ab.rnbundle"

    killed = runicorn_cli("export", RUN_A, RUN_B, "-o", bundle, storage=root, env=crash_env(*spec))
    assert killed.returncode == KILLED, f"exit {killed.returncode}\n{killed.stdout}\n{killed.stderr}"
    assert not bundle.exists(), "a bundle cut short appeared under its final name"
    beside = temp_files(out)
    assert len(beside) == 1 and beside[0].startswith(".ab.rnbundle."), beside
    sound = check_verify(root)
    restores = check_restores(root, matrix.expectations, tmp_path / "restored", must_include=set(matrix.expectations))

    # The next export to the same path succeeds and removes the killed one's temp file.
    cli_json(root, "export", RUN_A, RUN_B, "-o", bundle)
    assert temp_files(out) == [], "the killed export's temp file is still beside the bundle"
    fresh = tmp_path / "imported"
    assert sorted(cli_json(fresh, "import", bundle)["runs"]) == [RUN_A, RUN_B]
    expectations = {k: v for k, v in matrix.expectations.items() if k in (RUN_A, RUN_B)}
    check_restores(fresh, expectations, tmp_path / "restored-bundle", must_include={RUN_A, RUN_B})

    report = gc_json(root, "--grace", "0s")
    assert report["objects_deleted"] == 0
    check_verify(root)
    record("export", point, spec, {"bundle temp": beside}, **{"objects lost": len(sound["missing"]),
                                                              "restores compared": restores,
                                                              "next run cleaned up": True})


# -- import -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def partial_root(matrix, tmp_path_factory) -> Path:
    """A root that holds part of the bundle: run A and what it shares with B, not B's own objects."""
    root = copy_root(matrix.root, tmp_path_factory.mktemp("partial") / "root")
    assert Invoker(root)("rm", RUN_B, "--yes").exit_code == 0
    assert gc_json(root, "--grace", "0s")["objects_deleted"] > 0
    return root


@pytest.fixture(scope="module")
def import_counts(matrix, exported, partial_root, tmp_path_factory):
    """Per target: bytes (read from the bundle and written to temp files), objects published, runs published."""
    counts = {}
    for target in ("fresh", "partial"):
        base = tmp_path_factory.mktemp(f"count-import-{target}")
        root = base / "root" if target == "fresh" else copy_root(partial_root, base / "root")
        before = set(object_files(root)) if root.exists() else set()
        units = cli_units("bytes", "import", exported.bundle, storage=root)
        objects = len(set(object_files(root)) - before)
        runs = 2 if target == "fresh" else 1
        assert units > 0 and objects > 0
        counts[target] = {"bytes": units, "objects": objects, "runs": runs}
    return counts


IMPORT_POINTS = [("fresh", "half-bytes"), ("fresh", "half-objects"), ("fresh", "first-run"),
                 ("partial", "half-bytes"), ("partial", "first-object"), ("partial", "first-run")]


@pytest.mark.parametrize("target,point", IMPORT_POINTS)
def test_import_killed(matrix, exported, partial_root, import_counts, tmp_path, target, point):
    counts = import_counts[target]
    spec = {"half-bytes": ("bytes", counts["bytes"] // 2), "half-objects": ("objects", counts["objects"] // 2),
            "first-object": ("objects", 1), "first-run": ("runs", 1)}[point]
    root = tmp_path / "root" if target == "fresh" else copy_root(partial_root, tmp_path / "root")
    had = {v.id for v in rn.Api(root).runs()} if root.exists() else set()  # partial: A, C and the scratch runs
    assert (RUN_A in had, RUN_B in had) == ((target == "partial"), False)
    expectations = matrix.expectations
    finished_before = {v.id for v in rn.Api(root).runs() if v.status == "finished"} if root.exists() else set()

    killed = runicorn_cli("import", exported.bundle, storage=root, env=crash_env(*spec))
    assert killed.returncode == KILLED, f"exit {killed.returncode}\n{killed.stdout}\n{killed.stderr}"
    left = leftovers(root)
    assert left["staging"], "the killed import's staging folder should still be there"
    published_runs = {v.id for v in rn.Api(root).runs()} - had
    # Runs are published in (path, id) order: A (cv/resnet/baseline) before B (cv/resnet/lr-sweep).
    assert published_runs == ({RUN_A if target == "fresh" else RUN_B} if spec[0] == "runs" else set())

    sound = check_verify(root)
    restores = check_restores(root, expectations, tmp_path / "restored", must_include=finished_before | published_runs)

    gc_root = copy_root(root, tmp_path / "gc-root")
    gc_json(gc_root, "--grace", "0s")
    assert_no_leftovers(gc_root)
    check_verify(gc_root)
    check_restores(gc_root, expectations, tmp_path / "restored-gc", must_include=finished_before | published_runs)

    # The next import succeeds: the staging folder and temp files of the killed one are gone.
    report = cli_json(root, "import", exported.bundle)
    assert sorted(report["runs"]) == sorted({RUN_A, RUN_B} - had - published_runs)
    assert_no_leftovers(root)
    check_verify(root)
    check_restores(root, expectations, tmp_path / "restored-next", must_include=finished_before | {RUN_A, RUN_B})
    assert gc_json(root, "--grace", "0s")["objects_deleted"] == 0  # the crash's objects are all named now
    check_verify(root)
    record(f"import ({target})", point, spec, left, **{"objects lost": len(sound["missing"]),
                                                       "restores compared": restores, "next run cleaned up": True})


# -- restore ------------------------------------------------------------------------------

RESTORE_POINTS = [(what, point) for what in ("dataset", "outputs") for point in ("first-file", "half", "last-file")]


@pytest.mark.parametrize("what,point", RESTORE_POINTS)
def test_restore_killed(matrix, tmp_path, what, point):
    args, source = {"dataset": (("--dataset", "mnist"), matrix.samples.data),
                    "outputs": (("--outputs",), matrix.samples.out_a)}[what]
    total = folder_bytes(source)  # restore counts the bytes it writes to temp files: every file once
    spec = ("bytes", {"first-file": 1, "half": total // 2, "last-file": total}[point])
    root = copy_root(matrix.root, tmp_path / "root")
    target = tmp_path / "target"

    killed = runicorn_cli("restore", RUN_A, *args, "--to", target, storage=root, env=crash_env(*spec))
    assert killed.returncode == KILLED, f"exit {killed.returncode}\n{killed.stdout}\n{killed.stderr}"
    litter = temp_files(target, recursive=True)
    assert len(litter) == 1, f"the file being written when killed stays a temp file: {litter}"
    # What was renamed into place is whole: never a torn file under a final name.
    want = file_tree(source)
    done = {rel: entry for rel, entry in file_tree(target).items() if not os.path.basename(rel).startswith(".")}
    assert all(entry == want[rel] for rel, entry in done.items()), "a file under its final name is torn"
    sound = check_verify(root)

    # The next restore (with --force, the target is not empty) succeeds and removes the temp file.
    result = Invoker(root)("restore", RUN_A, *args, "--to", target, "--force")
    assert result.exit_code == 0, result.output
    assert temp_files(target, recursive=True) == []
    same_tree(target, source)
    report = gc_json(root, "--grace", "0s")
    assert report["objects_deleted"] == 0
    restores = check_restores(root, matrix.expectations, tmp_path / "restored", must_include=set(matrix.expectations))
    record(f"restore --{what}", point, spec, {"target temp": litter, "files in place": list(done)},
           **{"objects lost": len(sound["missing"]), "restores compared": restores, "next run cleaned up": True})


# -- rm -----------------------------------------------------------------------------------


@pytest.mark.parametrize("point", ["first-run", "half", "all-but-one"])
def test_rm_killed(matrix, tmp_path, point):
    n = len(SCRATCH)
    spec = ("runs", {"first-run": 1, "half": n // 2, "all-but-one": n - 1}[point])
    root = copy_root(matrix.root, tmp_path / "root")

    killed = runicorn_cli("rm", "--path", "scratch", "--yes", storage=root, env=crash_env(*spec))
    assert killed.returncode == KILLED, f"exit {killed.returncode}\n{killed.stdout}\n{killed.stderr}"
    left = leftovers(root)
    assert len(left["runs/.trash"]) == spec[1], "every run moved aside before the kill waits in runs/.trash"
    remaining = {v.id for v in rn.Api(root).runs("scratch")}
    assert len(remaining) == n - spec[1] and remaining < set(SCRATCH)
    sound = check_verify(root)
    restores = check_restores(root, matrix.expectations, tmp_path / "restored",
                              must_include={RUN_A, RUN_B, *remaining})

    gc_root = copy_root(root, tmp_path / "gc-root")
    gc_json(gc_root, "--grace", "0s")
    assert_no_leftovers(gc_root)
    check_verify(gc_root)
    check_restores(gc_root, matrix.expectations, tmp_path / "restored-gc", must_include={RUN_A, RUN_B, *remaining})

    # The next rm removes the rest and what the killed one left in runs/.trash, and the emptied path folders.
    result = Invoker(root)("rm", "--path", "scratch", "--yes")
    assert result.exit_code == 0, result.output
    assert_no_leftovers(root)
    assert rn.Api(root).runs("scratch") == []
    stayed = sorted(str(p.relative_to(root / "runs")) for p in (root / "runs" / "scratch").rglob("*"))
    assert gc_json(root, "--grace", "0s")["objects_deleted"] > 0  # the scratch runs' own files
    check_verify(root)
    check_restores(root, matrix.expectations, tmp_path / "restored-after", must_include={RUN_A, RUN_B})
    record("rm --path", point, spec, left, **{"objects lost": len(sound["missing"]), "restores compared": restores,
                                              "next run cleaned up": not (root / "runs" / "scratch").exists()})
    assert not (root / "runs" / "scratch").exists(), f"the path folders the runs were in stay, emptied: {stayed}"
