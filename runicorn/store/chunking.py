"""Where to cut a large file so that bytes it shares with other files become shared chunks.

Checkpoints share tensors, not whole files: a fine-tune's frozen backbone, an
adapter's base, an EMA copy. Cutting at the tensors' own boundaries finds that
sharing exactly, whatever else changed around them (a per-epoch name, a
serialization id), so the format is read from the bytes (never the file name):

- safetensors: an 8-byte little-endian header length, the JSON header, then the
  tensors' bytes with no holes: the pieces are the header and each tensor;
- ``torch.save`` zip: one stored (uncompressed) entry per storage: the pieces are
  each entry's data, read from its local file header, and the glue between;
- anything else, and any piece over ``MAX_PIECE``: content-defined chunking
  (FastCDC 2020, compiled), so an insertion shifts only the chunks around it.

Pieces under ``SMALL_PIECE`` (biases, norms, zip records) are grouped with their
neighbours up to ``GROUP_SIZE``: one object per 1 KiB tensor would cost more than
it saves. Only the cut points are decided here; ``chunked`` stores the pieces.
"""

from __future__ import annotations

import json
import struct
from typing import BinaryIO, Iterator

MIN_CHUNKED_FILE = 4 << 20  # smaller files stay whole objects
MAX_PIECE = 16 << 20
SMALL_PIECE = 64 << 10
GROUP_SIZE = 256 << 10
CDC_MIN, CDC_AVG, CDC_MAX = 256 << 10, 1 << 20, 4 << 20
_MAX_SAFETENSORS_HEADER = 100 << 20

try:  # the compiled chunker: pure-Python chunking runs at a few MB/s, so without it files stay whole
    from pyfastcdc.cy import FastCDC
except ImportError:  # pragma: no cover - exercised only where the wheel is missing
    FastCDC = None


def chunking_available() -> bool:
    return FastCDC is not None


def format_pieces(handle: BinaryIO, size: int) -> list[tuple[int, int]] | None:
    """(offset, length) pieces covering the file in order at its format's natural boundaries, or None."""
    for reader in (_safetensors_pieces, _zip_pieces):
        try:
            found = reader(handle, size)
        except (OSError, ValueError, KeyError, TypeError, struct.error, UnicodeDecodeError, RecursionError):
            found = None
        if found:
            return found
    return None


def cut_points(handle: BinaryIO, size: int) -> Iterator[tuple[int, int]]:
    """The chunks to store, as (offset, length): format pieces, grouped when small, cut by CDC when large."""
    found = format_pieces(handle, size)
    if found is None:
        yield from _content_defined(handle, 0, size)
        return
    group_start, group_length = 0, 0
    for offset, length in found:
        if length < SMALL_PIECE and group_length + length <= GROUP_SIZE:
            if not group_length:
                group_start = offset
            group_length += length
            continue
        if group_length:
            yield group_start, group_length
            group_length = 0
        if length > MAX_PIECE:
            yield from _content_defined(handle, offset, length)
        elif length < SMALL_PIECE:
            group_start, group_length = offset, length
        else:
            yield offset, length
    if group_length:
        yield group_start, group_length


def _content_defined(handle: BinaryIO, offset: int, length: int) -> Iterator[tuple[int, int]]:
    cdc = FastCDC(CDC_AVG, min_size=CDC_MIN, max_size=CDC_MAX, normalized_chunking=1, seed=0)
    handle.seek(offset)
    for chunk in cdc.cut_stream(_Range(handle, length)):
        yield offset + chunk.offset, chunk.length


class _Range:
    """A file's bytes from its current position, ``length`` of them: what one piece's CDC reads."""

    def __init__(self, handle: BinaryIO, length: int):
        self._handle = handle
        self._left = length

    def readinto(self, buffer) -> int:
        view = memoryview(buffer)[: self._left]
        count = self._handle.readinto(view) if view.nbytes else 0
        self._left -= count
        return count


def _safetensors_pieces(handle: BinaryIO, size: int) -> list[tuple[int, int]] | None:
    handle.seek(0)
    head = handle.read(8)
    if len(head) < 8:
        return None
    header_length = struct.unpack("<Q", head)[0]
    if not 2 <= header_length <= min(_MAX_SAFETENSORS_HEADER, size - 8):
        return None
    raw = handle.read(header_length)
    if not raw.startswith(b"{"):
        return None
    header = json.loads(raw)
    if not isinstance(header, dict):
        return None
    base = 8 + header_length
    ranges = []
    for name, tensor in header.items():
        if name == "__metadata__":
            continue
        begin, end = tensor["data_offsets"]
        if not (isinstance(begin, int) and isinstance(end, int) and 0 <= begin <= end):
            return None
        if end > begin:
            ranges.append((base + begin, end - begin))
    ranges.sort()
    position = base
    for start, length in ranges:  # the tensors tile the data exactly, or this is not a file we understand
        if start != position:
            return None
        position += length
    if position != size:
        return None
    return [(0, base)] + ranges


_LOCAL, _CENTRAL, _END, _END64, _LOCATOR64 = b"PK\x03\x04", b"PK\x01\x02", b"PK\x05\x06", b"PK\x06\x06", b"PK\x06\x07"


def _zip_pieces(handle: BinaryIO, size: int) -> list[tuple[int, int]] | None:
    handle.seek(0)
    if handle.read(4) != _LOCAL:
        return None
    entries = _central_directory(handle, size)
    data = []
    for local_offset, stored_size, method in entries:
        if method != 0 or stored_size == 0:
            continue  # compressed entries stay in the glue
        handle.seek(local_offset)
        local = handle.read(30)
        if len(local) < 30 or local[:4] != _LOCAL:
            return None
        name_length, extra_length = struct.unpack_from("<HH", local, 26)
        start = local_offset + 30 + name_length + extra_length
        if start + stored_size > size:
            return None
        data.append((start, stored_size))
    data.sort()
    result, position = [], 0
    for start, length in data:
        if start < position:
            return None  # overlapping entries: not a zip we cut
        if start > position:
            result.append((position, start - position))
        result.append((start, length))
        position = start + length
    if position < size:
        result.append((position, size - position))
    return result if len(data) else None


def _central_directory(handle: BinaryIO, size: int) -> list[tuple[int, int, int]]:
    """(local header offset, compressed size, method) of every entry, from the end-of-central-directory record."""
    tail_length = min(size, 65557)
    handle.seek(size - tail_length)
    tail = handle.read(tail_length)
    at = tail.rfind(_END)
    if at < 0:
        raise ValueError("no end of central directory")
    count, cd_size, cd_offset = struct.unpack_from("<10xHII", tail, at)  # after signature, disk numbers, entries here
    locator = at - 20
    if (count == 0xFFFF or cd_size == 0xFFFFFFFF or cd_offset == 0xFFFFFFFF) and locator >= 0 \
            and tail[locator:locator + 4] == _LOCATOR64:
        end64 = struct.unpack_from("<Q", tail, locator + 8)[0]
        handle.seek(end64)
        record = handle.read(56)
        if record[:4] != _END64:
            raise ValueError("bad zip64 end record")
        count, cd_size, cd_offset = struct.unpack_from("<QQQ", record, 32)
    if cd_offset + cd_size > size or cd_size > 256 << 20:
        raise ValueError("central directory out of range")
    handle.seek(cd_offset)
    directory = handle.read(cd_size)
    entries, position = [], 0
    for _ in range(count):
        if directory[position:position + 4] != _CENTRAL:
            raise ValueError("bad central directory entry")
        method, = struct.unpack_from("<H", directory, position + 10)
        compressed, uncompressed, name_length, extra_length, comment_length = \
            struct.unpack_from("<IIHHH", directory, position + 20)
        local_offset, = struct.unpack_from("<I", directory, position + 42)
        extra = directory[position + 46 + name_length: position + 46 + name_length + extra_length]
        compressed, local_offset = _zip64_values(extra, uncompressed, compressed, local_offset)
        entries.append((local_offset, compressed, method))
        position += 46 + name_length + extra_length + comment_length
    return entries


def _zip64_values(extra: bytes, uncompressed: int, compressed: int, local_offset: int) -> tuple[int, int]:
    """The zip64 extra field holds, in order, whichever of these three did not fit in 32 bits."""
    at = 0
    while at + 4 <= len(extra):
        tag, length = struct.unpack_from("<HH", extra, at)
        if tag == 0x0001:
            values = extra[at + 4: at + 4 + length]
            cursor = 0
            for name in ("uncompressed", "compressed", "offset"):
                current = {"uncompressed": uncompressed, "compressed": compressed, "offset": local_offset}[name]
                if current == 0xFFFFFFFF and cursor + 8 <= len(values):
                    value = struct.unpack_from("<Q", values, cursor)[0]
                    cursor += 8
                    if name == "compressed":
                        compressed = value
                    elif name == "offset":
                        local_offset = value
        at += 4 + length
    return compressed, local_offset
