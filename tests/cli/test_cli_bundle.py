"""`runicorn export` and `runicorn import`: a round trip across two roots is byte-exact, and import is idempotent."""

import io
import json
import os
import tarfile

import pytest

import runicorn as rn
from cli_support import RUN_A, RUN_B, RUN_C, disk_state, file_tree, object_files, object_path
from runicorn.api import Api
from runicorn.bundle import plan_export
from runicorn.store import ObjectStore, hash_bytes
from common_support import reach_of


RESTORES = [
    (RUN_A, ["--code"]), (RUN_A, ["--outputs"]), (RUN_A, ["--outputs", "logs"]), (RUN_A, ["--dataset", "mnist"]),
    (RUN_A, ["--pretrained", "backbone"]), (RUN_A, ["--config"]), (RUN_B, ["--code"]), (RUN_B, ["--outputs"]),
    (RUN_B, ["--config"]), (RUN_C, ["--config"]),
]


@pytest.fixture
def bundle(samples, invoke, tmp_path):
    path = tmp_path / "all.rnbundle"
    invoke("export", RUN_A, RUN_B, RUN_C, "-o", path, expect=0)
    return path


@pytest.fixture
def other_root(tmp_path):
    return tmp_path / "other-root"


def test_export_to_stdout_reports_the_exact_bundle_size(samples, invoke, tmp_path):
    result = invoke("export", "--path", "cv", "-o", "-", "--json", expect=0)
    report = json.loads(result.stderr)  # with -o -, stdout is the bundle and the report goes to stderr
    assert report["bundle_bytes"] == len(result.stdout_bytes) > 0
    path = tmp_path / "same.rnbundle"
    invoke("export", "--path", "cv", "-o", path, expect=0)
    with tarfile.open(fileobj=io.BytesIO(result.stdout_bytes)) as streamed, tarfile.open(path) as written:
        assert streamed.getnames() == written.getnames()


def show_json(invoke, run_id, storage) -> dict:
    shown = json.loads(invoke("show", run_id, "--json", storage=storage, expect=0).stdout)
    shown.pop("run_dir")  # the only field that names the root
    return shown


def test_export_writes_a_documented_bundle(samples, invoke, tmp_path):
    path = tmp_path / "cv.rnbundle"
    report = json.loads(invoke("export", "--path", "cv", "-o", path, "--json", expect=0).stdout)
    assert report["runs"] == [RUN_A, RUN_B] and report["bundle"] == str(path)
    assert report["bundle_bytes"] == path.stat().st_size
    api = Api(samples.root)
    reachable, _ = reach_of(api.store, [r for run_id in (RUN_A, RUN_B) for r in api.run(run_id).roots()])
    assert report["objects"] == len(reachable)
    with tarfile.open(path) as tar:
        members = tar.getmembers()
        assert members[0].name == "runicorn-bundle.json"
        header = json.loads(tar.extractfile(members[0]).read())
        assert (header["format"], header["version"], header["objects"]) == ("runicorn-bundle", 1, len(reachable))
        assert header["runs"] == [{"id": RUN_A, "path": "cv/resnet/baseline"}, {"id": RUN_B, "path": "cv/resnet/lr-sweep"}]
        objects = {}
        for member in members[1:]:
            assert member.isreg()
            parts = member.name.split("/")
            if parts[0] == "objects":
                data = tar.extractfile(member).read()
                assert hash_bytes(data) == parts[1] + parts[2]  # named by the hash of exactly its bytes
                objects[parts[1] + parts[2]] = data
            else:
                assert parts[0] == "runs" and parts[-2] in (RUN_A, RUN_B)
        assert set(objects) == set(reachable)  # exactly the objects the runs reference, once each
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no temp file left


def test_export_human_output(samples, invoke, tmp_path):
    out = invoke("export", RUN_C, "-o", tmp_path / "c.rnbundle", expect=0).stdout
    assert out.startswith("exported 1 run and") and "c.rnbundle" in out


def test_export_import_restore_round_trip_is_byte_exact(samples, invoke, bundle, other_root, tmp_path):
    result = invoke("import", bundle, storage=other_root, expect=0)
    assert result.stdout.startswith("imported 3 runs,")

    assert json.loads(invoke("ls", "--json", storage=other_root, expect=0).stdout) == \
        json.loads(invoke("ls", "--json", expect=0).stdout)
    for run_id in (RUN_A, RUN_B, RUN_C):
        assert show_json(invoke, run_id, other_root) == show_json(invoke, run_id, samples.root)
    # the run folders themselves came across byte for byte
    original = file_tree(samples.root / "runs")
    assert file_tree(other_root / "runs") == original
    assert set(object_files(other_root)) == set(object_files(samples.root))

    for n, (run_id, kind) in enumerate(RESTORES):
        here, there = tmp_path / f"here-{n}", tmp_path / f"there-{n}"
        invoke("restore", run_id, *kind, "--to", here, expect=0)
        invoke("restore", run_id, *kind, "--to", there, storage=other_root, expect=0)
        assert file_tree(there) == file_tree(here) != {}, kind
    assert file_tree(tmp_path / "there-0") == file_tree(samples.ws_a)
    assert json.loads(invoke("verify", "--json", storage=other_root, expect=0).stdout)["ok"] is True


def test_import_twice_is_idempotent(samples, invoke, bundle, other_root, monkeypatch):
    first = json.loads(invoke("import", bundle, "--json", storage=other_root, expect=0).stdout)
    assert sorted(first["runs"]) == [RUN_A, RUN_B, RUN_C] and first["skipped_runs"] == []
    assert first["objects"] == len(object_files(other_root)) and first["objects_already_present"] == 0
    objects, runs = object_files(other_root), disk_state(other_root / "runs")

    def copy_into_the_store(*args, **kwargs):
        raise AssertionError("an object already here was copied again; it should only be hashed from the bundle")

    monkeypatch.setattr(ObjectStore, "_put_chunks", copy_into_the_store)
    second = json.loads(invoke("import", bundle, "--json", storage=other_root, expect=0).stdout)
    assert second["runs"] == [] and sorted(second["skipped_runs"]) == [RUN_A, RUN_B, RUN_C]
    assert second["objects"] == 0 and second["objects_already_present"] == first["objects"]
    assert object_files(other_root) == objects
    assert disk_state(other_root / "runs") == runs
    assert list((other_root / "store" / "tmp").iterdir()) == []
    text = invoke("import", bundle, storage=other_root, expect=0).stdout
    assert "imported 0 runs" in text and "3 runs were already here" in text


def test_import_into_the_root_it_came_from_changes_no_run(samples, invoke, bundle):
    runs = disk_state(samples.root / "runs")
    objects = object_files(samples.root)
    report = json.loads(invoke("import", bundle, "--json", expect=0).stdout)
    assert report["runs"] == [] and len(report["skipped_runs"]) == 3
    assert disk_state(samples.root / "runs") == runs and object_files(samples.root) == objects


def test_import_merges_beside_existing_runs(samples, invoke, tmp_path, other_root):
    path = tmp_path / "c.rnbundle"
    invoke("export", RUN_C, "-o", path, expect=0)
    invoke("import", path, storage=other_root, expect=0)
    path_ab = tmp_path / "ab.rnbundle"
    invoke("export", "--path", "cv", "-o", path_ab, expect=0)
    invoke("import", path_ab, storage=other_root, expect=0)
    assert [r["id"] for r in json.loads(invoke("ls", "--json", storage=other_root, expect=0).stdout)] == \
        [RUN_A, RUN_B, RUN_C]


def test_import_refuses_a_different_run_with_the_same_id(samples, invoke, bundle, other_root, tmp_path):
    config = tmp_path / "mine.yaml"
    config.write_text("mine: true\n")
    run = rn.init(path="elsewhere", storage=str(other_root), run_id=RUN_A)
    run.log_config(config_files=[config])
    run.log({"x": 1})
    run.finish()
    before = disk_state(other_root)

    result = invoke("import", bundle, storage=other_root, expect=1)
    assert RUN_A in result.stderr and "different run" in result.stderr and "Traceback" not in result.output
    assert disk_state(other_root) == before


def test_export_bad_input(samples, invoke, tmp_path):
    out = tmp_path / "x.rnbundle"
    result = invoke("export", "nosuchrun", "-o", out, expect=1)
    assert "nosuchrun" in result.stderr and "Traceback" not in result.output
    assert "matches 2 runs" in invoke("export", "20250101_120000_aaaa0", "-o", out, expect=1).stderr
    assert "no runs under path 'no/runs'" in invoke("export", "--path", "no/runs", "-o", out, expect=1).stderr
    assert "give run ids or --path" in invoke("export", "-o", out, expect=2).stderr
    assert "give run ids or --path" in invoke("export", RUN_A, "--path", "cv", "-o", out, expect=2).stderr
    assert "-o" in invoke("export", RUN_A, expect=2).stderr
    invoke("export", "--path", "../up", "-o", out, expect=2)
    result = invoke("export", RUN_A, "-o", tmp_path / "no" / "such" / "dir" / "x.rnbundle", expect=1)
    assert "Traceback" not in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["home", "storage"])  # nothing was written


def test_export_refuses_runs_with_broken_references(samples, invoke, tmp_path):
    api = Api(samples.root)
    victim = sorted(reach_of(api.store, api.run(RUN_B).roots())[0])[0]
    os.unlink(object_path(samples.root, victim))
    out = tmp_path / "b.rnbundle"
    result = invoke("export", RUN_B, "-o", out, expect=1)
    assert "missing" in result.stderr and "runicorn verify" in result.stderr
    assert not out.exists() and not any(p.name.startswith(".b.rnbundle") for p in tmp_path.iterdir())
    invoke("export", RUN_C, "-o", out, expect=0)  # runs that are whole still export


def test_import_of_a_missing_bundle_file(samples, invoke, tmp_path):
    before = disk_state(samples.root)
    result = invoke("import", tmp_path / "nope.rnbundle", expect=1)
    assert "nope.rnbundle" in result.stderr and "Traceback" not in result.output
    assert disk_state(samples.root) == before
    assert "Usage:" in invoke("import", expect=2).stderr


def test_export_of_one_run_named_twice_imports(samples, invoke, tmp_path, other_root):
    path = tmp_path / "twice.rnbundle"
    report = json.loads(invoke("export", RUN_C, "20250102", "-o", path, "--json", expect=0).stdout)
    assert report["runs"] == [RUN_C]
    invoke("import", path, storage=other_root, expect=0)
    assert [r["id"] for r in json.loads(invoke("ls", "--json", storage=other_root, expect=0).stdout)] == [RUN_C]


def test_export_plan_counts_exactly_the_bytes_the_bundle_carries(samples, invoke, tmp_path):
    """The progress bar's total: the selected runs' objects, not the whole store."""
    api = Api(samples.root)
    plan = plan_export(api, [api.run(RUN_B)])
    reachable, _ = reach_of(api.store, api.run(RUN_B).roots())
    assert list(plan.sizes) == sorted(reachable)
    assert plan.object_bytes == sum(object_files(samples.root)[o] for o in reachable)
    assert plan.object_bytes < sum(object_files(samples.root).values())  # A holds objects B does not
    report = json.loads(invoke("export", RUN_B, "-o", tmp_path / "b.rnbundle", "--json", expect=0).stdout)
    assert report["object_bytes"] == plan.object_bytes
