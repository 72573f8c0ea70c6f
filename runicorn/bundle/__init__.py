"""Export bundles: one self-contained tar file with runs and exactly the objects they reference.

Format (docs/format.md, section 10): an uncompressed POSIX tar whose first
member is ``runicorn-bundle.json`` (format, version, the runs), then the run
folders' files under ``runs/<path>/<id>/``, then ``objects/ab/<62 hex>``.
``export`` writes one; ``importer`` merges one into a storage root, treating it
as hostile.
"""

from .export import ExportPlan, export_runs, export_to_stream, plan_export
from .format import BUNDLE_FORMAT, BUNDLE_VERSION, HEADER_NAME, BundleReport
from .importer import import_bundle

__all__ = ["BUNDLE_FORMAT", "BUNDLE_VERSION", "BundleReport", "ExportPlan", "HEADER_NAME", "export_runs", "export_to_stream",
           "import_bundle", "plan_export"]
