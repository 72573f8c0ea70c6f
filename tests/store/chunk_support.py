"""Helpers for the chunked-file tests: checkpoint files built byte by byte, and what a store holds of them.

A plain module (like ``store_support``) so that tests in other folders can import it. The formats are
written here directly, from their specifications, so the tests need neither ``safetensors`` nor ``torch``:

- safetensors: an 8-byte little-endian header length N, N bytes of JSON (each tensor's ``dtype``,
  ``shape`` and ``data_offsets`` relative to byte 8 + N; optional ``__metadata__``), padded with spaces
  to a multiple of 8 as the library does, then the tensors' bytes with no holes;
- a ``torch.save`` zip: ``<stem>/data.pkl``, small records (``.format_version``, ``byteorder``...),
  one ``<stem>/data/<i>`` entry per storage, ``<stem>/version`` and ``<stem>/.data/serialization_id``,
  every entry stored (ZIP_STORED), each storage's data 64-byte aligned by padding in the local header's
  extra field, as torch writes it.
"""

from __future__ import annotations

import io
import json
import os
import struct
import zipfile
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from runicorn.cli import cli
from runicorn.store import ObjectId, ObjectStore
from runicorn.store.chunked import HEADER, ChunkList
from runicorn.store.ids import hash_bytes

KiB, MiB = 1 << 10, 1 << 20


def seeded(seed: int, size: int) -> bytes:
    """``size`` random bytes from a fixed seed."""
    return np.random.default_rng(seed).bytes(size)


def blake3_id(data: bytes) -> ObjectId:
    return hash_bytes(data)


# -- safetensors ---------------------------------------------------------------------


def _dtype_and_shape(data: bytes) -> tuple[str, list[int]]:
    return ("F32", [len(data) // 4]) if len(data) % 4 == 0 else ("U8", [len(data)])


def safetensors_bytes(tensors: dict[str, bytes], metadata: dict[str, str] | None = None) -> bytes:
    """A safetensors file holding ``tensors`` (name -> raw bytes), laid out in the dict's order."""
    header: dict = {}
    if metadata is not None:
        header["__metadata__"] = metadata
    offset = 0
    for name, data in tensors.items():
        dtype, shape = _dtype_and_shape(data)
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(tensors.values())


def safetensors_pieces(data: bytes) -> list[tuple[int, int]]:
    """(offset, length) of the header and of each non-empty tensor, in file order: the format's own cut points."""
    header_length = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + header_length])
    base = 8 + header_length
    ranges = sorted((base + t["data_offsets"][0], t["data_offsets"][1] - t["data_offsets"][0])
                    for name, t in header.items() if name != "__metadata__")
    return [(0, base)] + [r for r in ranges if r[1]]


# -- torch.save zip layout ----------------------------------------------------------------

_ALIGN = 64
_PAD_TAG = 0x4246  # "FB": the extra-field id torch's writer pads with


def torch_zip_bytes(stem: str, storages: list[bytes], *, serialization_id: bytes | None = None,
                    pickle: bytes | None = None) -> bytes:
    """A checkpoint laid out as ``torch.save`` writes one: stored entries, storages 64-byte aligned."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        def add(name: str, data: bytes) -> None:
            info = zipfile.ZipInfo(f"{stem}/{name}", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_STORED
            start = archive.fp.tell() + 30 + len(info.filename.encode())
            pad = -(start + 4) % _ALIGN
            info.extra = struct.pack("<HH", _PAD_TAG, pad) + b"Z" * pad
            archive.writestr(info, data)

        add("data.pkl", pickle if pickle is not None else _fake_pickle(len(storages)))
        add(".format_version", b"1")
        add(".storage_alignment", b"64")
        add("byteorder", b"little")
        for index, storage in enumerate(storages):
            add(f"data/{index}", storage)
        add("version", b"3\n")
        add(".data/serialization_id", serialization_id if serialization_id is not None
            else f"{stem}-{len(storages)}".encode().ljust(40, b"0"))
    data = buffer.getvalue()
    for start, length in zip_data_ranges(data):  # the layout this helper promises
        assert start % _ALIGN == 0 or length == 0, (start, length)
    return data


def _fake_pickle(count: int) -> bytes:
    """Stands in for data.pkl: a small record naming the storages (its bytes are never parsed by the store)."""
    return b"\x80\x02" + json.dumps({"storages": list(range(count))}).encode() + b"."


def zip_data_ranges(data: bytes) -> list[tuple[int, int]]:
    """(offset, length) of every stored entry's data, read from the local file headers, in file order."""
    ranges = []
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for info in archive.infolist():
            local = data[info.header_offset:info.header_offset + 30]
            name_length, extra_length = struct.unpack_from("<HH", local, 26)
            ranges.append((info.header_offset + 30 + name_length + extra_length, info.compress_size))
    return sorted(ranges)


# -- checkpoints of a model with a frozen backbone -------------------------------------------------

TENSOR = 512 * KiB  # every tensor of the model below: well over SMALL_PIECE, so each is a chunk of its own


def backbone(count: int = 8, seed: int = 7) -> dict[str, bytes]:
    """The frozen part: the same bytes in every checkpoint."""
    return {f"backbone.layer{i}.weight": seeded(seed * 1000 + i, TENSOR) for i in range(count)}


def head(seed: int, count: int = 2, size: int = TENSOR) -> dict[str, bytes]:
    """The trained part: new bytes in every checkpoint."""
    return {f"head.fc{i}.weight": seeded(10_000 + seed * 10 + i, size) for i in range(count)}


def checkpoint(fmt: str, stem: str, tensors: dict[str, bytes], metadata: dict[str, str]) -> bytes:
    """A checkpoint of ``tensors`` as a safetensors file (``fmt="safetensors"``) or a torch.save zip (``"pt"``)."""
    if fmt == "safetensors":
        return safetensors_bytes(tensors, metadata)
    assert fmt == "pt", fmt
    record = json.dumps({"names": list(tensors), "metadata": metadata}, sort_keys=True).encode()
    return torch_zip_bytes(stem, list(tensors.values()), pickle=b"\x80\x02" + record + b".",
                           serialization_id=blake3_id(stem.encode() + record)[:40].encode())


# -- what the store holds -------------------------------------------------------------------


def chunk_lists(store: ObjectStore) -> dict[ObjectId, ChunkList]:
    """Every chunk list under ``objects/``, parsed (any object whose bytes start with the chunk-list header)."""
    found = {}
    for obj in store.iter_objects():
        path = store.path_for(obj.id)
        with open(path, "rb") as handle:
            if handle.read(len(HEADER)) != HEADER:
                continue
        found[obj.id] = ChunkList.parse(path.read_bytes(), obj.id)
    return found


def object_bytes(store: ObjectStore) -> int:
    """Bytes of every file under ``objects/``: what the store takes (without file-system overhead)."""
    return sum(o.size for o in store.iter_objects())


def list_chunks(store: ObjectStore, list_id: str) -> list[tuple[ObjectId, int]]:
    return list(ChunkList.parse(store.get(list_id), list_id).chunks)


# -- the CLI ------------------------------------------------------------------------------------


def cli_run(storage: Path, *args, expect: int | None = 0):
    """``runicorn --storage STORAGE ARGS...`` in process; exceptions other than exits are re-raised."""
    result = CliRunner().invoke(cli, ["--storage", str(storage), *map(str, args)])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception.with_traceback(result.exc_info[2])
    if expect is not None:
        assert result.exit_code == expect, f"exit {result.exit_code}, wanted {expect}:\n{result.output}"
    return result


def cli_json(storage: Path, *args, expect: int | None = 0):
    return json.loads(cli_run(storage, *args, "--json", expect=expect).stdout)


def tree_bytes(folder: Path) -> dict[str, bytes]:
    """``{relative path: bytes}`` of every regular file below ``folder``."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(Path(folder).rglob("*"))
            if p.is_file() and not p.is_symlink()}


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.chmod(path, 0o644)
    return path
