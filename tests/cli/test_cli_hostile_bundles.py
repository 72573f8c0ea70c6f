"""`runicorn import` of hostile or damaged bundles: exit 1, a clear message, and the root left exactly as it was.

Every bundle here is built by hand with tarfile from a valid export, so each
test changes one thing. The target root holds a run of its own (so it has a
store) that shares no object with the bundle.
"""

import io
import json
import os
import shutil
import tarfile

import pytest

from cli_support import (OWN, RUN_A, RUN_B, Invoker, disk_state, header_bytes, read_members, regular, tar_bytes,
                         write_members)

EVIL = "runicorn-evil-file"


@pytest.fixture(scope="session")
def valid_bundle(sample_template, tmp_path_factory):
    path = tmp_path_factory.mktemp("bundles") / "valid.rnbundle"
    Invoker(sample_template.root)("export", "--path", "cv", "-o", path, expect=0)
    return path


@pytest.fixture
def target(target_template, tmp_path):
    """The target root, inside a sentinel folder: nothing may appear beside it."""
    root = tmp_path / "sentinel" / "root"
    shutil.copytree(target_template, root, symlinks=True)
    return root


def members_of(valid_bundle):
    return read_members(valid_bundle)


def object_members(members):
    return [(i, m) for i, m in enumerate(members) if m[0].name.startswith("objects/")]


def insert_after_header(members, *extra):
    return [members[0], *extra, *members[1:]]


def special(name, kind, **attrs):
    info = tarfile.TarInfo(name)
    info.type = kind
    for key, value in attrs.items():
        setattr(info, key, value)
    return info, None


def manifest_object_ids(members) -> set[str]:
    ids = set()
    for info, data in members:
        if info.name.endswith("/manifest.jsonl"):
            for line in data.decode().splitlines():
                ids.add(json.loads(line)["id"].split(":", 1)[1])
    return ids


def run_file(run_id, name, members):
    return next(i for i, (info, _) in enumerate(members) if info.name.endswith(f"/{run_id}/{name}"))


# -- the bundles: each returns the bytes of the bundle file --------------------------------------------------


def dotdot(m, tmp):
    return tar_bytes(insert_after_header(m, regular(f"../{EVIL}", b"x")))


def absolute(m, tmp):
    return tar_bytes(insert_after_header(m, regular(f"{tmp}/{EVIL}", b"x")))


def runs_dotdot(m, tmp):
    return tar_bytes(insert_after_header(m, regular(f"runs/../../{EVIL}", b"x")))


def runs_dotdot_in_run_path(m, tmp):
    return tar_bytes(insert_after_header(m, regular(f"runs/cv/../../../{EVIL}/{RUN_A}/run.json", b"{}")))


def pax_path_override(m, tmp):
    info, data = regular("runs/harmless", b"x")
    info.pax_headers = {"path": f"../{EVIL}"}
    return tar_bytes(insert_after_header(m, (info, data)))


def symlink(m, tmp):
    name = m[run_file(RUN_A, "timeline.bin", m)][0].name
    m = [x for x in m if x[0].name != name]
    return tar_bytes(insert_after_header(m, special(name, tarfile.SYMTYPE, linkname=f"../../../../../../{EVIL}")))


def hardlink(m, tmp):
    name = m[run_file(RUN_A, "summary.json", m)][0].name
    m = [x for x in m if x[0].name != name]
    return tar_bytes(insert_after_header(m, special(name, tarfile.LNKTYPE, linkname="runicorn-bundle.json")))


def fifo(m, tmp):
    return tar_bytes(insert_after_header(m, special(f"runs/cv/resnet/baseline/{RUN_A}/heartbeat.fifo", tarfile.FIFOTYPE)))


def device(m, tmp):
    return tar_bytes(insert_after_header(m, special(f"objects/aa/{'a' * 62}", tarfile.CHRTYPE, devmajor=1, devminor=3)))


def directory(m, tmp):
    return tar_bytes(insert_after_header(m, special("runs/cv", tarfile.DIRTYPE, mode=0o755)))


def wrong_hash(m, tmp):
    index, (info, data) = object_members(m)[0]
    m[index] = (info, bytes([data[0] ^ 1]) + data[1:] if data else b"not empty")
    return tar_bytes(m)


def non_hex_name(m, tmp):
    return tar_bytes(m + [regular(f"objects/zz/{'g' * 62}", b"x")])


def wrong_fanout(m, tmp):
    index, (info, data) = object_members(m)[0]
    oid = info.name.replace("objects/", "").replace("/", "")
    m[index] = (tarfile.TarInfo(f"objects/{oid[:3]}/{oid[3:]}"), data)
    return tar_bytes(m)


def truncated_half(m, tmp):
    data = tar_bytes(m)
    return data[: len(data) // 2]


def truncated_in_last_object(m, tmp):
    data = tar_bytes(m)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        last = [x for x in tar.getmembers() if x.name.startswith("objects/") and x.size > 100][-1]
    return data[: last.offset_data + last.size // 2]


def missing_header(m, tmp):
    return tar_bytes(m[1:])


def header_not_first(m, tmp):
    return tar_bytes([m[1], m[0], *m[2:]])


def header_other_version(m, tmp):
    header = json.loads(m[0][1])
    header["version"] = 2
    return tar_bytes([(m[0][0], json.dumps(header).encode()), *m[1:]])


def header_not_json(m, tmp):
    return tar_bytes([(m[0][0], b"{this is not json"), *m[1:]])


def header_other_format(m, tmp):
    return tar_bytes([(m[0][0], header_bytes([], format="tarball")), *m[1:]])


def header_unsafe_run_path(m, tmp):
    header = json.loads(m[0][1])
    header["runs"].append({"id": "20250101_000000_000000", "path": "../../etc"})
    return tar_bytes([(m[0][0], json.dumps(header).encode()), *m[1:]])


def unknown_run_file(m, tmp):
    return tar_bytes(m + [regular(f"runs/cv/resnet/baseline/{RUN_A}/evil.sh", b"#!/bin/sh\nrm -rf /\n")])


def run_not_in_header(m, tmp):
    return tar_bytes(m + [regular("runs/other/20250101_000000_ffffff/run.json", b"{}")])


def run_without_identity(m, tmp):
    name = m[run_file(RUN_B, "run.json", m)][0].name
    return tar_bytes([x for x in m if x[0].name != name])


def duplicate_run_file(m, tmp):
    return tar_bytes(m + [m[run_file(RUN_A, "summary.json", m)]])


def missing_object(m, tmp):
    named = manifest_object_ids(m)
    index = next(i for i, (info, _) in object_members(m) if info.name.replace("objects/", "").replace("/", "") in named)
    return tar_bytes(m[:index] + m[index + 1:])


def missing_tree_child(m, tmp):
    """An object only a tree names (not the manifest directly): the bundle is still incomplete."""
    named = manifest_object_ids(m)
    index = next(i for i, (info, _) in object_members(m)
                 if info.name.replace("objects/", "").replace("/", "") not in named)
    return tar_bytes(m[:index] + m[index + 1:])


def garbage(m, tmp):
    return os.urandom(1 << 14)


def empty(m, tmp):
    return b""


def only_header(m, tmp):
    return tar_bytes(m[:1])


CASES = {
    dotdot: "unsafe name", absolute: "unsafe name", runs_dotdot: "unsafe name", runs_dotdot_in_run_path: "unsafe name",
    pax_path_override: "unsafe name", symlink: "is a link", hardlink: "is a link", fifo: "is a fifo",
    device: "is a device", directory: "is a folder", wrong_hash: "corrupt", non_hex_name: "not named like an object",
    wrong_fanout: "not named like an object", truncated_half: "damaged", truncated_in_last_object: "damaged",
    missing_header: "not a Runicorn bundle", header_not_first: "not a Runicorn bundle",
    header_other_version: "bundle version 2", header_not_json: "not JSON", header_other_format: "not a Runicorn bundle",
    header_unsafe_run_path: "..", unknown_run_file: "not a known run file", run_not_in_header: "does not list",
    run_without_identity: "holds no run.json", duplicate_run_file: "damaged", missing_object: "lacks 1 objects",
    missing_tree_child: "lacks 1 objects", garbage: "damaged", empty: "",
    only_header: "holds no run.json",
}


def duplicate_run_id(m, tmp):
    """Two runs with one id (under two paths) could never be told apart again."""
    header = json.loads(m[0][1])
    header["runs"].append({"id": RUN_A, "path": "cv/elsewhere"})
    copies = [(regular(info.name.replace("cv/resnet/baseline", "cv/elsewhere"), data)) for info, data in m
              if f"/{RUN_A}/" in info.name]
    return tar_bytes([(m[0][0], json.dumps(header).encode()), *m[1:], *copies])


def garbage_after_a_member(m, tmp):
    """tarfile stops quietly at a header that does not parse; the bundle must not import what came before."""
    data = tar_bytes(m)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        last = tar.getmembers()[-1]
    end = last.offset_data + -(-last.size // 512) * 512
    return data[:end] + os.urandom(len(data) - end)


CASES.update({duplicate_run_id: "under two paths", garbage_after_a_member: "no end-of-archive marker"})


@pytest.mark.parametrize("make", list(CASES), ids=[f.__name__ for f in CASES])
def test_hostile_bundle_is_refused_and_the_root_is_unchanged(make, valid_bundle, target, invoke, tmp_path):
    sentinel = target.parent
    bundle = tmp_path / "hostile.rnbundle"
    bundle.write_bytes(make(members_of(valid_bundle), tmp_path))
    before = disk_state(sentinel)

    result = invoke("import", bundle, storage=target, expect=1)

    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    assert CASES[make] in lines[0], lines[0]
    assert disk_state(sentinel) == before
    assert result.stdout == ""
    # nothing escaped: not beside the root, not in the working folder, not above it
    for folder in (tmp_path, tmp_path.parent, target.parent, target / "runs", target / "store"):
        assert not os.path.lexists(folder / EVIL)
    assert [p for p in tmp_path.rglob(f"*{EVIL}*")] == []


@pytest.fixture(scope="session")
def runs_only_bundle(sample_template, tmp_path_factory):
    """A bundle of a run that references no object: the completeness check cannot notice lost run files."""
    path = tmp_path_factory.mktemp("bundles") / "c.rnbundle"
    Invoker(sample_template.root)("export", "20250102", "-o", path, expect=0)
    return path


def _cut_points(bundle):
    with tarfile.open(bundle) as tar:
        members = tar.getmembers()
    status = next(m for m in members if m.name.endswith("/status.json"))
    last = members[-1]
    return {
        "at_a_member_boundary": status.offset,  # cut where the header of status.json starts
        "inside_a_header": status.offset + 100,
        "inside_member_data": status.offset_data + 10,
        "before_the_end_marker": last.offset_data + -(-last.size // 512) * 512,
        "inside_the_end_marker": last.offset_data + -(-last.size // 512) * 512 + 700,
    }


@pytest.mark.parametrize("where", ["at_a_member_boundary", "inside_a_header", "inside_member_data",
                                   "before_the_end_marker", "inside_the_end_marker"])
def test_a_truncated_runs_only_bundle_is_refused(where, runs_only_bundle, target, invoke, tmp_path):
    cut = _cut_points(runs_only_bundle)[where]
    bundle = tmp_path / "cut.rnbundle"
    bundle.write_bytes(runs_only_bundle.read_bytes()[:cut])
    before = disk_state(target.parent)
    result = invoke("import", bundle, storage=target, expect=1)
    assert "truncated" in result.stderr or "damaged" in result.stderr
    assert disk_state(target.parent) == before


def test_a_complete_runs_only_bundle_imports(runs_only_bundle, target, invoke):
    invoke("import", runs_only_bundle, storage=target, expect=0)
    assert json.loads(invoke("show", "20250102", "--json", storage=target, expect=0).stdout)["status"] == "failed"


def test_the_valid_bundle_imports_into_the_same_target(valid_bundle, target, invoke):
    """The control: the hostile cases fail for what was changed, not for the target."""
    invoke("import", valid_bundle, storage=target, expect=0)
    ids = [r["id"] for r in json.loads(invoke("ls", "--json", storage=target, expect=0).stdout)]
    assert sorted(ids) == sorted([OWN, RUN_A, RUN_B])


def test_hand_written_minimal_bundle_imports(target, invoke, tmp_path):
    """The format is what docs/format.md says: a header, run files and objects are enough."""
    identity = {"format": "runicorn-run", "version": 1, "id": "20250110_000000_abcdef", "path": "hand/made",
                "created_at": 1.0}
    members = [regular("runicorn-bundle.json", header_bytes([{"id": identity["id"], "path": "hand/made"}])),
               regular(f"runs/hand/made/{identity['id']}/run.json", json.dumps(identity).encode()),
               regular(f"runs/hand/made/{identity['id']}/status.json", b'{"status": "finished"}')]
    bundle = write_members(tmp_path / "hand.rnbundle", members)
    invoke("import", bundle, storage=target, expect=0)
    shown = json.loads(invoke("show", identity["id"], "--json", storage=target, expect=0).stdout)
    assert (shown["path"], shown["status"]) == ("hand/made", "finished")
