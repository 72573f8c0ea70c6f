"""Stored content, named by object id only: bytes, text, folder listings and diffs, straight from the store.

No request names a file on disk: an id is validated (64 hex digits) before
the store maps it to its one path, and a folder inside a stored tree is found
by walking the tree's entry names (each checked to be one path component),
never by joining a path. Runicorn 0.7 served files by absolute path.

Bytes from a run are never a page: they go out as ``application/octet-stream``
(or an image type, or ``text/plain`` when asked) with ``nosniff`` and a
``sandbox`` Content-Security-Policy, so a stored ``.html`` file opened
directly cannot run script in the viewer's origin.
"""

from __future__ import annotations

import difflib
import unicodedata
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from ..errors import CorruptObject, ObjectNotFound
from ..store import CHUNK_SIZE, DIR, ObjectId, ObjectStore, check_name, read_tree, stored_file
from .responses import BadRequest, json_response, not_modified
from .state import state_of

IMAGE_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "jpg": "image/jpeg", "gif": "image/gif",
               "webp": "image/webp", "bmp": "image/bmp"}
OBJECT_CSP = "default-src 'none'; sandbox"
IMMUTABLE = "private, max-age=31536000, immutable"  # an id names the same bytes forever
WHOLE_READ = 16 << 20  # smaller objects are read whole, so their hash is checked before a byte is sent
TEXT_LIMIT = 2 << 20  # larger files are offered for download, not shown


def _oid(value: str) -> ObjectId:
    return ObjectId.parse(value)  # InvalidObjectId (400) names the bad value


def download_name(name: str) -> str:
    """A Content-Disposition value for a file name from a tree: its last component, printable, quoted twice
    (plain ASCII for old clients, RFC 5987 UTF-8 for the rest)."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C") or "download"
    ascii_name = name.encode("ascii", "replace").decode("ascii").replace('"', "_").replace("?", "_")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


def object_bytes(request: Request):
    """GET /api/objects/{id}: the object's bytes; ``type`` (an image type or ``text``) sets the media type,
    ``download=NAME`` makes it an attachment."""
    oid = _oid(request.path_params["oid"])
    kind = request.query_params.get("type", "")
    if kind and kind != "text" and kind not in IMAGE_TYPES:
        raise BadRequest(f"type {kind!r} is not text or one of {', '.join(IMAGE_TYPES)}")
    headers = {"etag": f'"{oid}"', "cache-control": IMMUTABLE, "content-security-policy": OBJECT_CSP}
    if not_modified(request, headers["etag"]):
        return Response(status_code=304, headers=headers)
    media = IMAGE_TYPES.get(kind) or ("text/plain; charset=utf-8" if kind == "text" else "application/octet-stream")
    name = request.query_params.get("download")
    if name is not None:
        headers["content-disposition"] = download_name(name)
    store = state_of(request).store()
    size, opener = stored_file(store, oid)  # a chunk list's id serves the file it lists
    if size <= WHOLE_READ:
        with opener() as reader:
            return Response(reader.read(), media_type=media, headers=headers)
    headers["content-length"] = str(size)
    return StreamingResponse(_chunks(opener), media_type=media, headers=headers)


def _chunks(opener):
    """A large file in chunks; a hash mismatch at the end aborts the response (the client sees it cut)."""
    with opener() as reader:
        while True:
            chunk = reader.read(CHUNK_SIZE)
            if not chunk:
                return
            yield chunk


def _text(store: ObjectStore, oid: ObjectId) -> tuple[int, str | None, str | None]:
    """(size, text, None) for a UTF-8 text object, else (size, None, why it is not shown)."""
    size, opener = stored_file(store, oid)
    if size > TEXT_LIMIT:
        return size, None, f"too large to show ({size} bytes); download it"
    with opener() as reader:
        data = reader.read()
    if b"\0" in data[:8192]:
        return size, None, "binary file; download it"
    try:
        return size, data.decode("utf-8"), None
    except UnicodeDecodeError:
        return size, None, "not UTF-8 text; download it"


def object_text(request: Request):
    """GET /api/objects/{id}/text: the object as text, or why it cannot be shown (binary, too large)."""
    oid = _oid(request.path_params["oid"])
    etag = f'"text-{oid}"'  # content-addressed: known before anything is read
    if not_modified(request, etag):
        return json_response(request, None, etag=etag)
    size, text, why = _text(state_of(request).store(), oid)
    return json_response(request, {"id": oid, "size": size, "text": text, "not_shown": why}, etag=etag)


def tree_listing(request: Request):
    """GET /api/trees/{id}?path=a/b: the entries of a stored folder (or of a sub-folder, by entry names)."""
    root = _oid(request.path_params["oid"])
    store = state_of(request).store()
    tree_id, walked = root, []
    for part in [p for p in request.query_params.get("path", "").split("/") if p]:
        check_name(part)  # UnsafePath (400) for '..' and friends: a name, never a path
        entry = next((e for e in _entries(store, tree_id) if e.name == part), None)
        if entry is None or entry.kind != DIR:
            raise ObjectNotFound(f"tree {root} has no folder {'/'.join(walked + [part])!r}")
        tree_id = entry.id
        walked.append(part)
    # A chunked file is fetched by its chunk list's id (objects/{id} serves the file a list stands for).
    entries = [{"name": e.name, "kind": e.kind, "size": e.size, "id": e.chunks or e.id, "file_id": e.id,
                "exec": e.executable, "target": e.target} for e in _entries(store, tree_id)]
    return json_response(request, {"root": root, "path": "/".join(walked), "id": tree_id, "entries": entries},
                         etag=f'"tree-{tree_id}-{"/".join(walked)}"')


def _entries(store: ObjectStore, tree_id: ObjectId):
    try:
        return read_tree(store, tree_id)
    except CorruptObject as exc:
        if store.verify_object(tree_id) is None:  # intact bytes that are no tree: the caller named a file
            raise BadRequest(f"object {tree_id} is a file, not a stored folder (tree)") from None
        raise exc


def object_diff(request: Request):
    """GET /api/diff?a=ID&b=ID&name=PATH: a unified diff of two stored text files (either may be empty:
    a file added or removed)."""
    params = request.query_params
    ids = [_oid(params[side]) if params.get(side) else None for side in ("a", "b")]
    if ids == [None, None]:
        raise BadRequest("give a (the old object id), b (the new one), or both")
    name = params.get("name") or "file"
    store = state_of(request).store()
    texts = []
    for oid in ids:
        if oid is None:
            texts.append("")
            continue
        _, text, why = _text(store, oid)
        if text is None:
            return json_response(request, {"a": ids[0], "b": ids[1], "patch": None, "not_shown": why})
        texts.append(text)
    patch = "".join(difflib.unified_diff(texts[0].splitlines(keepends=True), texts[1].splitlines(keepends=True),
                                         f"a/{name}", f"b/{name}"))
    return json_response(request, {"a": ids[0], "b": ids[1], "patch": patch, "not_shown": None})
