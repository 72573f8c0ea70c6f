"""Code snapshots: restore byte for byte, what is never taken, incremental cost, size limits, git metadata."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

import runicorn as rn
from runicorn.sdk.snapshot import MAX_FILE_BYTES, snapshot_workspace
from runicorn.store import materialize_blob, materialize_tree

from assets_support import (Exec, Link, backdate, bare, folder_contents, make_files, manifest_entries, object_bytes,
                            store_of, tree_files, view)


def snapshot_run(workspace: Path, **kwargs):
    with rn.init(path="snap", snapshot_code=True, workspace_root=str(workspace), **kwargs) as run:
        pass
    return run


def code_entry(run) -> dict:
    [entry] = manifest_entries(run, "code")
    return entry


def content_reads(reads) -> list[str]:
    """Files read since the last call, leaving out the ignore files every snapshot must consult."""
    return [p for p in reads.take() if Path(p).name not in (".gitignore", ".rnignore")]


def code_paths(run, storage) -> set[str]:
    return set(tree_files(store_of(storage), code_entry(run)["id"]))


# -- restore ------------------------------------------------------------------------


def test_restore_is_byte_exact_with_exec_bits_links_and_empty_folders(tmp_path, storage):
    rng = __import__("random").Random(7)
    workspace = make_files(tmp_path / "ws", {
        "train.py": "print('hello')\n",
        "run.sh": Exec("#!/bin/sh\nexec python train.py\n"),
        "bin/tool": Exec(bytes(range(256))),
        "empty.txt": b"",
        "data/blob.dat": rng.randbytes(3 * (1 << 20) // 2),  # crosses a 1 MiB chunk
        "data/crlf.txt": b"a\r\nb\r\n",
        "ünï cödé/ファイル.py": "x = 1\n",
        "link.py": Link("train.py"),
        "data/up": Link("../bin/tool"),
    })
    (workspace / "empty-folder").mkdir()
    (workspace / "data" / "blob.dat").chmod(0o600)

    run = snapshot_run(workspace)
    target = tmp_path / "restored"
    materialize_tree(store_of(storage), bare(code_entry(run)["id"]), target)

    assert folder_contents(target) == folder_contents(workspace)
    entry = code_entry(run)
    assert entry["files"] == 7 and entry["workspace"] == str(workspace.resolve())
    assert entry["bytes"] == sum(p.stat().st_size for p in workspace.rglob("*") if p.is_file() and not p.is_symlink())


def test_restore_of_a_git_workspace_gives_back_what_git_lists(git_repo, tmp_path, storage):
    repo = git_repo().write({".gitignore": "*.ckpt\n", "a.py": "a", "tools/go": Exec("#!/bin/sh\n"),
                             "w.ckpt": b"\0" * 100})
    repo.commit()
    run = snapshot_run(repo.root)
    target = tmp_path / "restored"
    materialize_tree(store_of(storage), bare(code_entry(run)["id"]), target)
    restored = {p: c for p, c in folder_contents(target).items() if c[0] != "dir"}
    assert set(restored) == repo.ls_files()
    assert restored["tools/go"] == ("file", b"#!/bin/sh\n", True)
    assert restored["a.py"] == ("file", b"a", False)


# -- what is never taken ------------------------------------------------------------------


def test_storage_root_inside_the_workspace_is_never_snapshotted(tmp_path, monkeypatch):
    workspace = make_files(tmp_path / "ws", {"train.py": "x"})
    monkeypatch.chdir(workspace)
    monkeypatch.delenv("RUNICORN_DIR")  # the default: ./.runicorn, inside the workspace
    first = snapshot_run(workspace)
    second = snapshot_run(workspace)  # now the store is full of objects inside the workspace
    default_storage = workspace / ".runicorn"
    assert first.storage_root == default_storage
    assert code_paths(first, default_storage) == code_paths(second, default_storage) == {"train.py"}


def test_storage_root_with_an_ordinary_name_inside_the_workspace_is_excluded(tmp_path):
    workspace = make_files(tmp_path / "ws", {"train.py": "x", "experiments/notes.md": "n"})
    storage = workspace / "experiments" / "runs"
    snapshot_run(workspace, storage=str(storage))
    run = snapshot_run(workspace, storage=str(storage))
    assert code_paths(run, storage) == {"train.py", "experiments/notes.md"}


def test_builtin_excludes(git_repo, storage):
    repo = git_repo().write({
        "train.py": "x",
        ".env": "API_KEY=not-for-the-snapshot",
        "sub/.env": "API_KEY=nor-this",
        "__pycache__/train.cpython-311.pyc": b"\0",
        "pkg/__pycache__/m.cpython-311.pyc": b"\0",
        "pkg/m.py": "y",
        "venv/pyvenv.cfg": "home = /usr/bin\n",
        "venv/lib/site.py": "z",
        "oddly-named-env/pyvenv.cfg": "home = /usr/bin\n",
        "oddly-named-env/bin/python": Exec("elf"),
        "conda/conda-meta/history": "h",
        "conda/lib/x.py": "c",
        "vendored/.git/HEAD": "ref: refs/heads/main\n",  # looks like a nested repository
        "vendored/lib.py": "v",
        ".envrc": "kept: only .env itself is excluded",
        "env.py": "kept",
    })
    run = snapshot_run(repo.root)
    assert code_paths(run, storage) == {"train.py", "pkg/m.py", ".envrc", "env.py"}
    # git itself would list most of them: these are Runicorn's own rules
    assert {".env", "pkg/__pycache__/m.cpython-311.pyc", "venv/lib/site.py"} <= repo.ls_files()


def test_rnignore_has_gitignore_syntax_and_comes_after_gitignore(git_repo, storage):
    repo = git_repo().write({
        ".gitignore": "*.log\n",
        ".rnignore": "# large things git tracks but a snapshot does not need\ndata/\n*.ckpt\n!keep.ckpt\n"
                     "/notebooks/**/*.ipynb\n!important.log\n",
        "train.py": "x", "data/train.csv": "d", "a.ckpt": "c", "keep.ckpt": "k", "sub/b.ckpt": "c",
        "notebooks/x/explore.ipynb": "{}", "notebooks/readme.md": "r", "debug.log": "l", "important.log": "i",
        "sub/.rnignore": "/local.txt\n", "sub/local.txt": "l", "sub/deeper/local.txt": "l",
    })
    run = snapshot_run(repo.root)
    assert code_paths(run, storage) == {
        ".gitignore", ".rnignore", "train.py", "keep.ckpt", "notebooks/readme.md", "important.log",
        "sub/.rnignore", "sub/deeper/local.txt",
    }


def test_rnignore_leaves_out_files_git_tracks(git_repo, storage):
    repo = git_repo().write({"train.py": "x", "big/weights.bin": "w", "notes.txt": "n", "keep/me.txt": "k"})
    repo.commit()
    repo.write({".gitignore": "notes.txt\n", ".rnignore": "big/\n*.txt\n!keep/me.txt\n"})
    run = snapshot_run(repo.root)
    # git still lists the tracked notes.txt (ignored after the commit) and big/: .rnignore wins for snapshots
    assert {"notes.txt", "big/weights.bin"} <= repo.ls_files()
    assert code_paths(run, storage) == {".gitignore", ".rnignore", "train.py", "keep/me.txt"}


def test_non_git_folders_get_gitignore_and_rnignore_rules(tmp_path, storage):
    workspace = make_files(tmp_path / "plain", {
        ".gitignore": "*.log\nbuild/\n!keep.log\n",
        ".rnignore": "*.ckpt\n",
        "a.py": "a", "x.log": "l", "keep.log": "k", "build/o": "o", "w.ckpt": "c",
        "sub/.gitignore": "/only-here.txt\n", "sub/only-here.txt": "x", "sub/deep/only-here.txt": "x",
    })
    run = snapshot_run(workspace)
    assert code_paths(run, storage) == {".gitignore", ".rnignore", "a.py", "keep.log", "sub/.gitignore",
                                        "sub/deep/only-here.txt"}
    assert json.loads((run.run_dir / "run.json").read_text())["git"] is None
    assert manifest_entries(run, "code_diff") == []


# -- incremental cost -----------------------------------------------------------------------


def test_unchanged_workspace_adds_no_bytes_and_reads_no_file(tmp_path, storage, reads):
    workspace = make_files(tmp_path / "ws", {f"pkg{i // 10}/mod{i}.py": f"value = {i}\n" * 50 for i in range(40)})
    make_files(workspace, {".gitignore": "*.log\n", "big.dat": os.urandom(300_000), "run.sh": Exec("#!/bin/sh")})
    backdate(workspace)
    reads.watch(workspace)

    first = snapshot_run(workspace)
    assert len(content_reads(reads)) == 42  # the positive control: the first run read every file once
    before = object_bytes(storage)

    second = snapshot_run(workspace)

    assert object_bytes(storage) == before
    assert content_reads(reads) == []
    assert code_entry(second)["id"] == code_entry(first)["id"]


def test_unchanged_workspace_hashes_zero_bytes_and_an_edit_reads_only_that_file(tmp_path, storage, reads):
    workspace = make_files(tmp_path / "ws", {f"m{i}.py": f"{i}\n" * 100 for i in range(20)})
    backdate(workspace)
    store = store_of(storage)
    first = snapshot_workspace(store, workspace, storage_root=storage)
    assert first.hashed_bytes == first.bytes > 0

    again = snapshot_workspace(store, workspace, storage_root=storage)
    assert again.hashed_bytes == 0 and again.tree_id == first.tree_id

    (workspace / "m3.py").write_text("edited\n")
    backdate(workspace / "m3.py", seconds=5)
    reads.watch(workspace)
    before = object_bytes(storage)
    edited = snapshot_workspace(store, workspace, storage_root=storage)
    assert content_reads(reads) == [str(workspace / "m3.py")]
    assert edited.hashed_bytes == len("edited\n")
    assert object_bytes(storage) - before == len("edited\n") + store.size(edited.tree_id)


def test_a_file_written_within_the_racy_window_is_hashed_again(tmp_path, storage):
    """Fresh mtimes are not trusted: the stat cache must not record them (git's racy-clean rule)."""
    workspace = make_files(tmp_path / "ws", {"fresh.py": "x = 1\n"})
    future = time.time_ns() + 3600 * 10**9 + 500_000_000  # not older than the racy window, however slow the test
    os.utime(workspace / "fresh.py", ns=(future, future))
    store = store_of(storage)
    snapshot_workspace(store, workspace, storage_root=storage)
    again = snapshot_workspace(store, workspace, storage_root=storage)
    assert again.hashed_bytes == len("x = 1\n")


# -- size limits ---------------------------------------------------------------------------------


def test_files_over_the_size_limit_are_skipped_with_a_warning_naming_them(tmp_path, storage):
    workspace = make_files(tmp_path / "ws", {"train.py": "x"})
    with open(workspace / "blob.dat", "wb") as handle:
        handle.truncate(MAX_FILE_BYTES + 1)  # sparse: cheap to make
    with pytest.warns(UserWarning, match=r"blob\.dat.*force_snapshot=True"):
        run = snapshot_run(workspace)
    assert code_paths(run, storage) == {"train.py"}
    assert any("blob.dat" in item for item in code_entry(run)["skipped"])
    assert object_bytes(storage) < MAX_FILE_BYTES


def test_force_snapshot_takes_files_over_the_limit(tmp_path, storage, recwarn):
    workspace = make_files(tmp_path / "ws", {"train.py": "x"})
    with open(workspace / "blob.dat", "wb") as handle:
        handle.truncate(MAX_FILE_BYTES + 1)
    run = snapshot_run(workspace, force_snapshot=True)
    files = tree_files(store_of(storage), code_entry(run)["id"])
    assert set(files) == {"train.py", "blob.dat"} and files["blob.dat"].size == MAX_FILE_BYTES + 1
    assert not [w for w in recwarn if "blob.dat" in str(w.message)]


def test_total_size_limit_and_per_file_limit(tmp_path, storage):
    workspace = make_files(tmp_path / "ws", {"a.txt": b"a" * 400, "b.txt": b"b" * 400, "c.txt": b"c" * 900})
    store = store_of(storage)
    with pytest.warns(UserWarning) as caught:
        snapshot = snapshot_workspace(store, workspace, storage_root=storage, max_file_bytes=800,
                                      max_total_bytes=700)
    assert {p for p, e in tree_files(store, snapshot.tree_id).items()} == {"a.txt"}
    message = str(caught[0].message)
    assert "b.txt" in message and "c.txt" in message
    forced = snapshot_workspace(store, workspace, storage_root=storage, max_file_bytes=800, max_total_bytes=700,
                                force=True)
    assert set(tree_files(store, forced.tree_id)) == {"a.txt", "b.txt", "c.txt"}


def test_a_workspace_that_is_not_a_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="workspace_root"):
        rn.init(path="snap", snapshot_code=True, workspace_root=str(tmp_path / "missing"))


# -- git metadata ---------------------------------------------------------------------------------


def test_clean_git_workspace_records_commit_branch_and_no_diff(git_repo, storage):
    repo = git_repo().write({"train.py": "lr = 0.1\n"})
    commit = repo.commit()
    repo.git("checkout", "-q", "-b", "feature/x")
    run = snapshot_run(repo.root)
    identity = json.loads((run.run_dir / "run.json").read_text())
    assert identity["git"] == {"commit": commit, "branch": "feature/x", "dirty": False}
    assert manifest_entries(run, "code_diff") == []


def test_dirty_git_workspace_records_the_diff_against_head(git_repo, storage, tmp_path):
    repo = git_repo().write({"train.py": "lr = 0.1\n", "model.bin": b"\0\1\2"})
    commit = repo.commit()
    repo.write({"train.py": "lr = 0.2\n", "model.bin": b"\0\1\3"})
    run = snapshot_run(repo.root)

    identity = json.loads((run.run_dir / "run.json").read_text())
    assert identity["git"] == {"commit": commit, "branch": "main", "dirty": True}
    [diff] = manifest_entries(run, "code_diff")
    assert diff["type"] == "blob"
    materialize_blob(store_of(storage), bare(diff["id"]), tmp_path / "diff.patch")
    patch = (tmp_path / "diff.patch").read_bytes()
    assert patch == repo.git("diff", "--binary", "HEAD")
    assert b"-lr = 0.1\n+lr = 0.2\n" in patch and b"GIT binary patch" in patch
    # the diff applies to the commit and gives back the snapshot's bytes
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(repo.root), str(clone)], check=True)
    subprocess.run(["git", "-C", str(clone), "apply", str(tmp_path / "diff.patch")], check=True)
    assert (clone / "model.bin").read_bytes() == b"\0\1\3"


def test_git_metadata_without_a_snapshot_and_no_remote_credentials(git_repo, storage):
    repo = git_repo().write({"train.py": "x"})
    commit = repo.commit()
    repo.git("remote", "add", "origin", "https://alice:ghp_SECRETTOKEN123@example.com/alice/repo.git")
    with rn.init(path="nosnap", workspace_root=str(repo.root)) as run:
        pass
    assert json.loads((run.run_dir / "run.json").read_text())["git"]["commit"] == commit
    assert manifest_entries(run, "code") == []
    for path in Path(storage).rglob("*"):
        if path.is_file():
            assert b"SECRETTOKEN" not in path.read_bytes(), path


def test_snapshot_of_a_workspace_below_the_repository_top_records_git(git_repo, storage):
    repo = git_repo().write({"sub/a.py": "a", "other.py": "o"})
    commit = repo.commit()
    run = snapshot_run(repo.root / "sub")
    assert code_paths(run, storage) == {"a.py"}
    assert json.loads((run.run_dir / "run.json").read_text())["git"]["commit"] == commit
    assert view(run).manifest()[0]["workspace"] == str((repo.root / "sub").resolve())


def test_names_the_tree_format_cannot_hold_are_skipped_with_a_warning(tmp_path, storage):
    workspace = make_files(tmp_path / "ws", {"ok.py": "x"})
    with open(os.path.join(os.fsencode(workspace), b"caf\xe9.py"), "wb") as handle:  # Latin-1, not UTF-8
        handle.write(b"x")
    os.mkfifo(workspace / "a-fifo")
    with pytest.warns(UserWarning, match=r"caf\\udce9\.py.*not valid UTF-8") as caught:
        run = snapshot_run(workspace)
    assert any("a-fifo" in str(w.message) for w in caught)
    assert code_paths(run, storage) == {"ok.py"}
    assert len(code_entry(run)["skipped"]) == 2
