"""Helpers for the asset tests: generated git repositories, folder specs, store accounting, read counting."""

from __future__ import annotations

import builtins
import io
import os
import stat
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import runicorn as rn
from runicorn.store import ObjectStore, walk_tree


# -- folders -----------------------------------------------------------------------


@dataclass(frozen=True)
class Exec:
    """A file with the owner-executable bit."""

    content: bytes | str = b""


@dataclass(frozen=True)
class Link:
    """A symlink (never followed)."""

    target: str


def _as_bytes(content: bytes | str) -> bytes:
    return content.encode("utf-8") if isinstance(content, str) else content


def make_files(root: Path, spec: dict) -> Path:
    """Create ``{relative path: bytes | str | Exec | Link}`` under ``root`` (folders as needed)."""
    root.mkdir(parents=True, exist_ok=True)
    for rel, content in spec.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Link):
            if os.path.lexists(path):
                path.unlink()
            os.symlink(content.target, path)
        elif isinstance(content, Exec):
            path.write_bytes(_as_bytes(content.content))
            path.chmod(0o755)
        else:
            path.write_bytes(_as_bytes(content))
            path.chmod(0o644)
    return root


def folder_contents(root: Path) -> dict:
    """``{relative path: ("file", bytes, executable) | ("link", target) | ("dir",)}`` for everything below ``root``."""
    found = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(folder, name)
            rel = os.path.relpath(path, root).replace(os.sep, "/")
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                found[rel] = ("link", os.readlink(path))
            elif stat.S_ISDIR(st.st_mode):
                found[rel] = ("dir",)
            else:
                found[rel] = ("file", Path(path).read_bytes(), bool(st.st_mode & stat.S_IXUSR))
    return found


def backdate(root: Path, seconds: int = 10) -> None:
    """Set every mtime below ``root`` (links themselves, not followed) ``seconds`` into the past.

    The stat cache trusts an mtime only when it was outside the racy window when
    the file was hashed; a sub-second part keeps it clear of the coarse-clock rule.
    """
    when = (time.time_ns() // 1_000_000_000 - seconds) * 1_000_000_000 + 500_000_000
    paths = [root] if not root.is_dir() or root.is_symlink() else []
    for folder, dirs, files in os.walk(root):
        paths.extend(Path(folder, name) for name in dirs + files)
    for path in paths:
        os.utime(path, ns=(when, when), follow_symlinks=False)


# -- git ---------------------------------------------------------------------------


class GitRepo:
    """A real git repository under ``root``, configured locally (the hermetic HOME has no git config)."""

    def __init__(self, root: Path, *, init: bool = True):
        self.root = Path(root)
        if not init:  # an existing work tree (a linked worktree, a clone)
            return
        self.root.mkdir(parents=True, exist_ok=True)
        self.git("init", "-q", "-b", "main")
        self.git("config", "user.name", "Runicorn Tests")
        self.git("config", "user.email", "tests@runicorn.invalid")
        self.git("config", "commit.gpgsign", "false")
        self.git("config", "core.autocrlf", "false")

    def git(self, *args: str, cwd: Path | None = None) -> bytes:
        done = subprocess.run(["git", "-C", str(cwd or self.root), *args], capture_output=True, check=False)
        if done.returncode != 0:
            raise AssertionError(f"git {' '.join(args)} failed: {done.stderr.decode(errors='replace')}")
        return done.stdout

    def write(self, spec: dict) -> "GitRepo":
        make_files(self.root, spec)
        return self

    def commit(self, message: str = "commit") -> str:
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)
        return self.git("rev-parse", "HEAD").decode().strip()

    def ls_files(self, cwd: Path | None = None) -> set[str]:
        """What git lists: ``git ls-files -z -co --exclude-standard`` (relative to ``cwd``, default the top).

        Git also lists tracked files deleted from the work tree; no test deletes one, since a snapshot
        can only take what is on disk.
        """
        out = self.git("ls-files", "-z", "-co", "--exclude-standard", cwd=cwd)
        return {os.fsdecode(name) for name in out.split(b"\0") if name}


# -- runs and the store ----------------------------------------------------------------


def store_of(storage: Path) -> ObjectStore:
    return ObjectStore(Path(storage) / "store")


def object_bytes(storage: Path) -> int:
    """Total bytes of every object file under ``store/objects``."""
    total = 0
    for folder, _, files in os.walk(Path(storage) / "store" / "objects"):
        total += sum(os.lstat(os.path.join(folder, name)).st_size for name in files)
    return total


def object_ids(storage: Path) -> set[str]:
    return {o.id for o in store_of(storage).iter_objects()}


def view(run) -> rn.RunView:
    """The read API's view of a run."""
    return rn.Api(run.storage_root).run(run.id)


def manifest_entries(run, role: str) -> list[dict]:
    return [entry for entry in view(run).manifest() if entry.get("role") == role]


def bare(tagged: str) -> str:
    assert tagged.startswith("blake3:"), tagged
    return tagged.split(":", 1)[1]


def tree_files(store: ObjectStore, tree_id: str) -> dict:
    """``{path: entry}`` of every file and symlink below a tree (folders left out)."""
    return {path: entry for path, entry in walk_tree(store, bare(tree_id) if ":" in tree_id else tree_id)
            if entry.kind != "dir"}


def tree_object_bytes(store: ObjectStore, tree_id: str) -> int:
    """Bytes of every distinct object a tree reaches, itself included: one stored copy of it."""
    tree_id = bare(tree_id) if ":" in tree_id else tree_id
    ids = {tree_id}
    for _, entry in walk_tree(store, tree_id):
        if entry.id is not None:
            ids.add(entry.id)
    return sum(store.size(oid) for oid in ids)


# -- reads -------------------------------------------------------------------------------


class ReadCounter:
    """Records every file opened for reading below the watched folders (``open``, ``io.open``, ``os.open``).

    Tests pair it with a positive control (a first run that must read), so a change in how
    the store reads files cannot make a "nothing was read" assertion pass vacuously.
    """

    def __init__(self, monkeypatch):
        self.roots: list[str] = []
        self.opened: list[str] = []
        real_open, real_os_open = builtins.open, os.open

        def counting_open(file, mode="r", *args, **kwargs):
            if isinstance(file, (str, bytes, os.PathLike)) and "r" in mode and "+" not in mode:
                self._note(file)
            return real_open(file, mode, *args, **kwargs)

        def counting_os_open(path, flags, *args, **kwargs):
            if flags & (os.O_WRONLY | os.O_RDWR) == 0:
                self._note(path)
            return real_os_open(path, flags, *args, **kwargs)

        monkeypatch.setattr(builtins, "open", counting_open)
        monkeypatch.setattr(io, "open", counting_open)  # pathlib opens through io.open
        monkeypatch.setattr(os, "open", counting_os_open)

    def watch(self, *roots: Path) -> "ReadCounter":
        self.roots.extend(os.path.realpath(r) for r in roots)
        return self

    def _note(self, file) -> None:
        path = os.path.realpath(os.fsdecode(file))
        if any(path.startswith(root + os.sep) for root in self.roots) and not os.path.isdir(path):
            self.opened.append(path)

    def take(self) -> list[str]:
        """The files read since the last call."""
        opened, self.opened = self.opened, []
        return opened
