"""JSON as run folders write it: state files replaced atomically, line files appended, NaN and ±inf kept.

JSON has no NaN or infinity; they are written as ``{"$float": "nan" | "inf" | "-inf"}``
so every file stays valid JSON, and read back as floats.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from ..store import atomic_write_json

_NONFINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


class Unreadable(Exception):
    """A state file that exists but cannot be read as JSON (the message says why)."""


def _encode_nonfinite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return {"$float": "nan" if value != value else ("inf" if value > 0 else "-inf")}
    return value


def encode_line(record: dict) -> str:
    """One JSON line; non-finite floats become ``{"$float": ...}`` so the line stays valid JSON."""
    try:
        return json.dumps(record, ensure_ascii=False, allow_nan=False)
    except ValueError:
        return json.dumps(jsonable_tree(record), ensure_ascii=False, allow_nan=False)


def _decode_nonfinite(obj: dict) -> Any:
    if len(obj) == 1 and "$float" in obj:
        marker = obj["$float"]
        if isinstance(marker, str) and marker in _NONFINITE:
            return _NONFINITE[marker]
    return obj  # anything else is plain data, however it looks


def decode_line(line: bytes | str) -> Any:
    """The inverse of ``encode_line``."""
    return json.loads(line, object_hook=_decode_nonfinite)


def read_lines(path: Path) -> list[tuple[int, Any | Unreadable]]:
    """Every complete line of a JSON-lines file, parsed (or an ``Unreadable`` naming the problem), with its number.

    A torn last line (no newline: a writer killed mid-line) is left out. A missing file has no lines.
    """
    try:
        data = path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return []
    end = data.rfind(b"\n")
    if end < 0:
        return []
    body = data[:end].decode("utf-8", errors="replace")
    hook = _decode_nonfinite if '"$float"' in body else None
    lines = body.split("\n")  # only "\n" ends a line: U+2028 and friends may stand inside a JSON string
    try:
        values = json.loads("[" + ",".join(lines) + "]", object_hook=hook)
        if len(values) == len(lines):  # else one line held two values: judge each line on its own
            return list(enumerate(values, 1))
    except (ValueError, RecursionError):
        pass
    parsed = []
    for number, line in enumerate(lines, 1):  # a damaged line in the middle: judge each one
        try:
            parsed.append((number, json.loads(line, object_hook=hook)))
        except ValueError as exc:
            parsed.append((number, Unreadable(f"line {number} is not JSON ({exc})")))
        except RecursionError:
            parsed.append((number, Unreadable(f"line {number} nests too deeply to read")))
    return parsed


def read_state(path: Path) -> Any:
    """A state file's content; None when absent; raises ``Unreadable`` when present but not JSON."""
    try:
        text = path.read_bytes().decode("utf-8")
    except (FileNotFoundError, NotADirectoryError):
        return None
    except UnicodeDecodeError as exc:
        raise Unreadable(f"{path.name} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise Unreadable(f"{path.name} cannot be read: {exc.strerror or exc}") from None
    try:
        return json.loads(text, object_hook=_decode_nonfinite)
    except ValueError as exc:
        raise Unreadable(f"{path.name} is not JSON ({exc})") from None
    except RecursionError:
        raise Unreadable(f"{path.name} nests too deeply to read") from None


def write_state(path: Path, value: Any, *, durable: bool = True) -> None:
    atomic_write_json(path, jsonable_tree(value), durable=durable)


def jsonable_tree(value: Any, _depth: int = 0) -> Any:
    """``value`` with non-finite floats encoded and keys as strings; refuses a structure that contains itself."""
    if _depth > 200:
        raise ValueError("the value nests more than 200 levels deep or contains itself (a circular reference); "
                         "pass plain data")
    if isinstance(value, dict):
        return {str(k): jsonable_tree(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable_tree(v, _depth + 1) for v in value]
    return _encode_nonfinite(value)
