"""W2: code snapshot of a 3,000-file git workspace, cold, unchanged, and after a one-file edit.

Each phase is a separate process, like three runs of a training script:
"cold" builds the workspace and snapshots it into an empty storage root,
"unchanged" snapshots it again, "edited" appends a line to one file first.
The workspace ignores data/ (500 MiB that must not be read) and *.ckpt.
"""

import random
import subprocess
import zipfile
from pathlib import Path

import runicorn as rn
from common import (
    MiB, Params, Report, cached_input, disk_bytes, run_phases, storage_root, write_random_file,
)

SMALL_FILES = 2_993  # + 5 large files + 2 .gitignore files = 3,000 files in the snapshot
LARGE_FILE_SIZES = [1 * MiB, 2 * MiB, 3 * MiB, 4 * MiB, 5 * MiB]
DATA_SHARDS, DATA_SHARD_SIZE = 5, 100 * MiB
EDITED_FILE = "src/pkg_00/mod_0/file_0.py"


def cold(params: Params, report: Report) -> None:
    workspace = build_workspace(params)
    run = snapshot_run(params, report, "cold")
    report.add("file set vs git ls-files", compare_with_git(params.side, run, workspace))


def unchanged(params: Params, report: Report) -> None:
    snapshot_run(params, report, "unchanged")


def edited(params: Params, report: Report) -> None:
    with open(workspace_dir(params) / EDITED_FILE, "a") as f:
        f.write("# edited for the third run\n")
    snapshot_run(params, report, "one file edited")


def snapshot_run(params: Params, report: Report, label: str):
    """One run with snapshot_code=True: report init time and the bytes it added to the root."""
    root = storage_root(params)
    before = disk_bytes(root) if root.exists() else 0
    with report.timed(f"rn.init with snapshot, {label}"):
        run = rn.init(path="bench/w2", storage=str(root), snapshot_code=True,
                      workspace_root=str(workspace_dir(params)))
    run.finish()
    report.add(f"bytes added, {label}", disk_bytes(root) - before, "bytes")
    return run


def workspace_dir(params: Params) -> Path:
    return Path(params.workdir) / "workspace"


def build_workspace(params: Params) -> Path:
    """~30 MB of sources and docs in a committed git repo, plus ignored data and checkpoints."""
    ws = workspace_dir(params)
    rng = random.Random(2)
    ws.mkdir(parents=True)
    (ws / ".gitignore").write_text("__pycache__/\n*.pyc\n.venv/\ndata/\n*.ckpt\n")
    for i in range(SMALL_FILES):
        suffix = ".txt" if i % 3 == 2 else ".py"
        path = ws / "src" / f"pkg_{i // 100:02d}" / f"mod_{i // 10 % 10}" / f"file_{i % 10}{suffix}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(rng.randbytes(rng.randint(512, 4608)).hex())
    for n, size in enumerate(LARGE_FILE_SIZES):
        write_random_file(ws / "assets" / f"blob_{n}.bin", size, rng)
    # A nested .gitignore, so that a snapshot must apply git's per-folder semantics.
    (ws / "src" / "pkg_01" / ".gitignore").write_text("*.tmp\n")
    for n in range(3):
        write_random_file(ws / "src" / "pkg_01" / f"scratch_{n}.tmp", 4096, rng)
        write_random_file(ws / "checkpoints" / f"model_{n}.ckpt", 2 * MiB, rng)
    shards = cached_input(params, "w2-data", build_data_shards)
    (ws / "data").mkdir()
    for shard in shards.iterdir():
        (ws / "data" / shard.name).hardlink_to(shard)
    git = ["git", "-C", str(ws), "-c", "user.name=bench", "-c", "user.email=bench@localhost"]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "workspace"], check=True)
    return ws


def build_data_shards(target: Path) -> None:
    rng = random.Random(3)
    for n in range(DATA_SHARDS):
        write_random_file(target / f"shard_{n}.bin", DATA_SHARD_SIZE, rng)


def compare_with_git(side: str, run, workspace: Path) -> str:
    """Compare the snapshot's file set with `git ls-files -co --exclude-standard`."""
    stored = snapshot_file_set(side, run)
    if stored is None:
        return "n/a (read API does not expose the snapshot's files yet)"
    listed = subprocess.run(
        ["git", "-C", str(workspace), "ls-files", "-co", "--exclude-standard"],
        check=True, capture_output=True, text=True,
    ).stdout.splitlines()
    expected = set(listed)
    if stored == expected:
        return f"same ({len(stored):,} files)"
    extra, missing = sorted(stored - expected), sorted(expected - stored)
    example = f"e.g. +{extra[0]}" if extra else f"e.g. -{missing[0]}"
    return f"DIFFERS: {len(extra)} extra, {len(missing)} missing ({example})"


def snapshot_file_set(side: str, run) -> set[str] | None:
    """Relative paths of the files (and symlinks, which git lists too) the run's code snapshot holds.

    Ours: the code tree named by the run's manifest, read through the read API and the store.
    The peer stores a zip named code_snapshot.zip in the run folder.
    """
    if side == "ours":
        import runicorn as rn
        from runicorn.store import walk_tree

        api = rn.Api(run.storage_root)
        code = api.run(run.id).latest_asset("code")
        return {path for path, entry in walk_tree(api.store, code["id"]) if entry.kind != "dir"}
    with zipfile.ZipFile(Path(run.run_dir) / "code_snapshot.zip") as archive:
        return {name for name in archive.namelist() if not name.endswith("/")}


if __name__ == "__main__":
    run_phases({"cold": cold, "unchanged": unchanged, "edited": edited})
