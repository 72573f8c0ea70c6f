"""Verify: re-hash every object and check that every reference resolves.

Roots are labelled (a run id, say) so that damage is reported with the roots
that need the damaged object. Reachability is the one walk of ``reach``.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from typing import Iterable, Mapping

from .ids import ObjectId
from .objects import ObjectStore
from .progress import NO_PROGRESS, Progress
from .reach import Listing, Ref, Walker


@dataclass
class VerifyReport:
    objects_checked: int = 0
    bytes_checked: int = 0
    corrupt: list[ObjectId] = field(default_factory=list)  # bytes that do not hash to the id, trees that do not parse
    missing: list[ObjectId] = field(default_factory=list)
    unreadable: dict[ObjectId, str] = field(default_factory=dict)  # objects that could not be read at all, and why
    in_trash: list[ObjectId] = field(default_factory=list)  # referenced, in the trash: the next read takes them back
    foreign_files: list[str] = field(default_factory=list)
    needed_by: dict[ObjectId, list[str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.corrupt and not self.missing and not self.unreadable


def verify(store: ObjectStore, roots: Mapping[str, Iterable[Ref]], progress: Progress = NO_PROGRESS) -> VerifyReport:
    """Check the whole store; ``roots`` maps a label (e.g. a run id) to its references.

    ``progress`` counts the bytes hashed, out of the bytes listed.
    """
    report = VerifyReport()
    listing = Listing(store)
    progress.start(listing.object_bytes, "bytes")
    for obj in listing.objects.values():
        try:
            actual = store.verify_object(obj.id)
        except FileNotFoundError:
            continue  # removed by a concurrent gc while we listed
        except OSError as exc:
            report.unreadable[obj.id] = exc.strerror or str(exc)
            actual = None
        report.objects_checked += 1
        report.bytes_checked += obj.size
        if actual is not None:
            report.corrupt.append(obj.id)
        progress.advance(obj.size)
    report.foreign_files = _foreign_files(store)
    bad = set(report.corrupt) | set(report.unreadable)
    walker = Walker(store, listing)
    missing: set[ObjectId] = set()
    damaged: dict[ObjectId, str] = {}
    unreadable: set[ObjectId] = set()
    trashed: set[ObjectId] = set()
    for label, label_roots in roots.items():
        reach = walker.walk(label_roots)
        for oid in sorted(reach.missing | set(reach.damaged) | (reach.reached & bad)):
            _needed_by(report, oid, label)
        missing |= reach.missing
        damaged.update(reach.damaged)
        unreadable |= reach.unreadable
        trashed |= reach.trashed
    for oid, why in damaged.items():
        if oid in bad:
            continue
        if oid in unreadable:
            report.unreadable[oid] = why
        else:
            report.corrupt.append(oid)  # a tree that does not parse: a wrong reference or damaged bytes
    report.missing = sorted(missing)
    report.corrupt = sorted(set(report.corrupt))
    report.in_trash = sorted(trashed)
    return report


def _needed_by(report: VerifyReport, oid: ObjectId, label: str) -> None:
    labels = report.needed_by.setdefault(oid, [])
    if label not in labels:
        labels.append(label)


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
