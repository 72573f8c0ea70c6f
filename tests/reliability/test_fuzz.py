"""Bounded fuzzing of everything Runicorn reads from a hostile or damaged source.

- bundles: the small real bundle of tests/data/corpus, with bytes mutated, or with a run
  file replaced by arbitrary JSON and re-tarred: the import either succeeds and the root
  verifies, or it raises ``BundleError`` with a one-line message and leaves nothing behind;
- trees: ``parse_tree`` on arbitrary bytes raises only ``RunicornError`` subclasses;
- manifest lines: ``ManifestEntry.parse`` on arbitrary JSON values raises only ``ValueError``,
  and a run folder's manifest of arbitrary lines reads without raising;
- run state files: the run folder's readers raise only ``DamagedRun``/``UnsupportedFormat``;
- timelines: ``iter_rows`` and ``check`` on arbitrary bytes after the magic never raise.

Derandomized like tests/store (every run tries the same examples, a failure reproduces);
``HYPOTHESIS_PROFILE=thorough`` explores more, with fresh randomness.
"""

from __future__ import annotations

import io
import json
import os
import struct
import tarfile
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from cli_support import disk_state
from corpus_support import SMALL_BUNDLE, TIMELINE_MAGIC, copy_root, frame
from runicorn.api import Api
from runicorn.bundle import import_bundle
from runicorn.errors import BundleError, DamagedRun, RunicornError, UnsupportedFormat
from runicorn.maintenance import verify_storage
from runicorn.runfolder import RunFolder
from runicorn.runfolder.records import ManifestEntry
from runicorn.runfolder.timeline import check, iter_rows
from runicorn.store import ObjectStore, parse_tree
from runicorn.store.trees import TREE_HEADER

THOROUGH = os.environ.get("HYPOTHESIS_PROFILE") == "thorough"
FUZZ = settings(derandomize=not THOROUGH, database=None, deadline=None, max_examples=300 if THOROUGH else 50,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

# -- JSON values, with the keys Runicorn's records use (and its "$float" marker) likely ----------------------

KEYS = ["$float", "format", "version", "id", "path", "alias", "tags", "created_at", "git", "status", "started_at",
        "ended_at", "error", "resumed_at", "pid", "host", "args", "extra", "config_files", "name", "size", "role",
        "at", "type", "mode", "best", "step", "_step", "_time", "keys", "types", "kind", "exec", "target"]
SCALARS = (st.none() | st.booleans() | st.integers(min_value=-(2 ** 70), max_value=2 ** 70)
           | st.floats(allow_nan=True, allow_infinity=True)
           | st.sampled_from(["runicorn-run", "blake3:" + "a" * 64, "sha1:abc", "blob", "tree", "finished", "nan",
                              "inf", "../..", "", "d", "q?", "x"])
           | st.text(max_size=6))
json_values = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=4), children, max_size=5),
    max_leaves=12)
json_objects = st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=4), json_values, max_size=6)


def dumps(value) -> bytes:
    """JSON as any writer might have made it (NaN and Infinity included: Python's reader accepts them)."""
    return json.dumps(value).encode()


# -- bundles ------------------------------------------------------------------------------------------------


def small_members() -> list[tuple[tarfile.TarInfo, bytes]]:
    with tarfile.open(SMALL_BUNDLE) as tar:
        return [(m, tar.extractfile(m).read()) for m in tar.getmembers()]


def retar(members) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            fresh = tarfile.TarInfo(info.name)
            fresh.size, fresh.mode, fresh.mtime = len(data), 0o644, info.mtime
            tar.addfile(fresh, io.BytesIO(data))
    return out.getvalue()


def _spans() -> list[tuple[int, int]]:
    """(start, end) of every member's header and of its data: where a mutation changes something."""
    with tarfile.open(SMALL_BUNDLE) as tar:
        members = tar.getmembers()
    headers = [(m.offset, m.offset_data) for m in members]
    data = [(m.offset_data, m.offset_data + max(m.size, 1)) for m in members]
    last = members[-1]
    end = last.offset_data + -(-last.size // 512) * 512
    # Data three times as likely as headers: a changed header mostly fails its checksum, which ends the listing.
    return data * 3 + headers + [(end, end + 1024)]  # the last: the end-of-archive marker


SEED = SMALL_BUNDLE.read_bytes()
SPANS = _spans()


@st.composite
def mutated_bundles(draw) -> bytes:
    data = bytearray(SEED)
    for _ in range(draw(st.integers(1, 3))):
        start, end = draw(st.sampled_from(SPANS))
        at = draw(st.integers(start, max(start, min(end, len(data)) - 1)))
        if at >= len(data):
            continue
        # Mostly edits in place: a shift (insert, delete, cut) mostly ends as "no end-of-archive marker".
        op = draw(st.sampled_from(["flip"] * 4 + ["set"] * 4 + ["insert", "delete", "truncate"]))
        if op == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "set":
            data[at] = draw(st.sampled_from([0, 0x20, 0x30, 0x37, 0x39, 0xFF, ord("/"), ord("."), ord("\n")]))
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif op == "delete":
            del data[at:at + draw(st.integers(1, 600))]
        else:
            del data[at:]
    return bytes(data)


RUN_FILE_INDEXES = [i for i, (info, _) in enumerate(small_members()) if info.name.startswith("runs/")]


@st.composite
def bundles_with_odd_run_files(draw) -> bytes:
    """The small bundle with one run file's content replaced, edited or extended, re-tarred properly."""
    members = small_members()
    index = draw(st.sampled_from(RUN_FILE_INDEXES))
    info, data = members[index]
    name = info.name.rsplit("/", 1)[1]
    how = draw(st.sampled_from(["replace", "edit", "append"]))
    if name == "timeline.bin":
        record = draw(timeline_records())
        data = data + record if how != "replace" else TIMELINE_MAGIC + record
    elif name.endswith(".jsonl") or name == "logs.txt":
        line = dumps(draw(json_values)) + b"\n"
        data = data + line if how != "replace" else line
    elif how == "edit" and name.endswith(".json"):
        value = json.loads(data)
        value[draw(st.sampled_from(sorted(value) + KEYS))] = draw(json_values)
        data = dumps(value)
    else:
        data = dumps(draw(json_values if how == "replace" else json_objects))
    members[index] = (info, data)
    return retar(members)


@pytest.fixture(scope="session")
def empty_root(tmp_path_factory) -> Path:
    """A storage root with an empty store and runs/ (imports into a new root make 256 folders: slow to repeat)."""
    root = tmp_path_factory.mktemp("empty") / "root"
    ObjectStore(root / "store")
    (root / "runs").mkdir()
    return root


def import_one(tmp_path: Path, bundle: bytes, template: Path | None) -> str | None:
    """Import into a copy of ``template`` (None: a new root) inside a sentinel folder: success verifies; failure is
    one line and leaves the sentinel folder as it was (a root the import created is gone again). Returns the
    refusal, if any."""
    sentinel = Path(tempfile.mkdtemp(dir=tmp_path))
    (sentinel / "beside.txt").write_text("untouched\n")
    path = sentinel / "fuzzed.rnbundle"
    path.write_bytes(bundle)
    root = sentinel / "root"
    if template is not None:
        copy_root(template, root)
    before = disk_state(sentinel)
    try:
        import_bundle(Api(root), path)
    except BundleError as exc:
        assert "\n" not in str(exc) and str(exc), repr(str(exc))
        assert disk_state(sentinel) == before
        return str(exc)
    assert {k: v for k, v in disk_state(sentinel).items() if not k.startswith("root")} == \
        {k: v for k, v in before.items() if not k.startswith("root")}
    api = Api(root)
    report = verify_storage(api)
    assert report.ok, (report.store, report.damaged_runs)
    for view in api.runs():
        assert view.status != "damaged" and view.folder.check_timeline() == [], view.id
    return None


def test_the_seed_bundle_imports_into_a_new_root(tmp_path):
    assert import_one(tmp_path, SEED, None) is None


def test_a_refused_import_into_a_new_root_leaves_no_root(tmp_path):
    members = small_members()
    index = next(i for i in RUN_FILE_INDEXES if members[i][0].name.endswith("/status.json"))
    members[index] = (members[index][0], b"[1]")
    assert "status.json is damaged" in import_one(tmp_path, retar(members), None)

@FUZZ
@given(bundle=mutated_bundles())
def test_a_bundle_with_mutated_bytes_imports_or_is_refused_in_one_line(tmp_path, empty_root, bundle):
    import_one(tmp_path, bundle, empty_root)


@FUZZ
@given(bundle=bundles_with_odd_run_files())
def test_a_bundle_with_odd_run_files_imports_or_is_refused_in_one_line(tmp_path, empty_root, bundle):
    import_one(tmp_path, bundle, empty_root)


# -- trees --------------------------------------------------------------------------------------------------

TREE_KEYS = ["kind", "name", "size", "id", "exec", "target"]
tree_entries = st.dictionaries(st.sampled_from(TREE_KEYS), st.sampled_from(["file", "dir", "symlink"])
                               | st.sampled_from(["a", "b", "..", ".", "", "x/y", "\0", "blake3:" + "0" * 64])
                               | SCALARS, min_size=2, max_size=6)


def canonical(entry) -> bytes:
    return json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "replace")


tree_bytes = st.one_of(
    st.binary(max_size=200),
    st.binary(max_size=200).map(lambda b: TREE_HEADER + b),
    st.lists(tree_entries | json_values, max_size=4).map(
        lambda entries: TREE_HEADER + b"".join(canonical(e) + b"\n" for e in entries)),
)


@FUZZ
@given(data=tree_bytes)
@example(data=TREE_HEADER + b"[" * 100_000 + b"]" * 100_000 + b"\n")  # nested deeper than the recursion limit
@example(data=b"runicorn-tree 2\n")
@example(data=TREE_HEADER + b'{"id":"blake3:' + b"0" * 64 + b'","kind":"file","name":"..","size":1,"exec":false}\n')
def test_parse_tree_raises_only_runicorn_errors(data):
    try:
        parse_tree(data, "fuzzed")
    except RunicornError:
        pass


# -- manifest lines -----------------------------------------------------------------------------------------

manifest_values = st.one_of(
    json_values,
    st.fixed_dictionaries({"role": SCALARS, "name": SCALARS}, optional={"at": SCALARS, "id": json_values,
                                                                        "type": json_values}),
)


@FUZZ
@given(value=manifest_values)
@example(value={"role": "code", "name": "x", "id": "blake3:../../etc", "type": "tree"})
@example(value={"role": "code", "name": "x", "id": "blake3:" + "a" * 64, "type": ["tree"]})
def test_manifest_entry_parse_raises_only_value_error(value):
    try:
        entry = ManifestEntry.parse(value)
    except ValueError:
        return
    assert isinstance(entry.role, str) and isinstance(entry.name, str)


manifest_files = st.lists(st.one_of(json_values.map(dumps), st.binary(max_size=40)), max_size=5).map(
    lambda lines: b"".join(line.replace(b"\n", b" ") + b"\n" for line in lines))


@FUZZ
@given(data=manifest_files)
@example(data=b'{"role": "code", "name": "x", "id": {"$float": [1]}, "type": "tree"}\n')
@example(data=b"[" * 100_000 + b"]" * 100_000 + b"\n")
@example(data='{"role": "a", "name": "x\u2028y"}\n[1]\n'.encode())  # U+2028 is no line end in a JSON-lines file
def test_a_manifest_of_arbitrary_lines_reads_without_raising(tmp_path, data):
    folder = Path(tempfile.mkdtemp(dir=tmp_path))
    (folder / "manifest.jsonl").write_bytes(data)
    manifest = RunFolder(folder).read_manifest()
    assert len(manifest.entries) + len(manifest.problems) <= data.count(b"\n")  # blank lines are no records


# -- run state files ----------------------------------------------------------------------------------------

STATE_READERS = {"run.json": "read_identity", "status.json": "read_status", "config.json": "read_config",
                 "summary.json": "read_summary", "primary_metric.json": "read_primary_metric",
                 "environment.json": "read_environment"}


@FUZZ
@given(name=st.sampled_from(sorted(STATE_READERS)), data=json_values.map(dumps) | st.binary(max_size=60))
@example(name="status.json", data=b'{"status": {"$float": []}}')
@example(name="run.json", data=b"[" * 100_000 + b"]" * 100_000)
def test_run_state_files_raise_only_damaged_run_or_unsupported_format(tmp_path, name, data):
    folder = Path(tempfile.mkdtemp(dir=tmp_path))
    (folder / name).write_bytes(data)
    try:
        getattr(RunFolder(folder), STATE_READERS[name])()
    except (DamagedRun, UnsupportedFormat) as exc:
        assert "\n" not in str(exc)


# -- timelines ----------------------------------------------------------------------------------------------


@st.composite
def timeline_records(draw) -> bytes:
    """One record: a schema, rows, a stage or a JSON row, mostly well framed, with odd content."""
    kind = draw(st.sampled_from("SRGJ"))
    if kind == "S":
        spec = draw(st.one_of(
            st.fixed_dictionaries({"keys": st.lists(st.sampled_from(["a", "b", "_step", "loss"]) | st.text(max_size=3),
                                                    max_size=3),
                                   "types": st.text("dq?xs", max_size=4)}),
            json_values))
        body = struct.pack("<H", draw(st.integers(0, 3))) + dumps(spec)
    elif kind == "R":
        count = draw(st.integers(0, 3))
        size = draw(st.sampled_from([8 + 8, 8 + 8 + 8, 8 + 8 + 1, 8 + 8 + 16]))
        body = struct.pack("<HI", draw(st.integers(0, 3)), count) + draw(st.binary(min_size=count * size,
                                                                                   max_size=count * size + 2))
    elif kind == "G":
        body = draw(st.binary(max_size=8))
    else:
        body = dumps(draw(json_objects | json_values))
    payload = kind.encode() + body
    record = frame(payload)
    how = draw(st.sampled_from(["intact"] * 6 + ["bad crc", "long", "short"]))
    if how == "bad crc":
        record = record[:4] + bytes([record[4] ^ 1]) + record[5:]
    elif how == "long":
        record = struct.pack("<I", len(payload) + draw(st.integers(1, 1 << 20))) + record[4:]
    elif how == "short":
        record = record[: draw(st.integers(0, len(record)))]
    return record


after_magic = st.one_of(
    st.binary(max_size=300),
    st.lists(timeline_records(), max_size=6).map(b"".join),
    st.tuples(st.lists(timeline_records(), max_size=4).map(b"".join), st.binary(max_size=30)).map(b"".join),
)


@FUZZ
@given(data=after_magic)
@example(data=frame(b'J{"_step": {"$float": []}, "_time": 1.0}'))
@example(data=frame(b'J{"_step": 1, "_time": 1.0, "x": {"$float": {}}}'))
@example(data=frame(b"J" + b"[" * 100_000 + b"]" * 100_000))
@example(data=frame(b"S\x00\x00" + json.dumps({"keys": ["a"], "types": "x"}).encode()) + frame(b"R\x00\x00" + bytes(4)))
def test_timeline_readers_never_raise(tmp_path, data):
    path = Path(tempfile.mkdtemp(dir=tmp_path)) / "timeline.bin"
    path.write_bytes(TIMELINE_MAGIC + data)
    rows = list(iter_rows(path))
    list(iter_rows(path, ["a", "_stage"]))
    problems = check(path)
    assert all(isinstance(row.get("_step"), int) for row in rows)
    assert all(isinstance(p, str) for p in problems)
