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
  tracking them), which needs the index: asked once with ``git ls-files``;
- a workspace below the top of a git work tree also takes the ``.gitignore``
  files of the folders above it, as git does;
- each pattern is first read the way git reads it (a UTF-8 byte order mark,
  trailing spaces, backslash escapes, ``[^...]`` and ``[[:class:]]`` brackets, a bare
  ``**``, malformed patterns that match nothing), because gitignore-parser's
  translation gets these wrong or fails on them.
Outside git, the same ``.gitignore``/``.rnignore`` rules apply without git's own files,
after ``NON_GIT_DEFAULTS``: weights, checkpoints and data arrays are not code, and
without git there is no ``.gitignore`` that says so (a ``!*.pt`` line in ``.rnignore``
takes them back). Built-in excludes: ``.git``, ``__pycache__``, virtual environments
(folders with ``pyvenv.cfg`` or ``conda-meta``), ``.env``, nested git repositories,
and the storage root itself.
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
NON_GIT_DEFAULTS = (
    "*.pt", "*.pth", "*.ckpt", "*.safetensors", "*.bin", "*.h5", "*.hdf5", "*.onnx", "*.tflite", "*.npz", "*.npy",
    "*.pkl", "*.pickle", "*.joblib", "*.tfrecord", "*.parquet", "*.arrow", "*.feather", "*.zip", "*.tar", "*.tgz",
    "*.tar.gz", "*.7z", "*.mp4", "checkpoints/", "wandb/", "mlruns/", "lightning_logs/", ".ipynb_checkpoints/",
)


_UNANCHORED = "(^|[/])"  # how gitignore-parser starts a pattern that may match at any depth
_ANY_NAME = "[^/]*"  # its translation of "*"


@dataclass(frozen=True)
class _RuleGroup:
    """Consecutive rules of one source with the same polarity and folder-only flag.

    Most patterns name one path component ("build", "*.pyc"): those are decided on
    the entry's name alone, by set lookup, one ``str.endswith`` over a tuple of
    suffixes, or one regex over the name. Only the rest (anchored or several
    components) need a regex search over the path; a 100-line .gitignore then
    costs microseconds per entry instead of a hundred regex searches.
    """

    base: str  # folder of the source, relative to the top of the work tree ("" for the top)
    from_rnignore: bool  # a .rnignore rule: it excludes tracked files too
    negation: bool
    directory_only: bool
    names: frozenset[str]
    suffixes: tuple[str, ...]
    name_regex: re.Pattern | None
    path_regex: re.Pattern | None

    @classmethod
    def build(cls, base: str, from_rnignore: bool, regexes: list[str], negation: bool,
              directory_only: bool) -> "_RuleGroup":
        names, suffixes, name_patterns, path_patterns = set(), [], [], []
        for regex in regexes:
            core = regex[len(_UNANCHORED):] if regex.startswith(_UNANCHORED) else None
            if core is None or "/" in core.replace("[^/]", "").replace("(?!/)", "") or ".*" in core:  # several parts
                path_patterns.append(f"(?:{regex})$")
            elif _is_literal(core):
                names.add(_unescape(core))
            elif core.startswith(_ANY_NAME) and _is_literal(core[len(_ANY_NAME):]) and core != _ANY_NAME:
                suffixes.append(_unescape(core[len(_ANY_NAME):]))
            else:
                name_patterns.append(f"(?:{core})")
        return cls(base, from_rnignore, negation, directory_only, frozenset(names), tuple(suffixes),
                   re.compile("|".join(name_patterns)) if name_patterns else None,
                   re.compile("|".join(path_patterns)) if path_patterns else None)

    def matches(self, local: str) -> bool:
        name = local.rpartition("/")[2]
        return (name in self.names or (bool(self.suffixes) and name.endswith(self.suffixes))
                or (self.name_regex is not None and self.name_regex.fullmatch(name) is not None)
                or (self.path_regex is not None and self.path_regex.search(local) is not None))


_REGEX_SPECIAL = re.compile(r"\\.|[.^$*+?{}\[\]|()]")


def _is_literal(regex: str) -> bool:
    """True when ``regex`` matches exactly one string (only escaped characters are special)."""
    return all(token.startswith("\\") and not token[1:].isalnum() for token in _REGEX_SPECIAL.findall(regex))


def _unescape(regex: str) -> str:
    return re.sub(r"\\(.)", r"\1", regex)


def _core_regex(rule) -> str:
    """gitignore-parser's regex without its end anchor (which guesses at folders)."""
    regex = rule.regex
    for suffix in ("($|\\/)", "/$", "$"):
        if regex.endswith(suffix):
            return regex[: -len(suffix)]
    return regex


# POSIX bracket classes as wildmatch knows them (ASCII, as in the C locale).
_CLASSES = {
    "alnum": "a-zA-Z0-9", "alpha": "a-zA-Z", "blank": " \\t", "cntrl": "\\x00-\\x1f\\x7f", "digit": "0-9",
    "graph": "!-~", "lower": "a-z", "print": " -~", "punct": "!-/:-@\\[-`{-~", "space": "\\t-\\r ",
    "upper": "A-Z", "xdigit": "0-9A-Fa-f",
}
_BARE_DOUBLE_STAR = re.compile(r"/?\*{2,}/?")


def _trim_trailing_spaces(line: str) -> str:
    """Git's rule: trailing spaces go unless escaped with a backslash (tabs stay)."""
    last_space = None
    i = 0
    while i < len(line):
        char = line[i]
        if char == " ":
            if last_space is None:
                last_space = i
        else:
            if char == "\\":
                i += 1
                if i == len(line):
                    return line
            last_space = None
        i += 1
    return line if last_space is None else line[:last_space]


def _translate(line: str) -> tuple[str, dict[str, str]] | None:
    """One pattern line as git reads it, in the subset gitignore-parser translates correctly.

    What gitignore-parser mishandles (escapes, bracket expressions) is replaced by
    placeholder characters, each standing for a regex fragment put back into its
    compiled regex. Returns None for a line that matches nothing: blank, a
    comment, or malformed (a trailing backslash or an unclosed bracket; git's
    wildmatch matches nothing for those).
    """
    line = _trim_trailing_spaces(line)
    if not line or line.startswith("#"):
        return None
    negation = line.startswith("!")
    body = line[1:] if negation else line
    free = (chr(code) for code in range(0xF0000, 0x10FFFE) if chr(code) not in line)
    held: dict[str, str] = {}

    def hold(regex: str) -> str:
        placeholder = next(free)
        held[placeholder] = regex
        return placeholder

    out: list[str] = []
    i = 0
    while i < len(body):
        char = body[i]
        if char == "\\":
            if i + 1 == len(body):
                return None
            escaped = body[i + 1]
            out.append("/" if escaped == "/" else hold(re.escape(escaped)))
            i += 2
        elif char == "[":
            parsed = _bracket(body, i, hold)
            if parsed is None:
                return None
            text, i = parsed
            out.append(text)
        else:
            out.append(char)
            i += 1
    body = "".join(out)
    if not body:
        return None
    if _BARE_DOUBLE_STAR.fullmatch(body):  # "**" alone matches everything; gitignore-parser fails on it
        body = "*/" if body.endswith("/") else "*"
    return ("!" if negation else "") + body, held


def _bracket(body: str, start: int, hold) -> tuple[str, int] | None:
    """A bracket expression at ``body[start]`` (wildmatch's rules) -> (its stand-in, index after it)."""
    i = start + 1
    negate = i < len(body) and body[i] in "!^"
    if negate:
        i += 1
    items: list[str] = []
    first = True
    while True:
        if i >= len(body):
            return None
        char = body[i]
        if char == "]" and not first:
            break
        first = False
        if char == "\\":
            i += 1
            if i >= len(body):
                return None
            char = body[i]
            if char != "/":
                items.append(hold(re.escape(char)))
            i += 1
        elif char == "[" and body.startswith(":", i + 1):
            end = body.find("]", i + 2)
            if end == -1:
                return None
            if end - 1 < i + 2 or body[end - 1] != ":":  # no ":]": an ordinary "["
                items.append(hold(re.escape(char)))
                i += 1
                continue
            regex = _CLASSES.get(body[i + 2:end - 1])
            if regex is None:
                return None  # an unknown class: wildmatch gives up on the pattern
            items.append(hold(regex))
            i = end + 1
        elif char == "/":
            i += 1  # a bracket never matches a slash in a path
        elif char == "-" or char.isalnum():
            items.append(char)
            i += 1
        else:
            items.append(hold(re.escape(char)))
            i += 1
    i += 1  # the closing "]"
    if negate:
        items.append(hold("/"))  # "[!a]" matches any character but "a" and "/"
        return "[!" + "".join(items) + "]", i
    if not items:
        return hold("(?!)"), i
    return hold("(?!/)") + "[" + "".join(items) + "]", i  # nor does "[!-0]" or "[[:punct:]]"


def _rule_from_line(line: str):
    """(regex without end anchor, negation, directory_only) for one line, or None."""
    translated = _translate(line)
    if translated is None:
        return None
    pattern, held = translated
    try:
        rule = rule_from_pattern(pattern, base_path=None)
    except (IndexError, re.error):  # what gitignore-parser cannot parse is not a rule
        return None
    if rule is None:
        return None
    regex = _core_regex(rule)
    for placeholder, fragment in held.items():
        regex = regex.replace(placeholder, fragment)
    return regex, rule.negation, rule.directory_only


def _groups_from_lines(lines: list[str], base: str, *, from_rnignore: bool = False) -> list[_RuleGroup]:
    rules = [r for r in map(_rule_from_line, lines) if r is not None]
    groups: list[_RuleGroup] = []
    run: list = []
    for rule in rules + [None]:
        if run and (rule is None or rule[1:] != run[0][1:]):
            groups.append(_RuleGroup.build(base, from_rnignore, [regex for regex, _, _ in run], run[0][1],
                                           run[0][2]))
            run = []
        if rule is not None:
            run.append(rule)
    return groups


def _read_lines(path: Path, *, follow_symlinks: bool = True) -> list[str]:
    if not follow_symlinks and os.path.islink(path):
        return []  # git reads no .gitignore that is a symlink (it warns and skips it)
    try:
        text = path.read_text(encoding="utf-8", errors="surrogateescape")
    except (OSError, UnicodeError):
        return []
    return text.removeprefix("\ufeff").splitlines()  # git skips a UTF-8 byte order mark


def _git_lines(workspace: Path, *args: str) -> bytes | None:
    try:
        done = subprocess.run(["git", "-C", str(workspace), *args], capture_output=True, timeout=30, check=False,
                              env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"})
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def _work_tree_top(folder: Path) -> Path | None:
    """The nearest folder at or above ``folder`` holding ``.git`` (a stat per level, no subprocess)."""
    for candidate in (folder, *folder.parents):
        if os.path.lexists(candidate / ".git"):
            return candidate
    return None


class IgnoreRules:
    """The ``accept`` callback of ``Ingester`` for a code snapshot of ``workspace``."""

    def __init__(self, workspace: Path, *, exclude_paths: tuple[Path, ...] = ()):
        self.workspace = Path(workspace).resolve()
        self._excluded = {os.path.realpath(p) for p in exclude_paths}
        self._groups_by_dir: dict[str, list[_RuleGroup]] = {}
        self._tracked: set[str] = set()
        self._tracked_dirs: set[str] = set()
        self._ignored_but_tracked: set[str] = set()
        # Rules are kept relative to the top of the work tree, which may be above the workspace.
        top = _work_tree_top(self.workspace)
        self.is_git = top is not None
        self._top = top or self.workspace
        inside = self.workspace.relative_to(self._top).as_posix()
        self._inside = "" if inside == "." else inside
        self._prefix = self._inside + "/" if self._inside else ""
        self._defaults: list[_RuleGroup] = [] if self.is_git else _groups_from_lines(list(NON_GIT_DEFAULTS), "")
        self._global: list[_RuleGroup] = self._git_global_rules() if self.is_git else list(self._defaults)
        self.defaulted: list[str] = []  # what NON_GIT_DEFAULTS left out, for the snapshot's warning

    def _git_global_rules(self) -> list[_RuleGroup]:
        groups: list[_RuleGroup] = []
        configured = _git_lines(self.workspace, "config", "--path", "--get", "core.excludesFile")
        if configured and configured.strip():
            excludes_file = Path(os.path.expanduser(configured.decode().strip()))
        else:
            xdg = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
            excludes_file = Path(xdg) / "git" / "ignore"
        groups += _groups_from_lines(_read_lines(excludes_file), "")
        groups += _groups_from_lines(_read_lines(self._info_exclude()), "")
        listed = _git_lines(self.workspace, "ls-files", "-z", "--cached")  # paths relative to the workspace
        for name in (listed or b"").split(b"\0"):
            if name:
                path = os.fsdecode(name)
                self._tracked.add(path)
                parent = os.path.dirname(path)
                while parent and parent not in self._tracked_dirs:
                    self._tracked_dirs.add(parent)
                    parent = os.path.dirname(parent)
        return groups

    def _info_exclude(self) -> Path:
        dot_git = self._top / ".git"
        if not dot_git.is_dir():  # a linked work tree or a submodule: ".git" is a file naming the git folder
            located = _git_lines(self.workspace, "rev-parse", "--git-path", "info/exclude")
            if located and located.strip():
                return self.workspace / os.fsdecode(located.strip())
        return dot_git / "info" / "exclude"

    def _rules_for(self, folder: str) -> list[_RuleGroup]:
        """All rule groups that apply inside ``folder`` (relative to the top), lowest precedence first."""
        cached = self._groups_by_dir.get(folder)
        if cached is not None:
            return cached
        inherited = self._rules_for(os.path.dirname(folder)) if folder else self._global
        own: list[_RuleGroup] = []
        in_workspace = not self._inside or folder == self._inside or folder.startswith(self._prefix)
        for name in IGNORE_FILES if in_workspace else IGNORE_FILES[:1]:  # .rnignore only inside the workspace
            lines = _read_lines(self._top / folder / name, follow_symlinks=name != ".gitignore")
            own += _groups_from_lines(lines, folder, from_rnignore=name == ".rnignore")
        groups = inherited + own if own else inherited
        self._groups_by_dir[folder] = groups
        return groups

    def _deciding_rule(self, rel: str, is_dir: bool) -> _RuleGroup | None:
        """The last matching rule group for a path relative to the workspace (git: the last match decides)."""
        path = self._prefix + rel
        for group in reversed(self._rules_for(os.path.dirname(path))):
            if group.directory_only and not is_dir:
                continue
            local = path[len(group.base) + 1:] if group.base else path
            if group.matches(local):
                return group
        return None

    def __call__(self, rel: str, entry: os.DirEntry, is_dir: bool) -> bool:
        name = entry.name
        if name in _BUILTIN_NAMES:
            return False
        if is_dir and (self._is_environment_or_repo(entry.path) or os.path.realpath(entry.path) in self._excluded):
            return False
        rule = self._deciding_rule(rel, is_dir)
        if rule is not None and rule.from_rnignore and not rule.negation:
            return False  # .rnignore leaves it out of snapshots even when git tracks it
        parent = os.path.dirname(rel)
        if parent in self._ignored_but_tracked:
            # Inside an ignored folder git still holds tracked files: take only those.
            if is_dir and rel in self._tracked_dirs:
                self._ignored_but_tracked.add(rel)
                return True
            return rel in self._tracked
        if rule is None or rule.negation:
            return True
        if any(rule is default for default in self._defaults):
            self.defaulted.append(rel + ("/" if is_dir else ""))
        if is_dir and rel in self._tracked_dirs:
            self._ignored_but_tracked.add(rel)
            return True
        return rel in self._tracked

    @staticmethod
    def _is_environment_or_repo(path: str) -> bool:
        return any(os.path.exists(os.path.join(path, marker)) for marker in _VENV_MARKERS + (".git",))
