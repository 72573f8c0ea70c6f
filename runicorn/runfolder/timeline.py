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

A torn end (a writer killed mid-write) is ignored; a damaged record in the
middle (left by an older writer on a full disk, or flipped bytes) is skipped and
reading goes on at the next intact record; a record whose content does not
match the format is skipped too. Readers never raise on damage; ``check`` says
what they skipped.
"""

from __future__ import annotations

import json
import os
import struct
import sys
import zlib
from array import array
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator

from ..errors import UnsupportedFormat
from .jsonio import decode_line, encode_line

MAGIC = b"RNTL\x00\x00\x00\x01"
_FRAME = struct.Struct("<II")
_SCHEMA_HEAD = struct.Struct("<H")
_ROWS_HEAD = struct.Struct("<HI")
_TYPE_CODES = {float: "d", int: "q", bool: "?"}
_JSON = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))


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
        with _open(path) as source:
            head = source.get(0, min(len(MAGIC), source.size)) or b""
            if not MAGIC.startswith(head) and not head.startswith(MAGIC):
                raise UnsupportedFormat(f"{path} is not a Runicorn timeline; move it away to continue this run")
            state, intact = _scan(source)
            torn = intact < source.size
        if torn:
            with open(path, "r+b") as handle:
                handle.truncate(intact)
        return cls(next_schema_id=state.max_schema_id + 1, stage=state.stage)

    def checkpoint(self) -> tuple:
        """What the encoder knows now, to ``rollback`` to when the bytes it encodes next never reach the file."""
        return dict(self._schemas), self._next_id, self._stage

    def rollback(self, state: tuple) -> None:
        schemas, self._next_id, self._stage = state
        self._schemas = dict(schemas)
        self._last_key = self._last_layout = None

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


_LITTLE_ENDIAN = sys.byteorder == "little"  # views cast from the bytes read them in the host's order
_RECORD_TYPES = frozenset(b"SRGJ")
_MAX_RECORD = 1 << 30
_WINDOW = 1 << 20


class _Source:
    """A timeline's bytes up to its size when opened, read one window at a time.

    Memory holds one window (or one record larger than a window), whatever the file's size: a
    run that logged for weeks is read in a few MiB. Bytes a live writer appends later are left
    for the next read.
    """

    def __init__(self, handle, size: int):
        self._handle = handle
        self.size = size
        self._base = 0
        self._window = b""

    def get(self, offset: int, length: int) -> bytes | None:
        """Bytes ``[offset, offset + length)``, or None when they run past the end."""
        if offset + length > self.size:
            return None
        start = offset - self._base
        if start < 0 or start + length > len(self._window):
            self._window = b""  # let the old window go before the next is read
            self._handle.seek(offset)
            self._window = self._handle.read(max(length, _WINDOW))
            self._base, start = offset, 0
            if len(self._window) < length:  # the file was cut short while we read it
                self.size = offset + len(self._window)
                return None
        return self._window[start:start + length]

    def crc(self, offset: int, length: int) -> int:
        """crc32 of a span too large for a window, streamed: a garbage length read while
        resynchronising costs time, not memory."""
        self._handle.seek(offset)
        crc = 0
        while length > 0:
            block = self._handle.read(min(length, _WINDOW))
            if not block:
                break
            crc = zlib.crc32(block, crc)
            length -= len(block)
        return crc


@contextmanager
def _open(path: Path) -> Iterator[_Source]:
    try:
        handle = open(path, "rb")
    except FileNotFoundError:
        yield _Source(None, 0)
        return
    with handle:
        yield _Source(handle, os.fstat(handle.fileno()).st_size)


def _frame_at(source: _Source, offset: int) -> bytes | None:
    """The payload of an intact record starting at ``offset``, or None."""
    head = source.get(offset, _FRAME.size + 1)
    if head is None:
        return None
    length, crc = _FRAME.unpack_from(head)
    start = offset + _FRAME.size
    if length == 0 or length > _MAX_RECORD or start + length > source.size or head[-1] not in _RECORD_TYPES:
        return None
    if length > _WINDOW and source.crc(start, length) != crc:
        return None
    payload = source.get(start, length)
    return payload if payload is not None and zlib.crc32(payload) == crc else None


def _records(source: _Source) -> Iterator[tuple[int, bytes | None]]:
    """(offset, payload) of every intact record, in order.

    A damaged record (torn by a full disk, bytes flipped) yields ``(offset, None)`` once;
    reading goes on at the next intact record, if any. A torn end (a writer
    killed mid-write) ends the listing.
    """
    magic = source.get(0, min(len(MAGIC), source.size))
    if not magic:
        return
    if magic != MAGIC:
        if len(magic) == len(MAGIC) and magic[:4] == MAGIC[:4]:
            raise UnsupportedFormat(f"timeline version {magic[4:8].hex()} is not known to this Runicorn; upgrade it")
        return  # not a timeline, or a magic torn by a writer killed during its first write
    offset = len(MAGIC)
    while offset + _FRAME.size <= source.size:
        payload = _frame_at(source, offset)
        if payload is None:
            head = source.get(offset, _FRAME.size)
            if head is None or offset + _FRAME.size + _FRAME.unpack(head)[0] > source.size:
                return  # the last record runs past the end: a write cut short
            yield offset, None
            offset = _resync(source, offset + 1)
            if offset is None:
                return
            continue
        yield offset, payload
        offset += _FRAME.size + len(payload)


def _resync(source: _Source, offset: int) -> int | None:
    """The start of the next intact record after a damaged one, if any."""
    while offset + _FRAME.size < source.size:
        type_byte = source.get(offset + _FRAME.size, 1)
        if type_byte is not None and type_byte[0] in _RECORD_TYPES and _frame_at(source, offset) is not None:
            return offset
        offset += 1
    return None


class _Decoder:
    """Turns records into rows (or column blocks); a record whose content does not match the format is
    skipped and noted."""

    def __init__(self, wanted: set | None = None, rows: bool = True, columns: bool = False):
        self.wanted = wanted
        self.rows = rows
        self.columns = columns
        self.schemas: dict[int, tuple[tuple, struct.Struct, list | None, str]] = {}
        self.stage: str | None = None
        self.last_step: int | None = None
        self.max_schema_id = -1
        self.problems: list[str] = []

    def feed(self, offset: int, payload: bytes | None) -> Iterator[dict]:
        if payload is None:
            self.problems.append(f"the record at offset {offset} is damaged; it was skipped up to the next intact one")
            return
        try:
            kind = payload[:1]
            if kind == b"R":
                yield from self._rows(payload)
            elif kind == b"S":
                self._schema(payload)
            elif kind == b"G":
                self.stage = payload[1:].decode("utf-8") or None
            elif kind == b"J":
                yield from self._json_row(payload)
        except (ValueError, struct.error, UnicodeDecodeError, RecursionError) as exc:
            self.problems.append(f"the record at offset {offset} does not read ({exc}); it was skipped")

    def _schema(self, payload: bytes) -> None:
        (schema_id,) = _SCHEMA_HEAD.unpack_from(payload, 1)
        spec = json.loads(payload[1 + _SCHEMA_HEAD.size:])
        if not isinstance(spec, dict):
            raise ValueError(f"schema {schema_id} is not a JSON object")
        keys, types = spec.get("keys"), spec.get("types")
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys) or not isinstance(types, str) \
                or len(types) != len(keys) or not set(types) <= {"d", "q", "?"}:
            raise ValueError(f"schema {schema_id} is not a list of keys with types d, q or ?")
        names = ("_step", "_time", *keys)
        wanted = self.wanted
        picks = None if wanted is None else [0] + [i for i, n in enumerate(names) if n in wanted and i > 0]
        self.schemas[schema_id] = (names, struct.Struct("<qd" + types), picks, "qd" + types)
        self.max_schema_id = max(self.max_schema_id, schema_id)

    def _rows(self, payload: bytes) -> Iterator[dict]:
        schema_id, count = _ROWS_HEAD.unpack_from(payload, 1)
        schema = self.schemas.get(schema_id)
        if schema is None:
            raise ValueError(f"rows of schema {schema_id}, which no earlier record defines")
        names, packer, picks, codes = schema
        if len(payload) != 1 + _ROWS_HEAD.size + count * packer.size:
            raise ValueError(f"{count} rows of schema {schema_id} do not fill the record")
        if count:
            self.last_step = packer.unpack_from(payload, 1 + _ROWS_HEAD.size + (count - 1) * packer.size)[0]
        if not self.rows:
            return
        block = memoryview(payload)[1 + _ROWS_HEAD.size:]
        if self.columns:
            if count and (picks is None or len(picks) > 1):  # a wanted key besides _step
                yield _columns(block, names, packer, codes, range(len(names)) if picks is None else picks)
            return
        stage = self.stage
        if picks is None:
            for values in packer.iter_unpack(block):
                row = dict(zip(names, values))
                if stage is not None:
                    row["_stage"] = stage
                yield row
        elif len(picks) > 1 or (stage is not None and "_stage" in self.wanted):  # a wanted key besides _step
            with_stage = stage is not None and "_stage" in self.wanted
            for values in packer.iter_unpack(block):
                row = {names[i]: values[i] for i in picks}
                if with_stage:
                    row["_stage"] = stage
                yield row

    def _json_row(self, payload: bytes) -> Iterator[dict]:
        row = decode_line(payload[1:])
        if not isinstance(row, dict) or isinstance(row.get("_step"), bool) or not isinstance(row.get("_step"), int):
            raise ValueError("a JSON row without an integer _step")
        self.last_step = row["_step"]
        if not self.rows:
            return
        if self.columns:
            if self.wanted is not None:
                row = {k: v for k, v in row.items() if k in self.wanted or k == "_step"}
            if self.wanted is None or len(row) > 1:
                yield {key: (value,) for key, value in row.items()}
            return
        if self.stage is not None:
            row["_stage"] = self.stage
        if self.wanted is not None:
            row = {k: v for k, v in row.items() if k in self.wanted or k == "_step"}
            if len(row) < 2:
                return
        yield row


def _columns(block: memoryview, names: tuple, packer: struct.Struct, codes: str, picks) -> dict:
    """The picked fields of a block of packed rows, one sequence each.

    Rows whose fields are all 8 bytes wide (float64 and int64, what training scripts log) are read
    straight from the bytes as strided views, about three times faster than unpacking row tuples:
    float columns come back as ``array('d')``, int columns as lists of ints.
    """
    if packer.size != 8 * len(codes) or not _LITTLE_ENDIAN:  # a bool field (one byte wide), or a big-endian host
        fields = list(zip(*packer.iter_unpack(block)))
        return {names[i]: fields[i] for i in picks}
    floats, ints, width = block.cast("d"), block.cast("q"), len(codes)
    return {names[i]: array("d", floats[i::width]) if codes[i] == "d" else ints[i::width].tolist() for i in picks}


def _scan(source: _Source) -> tuple[_Decoder, int]:
    """The decoder's state after every record, and the byte length of the readable part of the file."""
    decoder = _Decoder(rows=False)
    intact = len(MAGIC) if source.size >= len(MAGIC) else 0
    for offset, payload in _records(source):
        if payload is not None:
            intact = offset + _FRAME.size + len(payload)
        for _ in decoder.feed(offset, payload):
            pass
    return decoder, intact


def last_step(path: Path) -> int | None:
    with _open(path) as source:
        return _scan(source)[0].last_step


def check(path: Path) -> list[str]:
    """What is wrong with a timeline file (damaged spans, records that do not read); [] when nothing is."""
    try:
        with _open(path) as source:
            decoder, _ = _scan(source)
    except UnsupportedFormat as exc:
        return [str(exc)]
    return decoder.problems


def iter_column_blocks(path: Path, keys: Iterable[str] | None = None) -> Iterator[dict[str, tuple]]:
    """The rows of ``iter_rows`` a record at a time, as columns: ``{"_step": (...), "_time": (...), key: (...)}``,
    every tuple as long as the block (``_stage`` is left out). With ``keys``, ``_step`` and only those; a
    block without any of them is not yielded. For readers of whole series (charts): no dict per row, so a
    million rows read several times faster than through ``iter_rows``."""
    return _decoded(path, _Decoder(None if keys is None else set(keys), columns=True))


def iter_rows(path: Path, keys: Iterable[str] | None = None) -> Iterator[dict]:
    """Every row as a dict (``_step``, ``_time``, ``_stage`` when set, metrics), or only ``keys`` (+ ``_step``),
    one at a time: memory holds one window of the file, not the file or a dict per row. Damaged
    records are skipped."""
    return _decoded(path, _Decoder(None if keys is None else set(keys)))


def _decoded(path: Path, decoder: _Decoder) -> Iterator[dict]:
    with _open(path) as source:
        for offset, payload in _records(source):
            yield from decoder.feed(offset, payload)
