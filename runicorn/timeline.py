"""The metric timeline (``timeline.bin``): framed binary records, cheap to append and to read back.

Why binary: formatting one float as JSON text costs about half a microsecond
and parsing it a third, so a 12-value row costs ~6 µs to write and ~4 µs to
read as JSON lines; packed float64 costs ~0.2 µs and ~1 µs. NaN and ±inf are
ordinary float64 values here. (TensorBoard and W&B keep binary event logs too.)

Layout (docs/format.md, section 5.1): the 8-byte magic ``RNTL\\x00\\x00\\x00\\x01``,
then records ``<u32 payload length><u32 crc32 of payload><payload>``. The payload's
first byte is its type:

- ``S`` schema: ``<u16 id>`` + JSON ``{"keys": [...], "types": "dq?..."}``; row
  layout is ``<q step><d time>`` then one value per key (``d`` float64, ``q``
  int64, ``?`` bool), little-endian;
- ``R`` rows: ``<u16 schema id><u32 count>`` + ``count`` packed rows;
- ``G`` stage: UTF-8 text; every following row has this ``_stage`` (empty: none);
- ``J`` one row as JSON (rows with strings or huge ints), non-finite floats as
  ``{"$float": "nan"}``.

A torn or damaged record ends the readable part of the file at its start (a
writer killed mid-write leaves at most that); readers never raise on damage.
"""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path
from typing import Iterable, Iterator

from .errors import UnsupportedFormat
from .runfolder import decode_line, encode_line

MAGIC = b"RNTL\x00\x00\x00\x01"
_FRAME = struct.Struct("<II")
_SCHEMA_HEAD = struct.Struct("<H")
_ROWS_HEAD = struct.Struct("<HI")
_TYPE_CODES = {float: "d", int: "q", bool: "?"}
_JSON = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))
_INT64 = (-(1 << 63), (1 << 63) - 1)


def _frame(payload: bytes) -> bytes:
    return _FRAME.pack(len(payload), zlib.crc32(payload)) + payload


class TimelineEncoder:
    """Turns buffered rows into record bytes; keeps the schemas and stage already written."""

    def __init__(self, next_schema_id: int = 0, stage: str | None = None):
        self._schemas: dict[tuple, tuple[int, struct.Struct]] = {}
        self._last_key: tuple | None = None
        self._last_layout: tuple | None = None
        self._next_id = next_schema_id
        self._stage = stage

    @classmethod
    def continuing(cls, path: Path) -> "TimelineEncoder":
        """An encoder that appends to an existing file (resume): new schema ids above the old ones.

        A torn end (the previous writer was killed mid-write) is cut off first: readers stop at the
        first damaged record, so rows appended after it would never be read.
        """
        data = _read(path)
        if data and not data.startswith(MAGIC) and not MAGIC.startswith(data):
            raise UnsupportedFormat(f"{path} is not a Runicorn timeline; move it away to continue this run")
        state = _scan(path, data)
        if state.end < len(data):
            with open(path, "r+b") as handle:
                handle.truncate(state.end)
        return cls(next_schema_id=state.max_schema_id + 1, stage=state.stage)

    def encode(self, rows: Iterable[tuple], *, with_magic: bool = False) -> bytes:
        """``rows``: (step, time, stage, {key: scalar}) tuples, in order."""
        out: list[bytes] = [MAGIC] if with_magic else []
        pending_schema = None
        pending: list[bytes] = []

        def close_block():
            if pending:
                out.append(_frame(b"R" + _ROWS_HEAD.pack(pending_schema, len(pending)) + b"".join(pending)))
                pending.clear()

        for step, when, stage, values in rows:
            if stage != self._stage:
                close_block()
                self._stage = stage
                out.append(_frame(b"G" + (stage or "").encode("utf-8")))
            layout = self._layout(values)
            if layout is None:
                close_block()
                out.append(_frame(b"J" + _json_row(step, when, values).encode("utf-8")))
                continue
            schema_id, packer, fresh = layout
            if fresh is not None:
                close_block()
                out.append(fresh)
            elif schema_id != pending_schema:
                close_block()
            pending_schema = schema_id
            try:
                pending.append(packer.pack(step, when, *values.values()))
            except struct.error:  # a step or int beyond int64
                close_block()
                out.append(_frame(b"J" + _json_row(step, when, values).encode("utf-8")))
        close_block()
        return b"".join(out)

    def _layout(self, values: dict):
        key = (tuple(values), tuple(map(type, values.values())))
        if key == self._last_key:  # consecutive rows almost always share a schema: skip the hashing
            return self._last_layout
        known = self._schemas.get(key)
        if known is not None:
            self._last_key, self._last_layout = key, (known[0], known[1], None)
            return self._last_layout
        codes = []
        for value_type in key[1]:
            code = _TYPE_CODES.get(value_type)
            if code is None:
                return None  # strings: a JSON record
            codes.append(code)
        schema_id = self._next_id
        if schema_id > 0xFFFF:
            return None
        self._next_id += 1
        packer = struct.Struct("<qd" + "".join(codes))
        self._schemas[key] = (schema_id, packer)
        body = _JSON.encode({"keys": list(key[0]), "types": "".join(codes)}).encode("utf-8")
        return schema_id, packer, _frame(b"S" + _SCHEMA_HEAD.pack(schema_id) + body)


def _json_row(step: int, when: float, values: dict) -> str:
    return encode_line({"_step": step, "_time": when, **values})


class _ScanState:
    def __init__(self):
        self.max_schema_id = -1
        self.stage: str | None = None
        self.last_step: int | None = None
        self.end = 0  # byte length of the intact part of the file (magic and whole records)


def _records(data: bytes, ends: list | None = None):
    """(type, payload) of every intact record; stops at the first torn or damaged one.

    ``ends``, when given, receives the offset just past the magic and past each intact record.
    """
    if not data:
        return
    if not data.startswith(MAGIC):
        if len(data) >= len(MAGIC) and data[:4] == MAGIC[:4]:
            raise UnsupportedFormat(f"timeline version {data[4:8].hex()} is not known to this Runicorn; upgrade it")
        return  # not a timeline, or a magic torn by a writer killed during its first write
    offset = len(MAGIC)
    if ends is not None:
        ends.append(offset)
    end = len(data)
    while offset + _FRAME.size <= end:
        length, crc = _FRAME.unpack_from(data, offset)
        start = offset + _FRAME.size
        stop = start + length
        if length == 0 or stop > end:
            return
        payload = data[start:stop]
        if zlib.crc32(payload) != crc:
            return
        yield payload[:1], payload
        offset = stop
        if ends is not None:
            ends.append(offset)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return b""


def _scan(path: Path, data: bytes | None = None) -> _ScanState:
    state = _ScanState()
    schemas: dict[int, struct.Struct] = {}
    ends: list[int] = []
    for kind, payload in _records(_read(path) if data is None else data, ends):
        if kind == b"S":
            (schema_id,) = _SCHEMA_HEAD.unpack_from(payload, 1)
            spec = json.loads(payload[1 + _SCHEMA_HEAD.size:])
            schemas[schema_id] = struct.Struct("<qd" + spec["types"])
            state.max_schema_id = max(state.max_schema_id, schema_id)
        elif kind == b"G":
            state.stage = payload[1:].decode("utf-8") or None
        elif kind == b"R":
            schema_id, count = _ROWS_HEAD.unpack_from(payload, 1)
            packer = schemas.get(schema_id)
            if packer is not None and count:
                state.last_step = packer.unpack_from(payload, 1 + _ROWS_HEAD.size + (count - 1) * packer.size)[0]
        elif kind == b"J":
            state.last_step = decode_line(payload[1:]).get("_step", state.last_step)
    state.end = ends[-1] if ends else 0
    return state


def last_step(path: Path) -> int | None:
    return _scan(path).last_step


def iter_rows(path: Path, keys: Iterable[str] | None = None) -> Iterator[dict]:
    """Every row as a dict (``_step``, ``_time``, ``_stage`` when set, metrics), or only ``keys`` (+ ``_step``),
    one at a time: memory holds the file's bytes, not a dict per row."""
    wanted = None if keys is None else set(keys)
    schemas: dict[int, tuple[tuple, struct.Struct, list | None]] = {}
    stage: str | None = None
    for kind, payload in _records(_read(path)):
        if kind == b"R":
            schema_id, count = _ROWS_HEAD.unpack_from(payload, 1)
            schema = schemas.get(schema_id)
            if schema is None:
                continue
            names, packer, picks = schema
            block = memoryview(payload)[1 + _ROWS_HEAD.size: 1 + _ROWS_HEAD.size + count * packer.size]
            if picks is None:
                for values in packer.iter_unpack(block):
                    row = dict(zip(names, values))
                    if stage is not None:
                        row["_stage"] = stage
                    yield row
            elif len(picks) > 1 or (stage is not None and "_stage" in wanted):  # a wanted key besides _step
                with_stage = stage is not None and "_stage" in wanted
                for values in packer.iter_unpack(block):
                    row = {names[i]: values[i] for i in picks}
                    if with_stage:
                        row["_stage"] = stage
                    yield row
        elif kind == b"S":
            (schema_id,) = _SCHEMA_HEAD.unpack_from(payload, 1)
            spec = json.loads(payload[1 + _SCHEMA_HEAD.size:])
            names = ("_step", "_time", *spec["keys"])
            picks = None if wanted is None else [0] + [i for i, n in enumerate(names) if n in wanted and i > 0]
            schemas[schema_id] = (names, struct.Struct("<qd" + spec["types"]), picks)
        elif kind == b"G":
            stage = payload[1:].decode("utf-8") or None
        elif kind == b"J":
            row = decode_line(payload[1:])
            if stage is not None:
                row["_stage"] = stage
            if wanted is not None:
                row = {k: v for k, v in row.items() if k in wanted or k == "_step"}
                if len(row) < 2:
                    continue
            yield row
