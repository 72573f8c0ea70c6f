"""JSON answers the page and scripts can trust, ETags for polling, and our errors as HTTP statuses.

Run data is user data: an alias may be markup, a summary may hold NaN. JSON
goes out with ``<``, ``>``, ``&`` and the JavaScript line separators escaped
(so no byte of it reads as HTML, whatever a client sniffs), and with
non-finite floats as the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"``
(JSON has no such numbers; Starlette's encoder refuses them).
"""

from __future__ import annotations

import hashlib
import json
import math

from starlette.requests import Request
from starlette.responses import Response

from ..errors import (AmbiguousRunId, CorruptObject, DamagedRun, InvalidObjectId, ObjectNotFound, RunicornError,
                      RunNotFound, StorageNotFound, UnsafePath, UnsupportedFormat)

_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_ESCAPE_TABLE = str.maketrans(_ESCAPES)


class BadRequest(ValueError):
    """A parameter the viewer cannot use; the message names it and what it accepts."""


def clean(value):
    """A JSON-able copy: non-finite floats as strings, tuples and sets as lists, anything else as its repr."""
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")
    if value is None or isinstance(value, (str, int, bool)):
        return value
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [clean(v) for v in value]
    if hasattr(value, "to_json"):
        return clean(value.to_json())
    return repr(value)


def dumps(data) -> bytes:
    """Compact JSON of ``data`` (already ``clean``), with the HTML-significant characters escaped."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.translate(_ESCAPE_TABLE).encode("utf-8")


def etag_of(*parts) -> str:
    """A strong ETag for whatever identifies a response's content."""
    return etag_of_bytes(repr(parts).encode("utf-8"))


def etag_of_bytes(data: bytes) -> str:
    """A strong ETag for a response's bytes (or for anything already made bytes)."""
    return '"' + hashlib.blake2b(data, digest_size=12).hexdigest() + '"'


def not_modified(request: Request, etag: str) -> bool:
    wanted = request.headers.get("if-none-match", "")
    return etag in [tag.strip() for tag in wanted.split(",")] or wanted.strip() == "*"


def json_response(request: Request, data, *, etag: str | None = None, clean_first: bool = True,
                  status: int = 200) -> Response:
    """``data`` as JSON; with an ETag (given, or the body's hash) a matching If-None-Match gets 304."""
    if etag is not None and not_modified(request, etag):
        return Response(status_code=304, headers={"etag": etag})
    body = dumps(clean(data) if clean_first else data)
    if etag is None and status == 200:
        etag = etag_of_bytes(body)
        if not_modified(request, etag):
            return Response(status_code=304, headers={"etag": etag})
    headers = {"etag": etag} if etag else {}
    return Response(body, status_code=status, media_type="application/json", headers=headers)


# Our errors as HTTP statuses: the message says what was wrong and what to do, as on the command line.
# The first match wins: specific classes first (AmbiguousRunId is also a ValueError, RunNotFound a KeyError).
_STATUSES = (
    (AmbiguousRunId, 409), (RunNotFound, 404), (ObjectNotFound, 404), (StorageNotFound, 404),
    (BadRequest, 400), (InvalidObjectId, 400), (UnsafePath, 400),
    (DamagedRun, 422), (UnsupportedFormat, 422), (CorruptObject, 500),
    (RunicornError, 500), (ValueError, 400),
)


def error_status(exc: Exception) -> int | None:
    """The HTTP status for one of our errors (or a bad parameter), None for a bug."""
    for kind, status in _STATUSES:
        if isinstance(exc, kind):
            return status
    return None


def error_response(request: Request, exc: Exception) -> Response:
    status = error_status(exc) or 500
    message = str(exc) or type(exc).__name__
    if isinstance(exc, KeyError) and exc.args:  # KeyError's str() quotes its message
        message = str(exc.args[0])
    return json_response(request, {"error": message, "kind": type(exc).__name__}, status=status)
