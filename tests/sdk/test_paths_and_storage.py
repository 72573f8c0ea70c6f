"""Run paths, run ids, and where the storage root is."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest

import runicorn as rn
from runicorn.runfolder import new_run_id, validate_path, validate_run_id
from runicorn.storage import resolve_storage_root


# -- paths -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("path, stored", [
    (None, "default"),
    ("cv", "cv"),
    ("cv/resnet50/baseline", "cv/resnet50/baseline"),
    ("nlp/bert-finetune/base", "nlp/bert-finetune/base"),
    ("A_b-9/x", "A_b-9/x"),
    ("/leading/and/trailing/", "leading/and/trailing"),
    ("x" * 200, "x" * 200),
])
def test_valid_paths(path, stored, storage):
    run = rn.init(path=path)
    run.finish()
    assert run.path == stored
    assert run.run_dir == storage.joinpath("runs", *stored.split("/"), run.id)
    assert rn.Api().run(run.id).path == stored


@pytest.mark.parametrize("path, rule", [
    ("", "letters, digits"),
    ("a//b", "letters, digits"),
    ("../escape", r"'\.\.'"),
    ("a/../b", r"'\.\.'"),
    ("..", r"'\.\.'"),
    (".", "letters, digits"),
    ("a/./b", "letters, digits"),
    ("with space", "letters, digits"),
    ("dots.in.name", "letters, digits"),
    ("back\\slash", "letters, digits"),
    ("ünïcode", "letters, digits"),
    ("a/b:c", "letters, digits"),
    ("x" * 201, "limit is 200"),
    (42, "string"),
    (["cv"], "string"),
])
def test_bad_paths_raise_value_error_naming_the_rule(path, rule, storage):
    with pytest.raises(ValueError, match=rule):
        rn.init(path=path)
    with pytest.raises(ValueError, match=rule):
        validate_path(path)
    assert not (storage / "runs").exists() or not any((storage / "runs").iterdir())


# -- run ids -----------------------------------------------------------------------------------------

def test_generated_run_ids_have_the_documented_format():
    before = time.time()
    ids = set()
    for _ in range(5):
        run = rn.init(path="ids")
        run.finish()
        ids.add(run.id)
        match = re.fullmatch(r"(\d{8}_\d{6})_([0-9a-f]{6})", run.id)
        assert match, run.id
        stamp = time.mktime(time.strptime(match.group(1), "%Y%m%d_%H%M%S"))  # local time of creation
        assert int(before) - 1 <= stamp <= time.time() + 1
    assert len(ids) == 5
    assert re.fullmatch(r"\d{8}_\d{6}_[0-9a-f]{6}", new_run_id())
    assert new_run_id(0.0).startswith(time.strftime("%Y%m%d_%H%M%S", time.localtime(0.0)))


def test_chosen_run_ids(storage):
    run = rn.init(path="ids", run_id="my-run_01")
    run.finish()
    assert run.id == "my-run_01"
    assert run.run_dir == storage / "runs" / "ids" / "my-run_01"
    for bad in ("a/b", "..", "", "sp ace", "x" * 101, 5):
        with pytest.raises(ValueError, match="run_id"):
            rn.init(path="ids", run_id=bad)
        with pytest.raises(ValueError, match="run_id"):
            validate_run_id(bad)


def test_init_validates_other_arguments():
    with pytest.raises(TypeError, match="alias"):
        rn.init(alias=3)
    with pytest.raises(TypeError, match="tags"):
        rn.init(tags=[1, 2])
    run = rn.init(tags="single")
    assert run.tags == ["single"]
    run.finish()


def test_unknown_init_arguments_warn_and_are_ignored():
    with pytest.warns(UserWarning, match="'project'") as record:
        run = rn.init(path="compat", project="old-0.6-argument")
    assert record[0].filename == __file__
    run.finish()
    assert rn.Api().run(run.id).status == "finished"


# -- storage root ------------------------------------------------------------------------------------

@pytest.fixture
def no_env_root(monkeypatch, tmp_path):
    monkeypatch.delenv("RUNICORN_DIR", raising=False)
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    return tmp_path


def write_config(folder: Path, storage: str) -> None:
    path = folder / "runicorn" / "config.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"storage": storage}))


def test_storage_root_resolution_order(no_env_root, monkeypatch):
    tmp = no_env_root
    home = Path(os.environ["HOME"])
    # 4. nothing configured: ./.runicorn under the working directory
    assert resolve_storage_root() == tmp / ".runicorn"
    # 3b. the user config under ~/.config
    write_config(home / ".config", str(tmp / "from-home-config"))
    assert resolve_storage_root() == tmp / "from-home-config"
    # 3a. with $XDG_CONFIG_HOME set, the config is read there and ~/.config is not looked at
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp / "xdg"))
    assert resolve_storage_root() == tmp / ".runicorn"
    write_config(tmp / "xdg", str(tmp / "from-xdg-config"))
    assert resolve_storage_root() == tmp / "from-xdg-config"
    # 2. RUNICORN_DIR wins over the config
    monkeypatch.setenv("RUNICORN_DIR", str(tmp / "from-env"))
    assert resolve_storage_root() == tmp / "from-env"
    # 1. the argument wins over everything
    assert resolve_storage_root(tmp / "from-argument") == tmp / "from-argument"
    assert resolve_storage_root(str(tmp / "from-argument")) == tmp / "from-argument"


def test_init_and_api_use_the_same_resolution(no_env_root, monkeypatch):
    tmp = no_env_root
    run = rn.init(path="where")
    run.finish()
    assert run.storage_root == tmp / ".runicorn"
    assert run.run_dir.is_relative_to(tmp / ".runicorn" / "runs")
    assert [v.id for v in rn.Api().runs()] == [run.id]

    write_config(Path(os.environ["HOME"]) / ".config", "~/configured")
    run = rn.init(path="where")
    run.finish()
    assert run.storage_root == Path(os.environ["HOME"]) / "configured"  # ~ is expanded
    assert [v.id for v in rn.Api().runs()] == [run.id]

    run = rn.init(path="where", storage="relative/root")  # relative to the working directory
    run.finish()
    assert run.storage_root == tmp / "relative" / "root"
    assert [v.id for v in rn.Api("relative/root").runs()] == [run.id]


def test_a_broken_user_config_is_ignored(no_env_root):
    path = Path(os.environ["HOME"]) / ".config" / "runicorn" / "config.json"
    path.parent.mkdir(parents=True)
    for content in ("{not json", "[1, 2]", json.dumps({"other": 1})):
        path.write_text(content)
        assert resolve_storage_root() == no_env_root / ".runicorn"


def test_child_process_resolves_the_same_root(script, storage, api):
    result = script("""
import runicorn as rn
run = rn.init(path="child")
print(run.storage_root)
run.finish()
""").run()
    assert result.stdout.strip() == str(storage)
    assert [v.path for v in api.runs()] == ["child"]
