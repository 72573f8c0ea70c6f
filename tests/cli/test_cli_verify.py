"""`runicorn verify`: re-hash everything, name damaged objects and the runs that need them, exit 1 on damage."""

import json
import os
import stat

from cli_support import RUN_A, RUN_B, RUN_C, disk_state, object_path
from runicorn.api import Api
from runicorn.store import ObjectStore
from common_support import reach_of



def reach(root, run_id) -> set[str]:
    api = Api(root)
    return set(reach_of(api.store, api.run(run_id).roots())[0])


def corrupt(path):
    os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    os.chmod(path, 0o444)


def test_verify_a_good_store(samples, invoke):
    result = invoke("verify", expect=0)
    assert result.stdout.splitlines()[-1] == "ok"
    assert "checked" in result.stdout
    report = json.loads(invoke("verify", "--json", expect=0).stdout)
    assert report["ok"] is True and report["corrupt"] == [] and report["missing"] == []
    assert report["objects_checked"] == len(list((samples.root / "store" / "objects").glob("*/*")))


def test_verify_does_not_change_a_good_store(samples, invoke):
    before = disk_state(samples.root)
    invoke("verify", expect=0)
    assert disk_state(samples.root) == before


def test_verify_names_a_corrupt_object_and_the_run_that_needs_it(samples, invoke):
    victim = sorted(reach(samples.root, RUN_B) - reach(samples.root, RUN_A))[0]
    corrupt(object_path(samples.root, victim))

    result = invoke("verify", expect=1)
    assert f"corrupt: {victim} (needed by {RUN_B})" in result.stdout
    assert "runicorn import BUNDLE" in result.stdout
    report = json.loads(invoke("verify", "--json", expect=1).stdout)
    assert report["ok"] is False
    assert report["corrupt"] == [victim] and report["missing"] == []
    assert report["needed_by"] == {victim: [RUN_B]}


def test_verify_names_every_run_that_needs_a_shared_corrupt_object(samples, invoke):
    shared = sorted(reach(samples.root, RUN_A) & reach(samples.root, RUN_B))[0]
    corrupt(object_path(samples.root, shared))
    report = json.loads(invoke("verify", "--json", expect=1).stdout)
    assert report["corrupt"] == [shared]
    assert sorted(report["needed_by"][shared]) == [RUN_A, RUN_B]


def test_verify_reports_a_deleted_object_as_missing(samples, invoke):
    victim = sorted(reach(samples.root, RUN_A) - reach(samples.root, RUN_B))[0]
    os.unlink(object_path(samples.root, victim))
    result = invoke("verify", expect=1)
    assert f"missing: {victim} (needed by {RUN_A})" in result.stdout
    report = json.loads(invoke("verify", "--json", expect=1).stdout)
    assert report["ok"] is False and report["missing"] == [victim] and report["corrupt"] == []
    assert report["needed_by"][victim] == [RUN_A]


def test_verify_reports_an_unreferenced_corrupt_object_too(samples, invoke):
    """Garbage that rotted is still damage in the store, needed by no run."""
    invoke("rm", RUN_C, RUN_B, "--yes", expect=0)
    victim = sorted(reach(samples.root, RUN_A))[0]
    invoke("rm", RUN_A, "--yes", expect=0)
    corrupt(object_path(samples.root, victim))
    result = invoke("verify", expect=1)
    assert f"corrupt: {victim} (needed by no run)" in result.stdout


def test_verify_lists_foreign_files_without_failing(samples, invoke):
    (samples.root / "store" / "objects" / "zz").mkdir()
    (samples.root / "store" / "objects" / "zz" / "notes.txt").write_text("hello")
    result = invoke("verify", expect=0)
    assert "foreign file: objects/zz/notes.txt" in result.stdout
    assert json.loads(invoke("verify", "--json", expect=0).stdout)["foreign_files"] == ["objects/zz/notes.txt"]


def test_verify_on_an_empty_root(storage_root, invoke):
    assert "no Runicorn storage root" in invoke("verify", "--json", expect=1).stderr  # nothing there yet
    ObjectStore(storage_root / "store")
    report = json.loads(invoke("verify", "--json", expect=0).stdout)
    assert report["ok"] is True and report["objects_checked"] == 0


def test_verify_bad_option_is_a_usage_error(samples, invoke):
    assert "No such option" in invoke("verify", "--deep", expect=2).stderr
