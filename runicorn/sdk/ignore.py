"""Which workspace files a code snapshot takes: git's ignore rules, plus ``.rnignore`` and built-in excludes.

The goal is git's own answer, ``git ls-files --cached --others --exclude-standard``:
- patterns are parsed by gitignore-parser (``rule_from_pattern``), whose
  compiled regexes we match against paths *relative to each rule's folder*,
  once per directory entry; an ignored folder is pruned, as git does;
- precedence is git's: ``core.excludesFile`` (default ``~/.config/git/ignore``),
  then ``.git/info/exclude``, then each ``.gitignore`` from the top down, the
  last matching pattern deciding; a ``.rnignore`` beside a ``.gitignore`` comes
  after it (same syntax);
- gitignore-parser cannot know whether a path is a folder, so its directory-only
  rules are applied here to folders only;
- files git tracks are included even when a pattern matches them (git keeps
  tracking them), which needs the index: asked once with ``git ls-files``.
Outside git, the same ``.gitignore``/``.rnignore`` rules apply without git's own files.
Built-in excludes: ``.git``, ``__pycache__``, virtual environments (folders with
``pyvenv.cfg`` or ``conda-meta``), ``.env``, nested git repositories, and the
storage root itself.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from gitignore_parser import rule_from_pattern

_BUILTIN_NAMES = frozenset({".git", "__pycache__", ".env"})
_VENV_MARKERS = ("pyvenv.cfg", "conda-meta")
IGNORE_FILES = (".gitignore", ".rnignore")


@dataclass(frozen=True)
class _RuleGroup:
    """Consecutive rules of one source with the same polarity and folder-only flag, as one regex."""

    base: str  # folder of the source, relative to the workspace ("" for the top)
    regex: re.Pattern
    negation: bool
    directory_only: bool


def _core_regex(rule) -> str:
    """gitignore-parser's regex without its end anchor (which guesses at folders)."""
    regex = rule.regex
    for suffix in ("($|\\/)", "/$", "$"):
        if regex.endswith(suffix):
            return regex[: -len(suffix)]
    return regex


def _groups_from_lines(lines: list[str], base: str) -> list[_RuleGroup]:
    rules = [r for r in (rule_from_pattern(line.rstrip("\n"), base_path=None) for line in lines) if r]
    groups: list[_RuleGroup] = []
    run: list = []
    for rule in rules + [None]:
        if run and (rule is None or (rule.negation, rule.directory_only) != (run[0].negation, run[0].directory_only)):
            pattern = "|".join(f"(?:{_core_regex(r)})$" for r in run)
            groups.append(_RuleGroup(base, re.compile(pattern), run[0].negation, run[0].directory_only))
            run = []
        if rule is not None:
            run.append(rule)
    return groups


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8", errors="surrogateescape").splitlines()
    except (OSError, UnicodeError):
        return []


def _git_lines(workspace: Path, *args: str) -> bytes | None:
    try:
        done = subprocess.run(["git", "-C", str(workspace), *args], capture_output=True, timeout=30, check=False,
                              env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"})
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


class IgnoreRules:
    """The ``accept`` callback of ``Ingester`` for a code snapshot of ``workspace``."""

    def __init__(self, workspace: Path, *, exclude_paths: tuple[Path, ...] = ()):
        self.workspace = Path(workspace).resolve()
        self._excluded = {os.path.realpath(p) for p in exclude_paths}
        self._groups_by_dir: dict[str, list[_RuleGroup]] = {}
        self._tracked: set[str] = set()
        self._tracked_dirs: set[str] = set()
        self._ignored_but_tracked: set[str] = set()
        self.is_git = (self.workspace / ".git").exists()
        self._global: list[_RuleGroup] = self._git_global_rules() if self.is_git else []

    def _git_global_rules(self) -> list[_RuleGroup]:
        groups: list[_RuleGroup] = []
        configured = _git_lines(self.workspace, "config", "--path", "--get", "core.excludesFile")
        if configured and configured.strip():
            excludes_file = Path(os.path.expanduser(configured.decode().strip()))
        else:
            xdg = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
            excludes_file = Path(xdg) / "git" / "ignore"
        groups += _groups_from_lines(_read_lines(excludes_file), "")
        groups += _groups_from_lines(_read_lines(self.workspace / ".git" / "info" / "exclude"), "")
        listed = _git_lines(self.workspace, "ls-files", "-z", "--cached")
        for name in (listed or b"").split(b"\0"):
            if name:
                path = os.fsdecode(name)
                self._tracked.add(path)
                parent = os.path.dirname(path)
                while parent and parent not in self._tracked_dirs:
                    self._tracked_dirs.add(parent)
                    parent = os.path.dirname(parent)
        return groups

    def _rules_for(self, folder_rel: str) -> list[_RuleGroup]:
        """All rule groups that apply inside ``folder_rel``, lowest precedence first."""
        cached = self._groups_by_dir.get(folder_rel)
        if cached is not None:
            return cached
        inherited = self._rules_for(os.path.dirname(folder_rel)) if folder_rel else self._global
        own: list[_RuleGroup] = []
        folder = self.workspace / folder_rel
        for name in IGNORE_FILES:
            own += _groups_from_lines(_read_lines(folder / name), folder_rel)
        groups = inherited + own if own else inherited
        self._groups_by_dir[folder_rel] = groups
        return groups

    def is_ignored(self, rel: str, is_dir: bool) -> bool:
        """Git's verdict for one path (whose parent folders are not ignored)."""
        for group in reversed(self._rules_for(os.path.dirname(rel))):
            if group.directory_only and not is_dir:
                continue
            local = rel[len(group.base) + 1:] if group.base else rel
            if group.regex.search(local):
                return not group.negation
        return False

    def __call__(self, rel: str, entry: os.DirEntry, is_dir: bool) -> bool:
        name = entry.name
        if name in _BUILTIN_NAMES:
            return False
        if is_dir and (self._is_environment_or_repo(entry.path) or os.path.realpath(entry.path) in self._excluded):
            return False
        parent = os.path.dirname(rel)
        if parent in self._ignored_but_tracked:
            # Inside an ignored folder git still holds tracked files: take only those.
            if is_dir and rel in self._tracked_dirs:
                self._ignored_but_tracked.add(rel)
                return True
            return rel in self._tracked
        if not self.is_ignored(rel, is_dir):
            return True
        if is_dir and rel in self._tracked_dirs:
            self._ignored_but_tracked.add(rel)
            return True
        return rel in self._tracked

    @staticmethod
    def _is_environment_or_repo(path: str) -> bool:
        return any(os.path.exists(os.path.join(path, marker)) for marker in _VENV_MARKERS + (".git",))
