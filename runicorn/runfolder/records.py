"""The records of a run folder as typed values: built and checked here, whoever writes or reads them.

Each ``parse`` takes what a JSON file held and either returns a value every
reader can trust or raises ``ValueError`` saying what is wrong (the folder
module adds the file's name): readers never index into a dict that might be a
list, and a field of the wrong type is damage to report, not a traceback.
Unknown extra keys are kept as they are (a later version may add fields);
an unknown identity format or version is refused (``UnsupportedFormat``).
"""

from __future__ import annotations

import numbers
import os
import socket
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Iterator

from .._version import __version__
from ..errors import UnsupportedFormat
from ..store import CHUNKS, ObjectId, Ref
from .names import RUN_FORMAT, RUN_FORMAT_VERSION, validate_path, validate_run_id

STATUSES = ("running", "finished", "failed", "interrupted")


def _number(value: Any, what: str, *, optional: bool = True) -> float | None:
    if type(value) is float or type(value) is int:  # the common case, without the slow ABC check
        return value
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{what} is {value!r}, not a number")
    return value


def _text(value: Any, what: str, *, optional: bool = True) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{what} is {value!r}, not a string")
    return value


def json_object(value: Any, what: str) -> dict:
    """``value`` when it is a JSON object, else a ValueError naming ``what``."""
    if not isinstance(value, dict):
        raise ValueError(f"{what} is {type(value).__name__}, not a JSON object")
    return value


def _checked(validate, value: Any, what: str) -> str:
    try:
        return validate(value)
    except ValueError as exc:
        raise ValueError(f"{what}: {exc}") from None


# -- identity (run.json) ----------------------------------------------------------------


@dataclass
class Identity:
    """Who a run is: written once at creation (alias and tags may change on resume, git once known)."""

    id: str
    path: str
    alias: str | None = None
    tags: list[str] = field(default_factory=list)
    created_at: float | None = None
    git: dict | None = None
    extra: dict = field(default_factory=dict)  # host, pid, python, platform, argv, runicorn_version, ...

    @classmethod
    def new(cls, run_id: str, path: str, alias: str | None, tags: list[str], now: float) -> "Identity":
        import platform  # here: only a new run needs it

        return cls(run_id, path, alias, list(tags), now, None, {
            "host": socket.gethostname(), "pid": os.getpid(), "python": platform.python_version(),
            "platform": platform.platform(), "argv": list(sys.argv), "runicorn_version": __version__})

    def to_json(self) -> dict:
        return {**self.extra, "format": RUN_FORMAT, "version": RUN_FORMAT_VERSION, "id": self.id, "path": self.path,
                "alias": self.alias, "tags": self.tags, "created_at": self.created_at, "git": self.git}

    @classmethod
    def parse(cls, value: Any) -> "Identity":
        if not isinstance(value, dict) or "format" not in value:
            raise ValueError("it is not a Runicorn run identity (no \"format\": \"runicorn-run\")")
        if value["format"] != RUN_FORMAT:
            raise UnsupportedFormat(f"format {value['format']!r}: it is not a Runicorn run identity this version "
                                    "knows; upgrade Runicorn or move the folder out of runs/")
        version = value.get("version")
        if type(version) is not int or version != RUN_FORMAT_VERSION:
            raise UnsupportedFormat(f"run format version {version!r}; this Runicorn reads version "
                                    f"{RUN_FORMAT_VERSION}. Upgrade Runicorn to read it")
        tags = value.get("tags") or []
        if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
            raise ValueError(f"tags is {tags!r}, not a list of strings")
        git = value.get("git")
        if git is not None:
            json_object(git, "git")
        known = {"format", "version", "id", "path", "alias", "tags", "created_at", "git"}
        return cls(id=_checked(validate_run_id, value.get("id"), "id"),
                   path=_checked(validate_path, _text(value.get("path"), "path", optional=False), "path"),
                   alias=_text(value.get("alias"), "alias"), tags=list(tags),
                   created_at=_number(value.get("created_at"), "created_at"), git=git,
                   extra={k: v for k, v in value.items() if k not in known})


# -- status (status.json) ---------------------------------------------------------------


@dataclass
class Status:
    """Where a run stands: rewritten at start, finish and resume."""

    status: str = "running"
    started_at: float | None = None
    ended_at: float | None = None
    error: dict | None = None
    resumed_at: list[float] = field(default_factory=list)
    pid: int | None = None
    host: str | None = None
    extra: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {**self.extra, "status": self.status, "started_at": self.started_at, "ended_at": self.ended_at,
                "error": self.error, "resumed_at": self.resumed_at, "pid": self.pid, "host": self.host}

    @classmethod
    def parse(cls, value: Any) -> "Status":
        value = json_object(value, "the status")
        status = _text(value.get("status", "running"), "status", optional=False)
        if status not in STATUSES:
            raise ValueError(f"status is {status!r}, not one of {', '.join(STATUSES)}")
        resumed = value.get("resumed_at") or []
        if not isinstance(resumed, list):
            raise ValueError(f"resumed_at is {resumed!r}, not a list")
        error = value.get("error")
        if error is not None:
            json_object(error, "error")
        pid = value.get("pid")
        if pid is not None and (isinstance(pid, bool) or not isinstance(pid, int)):
            raise ValueError(f"pid is {pid!r}, not an integer")
        known = {"status", "started_at", "ended_at", "error", "resumed_at", "pid", "host"}
        return cls(status, _number(value.get("started_at"), "started_at"), _number(value.get("ended_at"), "ended_at"),
                   error, [_number(t, "resumed_at", optional=False) for t in resumed], pid,
                   _text(value.get("host"), "host"), {k: v for k, v in value.items() if k not in known})


# -- primary metric (primary_metric.json) -----------------------------------------------


class PrimaryMetric:
    """The key score of a run: its name, whether higher or lower is better, and the best value with its step."""

    __slots__ = ("name", "mode", "best", "step", "dirty")

    def __init__(self, name: str, mode: str, best: float | None = None, step: int | None = None):
        self.name, self.mode, self.best, self.step = name, mode, best, step
        self.dirty = True  # changed since it was last written

    def offer(self, value: Any, step: int) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
            return
        if self.best is None or (value > self.best if self.mode == "max" else value < self.best):
            self.best, self.step, self.dirty = value, step, True

    def to_json(self) -> dict:
        return {"name": self.name, "mode": self.mode, "best": self.best, "step": self.step}

    @classmethod
    def parse(cls, value: Any) -> "PrimaryMetric":
        value = json_object(value, "the primary metric")
        name = _text(value.get("name"), "name", optional=False)
        mode = value.get("mode", "max")
        if mode not in ("max", "min"):
            raise ValueError(f"mode is {mode!r}, not 'max' or 'min'")
        step = value.get("step")
        if step is not None and (isinstance(step, bool) or not isinstance(step, int)):
            raise ValueError(f"step is {step!r}, not an integer")
        metric = cls(name, mode, _number(value.get("best"), "best"), step)
        metric.dirty = False
        return metric


# -- config (config.json) ------------------------------------------------------------------


@dataclass
class RunConfig:
    """What ``log_config`` recorded: arguments, extra values, and config files stored as blobs."""

    args: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)
    config_files: list[dict] = field(default_factory=list)  # each {path, name, id, size}

    def to_json(self) -> dict:
        return {"args": self.args, "extra": self.extra, "config_files": self.config_files}

    @property
    def values(self) -> dict:
        """Arguments and extra values in one mapping (extra wins), as they are compared and shown."""
        return {**self.args, **self.extra}

    def stored_files(self) -> list[tuple[dict, Ref]]:
        return [(file, Ref.parse(file["id"], "blob")) for file in self.config_files]

    @classmethod
    def parse(cls, value: Any) -> "RunConfig":
        value = json_object(value, "the config")
        files = value.get("config_files") or []
        if not isinstance(files, list):
            raise ValueError(f"config_files is {files!r}, not a list")
        for number, file in enumerate(files, 1):
            json_object(file, f"config file {number}")
            _text(file.get("path"), f"config file {number}'s path", optional=False)
            try:
                Ref.parse(file.get("id"), "blob")
            except (TypeError, ValueError) as exc:
                raise ValueError(f"config file {number} has no valid object id ({exc})") from None
        return cls(dict(json_object(value.get("args") or {}, "args")),
                   dict(json_object(value.get("extra") or {}, "extra")), list(files))


# -- manifest (manifest.jsonl) ---------------------------------------------------------------


ROLLING = "rolling"  # an outputs line that is a root only while no later line of its role and name exists
DROPPED = "dropped"  # the role of a line that takes earlier lines' objects out of the run's roots


class ManifestEntry(Mapping):
    """One manifest line: a role, a name, and the stored object it names (``ref``), if any.

    It reads like the JSON object it was written as (``entry["files"]``), which is the shape the
    read API documents; ``role``, ``name``, ``at`` and ``ref`` are its checked fields. A ``dropped``
    line names no object; ``drops`` are the objects it takes out of the roots.
    """

    __slots__ = ("role", "name", "at", "ref", "drops", "_record")

    def __init__(self, record: dict, role: str, name: str, at: float | None, ref: Ref | None,
                 drops: frozenset = frozenset()):
        self._record = record
        self.role, self.name, self.at, self.ref, self.drops = role, name, at, ref, drops

    @property
    def rolling(self) -> bool:
        return self._record.get("mode") == ROLLING

    @classmethod
    def new(cls, role: str, name: str, ref: Ref | None = None, **meta: Any) -> "ManifestEntry":
        record = {"role": role, "name": name, "at": time.time()}
        if ref is not None:
            record.update(id=ref.id.tagged, type=ref.kind)
        record.update(meta)
        return cls(record, role, name, record["at"], ref)

    @classmethod
    def parse(cls, value: Any) -> "ManifestEntry":
        record = json_object(value, "the line")
        role = _text(record.get("role"), "role", optional=False)
        name = _text(record.get("name"), "name", optional=False)
        ref = None
        if "id" in record:
            try:
                ref = Ref.parse(record["id"], record.get("type"))
                if "chunks" in record:  # a file stored as a chunk list: the list is what the run refers to
                    if ref.kind != "blob":
                        raise ValueError("only a file (type blob) is stored as chunks")
                    ref = Ref.parse(record["chunks"], CHUNKS)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"its object reference is not valid ({exc})") from None
        drops: frozenset = frozenset()
        if role == DROPPED:
            ids = record.get("ids")
            if not isinstance(ids, list):
                raise ValueError(f"a dropped line's ids are {ids!r}, not a list")
            try:
                drops = frozenset(ObjectId.parse(oid) for oid in ids)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"a dropped line names an invalid object id ({exc})") from None
        return cls(record, role, name, _number(record.get("at"), "at"), ref, drops)

    def to_json(self) -> dict:
        return self._record

    def __getitem__(self, key: str) -> Any:
        return self._record[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._record)

    def __len__(self) -> int:
        return len(self._record)

    def __repr__(self) -> str:
        return f"ManifestEntry({self._record!r})"


@dataclass
class Manifest:
    """Every line of a run's manifest that reads, and what was wrong with those that do not."""

    entries: list[ManifestEntry] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # lines that do not read: a root may hide in one

    def roots(self) -> list[Ref]:
        """Every object the run refers to (its gc roots): each line's object, except a rolling line that a later
        line of the same role and name superseded, and an object a later ``dropped`` line names."""
        return [entry.ref for entry, why in self.judged() if why is None]

    def dropped(self) -> list[tuple[ManifestEntry, ManifestEntry]]:
        """(entry, the later ``dropped`` line that took its object out of the roots), in order."""
        pairs = []
        nearest: dict = {}  # id -> the first dropped line after the one at hand that names it
        for entry in reversed(self.entries):  # one pass, backwards (a manifest grows with every outputs scan)
            if entry.role == DROPPED:
                for oid in entry.drops:
                    nearest[oid] = entry
            elif entry.ref is not None and entry.ref.id in nearest:
                pairs.append((entry, nearest[entry.ref.id]))
        pairs.reverse()
        return pairs

    def judged(self) -> list[tuple[ManifestEntry, str | None]]:
        """Every line naming an object, with why it is no root (None when it is one), in order."""
        judged: list[tuple[ManifestEntry, str | None]] = []
        later_keys: set[tuple[str, str]] = set()
        dropped_later: dict = {}  # id -> the dropped line that names it
        for entry in reversed(self.entries):
            if entry.role == DROPPED:
                for oid in entry.drops:
                    dropped_later.setdefault(oid, entry)
                continue
            if entry.ref is None:
                continue
            key = (entry.role, entry.name)
            if entry.ref.id in dropped_later:
                drop = dropped_later[entry.ref.id]
                why = f"dropped: {drop.get('reason') or drop.name}"
            elif entry.rolling and key in later_keys:
                why = "superseded (rolling)"
            else:
                why = None
            later_keys.add(key)
            judged.append((entry, why))
        judged.reverse()
        return judged

    def versions(self, role: str, name: str) -> list[tuple[ManifestEntry, str | None]]:
        """Every line of one role and name (an output's archived versions), oldest first, each with why it is
        no longer a root (None for a root)."""
        return [(entry, why) for entry, why in self.judged() if (entry.role, entry.name) == (role, name)]

    def latest(self) -> dict[tuple[str, str], ManifestEntry]:
        """(role, name) -> the latest entry: a later line with the same role and name supersedes an earlier one."""
        latest: dict[tuple[str, str], ManifestEntry] = {}
        for entry in self.entries:
            if entry.role != DROPPED:
                latest[(entry.role, entry.name)] = entry
        return latest
