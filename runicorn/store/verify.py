"""Verify: re-hash every object and check that every reference resolves.

Roots are labelled (a run id, say) so that damage is reported with the roots
that need the damaged object.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping

from ..errors import CorruptObject, StoreError, UnsupportedFormat
from .gc import Root
from .ids import ObjectId
from .objects import ObjectStore
from .trees import tree_children


@dataclass
class VerifyReport:
    objects_checked: int = 0
    bytes_checked: int = 0
    corrupt: list[ObjectId] = field(default_factory=list)
    missing: list[ObjectId] = field(default_factory=list)
    foreign_files: list[str] = field(default_factory=list)
    needed_by: dict[ObjectId, list[str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.corrupt and not self.missing


def verify(store: ObjectStore, roots: Mapping[str, Iterable[Root]],
           progress: Callable[[int], None] | None = None) -> VerifyReport:
    """Check the whole store; ``roots`` maps a label (e.g. a run id) to its roots."""
    report = VerifyReport()
    for obj in store.iter_objects():
        try:
            actual = store.verify_object(obj.id)
        except FileNotFoundError:
            continue  # removed by a concurrent gc while we listed
        report.objects_checked += 1
        report.bytes_checked += obj.size
        if actual is not None:
            report.corrupt.append(obj.id)
        if progress is not None:
            progress(obj.size)
    report.foreign_files = _foreign_files(store)
    bad = set(report.corrupt)
    not_trees: set[ObjectId] = set()  # hash right but do not parse: bad only where named as a tree
    children_cache: dict[ObjectId, list[tuple[ObjectId, bool]] | None] = {}
    missing: set[ObjectId] = set()
    for label, label_roots in roots.items():
        # Seen as (id, is_tree): a blob reference to a tree's bytes does not reach its children.
        seen: set[tuple[ObjectId, bool]] = set()
        stack = [(r.id, r.is_tree) for r in label_roots]
        while stack:
            item = stack.pop()
            if item in seen:
                continue
            seen.add(item)
            oid, is_tree = item
            if oid not in bad and oid not in missing and not store.has(oid):
                missing.add(oid)
            if oid in bad or oid in missing:
                _needed_by(report, oid, label)
                continue
            if is_tree:
                children = _children(store, oid, children_cache)
                if children is not None:
                    stack.extend(children)
                else:
                    not_trees.add(oid)
                    _needed_by(report, oid, label)
    report.missing = sorted(missing)
    report.corrupt = sorted(bad | not_trees)
    return report


def _needed_by(report: VerifyReport, oid: ObjectId, label: str) -> None:
    labels = report.needed_by.setdefault(oid, [])
    if label not in labels:  # named both as a blob and as a tree by one label
        labels.append(label)


def _children(store, oid, cache):
    if oid not in cache:
        try:
            cache[oid] = list(tree_children(store, oid))
        except (CorruptObject, UnsupportedFormat, StoreError):
            cache[oid] = None  # hashes right but does not parse as a tree: a wrong reference
    return cache[oid]


def _foreign_files(store: ObjectStore) -> list[str]:
    """Entries under objects/ that are not objects: misnamed, at the wrong depth, or not regular files."""
    foreign = []
    for dirpath, dirnames, filenames in os.walk(store.objects_dir):
        at_fanout = os.path.dirname(dirpath) == str(store.objects_dir)
        prefix = os.path.basename(dirpath)
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            path = os.path.join(dirpath, name)
            try:
                ObjectId(prefix + name)
                named_like_object = at_fanout and len(prefix) == 2
            except ValueError:
                named_like_object = False
            try:
                regular = stat.S_ISREG(os.lstat(path).st_mode)
            except FileNotFoundError:
                continue  # trashed by a concurrent gc
            if not named_like_object or not regular:
                foreign.append(os.path.relpath(path, store.root))
    return sorted(foreign)
