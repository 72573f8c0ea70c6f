"""W6: store operations through the command line, on the storage root W3 left behind.

Timed per command, process start-up included, as a user would see it:
du, rm of the first half of the runs, gc --dry-run, gc, export of the other
half, import of that bundle into an empty root, restore --outputs of one
imported run, verify of the source root. Each side speaks its own CLI dialect; a command the peer has no
equivalent for is reported as "n/a", a failing command as "error: ...".
"""

import json
import subprocess
import sys
from pathlib import Path

from common import Params, Report, disk_bytes, run_phases, stopwatch


class OursCli:
    """`runicorn [--storage DIR] COMMAND`, SPEC §5."""

    bundle_name = "runs.bundle"

    def du(self, root):
        return ["--storage", root, "du", "--json"]

    def rm(self, root, run_ids):
        return ["--storage", root, "rm", *run_ids, "--yes"]

    def gc(self, root, dry_run):
        # Grace 0s: the runs were archived seconds ago, the default hour would keep everything.
        return ["--storage", root, "gc", *(["--dry-run"] if dry_run else []), "--grace", "0s", "--json"]

    def export(self, root, run_ids, bundle):
        return ["--storage", root, "export", *run_ids, "-o", bundle]

    def import_bundle(self, root, bundle):
        return ["--storage", root, "import", bundle]

    def restore_outputs(self, root, run_id, target):
        return ["--storage", root, "restore", run_id, "--outputs", "--to", target]

    def verify(self, root):
        return ["--storage", root, "verify", "--json"]


class PeerCli:
    """runicorn 0.7.2: no du, gc, restore or verify; `delete` also removes orphaned assets."""

    bundle_name = "runs.tar.gz"  # its export only writes .tar.gz

    def du(self, root):
        return None

    def rm(self, root, run_ids):
        return ["delete", "--storage", root, *_repeat("--run-id", run_ids), "--force"]

    def gc(self, root, dry_run):
        return None

    def export(self, root, run_ids, bundle):
        return ["export", "--storage", root, *_repeat("--run-id", run_ids), "--out", bundle]

    def import_bundle(self, root, bundle):
        return ["import", "--storage", root, "--archive", bundle]

    def restore_outputs(self, root, run_id, target):
        return None

    def verify(self, root):
        return None


def store_operations(params: Params, report: Report) -> None:
    cli = OursCli() if params.side == "ours" else PeerCli()
    source = Path(params.w3_workdir)
    run_ids = json.loads((source / "run_ids.json").read_text())
    removed, kept = run_ids[: len(run_ids) // 2], run_ids[len(run_ids) // 2 :]
    root = str(source / "root")
    work = Path(params.workdir)
    bundle, imported, restored = work / cli.bundle_name, work / "imported_root", work / "restored"

    run_command(report, "du", cli.du(root))
    before_rm = disk_bytes(Path(root))
    removed_ok = run_command(report, f"rm {len(removed)} runs", cli.rm(root, removed))
    run_command(report, "gc --dry-run", cli.gc(root, dry_run=True))
    run_command(report, "gc", cli.gc(root, dry_run=False))
    report_size(report, "bytes freed by rm + gc", removed_ok, lambda: before_rm - disk_bytes(Path(root)))
    exported = run_command(report, f"export {len(kept)} runs", cli.export(root, kept, str(bundle)))
    report_size(report, "bundle size", exported, lambda: bundle.stat().st_size)
    import_args = cli.import_bundle(str(imported), str(bundle))
    imported_ok = run_command(report, "import into an empty root", import_args)
    report_size(report, "bytes in the imported root", imported_ok, lambda: disk_bytes(imported))
    # Restoring from the imported root checks that the bundle carried the run's outputs.
    restore = cli.restore_outputs(str(imported), kept[-1], str(restored))
    restored_ok = run_command(report, "restore --outputs from the imported root", restore)
    report_size(report, "bytes restored", restored_ok, lambda: disk_bytes(restored))
    run_command(report, "verify", cli.verify(root))


def report_size(report: Report, name: str, measurable: bool, measure) -> None:
    """Report a size that only means something when the command before it succeeded."""
    report.add(name, measure() if measurable else "—", "bytes")


def run_command(report: Report, label: str, args: list[str] | None) -> bool:
    """Run `runicorn ARGS` from this interpreter's venv; report its time, "n/a" or the error."""
    if args is None:
        report.add(label, "n/a")
        return False
    cli = Path(sys.executable).parent / "runicorn"
    if not cli.exists():
        report.add(label, f"error: no runicorn command next to {sys.executable}")
        return False
    with stopwatch() as watch:
        done = subprocess.run([str(cli), *args], stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if done.returncode != 0:
        lines = (done.stderr.strip() or done.stdout.strip() or f"exit code {done.returncode}").splitlines()
        report.add(label, f"error: {lines[-1]}")
        return False
    report.add(label, watch.seconds, "s")
    return True


def _repeat(flag: str, values: list[str]) -> list[str]:
    return [item for value in values for item in (flag, value)]


if __name__ == "__main__":
    run_phases({"main": store_operations})
