"""The binary metric timeline (runicorn/timeline.py, docs/format.md 5.1): round trips and damage."""

from __future__ import annotations

import json
import math
import struct
import tracemalloc
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runicorn.errors import UnsupportedFormat
from runicorn.runfolder import timeline
from runicorn.runfolder.timeline import MAGIC, TimelineEncoder, check, iter_column_blocks, iter_rows, last_step


@pytest.fixture(params=[None, 7, 40], ids=["window-default", "window-7", "window-40"])
def window(request, monkeypatch):
    """The reader's window: the default, and windows smaller than a record, so that records and
    damage straddle window edges and large records take the streamed-crc path."""
    if request.param is not None:
        monkeypatch.setattr(timeline, "_WINDOW", request.param)
    return request.param


def write(path, *batches, encoder=None):
    """Append each batch as one flush would, the magic with the first."""
    encoder = encoder or TimelineEncoder()
    with open(path, "ab") as handle:
        for batch in batches:
            handle.write(encoder.encode(batch, with_magic=handle.tell() == 0))
    return encoder


def expected(rows):
    out = []
    for step, when, stage, values in rows:
        row = {"_step": step, "_time": when, **values}
        if stage is not None:
            row["_stage"] = stage
        out.append(row)
    return out


def same(a, b) -> bool:
    """Equal, with NaN equal to NaN and types kept (True is not 1)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


MIXED = [
    (1, 10.0, None, {"loss": 0.5, "acc": 0.25}),
    (2, 10.5, None, {"loss": 0.4, "acc": 0.5}),
    (3, 11.0, "epoch_1", {"loss": 0.3}),  # another schema
    (4, 11.5, "epoch_1", {"loss": 0.2, "acc": 0.75}),  # back to the first
    (5, 12.0, "eval", {"count": 7, "ok": True, "ratio": math.nan}),  # int, bool, float
    (6, 12.5, "eval", {"name": "resnet", "x": 1.0}),  # a string: a J record
    (7, 13.0, None, {"huge": 2 ** 64, "neg_huge": -(2 ** 63) - 1}),  # beyond int64: J
    (2 ** 63, 13.5, None, {"loss": 0.1, "acc": 1.0}),  # a step beyond int64: J
    (9, 14.0, "", {"inf": math.inf, "ninf": -math.inf, "s": "txt", "nan": math.nan}),  # "" is no stage
    (10, 14.5, "ünïcode ✓", {"acc": 0.5, "loss": 0.5}),  # same keys, other order: its own schema
    (11, 15.0, "ünïcode ✓", {}),  # no metrics at all
]


def test_mixed_round_trip_in_one_and_in_many_flushes(tmp_path):
    want = expected([(s, t, g or None, v) for s, t, g, v in MIXED])
    one = tmp_path / "one.bin"
    write(one, MIXED)
    assert same(list(iter_rows(one)), want)
    many = tmp_path / "many.bin"
    write(many, *[[row] for row in MIXED])
    assert same(list(iter_rows(many)), want)
    assert last_step(one) == last_step(many) == 11


def test_layout_is_the_documented_one(tmp_path):
    path = tmp_path / "t.bin"
    write(path, [(1, 2.5, None, {"a": 1.5, "n": 3, "b": True}), (2, 3.5, None, {"a": 2.5, "n": 4, "b": False})],
          [(3, 4.5, "train", {"s": "x"})])
    data = path.read_bytes()
    assert data[:8] == b"RNTL\x00\x00\x00\x01" == MAGIC
    records = []
    offset = 8
    while offset < len(data):
        length, crc = struct.unpack_from("<II", data, offset)
        payload = data[offset + 8: offset + 8 + length]
        assert len(payload) == length > 0 and zlib.crc32(payload) == crc
        records.append(payload)
        offset += 8 + length
    assert offset == len(data)
    schema, rows, stage, text = records
    assert schema[:1] == b"S" and struct.unpack_from("<H", schema, 1) == (0,)
    assert json.loads(schema[3:]) == {"keys": ["a", "n", "b"], "types": "dq?"}
    assert rows[:1] == b"R" and struct.unpack_from("<HI", rows, 1) == (0, 2)
    assert list(struct.iter_unpack("<qddq?", rows[7:])) == [(1, 2.5, 1.5, 3, True), (2, 3.5, 2.5, 4, False)]
    assert stage == b"Gtrain"
    assert text[:1] == b"J" and json.loads(text[1:]) == {"_step": 3, "_time": 4.5, "s": "x"}


def test_nonfinite_values_in_json_records_stay_valid_json(tmp_path):
    path = tmp_path / "t.bin"
    write(path, [(1, 1.0, None, {"s": "x", "v": math.nan, "w": -math.inf})])
    payload = path.read_bytes()[16:]
    assert payload[:1] == b"J"
    assert json.loads(payload[1:]) == {"_step": 1, "_time": 1.0, "s": "x", "v": {"$float": "nan"},
                                       "w": {"$float": "-inf"}}


def test_selected_keys(tmp_path):
    path = tmp_path / "t.bin"
    write(path, MIXED)
    assert list(iter_rows(path, ["acc"])) == [
        {"_step": 1, "acc": 0.25}, {"_step": 2, "acc": 0.5}, {"_step": 4, "acc": 0.75}, {"_step": 2 ** 63, "acc": 1.0},
        {"_step": 10, "acc": 0.5}]
    assert list(iter_rows(path, ["name", "count"])) == [{"_step": 5, "count": 7}, {"_step": 6, "name": "resnet"}]
    assert list(iter_rows(path, ["missing"])) == []
    assert list(iter_rows(path, [])) == []
    # _stage is a column like the others: rows with a stage or a loss, in binary and JSON records alike
    with_stage = list(iter_rows(path, ["loss", "_stage"]))
    assert [(r["_step"], r.get("_stage"), r.get("loss")) for r in with_stage] == [
        (1, None, 0.5), (2, None, 0.4), (3, "epoch_1", 0.3), (4, "epoch_1", 0.2), (5, "eval", None),
        (6, "eval", None), (2 ** 63, None, 0.1), (10, "ünïcode ✓", 0.5), (11, "ünïcode ✓", None)]
    assert all(set(r) <= {"_step", "loss", "_stage"} for r in with_stage)
    assert list(iter_rows(path, ["_stage"])) == [{"_step": s, "_stage": g} for s, g in [
        (3, "epoch_1"), (4, "epoch_1"), (5, "eval"), (6, "eval"), (10, "ünïcode ✓"), (11, "ünïcode ✓")]]
    assert all("_time" in r for r in list(iter_rows(path, ["_time", "loss"])))


@pytest.mark.parametrize("cut_from_end", [0, 1])
def test_truncation_at_every_offset_of_the_last_record_keeps_the_complete_prefix(tmp_path, cut_from_end, window):
    batches = [MIXED[:2], MIXED[2:6], MIXED[6:9] if cut_from_end else MIXED[6:]]
    whole = tmp_path / "whole.bin"
    write(whole, *batches)
    data = whole.read_bytes()
    # find where the last record starts
    starts, offset = [], 8
    while offset < len(data):
        starts.append(offset)
        offset += 8 + struct.unpack_from("<I", data, offset)[0]
    last = starts[-1]
    complete = list(iter_rows(whole))
    prefix = read_rows_of(tmp_path, data[:last])
    assert len(prefix) < len(complete)
    for size in range(last, len(data)):
        rows = read_rows_of(tmp_path, data[:size])
        assert same(rows, prefix), size
    for size in range(0, 9):  # even a torn magic reads as an empty timeline
        assert read_rows_of(tmp_path, data[:size]) == []
        assert last_step(tmp_path / "cut.bin") is None


def read_rows_of(tmp_path, data: bytes):
    path = tmp_path / "cut.bin"
    path.write_bytes(data)
    return list(iter_rows(path))


def test_a_flipped_byte_loses_only_that_record_and_reading_goes_on(tmp_path, window):
    path = tmp_path / "t.bin"
    write(path, [MIXED[0]], [MIXED[1]], [MIXED[5]], [MIXED[3]])  # S R | R | J | S? R
    data = path.read_bytes()
    starts, offset = [], 8
    while offset < len(data):
        starts.append(offset)
        offset += 8 + struct.unpack_from("<I", data, offset)[0]
    good = list(iter_rows(path))
    assert len(good) == 4
    for index, start in enumerate(starts):
        length = struct.unpack_from("<I", data, start)[0]
        for where in (start + 8, start + 8 + length // 2, start + 8 + length - 1):  # payload bytes
            damaged = bytearray(data)
            damaged[where] ^= 0x01
            rows = read_rows_of(tmp_path, bytes(damaged))
            assert check(tmp_path / "cut.bin") != []  # the damage is reported ...
            # ... and read as if the record were not there: rows of a lost schema go with it, later records read.
            without = read_rows_of(tmp_path, data[:start] + data[start + 8 + length:])
            assert same(rows, without), (index, where)
        damaged = bytearray(data)
        damaged[start + 4] ^= 0xFF  # the crc itself
        without = read_rows_of(tmp_path, data[:start] + data[start + 8 + length:])
        assert same(read_rows_of(tmp_path, bytes(damaged)), without)


def test_unknown_version_is_refused_and_foreign_files_read_empty(tmp_path):
    path = tmp_path / "t.bin"
    write(path, MIXED)
    data = path.read_bytes()
    path.write_bytes(b"RNTL\x00\x00\x00\x02" + data[8:])
    with pytest.raises(UnsupportedFormat, match="upgrade"):
        list(iter_rows(path))
    with pytest.raises(UnsupportedFormat):
        last_step(path)
    with pytest.raises(UnsupportedFormat):
        TimelineEncoder.continuing(path)
    assert path.read_bytes()[8:] == data[8:], "a newer file is never truncated"
    path.write_bytes(b'{"_step": 1}\n')
    assert list(iter_rows(path)) == []
    with pytest.raises(UnsupportedFormat, match="not a Runicorn timeline"):
        TimelineEncoder.continuing(path)
    assert path.read_bytes() == b'{"_step": 1}\n', "a foreign file is never truncated"
    assert list(iter_rows(tmp_path / "absent.bin")) == []


def test_continuing_a_file_keeps_schema_ids_and_stage_and_cuts_a_torn_tail(tmp_path, window):
    path = tmp_path / "t.bin"
    write(path, [(1, 1.0, "warmup", {"a": 1.0}), (2, 2.0, "warmup", {"a": 2.0, "b": 1})])
    clean_size = path.stat().st_size
    with open(path, "ab") as handle:
        handle.write(b"\x30\x00\x00\x00garbage")  # a record torn by a kill
    encoder = TimelineEncoder.continuing(path)
    assert path.stat().st_size == clean_size
    write(path, [(3, 3.0, "warmup", {"c": 3.0}), (4, 4.0, "train", {"a": 4.0})], encoder=encoder)
    rows = list(iter_rows(path))
    assert [(r["_step"], r["_stage"]) for r in rows] == [(1, "warmup"), (2, "warmup"), (3, "warmup"), (4, "train")]
    assert rows[2]["c"] == 3.0 and rows[3]["a"] == 4.0
    data = path.read_bytes()
    schema_ids = []
    offset = 8
    while offset < len(data):
        length = struct.unpack_from("<I", data, offset)[0]
        payload = data[offset + 8: offset + 8 + length]
        if payload[:1] == b"S":
            schema_ids.append(struct.unpack_from("<H", payload, 1)[0])
        offset += 8 + length
    assert schema_ids == [0, 1, 2, 3], "a resumed writer numbers new schemas above the old ones"
    assert last_step(path) == 4


def test_continuing_a_file_whose_magic_is_torn_starts_it_again(tmp_path):
    path = tmp_path / "t.bin"
    path.write_bytes(MAGIC[:5])
    encoder = TimelineEncoder.continuing(path)
    assert path.read_bytes() == b""
    write(path, [(1, 1.0, None, {"a": 1.0})], encoder=encoder)
    assert list(iter_rows(path)) == [{"_step": 1, "_time": 1.0, "a": 1.0}]


scalars = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True), st.integers(min_value=-(2 ** 70), max_value=2 ** 70),
    st.booleans(), st.text(max_size=8))
rows_strategy = st.lists(
    st.tuples(st.integers(min_value=-(2 ** 64), max_value=2 ** 64),
              st.floats(allow_nan=False, allow_infinity=False),
              st.one_of(st.none(), st.sampled_from(["a", "b", "epoch_1"])),
              st.dictionaries(st.sampled_from(["x", "y", "z", "loss", "acc"]), scalars, max_size=4)),
    max_size=30)


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(batches=st.lists(rows_strategy, max_size=4))
def test_any_rows_round_trip(tmp_path_factory, batches):
    path = tmp_path_factory.mktemp("prop") / "t.bin"
    write(path, *batches)
    assert same(list(iter_rows(path)), expected([row for batch in batches for row in batch]))


def peak_bytes(action) -> int:
    tracemalloc.start()
    try:
        action()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_reading_a_long_timeline_holds_one_window_not_the_file(tmp_path):
    path = tmp_path / "t.bin"
    encoder = TimelineEncoder()
    keys = [f"m{i}" for i in range(8)]
    for block in range(160):  # 160 flushes of 1,000 rows of 8 floats: about 13 MiB
        write(path, [(block * 1000 + i, float(i), None, dict.fromkeys(keys, 0.5)) for i in range(1000)],
              encoder=encoder)
    size = path.stat().st_size
    assert size > 12 * 2 ** 20
    budget = size // 4  # about one window and one record are held: a quarter of the file is far above that
    counted = []
    assert peak_bytes(lambda: counted.append(sum(1 for _ in iter_rows(path, ["m3"])))) < budget
    assert counted == [160_000]
    assert peak_bytes(lambda: counted.append(last_step(path))) < budget
    assert counted[-1] == 159_999

    # A damaged header whose length spans most of the file: its crc is streamed, never buffered.
    data = bytearray(path.read_bytes())
    rows_record = 8 + 8 + struct.unpack_from("<I", data, 8)[0]  # after the schema record
    assert data[rows_record + 8:rows_record + 9] == b"R"
    struct.pack_into("<I", data, rows_record, size - rows_record - 64)
    path.write_bytes(bytes(data))
    problems = []
    assert peak_bytes(lambda: problems.extend(check(path))) < budget
    assert problems == [f"the record at offset {rows_record} is damaged; it was skipped up to the next intact one"]
    assert sum(1 for _ in iter_rows(path, ["m0"])) == 159_000  # only the damaged record's rows are lost


def rows_from_blocks(path, keys=None) -> list[dict]:
    """Column blocks turned back into rows, to compare with iter_rows (which adds _stage)."""
    rows = []
    for block in iter_column_blocks(path, keys):
        lengths = {len(column) for column in block.values()}
        assert len(lengths) == 1, "every column of a block is as long as the block"
        rows += [dict(zip(block, values)) for values in zip(*block.values())]
    return rows


def without_stage(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if k != "_stage"} for row in rows]


@pytest.mark.parametrize("keys", [None, ["loss"], ["acc", "_time"], ["count", "ok"], ["nosuch"]])
def test_column_blocks_hold_the_rows_of_iter_rows(tmp_path, keys):
    path = tmp_path / "t.bin"
    write(path, MIXED[:2], MIXED[2:6], MIXED[6:])
    expected_rows = without_stage(list(iter_rows(path, keys)))
    if keys is not None:
        expected_rows = [row for row in expected_rows if len(row) > 1]  # rows with only _step are no block
    assert same(rows_from_blocks(path, keys), expected_rows)
    for block in iter_column_blocks(path, keys):  # types as logged: bools stay bools, ints ints
        for key, column in block.items():
            if key in ("ok",):
                assert all(type(v) is bool for v in column)
            if key in ("count", "_step"):
                assert all(type(v) is int for v in column)


def test_column_blocks_of_float_rows_are_read_as_arrays(tmp_path):
    from array import array

    path = tmp_path / "t.bin"
    write(path, [(i, float(i), None, {"loss": i / 4, "n": i}) for i in range(100)])
    [block] = list(iter_column_blocks(path))
    assert type(block["loss"]) is array and list(block["loss"]) == [i / 4 for i in range(100)]
    assert block["_step"] == list(range(100)) and block["n"] == list(range(100))
    assert list(block["_time"]) == [float(i) for i in range(100)]


def test_column_blocks_skip_a_damaged_record_as_rows_do(tmp_path, window):
    path = tmp_path / "t.bin"
    write(path, [MIXED[0]], [MIXED[1]], [MIXED[5]], [MIXED[3]])
    data = bytearray(path.read_bytes())
    second = 8 + 8 + struct.unpack_from("<I", data, 8)[0]  # the first R record follows the first S
    second += 8 + struct.unpack_from("<I", data, second)[0]
    data[second + 10] ^= 0x01
    path.write_bytes(bytes(data))
    assert same(rows_from_blocks(path), without_stage(list(iter_rows(path))))
    assert len(rows_from_blocks(path)) == 3


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(batches=st.lists(rows_strategy, max_size=4))
def test_any_rows_read_as_column_blocks(tmp_path_factory, batches):
    path = tmp_path_factory.mktemp("prop") / "t.bin"
    write(path, *batches)
    assert same(rows_from_blocks(path), without_stage(expected([row for batch in batches for row in batch])))
