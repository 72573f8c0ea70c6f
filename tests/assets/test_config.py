"""run.log_config: arguments of every usual shape, nothing dropped silently, config files in the store."""

from __future__ import annotations

import argparse
import json
import math
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import runicorn as rn
from runicorn.store import materialize_blob

from assets_support import bare, manifest_entries, store_of, view


def config_of(run) -> dict:
    return json.loads((run.run_dir / "config.json").read_text())


@dataclass
class TrainConfig:
    lr: float = 0.1
    layers: list = field(default_factory=lambda: [64, 32])
    name: str = "resnet"


class FrozenMapping(Mapping):
    def __init__(self, data):
        self._data = dict(data)

    def __getitem__(self, key):
        return self._data[key]

    def __iter__(self):
        return iter(self._data)

    def __len__(self):
        return len(self._data)


class DuckConfig:
    """Mapping-like without being a Mapping (as some config libraries are): keys() and []."""

    def __init__(self, **values):
        self._values = values

    def keys(self):
        return self._values.keys()

    def __getitem__(self, key):
        return self._values[key]


class Opaque:
    def __repr__(self):
        return "Opaque(<weights>)"


@pytest.mark.parametrize("args, expected", [
    (argparse.Namespace(lr=0.01, epochs=3, model="vit"), {"lr": 0.01, "epochs": 3, "model": "vit"}),
    ({"lr": 0.01, "nested": {"a": [1, 2]}}, {"lr": 0.01, "nested": {"a": [1, 2]}}),
    (TrainConfig(), {"lr": 0.1, "layers": [64, 32], "name": "resnet"}),
    (FrozenMapping({"batch": 32}), {"batch": 32}),
    (types.MappingProxyType({"wd": 0.0005}), {"wd": 0.0005}),
    (DuckConfig(seed=42, opt="adam"), {"seed": 42, "opt": "adam"}),
    (types.SimpleNamespace(dropout=0.5), {"dropout": 0.5}),
], ids=["namespace", "dict", "dataclass", "mapping", "mappingproxy", "duck-mapping", "simplenamespace"])
def test_args_of_every_usual_shape(args, expected, storage):
    with rn.init(path="cfg") as run:
        run.log_config(args=args)
    assert config_of(run)["args"] == expected
    assert view(run).config["args"] == expected


def test_values_that_are_not_json_are_stored_as_their_repr(storage, tmp_path):
    np = pytest.importorskip("numpy")
    with rn.init(path="cfg") as run:
        run.log_config(args={"path": Path("/data/x"), "obj": Opaque(), "tags": {"b"}, "np": np.float32(0.5),
                             "n": np.int64(7), "t": (1, 2), "none": None, "nan": math.nan},
                       extra={"fn": len, "ok": True})
    config = config_of(run)
    assert config["args"]["path"] == repr(Path("/data/x"))
    assert config["args"]["obj"] == "Opaque(<weights>)"
    assert config["args"]["tags"] == repr({"b"})
    assert config["args"]["np"] == 0.5 and config["args"]["n"] == 7 and config["args"]["t"] == [1, 2]
    assert config["args"]["none"] is None
    assert config["args"]["nan"] == {"$float": "nan"}
    assert math.isnan(view(run).config["args"]["nan"])
    assert config["extra"] == {"fn": repr(len), "ok": True}


def test_repeated_calls_merge(storage, tmp_path):
    first = tmp_path / "a.yaml"
    first.write_text("lr: 0.1\n")
    second = tmp_path / "b.yaml"
    second.write_text("epochs: 3\n")
    with rn.init(path="cfg") as run:
        run.log_config(args={"lr": 0.1, "epochs": 1}, extra={"note": "first"})
        run.log_config(args={"epochs": 2}, config_files=[first])
        run.log_config(extra={"seed": 1}, config_files=str(second))
    config = config_of(run)
    assert config["args"] == {"lr": 0.1, "epochs": 2}
    assert config["extra"] == {"note": "first", "seed": 1}
    assert [Path(f["path"]).name for f in config["config_files"]] == ["a.yaml", "b.yaml"]


def test_config_files_are_stored_as_objects_and_restore_byte_exact(storage, tmp_path):
    content = b"model:\n  depth: 50\n\xe2\x9c\x93 unicode\r\n\x00binary\n"
    path = tmp_path / "train.yaml"
    path.write_bytes(content)
    with rn.init(path="cfg") as run:
        run.log_config(config_files=[path])
    [record] = config_of(run)["config_files"]
    assert record["path"] == str(path) and record["size"] == len(content)
    materialize_blob(store_of(storage), bare(record["id"]), tmp_path / "restored.yaml")
    assert (tmp_path / "restored.yaml").read_bytes() == content

    [entry] = manifest_entries(run, "config_file")
    assert entry["id"] == record["id"] and entry["type"] == "blob" and entry["name"] == "train.yaml"


def test_a_config_file_logged_again_after_an_edit_keeps_the_latest(storage, tmp_path):
    path = tmp_path / "c.json"
    path.write_text('{"v": 1}')
    with rn.init(path="cfg") as run:
        run.log_config(config_files=[path])
        path.write_text('{"v": 2}')
        run.log_config(config_files=[path])
    [record] = config_of(run)["config_files"]
    assert store_of(storage).get(bare(record["id"])) == b'{"v": 2}'
    assert len(manifest_entries(run, "config_file")) == 2  # both versions stay gc roots


def test_bad_config_input_is_a_clear_error(storage, tmp_path):
    with rn.init(path="cfg") as run:
        with pytest.raises(TypeError, match="args"):
            run.log_config(args=42)
        with pytest.raises(TypeError, match="extra"):
            run.log_config(extra=["not", "a", "dict"])
        with pytest.raises(FileNotFoundError, match="missing.yaml"):
            run.log_config(config_files=[tmp_path / "missing.yaml"])
        with pytest.raises(FileNotFoundError):
            run.log_config(config_files=[tmp_path])  # a folder is not a config file
