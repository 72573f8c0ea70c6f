"""Known-answer tests for object ids: blake3 of exactly the stored bytes."""

import io

import pytest

from runicorn.errors import InvalidObjectId
from runicorn.store import ObjectId, ObjectStore, hash_bytes

KNOWN = {
    b"": "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262",
    b"hello": "ea8f163db38682925e4491c5e58d4bb3506ef8c14eb78a86e908c5624a67200f",
}


@pytest.mark.parametrize("data,expected", KNOWN.items())
def test_known_answers(tmp_path, data, expected):
    assert hash_bytes(data) == expected
    store = ObjectStore(tmp_path / "store")
    oid = store.put_bytes(data)
    assert oid == expected
    assert store.path_for(oid) == tmp_path / "store" / "objects" / expected[:2] / expected[2:]


@pytest.mark.parametrize("bad", ["", "abc", "A" * 64, "g" * 64, "../" + "a" * 61, "a" * 65, None, 5])
def test_invalid_ids_are_refused_before_any_path_is_built(tmp_path, bad):
    store = ObjectStore(tmp_path / "store")
    with pytest.raises(InvalidObjectId) as info:
        store.path_for(bad)
    assert repr(bad) in str(info.value)


def test_tagged_form_round_trips():
    oid = hash_bytes(b"x")
    assert ObjectId.parse(oid.tagged) == oid
    with pytest.raises(InvalidObjectId, match="sha256"):
        ObjectId.parse("sha256:" + oid)


# The official BLAKE3 test vectors (github.com/BLAKE3-team/BLAKE3, test_vectors.json): input byte i is i % 251.
# They cross the 1 KiB chunk and multi-chunk tree boundaries, so they pin the streaming, multi-threaded
# hasher that put uses, not only the one-shot hash.
OFFICIAL_VECTORS = {
    1: "2d3adedff11b61f14c886e35afa036736dcd87a74d27b5c1510225d0f592e213",
    8193: "bab6c09cb8ce8cf459261398d2e7aef35700bf488116ceb94a36d0f5f1b7bc3b",
    102400: "bc3e3d41a1146b069abffad3c0d44860cf664390afce4d9661f7902e7943e085",
}


@pytest.mark.parametrize("length,expected", OFFICIAL_VECTORS.items())
def test_official_blake3_vectors(tmp_path, length, expected):
    data = bytes(i % 251 for i in range(length))
    assert hash_bytes(data) == expected
    store = ObjectStore(tmp_path / "store")
    assert store.put_stream(io.BytesIO(data)) == expected
    assert store.path_for(expected).read_bytes() == data


def test_an_object_id_is_validated_once_and_kept():
    oid = hash_bytes(b"x")
    assert ObjectId(oid) is oid
    assert oid.short == oid[:12]
    assert ObjectId.parse(str(oid)) == oid
