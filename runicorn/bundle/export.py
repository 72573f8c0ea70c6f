"""Export: plan the runs and every object they reach, then stream them into one tar file.

The plan walks the runs' references with the store's one walk and refuses
runs that are damaged or whose references are broken (the bundle would not
restore). The bundle is written under an owner-tagged temp name beside its
final name, fsynced, and renamed into place, with the folder fsynced after.
"""

from __future__ import annotations

import io
import os
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

from .._version import __version__
from ..api import Api, RunView
from ..errors import BundleError
from ..store import NO_PROGRESS, ObjectId, Progress, ProgressReader, TempFile, Walker, stale_temp_files
from .format import HEADER_NAME, BundleReport, add_stream, header_bytes, object_member, run_member


@dataclass
class ExportPlan:
    """What an export will write: the runs and every object they reach, with the bytes (for a progress bar)."""

    views: list[RunView]
    sizes: dict[ObjectId, int]  # every object to write, in id order, with its size

    @property
    def live(self) -> list[str]:
        """Runs still being written: the bundle holds them as they are now."""
        return [v.id for v in self.views if v.status == "running"]

    @property
    def object_bytes(self) -> int:
        return sum(self.sizes.values())


def plan_export(api: Api, views: list[RunView]) -> ExportPlan:
    """Select the objects of ``views``; refuse damaged runs and broken references."""
    if not views:
        raise BundleError("nothing to export: no runs selected")
    views = list({str(v.run_dir): v for v in views}.values())  # a run named twice is exported once
    for view in views:
        problems = view.check()
        if problems:  # a bundle of it would be refused by import: say so now
            raise BundleError(f"run {view.id} is damaged ({problems[0]}); repair or remove it before exporting")
    walker = Walker(api.store)
    reach = walker.walk([ref for view in views for ref in view.roots()])
    if reach.missing:
        raise BundleError(f"the selected runs reference {len(reach.missing)} missing objects (first: "
                          f"{min(reach.missing)}); run `runicorn verify` to see the damage before exporting")
    if reach.damaged:
        first = min(reach.damaged)
        raise BundleError(f"the selected runs reference {len(reach.damaged)} unreadable objects (first: {first}: "
                          f"{reach.damaged[first]}); run `runicorn verify` to see the damage before exporting")
    return ExportPlan(views, {oid: walker.size(oid) for oid in sorted(reach.reached)})


class _CountingWriter:
    """A binary stream that counts what passes through it: a pipe cannot be measured afterwards."""

    def __init__(self, stream):
        self._stream = stream
        self.count = 0

    def write(self, data) -> int:
        self._stream.write(data)
        self.count += len(data)
        return len(data)

    def flush(self) -> None:
        self._stream.flush()


def export_to_stream(api: Api, plan: ExportPlan, stream, progress: Progress = NO_PROGRESS) -> BundleReport:
    """Write the bundle to an open binary stream (``export -o -``: stdout, to pipe through ssh)."""
    counted = _CountingWriter(stream)
    report = _write_bundle(api, plan, counted, progress)
    report.bundle_bytes = counted.count
    return report


def export_runs(api: Api, plan: ExportPlan, out_path: str | os.PathLike,
                progress: Progress = NO_PROGRESS) -> BundleReport:
    """Write the plan's runs and objects to ``out_path``; ``progress`` counts object bytes."""
    out_path = Path(out_path)
    folder = out_path.parent
    if not folder.is_dir():
        raise BundleError(f"cannot write {out_path}: folder {folder} does not exist; create it or choose another path")
    for litter in stale_temp_files(folder, time.time(), stem=out_path.name + "."):
        os.unlink(litter)  # what an earlier, killed export of this bundle left
    with TempFile(folder, out_path.name + ".", 0o644) as temp:
        with open(temp.fd, "wb", closefd=False) as handle:
            report = _write_bundle(api, plan, handle, progress)
        temp.replace(out_path)
    report.bundle_bytes = out_path.stat().st_size
    return report


def _write_bundle(api: Api, plan: ExportPlan, handle, progress: Progress) -> BundleReport:
    store = api.store
    views = plan.views
    report = BundleReport(runs=[v.id for v in views])
    progress.start(plan.object_bytes, "bytes")
    with tarfile.open(fileobj=handle, mode="w|", format=tarfile.PAX_FORMAT) as tar:  # a stream: stdout too
        header = header_bytes([{"id": v.id, "path": v.path} for v in views], len(plan.sizes), time.time(),
                              __version__)
        add_stream(tar, HEADER_NAME, io.BytesIO(header), len(header), time.time())
        for view in views:
            for name in view.folder.present_files():
                with open(view.folder.file_path(name), "rb") as source:
                    st = os.fstat(source.fileno())
                    add_stream(tar, run_member(view.path, view.id, name), source, st.st_size, st.st_mtime)
        for oid, size in plan.sizes.items():
            with store.open(oid) as reader:
                add_stream(tar, object_member(oid), ProgressReader(reader, progress), size, time.time())
                reader.read(1)  # reach EOF: the reader verifies the hash there
            report.objects += 1
            report.object_bytes += size
    handle.flush()
    return report
