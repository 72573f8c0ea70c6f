"""What a training script can throw at the SDK without hanging it, losing data or leaving half-done work."""

from __future__ import annotations

import json
import os
import warnings

import pytest

import runicorn as rn
from runicorn.store import ObjectStore

from reliability_support import run_python


def test_a_run_path_through_another_runs_folder_is_refused(tmp_path):
    parent = rn.init(path="sweep", storage=str(tmp_path / "s"))
    with pytest.raises(ValueError, match=f"runs through the folder of run 'sweep/{parent.id}'.*'sweep/{parent.id}-children'"):
        rn.init(path=f"sweep/{parent.id}", storage=str(tmp_path / "s"))
    with pytest.raises(ValueError, match="runs through the folder"):
        rn.init(path=f"sweep/{parent.id}/deeper/still", storage=str(tmp_path / "s"))
    child = rn.init(path=f"sweep/{parent.id}-children", storage=str(tmp_path / "s"))  # the suggested path works
    child.finish()
    parent.finish()
    listed = rn.Api(tmp_path / "s").runs()
    assert sorted(v.id for v in listed) == sorted([parent.id, child.id])
    assert all(not (v.run_dir / "sweep").exists() for v in listed)


@pytest.mark.parametrize("call", ["summary", "log_config"])
def test_a_circular_structure_is_a_clear_value_error(tmp_path, call):
    run = rn.init(storage=str(tmp_path / "s"))
    loop: dict = {"a": 1}
    loop["self"] = loop
    with pytest.raises(ValueError, match="circular reference"):
        if call == "summary":
            run.summary({"x": loop})
        else:
            run.log_config(extra={"x": loop})
    run.summary({"fine": 1})  # the run goes on
    run.finish()
    assert rn.Api(tmp_path / "s").run(run.id).summary == {"fine": 1}


def test_a_fifo_as_a_dataset_neither_blocks_nor_is_read(tmp_path):
    """In a child process with a timeout: a regression would hang, not fail."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    result = run_python(f"""
import warnings, runicorn as rn
run = rn.init(storage={str(tmp_path / 's')!r})
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    ref = run.log_dataset("stream", {str(fifo)!r})
print("warned:", any("not a regular file or a folder" in str(w.message) for w in caught))
print("regular:", ref["regular"])
try:
    run.log_dataset("stream", {str(fifo)!r}, save=True)
except ValueError as error:
    print("refused:", error)
run.finish()
""", timeout=60)
    assert result.returncode == 0, result.stderr
    assert "warned: True" in result.stdout and "regular: False" in result.stdout
    assert "refused: cannot save dataset 'stream'" in result.stdout and "not a regular file or a folder" in result.stdout


def test_a_symlink_loop_as_a_dataset_is_a_missing_path(tmp_path):
    loop = tmp_path / "loop"
    os.symlink(loop, loop)
    run = rn.init(storage=str(tmp_path / "s"))
    with pytest.warns(UserWarning, match="does not exist; recorded as a reference only"):
        ref = run.log_dataset("data", str(loop))
    assert ref["exists"] is False
    run.finish()


@pytest.mark.parametrize("where", ["the root itself", "a folder inside it"])
def test_a_workspace_inside_the_storage_root_is_refused(tmp_path, where):
    storage = tmp_path / "s"
    (storage / "inner").mkdir(parents=True)
    workspace = storage if where == "the root itself" else storage / "inner"
    with pytest.raises(ValueError, match="is inside the storage root"):
        rn.init(storage=str(storage), snapshot_code=True, workspace_root=str(workspace))
    assert not (storage / "store").exists() or not any(ObjectStore(storage / "store").iter_objects())


def test_a_workspace_holding_only_the_storage_root_snapshots_nothing_of_it(tmp_path):
    workspace = tmp_path / "ws"
    workspace.mkdir()
    run = rn.init(storage=str(workspace / ".runicorn"), snapshot_code=True, workspace_root=str(workspace))
    run.finish()
    assert rn.Api(workspace / ".runicorn").run(run.id).latest_asset("code")["files"] == 0


def test_an_unreadable_workspace_file_is_skipped_with_a_named_warning(tmp_path, monkeypatch):
    """Tests run as root, where mode 000 does not stop a read: the store's open is made to refuse one file."""
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "train.py").write_text("print('hi')\n")
    (workspace / "secret.key").write_text("no\n")
    original = ObjectStore.put_file_sized

    def refusing(self, path, **kwargs):
        if str(path).endswith("secret.key"):
            raise PermissionError(13, "Permission denied", str(path))
        return original(self, path, **kwargs)

    monkeypatch.setattr(ObjectStore, "put_file_sized", refusing)
    with pytest.warns(UserWarning, match="skipped what it cannot store: secret.key: permission denied"):
        run = rn.init(storage=str(tmp_path / "s"), snapshot_code=True, workspace_root=str(workspace))
    run.finish()
    code = rn.Api(tmp_path / "s").run(run.id).latest_asset("code")
    assert code["files"] == 1 and any("secret.key" in item for item in code["skipped"])


def test_a_snapshot_warns_about_links_that_point_outside(tmp_path):
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "a.py").write_text("1\n")
    os.symlink("/etc/hostname", workspace / "absolute")
    os.symlink("a.py", workspace / "inside")
    with pytest.warns(UserWarning) as caught:
        run = rn.init(storage=str(tmp_path / "s"), snapshot_code=True, workspace_root=str(workspace))
    run.finish()
    [said] = [str(w.message) for w in caught if "outside the workspace" in str(w.message)]
    assert "absolute -> /etc/hostname" in said and "inside" not in said


def test_a_store_without_its_config_is_reported_not_recreated(tmp_path):
    run = rn.init(storage=str(tmp_path / "s"))
    run.log_config(config_files=[_write(tmp_path / "c.yaml", "lr: 1\n")])
    run.finish()
    (tmp_path / "s" / "store" / "config.json").unlink()
    second = rn.init(storage=str(tmp_path / "s"))
    with pytest.raises(rn.RunicornError, match="holds objects but no config.json"):
        second.log_config(config_files=[tmp_path / "c.yaml"])
    second.finish()
    assert not (tmp_path / "s" / "store" / "config.json").exists()


def test_a_run_that_finds_its_saved_objects_gone_at_finish_says_so(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "x.bin").write_bytes(b"x" * 1000)
    run = rn.init(storage=str(tmp_path / "s"))
    ref = run.log_dataset("d", str(data), save=True)
    store = ObjectStore(tmp_path / "s" / "store")
    os.unlink(store.path_for(ref["id"]))  # what no gc of ours does to a live run's roots
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run.finish()
    assert any("objects it saved are no longer in the store" in str(w.message) for w in caught)
    status = json.loads((run.run_dir / "status.json").read_text())
    assert status["status"] == "finished" and status["missing_objects"] == [ref["id"]]


def _write(path, text):
    path.write_text(text)
    return path
