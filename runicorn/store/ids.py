"""Object ids: blake3-256 of exactly the stored bytes, as 64 lowercase hex digits.

An ``ObjectId`` is validated when it is made, so no path is ever built from an
unchecked string. Manifests and trees write ids in the tagged form
``blake3:<hex>`` so that a later hash algorithm is a versioned migration, not a guess.
"""

from __future__ import annotations

import blake3

from ..errors import InvalidObjectId

HASH_NAME = "blake3"
HEX_LENGTH = 64
TAG_PREFIX = HASH_NAME + ":"
_HEX_DIGITS = frozenset("0123456789abcdef")


class ObjectId(str):
    """A validated object id (64 lowercase hex digits)."""

    __slots__ = ()

    def __new__(cls, value: str) -> "ObjectId":
        if isinstance(value, ObjectId):
            return value
        if not isinstance(value, str) or len(value) != HEX_LENGTH or not _HEX_DIGITS.issuperset(value):
            raise InvalidObjectId(
                f"{value!r} is not an object id: expected {HEX_LENGTH} lowercase hex digits "
                f"(a {HASH_NAME} digest), optionally written as '{TAG_PREFIX}<hex>'"
            )
        return super().__new__(cls, value)

    @classmethod
    def parse(cls, text: str) -> "ObjectId":
        """Accept both the bare and the tagged (``blake3:<hex>``) form; refuse other hashes."""
        if isinstance(text, str) and ":" in text:
            algorithm, _, hexdigest = text.partition(":")
            if algorithm != HASH_NAME:
                raise InvalidObjectId(
                    f"{text!r} uses hash {algorithm!r}; this version of Runicorn knows only {HASH_NAME!r}"
                )
            return cls(hexdigest)
        return cls(text)

    @property
    def tagged(self) -> str:
        """The form written in manifests and trees: ``blake3:<hex>``."""
        return TAG_PREFIX + self

    @property
    def short(self) -> str:
        return self[:12]


def new_hasher() -> "blake3.blake3":
    """A streaming hasher for object content (multi-threaded for large updates)."""
    return blake3.blake3(max_threads=blake3.blake3.AUTO)


def hash_bytes(data: bytes | bytearray | memoryview) -> ObjectId:
    return ObjectId(blake3.blake3(data).hexdigest())
