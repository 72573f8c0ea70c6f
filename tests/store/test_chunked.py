"""Chunked files (docs/format.md 4.3): where files are cut, round trips, the chunk list's strictness, the extension.

A file of ``MIN_CHUNKED_FILE`` bytes or more is stored as a chunk list: safetensors at the header and each
tensor, torch.save zips at each stored entry, anything else by FastCDC; the file keeps one identity, the
blake3 of its whole content. Every checkpoint here is built byte by byte (``chunk_support``); the variant
that uses torch itself runs only where torch is installed.
"""

from __future__ import annotations

import io
import json
import os
import struct
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runicorn.errors import CorruptObject, ObjectNotFound, UnsupportedFormat
from runicorn.store import (BLOB, CHUNKS, TREE, Ingester, ObjectStore, Ref, StoredFile, Walker, collect,
                            materialize_blob, materialize_tree, open_file, put_file, read_tree, verify, walk_tree)
from runicorn.store import chunking
from runicorn.store.chunked import HEADER, ChunkList, read_chunk_list
from runicorn.store.chunking import (CDC_MAX, CDC_MIN, GROUP_SIZE, MAX_PIECE, MIN_CHUNKED_FILE, SMALL_PIECE,
                                     cut_points, format_pieces)

from chunk_support import (KiB, MiB, TENSOR, backbone, blake3_id, checkpoint, chunk_lists, head, list_chunks,
                           object_bytes, safetensors_bytes, safetensors_pieces, seeded, torch_zip_bytes,
                           zip_data_ranges)
from store_support import backdate, copy_fixture_store, manifest_roots, object_files, snapshot, tamper


def put(store: ObjectStore, folder, name: str, data: bytes) -> StoredFile:
    path = folder / name
    path.write_bytes(data)
    return put_file(store, path)


def spans(store: ObjectStore, stored: StoredFile) -> list[tuple[int, int]]:
    """(offset, length) of each chunk of a chunked file, in file order."""
    result, offset = [], 0
    for _, length in list_chunks(store, stored.chunks):
        result.append((offset, length))
        offset += length
    return result


def assert_round_trip(store: ObjectStore, stored: StoredFile, data: bytes, tmp_path) -> None:
    """The file's id is the blake3 of its content, its chunks make it up exactly, and it reads back byte-exact."""
    assert stored.id == blake3_id(data)
    assert stored.size == len(data)
    if stored.chunks is not None:
        listing = read_chunk_list(store, stored.chunks)
        assert (listing.file_id, listing.size) == (stored.id, len(data))
        offset = 0
        for chunk_id, length in listing.chunks:
            piece = store.get(chunk_id)
            assert len(piece) == length and piece == data[offset:offset + length]
            assert chunk_id == blake3_id(piece)
            offset += length
        assert offset == len(data)
    with open_file(store, stored.id, stored.chunks) as reader:
        assert reader.read() == data
    target = tmp_path / f"restored-{stored.id[:12]}"
    written = materialize_blob(store, stored.chunks or stored.id, target, chunks=stored.chunks)
    assert written == len(data)
    assert target.read_bytes() == data


def assert_cdc_cut(store: ObjectStore, stored: StoredFile, size: int) -> None:
    """Chunks as FastCDC cuts them: each within its bounds, only the last one shorter than the minimum."""
    lengths = [length for _, length in list_chunks(store, stored.chunks)]
    assert sum(lengths) == size
    assert all(length <= CDC_MAX for length in lengths), lengths
    assert all(length >= CDC_MIN for length in lengths[:-1]), lengths


# -- random binaries, at and around every bound ----------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 1000, MIN_CHUNKED_FILE - 1, MIN_CHUNKED_FILE, MIN_CHUNKED_FILE + 1,
                                  9 * MiB + 17], ids=lambda s: f"{s}B")
def test_random_files_round_trip_whole_below_the_threshold_and_chunked_from_it(store, tmp_path, size):
    data = seeded(size, size)
    stored = put(store, tmp_path, "blob.bin", data)
    if size < MIN_CHUNKED_FILE:
        assert stored.chunks is None  # a whole blob, exactly as before chunking
        assert store.get(stored.id) == data
        assert store.config["extensions"] == []
    else:
        assert stored.chunks is not None
        assert_cdc_cut(store, stored, size)
        assert json.loads((store.root / "config.json").read_text())["extensions"] == ["chunks"]
    assert_round_trip(store, stored, data, tmp_path)


def test_a_file_of_repeated_bytes_stores_its_repeated_chunk_once(store, tmp_path):
    data = bytes(12 * MiB)  # zeros: every cut falls at the same distance, so all chunks but the last are equal
    stored = put(store, tmp_path, "zeros.bin", data)
    chunks = list_chunks(store, stored.chunks)
    assert len(chunks) >= 3 and len({oid for oid, _ in chunks[:-1]}) == 1
    distinct = {oid for oid, _ in chunks}
    assert len(object_files(store)) == len(distinct) + 1 <= 3  # one or two chunks, and the list
    assert_round_trip(store, stored, data, tmp_path)


def test_without_the_compiled_chunker_large_files_are_stored_whole(store, tmp_path, monkeypatch):
    monkeypatch.setattr(chunking, "FastCDC", None)
    data = seeded(5, 6 * MiB)
    stored = put(store, tmp_path, "big.bin", data)
    assert stored.chunks is None and stored.id == blake3_id(data)
    assert store.get(stored.id) == data
    assert json.loads((store.root / "config.json").read_text())["extensions"] == []


# -- safetensors ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("metadata", [None, {"format": "pt", "epoch": "3"}], ids=["plain", "with-metadata"])
def test_safetensors_is_cut_at_the_header_and_at_each_tensor(store, tmp_path, metadata):
    tensors = {**backbone(8), **head(1, count=2, size=300 * KiB + 12)}
    data = safetensors_bytes(tensors, metadata)
    assert len(data) >= MIN_CHUNKED_FILE
    stored = put(store, tmp_path, "model.safetensors", data)
    assert spans(store, stored) == safetensors_pieces(data)
    header_length = struct.unpack("<Q", data[:8])[0]
    assert list_chunks(store, stored.chunks)[0][0] == blake3_id(data[:8 + header_length])
    chunk_ids = {oid for oid, _ in list_chunks(store, stored.chunks)}
    assert {blake3_id(t) for t in tensors.values()} <= chunk_ids  # each tensor's bytes are a chunk
    assert_round_trip(store, stored, data, tmp_path)


def test_checkpoints_that_share_tensors_store_them_once(store, tmp_path):
    frozen = backbone(8)
    first = safetensors_bytes({**frozen, **head(1)}, {"epoch": "1"})
    second = safetensors_bytes({**frozen, **head(2)}, {"epoch": "2"})
    a = put(store, tmp_path, "a.safetensors", first)
    before = object_bytes(store)
    b = put(store, tmp_path, "b.safetensors", second)
    shared = {oid for oid, _ in list_chunks(store, a.chunks)} & {oid for oid, _ in list_chunks(store, b.chunks)}
    assert shared == {blake3_id(t) for t in frozen.values()}
    header_b = 8 + struct.unpack("<Q", second[:8])[0]
    added = object_bytes(store) - before
    # Exactly the second file's header and head tensors, and its chunk list.
    assert added == header_b + 2 * TENSOR + store.size(b.chunks)
    assert_round_trip(store, a, first, tmp_path)
    assert_round_trip(store, b, second, tmp_path)


def test_identical_tensors_within_one_file_are_one_chunk(store, tmp_path):
    same = seeded(3, TENSOR)
    data = safetensors_bytes({**{f"tied{i}": same for i in range(6)}, **head(4, count=4)})
    stored = put(store, tmp_path, "tied.safetensors", data)
    chunk_ids = [oid for oid, _ in list_chunks(store, stored.chunks)]
    assert chunk_ids.count(blake3_id(same)) == 6
    assert len(object_files(store)) == len(set(chunk_ids)) + 1
    assert_round_trip(store, stored, data, tmp_path)


def test_tensors_smaller_than_small_piece_are_grouped(store, tmp_path):
    small = {f"norm{i}.weight": seeded(100 + i, 10 * KiB + 4 * i) for i in range(40)}
    data = safetensors_bytes({**small, **backbone(8), "tail.bias": seeded(99, 2 * KiB)})
    assert len(data) >= MIN_CHUNKED_FILE
    pieces = safetensors_pieces(data)
    stored = put(store, tmp_path, "grouped.safetensors", data)
    cut = spans(store, stored)
    assert len(cut) < len(pieces)
    boundaries = {offset for offset, _ in pieces}
    piece_at = dict(pieces)
    for index, (offset, length) in enumerate(cut):
        assert offset in boundaries  # never inside a tensor
        members, position = [], offset
        while position < offset + length:
            members.append(piece_at[position])
            position += piece_at[position]
        assert position == offset + length
        if len(members) > 1:  # a group: small pieces only, no larger than GROUP_SIZE
            assert all(m < SMALL_PIECE for m in members) and length <= GROUP_SIZE
        if index + 1 < len(cut) and all(m < SMALL_PIECE for m in members):
            following = piece_at[offset + length]
            # Grouping is greedy: the next small piece would not have fitted.
            assert following >= SMALL_PIECE or length + following > GROUP_SIZE
    for tensor in backbone(8).values():
        assert (data.index(tensor), TENSOR) in cut
    assert_round_trip(store, stored, data, tmp_path)


def test_a_piece_of_exactly_max_piece_is_one_chunk_and_a_larger_one_is_cut_by_cdc(store, tmp_path):
    exact, larger = seeded(16, MAX_PIECE), seeded(17, MAX_PIECE + 1)
    data = safetensors_bytes({"exact": exact, "larger": larger})
    stored = put(store, tmp_path, "bounds.safetensors", data)
    header_end = 8 + struct.unpack("<Q", data[:8])[0]
    cut = spans(store, stored)
    assert cut[0] == (0, header_end)
    assert cut[1] == (header_end, MAX_PIECE)
    rest = cut[2:]
    assert rest[0][0] == header_end + MAX_PIECE and sum(length for _, length in rest) == MAX_PIECE + 1
    assert len(rest) > 1 and all(length <= CDC_MAX for _, length in rest)
    assert_round_trip(store, stored, data, tmp_path)


def test_a_grown_embedding_table_still_shares_its_unchanged_rows(store, tmp_path):
    rows = seeded(20, 20 * MiB)
    before = safetensors_bytes({"embed": rows, **head(1)})
    after = safetensors_bytes({"embed": rows + seeded(21, MiB), **head(1)})  # new rows appended
    a = put(store, tmp_path, "v1.safetensors", before)
    b = put(store, tmp_path, "v2.safetensors", after)
    chunks_a = dict((oid, length) for oid, length in list_chunks(store, a.chunks))
    shared = sum(length for oid, length in list_chunks(store, b.chunks) if oid in chunks_a)
    # Only the chunk that ends where the new rows begin may differ, besides the header.
    assert shared >= len(rows) - CDC_MAX + 2 * TENSOR
    assert_round_trip(store, b, after, tmp_path)


# -- torch.save zips ---------------------------------------------------------------------------------------


def test_a_torch_zip_is_cut_at_each_stored_entry(store, tmp_path):
    storages = list(backbone(8).values()) + [seeded(5, 3000)]
    data = torch_zip_bytes("epoch_1", storages)
    assert len(data) >= MIN_CHUNKED_FILE
    stored = put(store, tmp_path, "epoch_1.pt", data)
    cut = spans(store, stored)
    for start, length in zip_data_ranges(data):
        if length >= SMALL_PIECE:
            assert (start, length) in cut  # each large storage exactly one chunk
    chunk_ids = {oid for oid, _ in list_chunks(store, stored.chunks)}
    assert {blake3_id(s) for s in storages if len(s) >= SMALL_PIECE} <= chunk_ids
    assert_round_trip(store, stored, data, tmp_path)


def test_torch_zips_with_per_epoch_names_share_their_storages(store, tmp_path):
    frozen = backbone(8)
    files = {n: checkpoint("pt", f"epoch_{n}", {**frozen, **head(n)}, {"epoch": str(n)}) for n in range(3)}
    stored = {n: put(store, tmp_path, f"epoch_{n}.pt", data) for n, data in files.items()}
    assert len({s.id for s in stored.values()}) == 3  # three different files (names, ids, heads differ)
    for n, s in stored.items():
        ids = {oid for oid, _ in list_chunks(store, s.chunks)}
        assert {blake3_id(t) for t in frozen.values()} <= ids
        assert_round_trip(store, s, files[n], tmp_path)
    unique = sum(len(t) for t in frozen.values()) + sum(len(d) - sum(map(len, frozen.values()))
                                                        for d in files.values())
    assert object_bytes(store) <= 1.3 * unique


def test_checkpoints_written_by_torch_share_their_tensors(store, tmp_path):
    torch = pytest.importorskip("torch", reason="torch is not installed: the torch.save variant is skipped "
                                                "(the zip layout is tested byte by byte above)")
    generator = torch.Generator().manual_seed(0)
    frozen = {f"backbone.{i}.weight": torch.randn(256, 512, generator=generator) for i in range(8)}
    paths, tensors = [], []
    for epoch in range(2):
        state = {**frozen, "head.weight": torch.randn(256, 512, generator=generator),
                 "head.bias": torch.randn(512, generator=generator)}
        path = tmp_path / f"epoch_{epoch}.pt"
        torch.save(state, path)
        paths.append(path)
        tensors.append(state)
    stored = [put_file(store, path) for path in paths]
    frozen_ids = {blake3_id(t.numpy().tobytes()) for t in frozen.values()}
    for path, s, state in zip(paths, stored, tensors):
        data = path.read_bytes()
        ids = [oid for oid, _ in list_chunks(store, s.chunks)]
        assert frozen_ids <= set(ids)
        assert blake3_id(state["head.weight"].numpy().tobytes()) in ids
        assert_round_trip(store, s, data, tmp_path)
        loaded = torch.load(io.BytesIO(open_file(store, s.id, s.chunks).read()), weights_only=True)
        assert all(torch.equal(loaded[k], v) for k, v in state.items())
    first = {oid for oid, _ in list_chunks(store, stored[0].chunks)}
    new = [(oid, length) for oid, length in list_chunks(store, stored[1].chunks) if oid not in first]
    frozen_bytes = sum(t.numel() * 4 for t in frozen.values())
    assert sum(length for _, length in new) <= paths[1].stat().st_size - frozen_bytes


# -- the format is read from the bytes ------------------------------------------------------------------------


def test_the_format_is_detected_from_the_bytes_not_the_name(store, tmp_path):
    st_data = safetensors_bytes({**backbone(8), **head(1)}, {"epoch": "1"})
    zip_data = torch_zip_bytes("epoch_2", list(backbone(8).values()))
    as_bin = put(store, tmp_path, "weights.bin", st_data)
    assert spans(store, as_bin) == safetensors_pieces(st_data)
    as_safetensors = put(store, tmp_path, "model.safetensors", zip_data)
    cut = spans(store, as_safetensors)
    assert all((start, length) in cut for start, length in zip_data_ranges(zip_data) if length >= SMALL_PIECE)
    random_named = seeded(8, 5 * MiB)
    not_a_checkpoint = put(store, tmp_path, "fake.safetensors", random_named)
    assert_cdc_cut(store, not_a_checkpoint, len(random_named))
    for stored, data in ((as_bin, st_data), (as_safetensors, zip_data), (not_a_checkpoint, random_named)):
        assert_round_trip(store, stored, data, tmp_path)


def _corrupt_safetensors() -> dict[str, bytes]:
    good = safetensors_bytes({**backbone(8), **head(1)})
    header_length = struct.unpack("<Q", good[:8])[0]
    body = good[8 + header_length:]

    def with_header(header: bytes) -> bytes:
        header += b" " * (-len(header) % 8)
        return struct.pack("<Q", len(header)) + header + body

    tensors = json.loads(good[8:8 + header_length])
    hole = json.loads(json.dumps(tensors))
    first = next(iter(hole))
    hole[first]["data_offsets"][0] += 8  # 8 bytes nothing covers
    overlap = json.loads(json.dumps(tensors))
    names = list(overlap)
    overlap[names[1]]["data_offsets"][0] -= 4
    return {
        "broken-json": with_header(good[8:8 + header_length - 20]),
        "hole": with_header(json.dumps(hole).encode()),
        "overlap": with_header(json.dumps(overlap).encode()),
        "offsets-not-ints": with_header(json.dumps({**tensors, names[0]: {**tensors[names[0]],
                                                                           "data_offsets": ["0", "9"]}}).encode()),
        "not-an-object": with_header(b"[1, 2, 3]"),
        "length-past-the-end": struct.pack("<Q", len(good)) + good[8:],
        "length-zero": struct.pack("<Q", 0) + good[8:],
        "short-of-the-end": good[:-5],
        "zip-without-directory": b"PK\x03\x04" + good[4:],
    }


@pytest.mark.parametrize("kind", sorted(_corrupt_safetensors()))
def test_a_damaged_checkpoint_header_falls_back_to_cdc_without_error(store, tmp_path, kind):
    data = _corrupt_safetensors()[kind]
    with io.BytesIO(data) as handle:
        assert format_pieces(handle, len(data)) is None
    stored = put(store, tmp_path, f"{kind}.safetensors", data)
    assert stored.chunks is not None
    assert_cdc_cut(store, stored, len(data))
    assert_round_trip(store, stored, data, tmp_path)


def _mutations():
    base = {
        "safetensors": safetensors_bytes({f"t{i}": seeded(i, 3000 + 700 * i) for i in range(6)}, {"k": "v"}),
        "zip": torch_zip_bytes("m", [seeded(i, 2000 + 500 * i) for i in range(4)]),
    }
    return st.tuples(st.sampled_from(sorted(base)), st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)),
                                                           max_size=6), st.integers(0, 64)).map(
        lambda t: _mutate(base[t[0]], t[1], t[2]))


def _mutate(data: bytes, flips, cut_tail: int) -> bytes:
    out = bytearray(data[:len(data) - cut_tail] if cut_tail < len(data) else data)
    for position, value in flips:
        if out:
            out[position % len(out)] = value
    return bytes(out)


@given(data=_mutations())
def test_cut_points_tile_any_file_whatever_its_bytes(data):
    """Damaged headers, entries that point anywhere, truncated files: the cut still covers the file exactly."""
    with io.BytesIO(data) as handle:
        cut = list(cut_points(handle, len(data)))
    position = 0
    for offset, length in cut:
        assert offset == position and length > 0
        position += length
    assert position == len(data)


# -- the chunk list: exactly the documented bytes, nothing else --------------------------------------------

A, B = blake3_id(b"a"), blake3_id(b"b")
FILE = blake3_id(b"the file")


def test_a_chunk_list_serializes_to_the_documented_text_and_parses_back():
    listing = ChunkList(FILE, 10, ((A, 4), (B, 6)))
    data = listing.serialize()
    assert data == (f"runicorn-chunks 1 blake3:{FILE} 10\nblake3:{A} 4\nblake3:{B} 6\n").encode()
    assert ChunkList.parse(data) == listing
    assert ChunkList.parse(data).serialize() == data


BAD_LISTS = {
    "other-version": f"runicorn-chunks 2 blake3:{FILE} 10\nblake3:{A} 4\nblake3:{B} 6\n",
    "no-header": f"blake3:{A} 4\nblake3:{B} 6\n",
    "header-without-size": f"runicorn-chunks 1 blake3:{FILE}\nblake3:{A} 4\nblake3:{B} 6\n",
    "lengths-short-of-the-size": f"runicorn-chunks 1 blake3:{FILE} 11\nblake3:{A} 4\nblake3:{B} 6\n",
    "lengths-past-the-size": f"runicorn-chunks 1 blake3:{FILE} 9\nblake3:{A} 4\nblake3:{B} 6\n",
    "zero-length-chunk": f"runicorn-chunks 1 blake3:{FILE} 10\nblake3:{A} 4\nblake3:{B} 0\nblake3:{B} 6\n",
    "negative-length": f"runicorn-chunks 1 blake3:{FILE} 10\nblake3:{A} -4\nblake3:{B} 14\n",
    "no-chunks": f"runicorn-chunks 1 blake3:{FILE} 0\n",
    "non-ascii-digits": f"runicorn-chunks 1 blake3:{FILE} 10\nblake3:{A} \u0664\nblake3:{B} 6\n",
    "non-ascii-name": f"runicorn-chunks 1 blake3:{FILE} 10\nblake3:{A} 4\nblake3:{B} 6 é\n",
    "no-final-newline": f"runicorn-chunks 1 blake3:{FILE} 10\nblake3:{A} 4\nblake3:{B} 6",
    "blank-line": f"runicorn-chunks 1 blake3:{FILE} 10\nblake3:{A} 4\n\nblake3:{B} 6\n",
    "crlf": f"runicorn-chunks 1 blake3:{FILE} 10\r\nblake3:{A} 4\r\nblake3:{B} 6\r\n",
    "bad-id": f"runicorn-chunks 1 blake3:{FILE} 10\nblake3:{A[:-1]} 4\nblake3:{B} 6\n",
    "other-hash": f"runicorn-chunks 1 blake3:{FILE} 10\nsha256:{A} 4\nblake3:{B} 6\n",
    "extra-field": f"runicorn-chunks 1 blake3:{FILE} 10\nblake3:{A} 4 x\nblake3:{B} 6\n",
    "double-space": f"runicorn-chunks 1 blake3:{FILE} 10\nblake3:{A}  4\nblake3:{B} 6\n",
    # Only the canonical bytes are a chunk list (as for trees): otherwise one file could have many list ids.
    "untagged-chunk-id": f"runicorn-chunks 1 blake3:{FILE} 10\n{A} 4\nblake3:{B} 6\n",
    "untagged-file-id": f"runicorn-chunks 1 {FILE} 10\nblake3:{A} 4\nblake3:{B} 6\n",
    "leading-zero-length": f"runicorn-chunks 1 blake3:{FILE} 10\nblake3:{A} 04\nblake3:{B} 6\n",
}


@pytest.mark.parametrize("name", sorted(BAD_LISTS))
def test_anything_but_an_exact_chunk_list_is_refused_as_corrupt(name):
    with pytest.raises(CorruptObject):
        ChunkList.parse(BAD_LISTS[name].encode("utf-8"), "list-under-test")


def test_a_corrupt_chunk_list_in_the_store_is_refused_by_every_reader(store, tmp_path):
    bad = store.put_bytes(BAD_LISTS["lengths-past-the-size"].encode())
    with pytest.raises(CorruptObject):
        read_chunk_list(store, bad)
    with pytest.raises(CorruptObject):
        open_file(store, FILE, bad)
    report = verify(store, {"run-x": [Ref(bad, CHUNKS)]})
    assert not report.ok and bad in report.corrupt and report.needed_by[bad] == ["run-x"]


# -- reading back: every chunk and the whole file verified ----------------------------------------------------


def test_a_corrupt_chunk_is_caught_while_reading_and_leaves_no_restored_file(store, tmp_path):
    data = safetensors_bytes({**backbone(8), **head(1)})
    stored = put(store, tmp_path, "m.safetensors", data)
    victim, _ = list_chunks(store, stored.chunks)[3]
    piece = bytearray(store.get(victim))
    piece[100] ^= 1
    tamper(store, victim, bytes(piece))
    with pytest.raises(CorruptObject) as caught, open_file(store, stored.id, stored.chunks) as reader:
        reader.read()
    assert victim in str(caught.value)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(CorruptObject):
        materialize_blob(store, stored.chunks, out / "m.safetensors", chunks=stored.chunks)
    assert os.listdir(out) == []  # no partial file, no temp file
    report = verify(store, {"run-a": [Ref(stored.chunks, CHUNKS)]})
    assert report.corrupt == [victim] and report.needed_by == {victim: ["run-a"]}


def test_a_list_whose_chunks_do_not_make_its_file_is_refused_at_the_end(store, tmp_path):
    data = seeded(40, 6 * MiB)
    stored = put(store, tmp_path, "r.bin", data)
    chunks = list_chunks(store, stored.chunks)
    swapped = ChunkList(stored.id, len(data), tuple(reversed(chunks)))  # every chunk intact, the order wrong
    lie = store.put_bytes(swapped.serialize())
    with pytest.raises(CorruptObject, match="do not make up"), open_file(store, stored.id, lie) as reader:
        reader.read()
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(CorruptObject):
        materialize_blob(store, lie, out / "r.bin", chunks=lie)
    assert os.listdir(out) == []


def test_a_missing_chunk_is_reported_with_the_roots_that_need_it(store, tmp_path):
    data = seeded(41, 7 * MiB)
    stored = put(store, tmp_path, "r.bin", data)
    other = put(store, tmp_path, "s.bin", seeded(42, 5 * MiB))
    victim, _ = list_chunks(store, stored.chunks)[-1]
    os.unlink(store.path_for(victim))
    report = verify(store, {"needs-it": [Ref(stored.chunks, CHUNKS)], "does-not": [Ref(other.chunks, CHUNKS)]})
    assert report.missing == [victim] and report.needed_by == {victim: ["needs-it"]}
    with pytest.raises(ObjectNotFound), open_file(store, stored.id, stored.chunks) as reader:
        reader.read()


# -- the one walk, gc ----------------------------------------------------------------------------------------


def test_a_chunk_list_reaches_its_chunks_and_its_content_is_the_file(store, tmp_path):
    data = safetensors_bytes({**backbone(8), **head(1)})
    stored = put(store, tmp_path, "m.safetensors", data)
    walker = Walker(store)
    reach = walker.walk([Ref(stored.chunks, CHUNKS)])
    assert not reach.missing and not reach.damaged  # every reference could be followed
    assert reach.reached == {stored.chunks} | {oid for oid, _ in list_chunks(store, stored.chunks)}
    assert walker.content_size(Ref(stored.chunks, CHUNKS)) == len(data)
    assert walker.walk([Ref(stored.chunks, BLOB)]).reached == {stored.chunks}  # as a blob it reaches nothing


def test_gc_keeps_every_chunk_a_live_list_names_and_takes_the_rest(store, tmp_path):
    frozen = backbone(8)
    live = put(store, tmp_path, "live.safetensors", safetensors_bytes({**frozen, **head(1)}))
    dead = put(store, tmp_path, "dead.safetensors", safetensors_bytes({**frozen, **head(2)}))
    for path in store.objects_dir.glob("*/*"):
        backdate(path, 7200)
    collect(store, [Ref(live.chunks, CHUNKS)], grace_seconds=0)
    kept = {o.id for o in store.iter_objects()}
    assert kept == {live.chunks} | {oid for oid, _ in list_chunks(store, live.chunks)}
    assert {blake3_id(t) for t in head(2).values()}.isdisjoint(kept)
    assert verify(store, {"live": [Ref(live.chunks, CHUNKS)]}).ok
    assert open_file(store, live.id, live.chunks).read() == safetensors_bytes({**frozen, **head(1)})


# -- folders: trees name the chunk list beside the file's own id --------------------------------------------------


def test_a_folder_with_chunked_files_round_trips_and_its_tree_names_each_list(store, stat_cache, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    files = {
        "big.safetensors": safetensors_bytes({**backbone(8), **head(1)}, {"epoch": "1"}),
        "epoch_1.pt": checkpoint("pt", "epoch_1", {**backbone(8), **head(1)}, {"epoch": "1"}),
        "small.bin": seeded(50, 1000),
        "edge.bin": seeded(51, MIN_CHUNKED_FILE - 1),
        "empty": b"",
    }
    for name, data in files.items():
        (src / name).write_bytes(data)
    backdate(list(src.iterdir()), 60)  # old enough for the stat cache to trust
    result = Ingester(store, stat_cache=stat_cache).ingest(src)
    entries = dict(walk_tree(store, result.id))
    for name, data in files.items():
        assert entries[name].id == blake3_id(data)
        assert (entries[name].chunks is not None) == (len(data) >= MIN_CHUNKED_FILE)
    line = next(line for line in store.get(result.id).decode().splitlines() if '"big.safetensors"' in line)
    assert line == json.dumps({"chunks": entries["big.safetensors"].chunks.tagged, "exec": False,
                               "id": blake3_id(files["big.safetensors"]).tagged, "kind": "file",
                               "name": "big.safetensors", "size": len(files["big.safetensors"])},
                              separators=(",", ":"))
    materialize_tree(store, result.id, tmp_path / "out")
    assert {k: v[1] for k, v in snapshot(tmp_path / "out").items()} == files
    assert verify(store, {"x": [Ref(result.id, TREE)]}).ok

    again = Ingester(store, stat_cache=stat_cache).ingest(src)  # unchanged: the stat cache answers
    assert (again.id, again.hashed_bytes) == (result.id, 0)


def test_a_stat_cache_hit_refreshes_every_object_a_chunked_file_reuses(store, stat_cache, tmp_path):
    """gc rule 2 (docs/format.md 8): a writer refreshes the mtime of every object it reuses, so that a gc
    running before the new reference is written never takes them: for a chunked file, the list and its chunks."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "m.safetensors").write_bytes(safetensors_bytes({**backbone(8), **head(1)}))
    (src / "w.bin").write_bytes(seeded(60, 2 * MiB))
    backdate(list(src.iterdir()), 7200)
    first = Ingester(store, stat_cache=stat_cache).ingest(src)
    for path in store.objects_dir.glob("*/*"):
        backdate(path, 7200)
    started = time.time() - 1
    again = Ingester(store, stat_cache=stat_cache).ingest(src)
    assert (again.id, again.hashed_bytes) == (first.id, 0)  # every file came from the stat cache
    entry = dict(walk_tree(store, first.id))["m.safetensors"]
    reused = {entry.chunks: "the chunk list", dict(walk_tree(store, first.id))["w.bin"].id: "a whole blob"}
    reused.update({oid: "a chunk" for oid, _ in list_chunks(store, entry.chunks)})
    stale = sorted({what for oid, what in reused.items() if store.path_for(oid).stat().st_mtime < started})
    assert stale == [], f"reused but not refreshed: {stale}"


# -- the store config: the chunks extension --------------------------------------------------------------------


def test_a_store_without_the_extension_reads_as_before_and_the_first_chunked_put_adds_it(tmp_path):
    root = copy_fixture_store("v1-good", tmp_path / "old")
    config_path = root / "store" / "config.json"
    config_before = config_path.read_bytes()
    assert json.loads(config_before)["extensions"] == []
    store = ObjectStore(root / "store")
    roots = manifest_roots(root)
    assert verify(store, roots).ok
    code = next(r for r in roots["mnist/20250101_120000_a1b2c3"] if r.kind == TREE)
    materialize_tree(store, code.id, tmp_path / "code")
    assert read_tree(store, code.id)
    assert config_path.read_bytes() == config_before  # reading never rewrites the config

    small = put(store, tmp_path, "small.bin", seeded(70, MIN_CHUNKED_FILE - 1))
    assert small.chunks is None and config_path.read_bytes() == config_before
    data = seeded(71, 5 * MiB)
    stored = put(store, tmp_path, "big.bin", data)
    assert stored.chunks is not None
    config = json.loads(config_path.read_text())
    assert config["extensions"] == ["chunks"]
    assert {k: v for k, v in config.items() if k != "extensions"} == \
        {k: v for k, v in json.loads(config_before).items() if k != "extensions"}
    reopened = ObjectStore(root / "store", create=False)
    assert open_file(reopened, stored.id, stored.chunks).read() == data
    assert verify(reopened, {**roots, "new": [Ref(stored.chunks, CHUNKS)]}).ok


@pytest.mark.parametrize("extensions", [["chunks", "compression"], ["packs"], ["Chunks"]])
def test_a_store_listing_an_unknown_extension_is_refused(store, extensions):
    config_path = store.root / "config.json"
    config = json.loads(config_path.read_text())
    config["extensions"] = extensions
    config_path.write_text(json.dumps(config))
    with pytest.raises(UnsupportedFormat, match="extension"):
        ObjectStore(store.root)


def test_a_store_listing_the_chunks_extension_opens(store, tmp_path):
    data = seeded(72, 5 * MiB)
    stored = put(store, tmp_path, "big.bin", data)
    again = ObjectStore(store.root, create=False)
    assert again.config["extensions"] == ["chunks"]
    assert open_file(again, stored.id, stored.chunks).read() == data
    assert chunk_lists(again) == {stored.chunks: read_chunk_list(again, stored.chunks)}
    assert HEADER == b"runicorn-chunks 1 "
