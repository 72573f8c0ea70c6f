"""Differences between two runs: config, summary, and code straight from the store."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from .api import RunView
from .store import DIR, FILE, SYMLINK, ObjectId, ObjectStore, walk_tree

_MAX_DIFF_BYTES = 2 << 20  # larger files are reported as changed, not diffed


@dataclass
class ValueChange:
    key: str
    a: object
    b: object


@dataclass
class CodeDiff:
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    patches: dict[str, str] = field(default_factory=dict)  # path -> unified diff (text files)
    available: bool = True  # False when either run has no code snapshot


@dataclass
class RunDiff:
    a: str
    b: str
    config: list[ValueChange]
    summary: list[ValueChange]
    code: CodeDiff


def flatten(value: dict, prefix: str = "") -> dict:
    """Nested dicts as dotted keys: {"opt": {"lr": 1}} -> {"opt.lr": 1}."""
    flat = {}
    for key, item in value.items():
        name = f"{prefix}{key}"
        if isinstance(item, dict) and item:
            flat.update(flatten(item, name + "."))
        else:
            flat[name] = item
    return flat


def _same(values: list) -> bool:
    first = values[0]
    return all(v == first or (v != v and first != first) for v in values[1:])  # NaN equals NaN here


def side_by_side(dicts: list[dict]) -> list[dict]:
    """Every dotted key of any of the dicts (in key order), with each one's value (None when absent) and whether
    they differ: the viewer's compare tables, and ``diff``'s changes."""
    flat = [flatten(d) if isinstance(d, dict) else {} for d in dicts]
    keys = sorted(set().union(*flat)) if flat else []
    rows = []
    for key in keys:
        present = [key in f for f in flat]
        values = [f.get(key) for f in flat]
        rows.append({"key": key, "values": values, "present": present,
                     "differs": not all(present) or not _same(values)})
    return rows


def _changes(a: dict, b: dict) -> list[ValueChange]:
    return [ValueChange(row["key"], *row["values"]) for row in side_by_side([a, b]) if row["differs"]]


def _code_files(store: ObjectStore, view: RunView) -> dict[str, tuple] | None:
    """Path -> (kind, id, link target, executable, chunk list) of every file of the run's code snapshot."""
    entry = view.latest_asset("code")
    if entry is None or entry.ref is None:
        return None
    return {path: (e.kind, e.id, e.target, e.executable, e.chunks)
            for path, e in walk_tree(store, entry.ref.id) if e.kind != DIR}


def _text(store: ObjectStore, oid: ObjectId) -> list[str] | None:
    if store.size(oid) > _MAX_DIFF_BYTES:
        return None
    data = store.get(oid)
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8").splitlines(keepends=True)
    except UnicodeDecodeError:
        return None


def diff_code(store: ObjectStore, a: RunView, b: RunView) -> CodeDiff:
    files_a, files_b = _code_files(store, a), _code_files(store, b)
    if files_a is None or files_b is None:
        return CodeDiff(available=False)
    result = CodeDiff(added=sorted(set(files_b) - set(files_a)), removed=sorted(set(files_a) - set(files_b)))
    for path in sorted(set(files_a) & set(files_b)):
        if files_a[path] == files_b[path]:
            continue
        result.changed.append(path)
        (kind_a, id_a, target_a, exec_a, chunks_a), (kind_b, id_b, target_b, exec_b, chunks_b) = \
            files_a[path], files_b[path]
        if kind_a == kind_b == FILE and id_a == id_b:  # the same bytes: only the executable bit changed
            result.patches[path] = f"diff a/{path} b/{path}\nold mode {_mode(exec_a)}\nnew mode {_mode(exec_b)}\n"
        elif kind_a == kind_b == FILE:
            # A chunked file is large by definition: reported as changed, not diffed.
            old = None if chunks_a else _text(store, id_a)
            new = None if chunks_b else _text(store, id_b)
            if old is None or new is None:
                result.patches[path] = f"Binary or large files a/{path} and b/{path} differ\n"
            else:
                result.patches[path] = "".join(difflib.unified_diff(old, new, f"a/{path}", f"b/{path}"))
        else:
            result.patches[path] = f"{path}: {_describe(kind_a, target_a)} -> {_describe(kind_b, target_b)}\n"
    return result


def _mode(executable: bool) -> str:
    return "100755" if executable else "100644"  # as git shows a mode change


def _describe(kind: str, target: str | None) -> str:
    return f"symlink -> {target}" if kind == SYMLINK else kind


def diff_runs(store: ObjectStore, a: RunView, b: RunView) -> RunDiff:
    return RunDiff(a.id, b.id, _changes(a.run_config.values, b.run_config.values), _changes(a.summary, b.summary),
                   diff_code(store, a, b))
