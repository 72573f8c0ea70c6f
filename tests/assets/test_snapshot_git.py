"""The code snapshot takes exactly the files ``git ls-files -co --exclude-standard`` lists.

Every case builds a real repository, asks git, takes a snapshot through
``rn.init(snapshot_code=True)`` and compares git's list with the files and
symlinks of the ``code`` tree named by the run's manifest. None of the cases
uses a name Runicorn excludes on its own (``.git``, ``__pycache__``, ``.env``,
virtual environments, nested repositories): those are tested in test_snapshot.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import runicorn as rn
from runicorn.sdk.snapshot import snapshot_workspace
from runicorn.store import ObjectStore, walk_tree

from assets_support import Exec, GitRepo, Link, make_files, manifest_entries, store_of, tree_files


@dataclass
class Case:
    files: dict
    committed: dict = field(default_factory=dict)  # written and committed before ``files``
    setup: Callable[[GitRepo], None] | None = None  # after the files are written
    workspace: str = ""  # a sub-folder of the repository to snapshot, "" for its top


def _info_exclude(repo: GitRepo) -> None:
    (repo.root / ".git" / "info").mkdir(exist_ok=True)
    (repo.root / ".git" / "info" / "exclude").write_text("# local excludes\n*.secret\n/scratch/\n")


def _excludes_file(repo: GitRepo) -> None:
    path = repo.root.parent / "global-ignore"
    path.write_text("*.bak\n.idea/\n")
    repo.git("config", "core.excludesFile", str(path))


def _excludes_file_in_home(repo: GitRepo) -> None:
    (Path.home() / "my-ignores").write_text("*.swp\n")
    repo.git("config", "core.excludesFile", "~/my-ignores")


def _stage_without_commit(repo: GitRepo) -> None:
    repo.git("add", "--force", "staged.log", "a.py")


def _default_global_ignore(repo: GitRepo) -> None:
    folder = Path.home() / ".config" / "git"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ignore").write_text("*.orig\n")


CASES = {
    "nested gitignores": Case({
        ".gitignore": "*.log\n",
        "run.log": "x", "main.py": "x",
        "src/.gitignore": "*.tmp\n!important.tmp\n/local.txt\n",
        "src/a.tmp": "x", "src/important.tmp": "x", "src/local.txt": "x", "src/b.log": "x",
        "src/deep/local.txt": "x", "src/deep/c.tmp": "x",
        "src/deep/.gitignore": "!*.log\n",
        "src/deep/d.log": "x",
    }),
    "negation": Case({
        ".gitignore": "*.log\n!keep.log\n",
        "a.log": "x", "keep.log": "x", "sub/b.log": "x", "sub/keep.log": "x", "notes.txt": "x",
    }),
    "anchored pattern": Case({
        ".gitignore": "/build\n/docs/_site\n",
        "build/out.o": "x", "build2": "x", "sub/build/kept.o": "x", "docs/_site/index.html": "x",
        "docs/index.md": "x", "other/docs/_site/kept.html": "x",
    }),
    "directory-only pattern": Case({
        ".gitignore": "logs/\ncache/\n",
        "logs/a.txt": "x", "sub/logs/b.txt": "x", "other/logs": "a file, not a folder", "cache": "file",
        "logs.txt": "x",
    }),
    "double-star patterns": Case({
        ".gitignore": "**/tmp/*.txt\na/**/b\n",
        "tmp/x.txt": "x", "q/tmp/y.txt": "x", "q/tmp/deeper/y.txt": "x", "tmp/y.md": "x",
        "a/b": "x", "a/x/y/b": "x", "a/x/b/c": "x", "c/a/b": "x", "a/bb": "x",
    }),
    "trailing and leading double star": Case({
        ".gitignore": "vendor/**\n!vendor/README\n**/node_modules/\n",
        "vendor/README": "x", "vendor/lib/x.js": "x", "node_modules/y.js": "x", "web/node_modules/z.js": "x",
        "web/app.js": "x",
    }),
    "excluded folder, negated child stays excluded": Case({
        ".gitignore": "build/\n!build/keep.txt\ndist\n!dist/keep.txt\n",
        "build/keep.txt": "x", "build/o.o": "x", "dist/keep.txt": "x", "src/build/keep.txt": "x",
    }),
    "folder contents excluded, negated child re-included": Case({
        ".gitignore": "out/*\n!out/keep.txt\n",
        "out/keep.txt": "x", "out/drop.bin": "x", "out/sub/deep.txt": "x",
    }),
    "whitelist": Case({
        ".gitignore": "*\n!*/\n!*.py\n!.gitignore\n",
        "a.py": "x", "b.txt": "x", "src/c.py": "x", "src/d.txt": "x", "src/e/f.py": "x",
    }),
    "info/exclude": Case({"a.txt": "x", "b.secret": "x", "d/c.secret": "x", "scratch/n.txt": "x"},
                         setup=_info_exclude),
    "core.excludesFile": Case({"a.bak": "x", "b.txt": "x", ".idea/ws.xml": "x", "d/e.bak": "x"},
                              setup=_excludes_file),
    "core.excludesFile under ~": Case({"a.swp": "x", "b.txt": "x"}, setup=_excludes_file_in_home),
    "default global ignore file": Case({"a.orig": "x", "b.txt": "x"}, setup=_default_global_ignore),
    "tracked files that match a pattern": Case(
        committed={"tracked.log": "t", "vendor/lib.c": "t", "vendor/deep/x.h": "t", "src/a.py": "t"},
        files={".gitignore": "*.log\nvendor/\n", "new.log": "x", "vendor/untracked.c": "x",
               "vendor/deep/untracked.h": "x", "vendor/newdir/y.c": "x", "src/b.log": "x"},
    ),
    "unicode and spaces in names": Case({
        ".gitignore": "*.tmp\nmy notes.md\n!dátá/ñame with space.tmp\n",
        "dátá/ñame with space.tmp": "x", "dátá/other.tmp": "x", "日本語/ファイル.py": "x", "my notes.md": "x",
        "your notes.md": "x", "emoji 🦄.txt": "x", " leading space.txt": "x",
    }),
    "executable bits and symlinks": Case({
        ".gitignore": "ignored-link\ndir-link/\n*.o\n",
        "run.sh": Exec("#!/bin/sh\necho hi\n"), "lib/tool": Exec("bin"), "data.txt": "x",
        "link": Link("data.txt"), "ignored-link": Link("data.txt"), "dir-link": Link("lib"),
        "dangling": Link("does/not/exist"), "lib/up": Link("../data.txt"), "obj-link.o": Link("data.txt"),
    }),
    "backslash escapes": Case({
        ".gitignore": "\\#hash\n\\!bang\n\\*star\nsp\\ \n\\[x]\n",
        "#hash": "x", "!bang": "x", "*star": "x", "astar": "x", "sp ": "x", "sp": "x", "[x]": "x", "x": "x",
    }),
    "trailing spaces": Case({".gitignore": "a \nbc  \nd\t\n", "a": "x", "bc": "x", "d": "x", "d\t": "x"}),
    "byte order mark": Case({".gitignore": "\ufeff*.bom\n", "x.bom": "x", "y.txt": "x"}),
    "bracket expressions": Case({
        ".gitignore": "[[:digit:]]*.d\n[^q]z\n*.py[cod]\n[!a]*.md\n[[:upper:]][[:alpha:]]*.cfg\n",
        "1.d": "x", "q.d": "x", "qz": "x", "rz": "x", "m.pyc": "x", "m.py": "x", "a.md": "x", "b.md": "x",
        "Abc.cfg": "x", "abc.cfg": "x",
    }),
    "malformed patterns match nothing": Case({
        ".gitignore": "!\n\\\nbad\\\nx[b\n[[:nosuchclass:]]\n",
        "\\": "x", "bad\\": "x", "bad": "x", "x[b": "x", "n": "x",
    }),
    "bare double star": Case({
        "sub/.gitignore": "**\n", "sub/anything.txt": "x", "sub/deep/more.txt": "x",
        "other/.gitignore": "/**/\n!keep.txt\n", "other/keep.txt": "x", "other/d/keep.txt": "x", "top.txt": "x",
    }),
    "repository without commits, staged files": Case(
        {".gitignore": "*.log\n", "staged.log": "x", "other.log": "x", "a.py": "x", "b.py": "x"},
        setup=_stage_without_commit),
    "a .gitignore that is a symlink is not read": Case({
        "shared-rules": "*.log\n", ".gitignore": Link("shared-rules"), "sub/.gitignore": Link("../shared-rules"),
        "a.log": "x", "sub/b.log": "x", "c.txt": "x",
        "other/.gitignore": "*.tmp\n", "other/d.tmp": "x",
    }),
    "CRLF gitignore": Case({".gitignore": "*.log\r\nbuild/\r\n", "a.log": "x", "build/x": "x", "c.txt": "x"}),
    "nested gitignore inside an ignored folder has no effect": Case({
        ".gitignore": "private\n*.txt\n",
        "private/.gitignore": "!*\n", "private/a.txt": "x",
        "docs/.gitignore": "!*.txt\n", "docs/b.txt": "x", "c.txt": "x",
    }),
    "workspace below the top of the repository": Case(
        {".gitignore": "*.log\n/top-only\n", "sub/.gitignore": "*.tmp\n", "sub/a.log": "x", "sub/b.tmp": "x",
         "sub/c.py": "x", "sub/top-only": "x", "sub/deeper/d.log": "x", "outside.py": "x"},
        committed={"sub/tracked.log": "t"},
        workspace="sub",
    ),
}


def _snapshot_via_run(storage: Path, workspace: Path) -> set[str]:
    with rn.init(path="snap", snapshot_code=True, workspace_root=str(workspace)) as run:
        pass
    [code] = manifest_entries(run, "code")
    assert code["type"] == "tree"
    return set(tree_files(store_of(storage), code["id"]))


@pytest.mark.parametrize("name", list(CASES))
def test_snapshot_file_set_equals_git(name, git_repo, storage):
    case = CASES[name]
    repo = git_repo()
    if case.committed:
        repo.write(case.committed).commit("first")
    repo.write(case.files)
    if case.setup:
        case.setup(repo)
    workspace = repo.root / case.workspace if case.workspace else repo.root

    expected = repo.ls_files(cwd=workspace)
    got = _snapshot_via_run(storage, workspace)

    assert got == expected, f"only git: {sorted(expected - got)}; only snapshot: {sorted(got - expected)}"


def test_case_table_exercises_what_it_claims(git_repo):
    """Guard against a table that tests nothing: git really ignores, keeps and re-includes in these cases."""
    repo = git_repo()
    case = CASES["tracked files that match a pattern"]
    repo.write(case.committed).commit()
    repo.write(case.files)
    listed = repo.ls_files()
    assert {"tracked.log", "vendor/lib.c", "vendor/deep/x.h"} <= listed
    assert not {"new.log", "vendor/untracked.c", "vendor/newdir/y.c"} & listed


# -- random repositories ------------------------------------------------------------------

_DIRS = ["a", "b", "build", "logs", "tmp", "src"]
_NAMES = ["x.txt", "y.log", "keep.log", "z.py", "tmp", "b", "n o.txt", "é.md", "a", "c", "*", "[a]"]
_PATTERNS = [
    "*.log", "!keep.log", "/build", "build/", "logs/", "**/tmp/*.txt", "a/**/b", "tmp", "!*.py", "*", "!*/",
    "b", "/a/b", "src/**", "!src/x.txt", "*.txt", "[xy].*", "?.py", "a/*/x.txt", "**/b/", "!b/", "!tmp",
    "!/a", "n\\ o.txt", "*.md", "!build/z.py", "logs", "/*/", "!**/y.log", "src/", "\\#x",
    "**", "**/", "!**/", "/**/b", "*.txt/", "a?", "[!x]*", "*.log  ", "[a-c]", "[[:alpha:]].py", "a/**", "!a/**",
    "*/x.txt", "**/*.py", "!/*.md", "b/**/", "[bt]*/", "?", "*.*", "!*.*", "\\*", "tm[p]", "/tmp/", "!logs/",
]

_paths = st.lists(st.integers(0, len(_DIRS)), min_size=0, max_size=3).map(
    lambda levels: "/".join(_DIRS[i] for i in levels if i < len(_DIRS)))
_files = st.dictionaries(
    st.tuples(_paths, st.sampled_from(_NAMES)).map(lambda p: f"{p[0]}/{p[1]}" if p[0] else p[1]),
    st.sampled_from(["x", "y"]), min_size=1, max_size=12)
_ignores = st.dictionaries(st.sampled_from(["", "a", "src", "a/b", "build"]),
                           st.lists(st.sampled_from(_PATTERNS), min_size=1, max_size=5), max_size=3)


def _consistent(files: dict) -> dict:
    """Drop files whose path would need one of its folders to be a file too."""
    kept: dict = {}
    for path in sorted(files, key=lambda p: p.count("/")):
        parents = {"/".join(path.split("/")[:i]) for i in range(1, path.count("/") + 1)}
        if not parents & set(kept):
            kept[path] = files[path]
    return {p: c for p, c in kept.items() if not any(other.startswith(p + "/") for other in kept)}


@settings(max_examples=30, derandomize=True, database=None, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(files=_files, ignores=_ignores, tracked=st.sets(st.integers(0, 11), max_size=4))
def test_random_repositories_match_git(tmp_path_factory, files, ignores, tracked):
    base = tmp_path_factory.mktemp("random")
    repo = GitRepo(base / "repo")
    files = _consistent(files)
    names = sorted(files)
    committed = {names[i]: files[names[i]] for i in tracked if i < len(names)}
    if committed:
        repo.write(committed).commit()
    ignore_files = {(f"{folder}/.gitignore" if folder else ".gitignore"): "\n".join(lines) + "\n"
                    for folder, lines in ignores.items()}
    # A .gitignore cannot go where a file of the same name stands in for a folder.
    ignore_files = {p: c for p, c in ignore_files.items()
                    if not any("/".join(p.split("/")[:i]) in files for i in range(1, p.count("/") + 1))}
    repo.write(files)
    repo.write(ignore_files)
    store = ObjectStore(base / "store")

    snapshot = snapshot_workspace(store, repo.root, storage_root=base / "storage")
    got = {path for path, entry in walk_tree(store, snapshot.tree_id) if entry.kind != "dir"}

    expected = repo.ls_files()
    assert got == expected, f"only git: {sorted(expected - got)}; only snapshot: {sorted(got - expected)}"


def test_linked_worktree_uses_the_shared_info_exclude(git_repo, storage, tmp_path):
    """In a linked work tree ``.git`` is a file; its excludes live in the main repository's git folder."""
    repo = git_repo().write({"a.py": "a", "tracked.secret": "t"})
    repo.commit()
    worktree = tmp_path / "worktree"
    repo.git("worktree", "add", "-q", str(worktree))
    _info_exclude(repo)
    make_files(worktree, {"b.py": "b", "c.secret": "c", "scratch/n.txt": "n"})
    assert (worktree / ".git").is_file()

    listed = GitRepo(worktree, init=False).ls_files()
    assert "c.secret" not in listed and "tracked.secret" in listed
    assert _snapshot_via_run(storage, worktree) == listed
