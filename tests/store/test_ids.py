"""Known-answer tests for object ids: blake3 of exactly the stored bytes."""

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
