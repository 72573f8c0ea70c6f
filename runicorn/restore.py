"""Restore what a run stored: code, outputs, a dataset, pretrained weights or config files.

Plan, then write: ``plan_restore`` finds what to write and its size in bytes
(for the progress bar); ``restore`` writes it. Everything goes through the
store's ``materialize_*``: byte-exact, executable bits kept, hashes verified
while writing, and nothing written outside the target folder.
"""

from __future__ import annotations

import os
import posixpath
import re
import time
from dataclasses import dataclass
from pathlib import Path

from .api import RunView
from .errors import DamagedRun, RunError, UnsupportedFormat
from .runfolder import ManifestEntry, jsonable_tree
from .sdk.warn import shown_list
from .store import (CHUNKS, DIR, NO_PROGRESS, TREE, Walker, MaterializeResult, ObjectStore, Progress, Ref, atomic_write_json,
                    check_name, check_tree, make_real_dir, materialize_blob, materialize_tree, prepare_target,
                    read_tree)

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")
KINDS = ("code", "outputs", "dataset", "pretrained", "config", "images")
CONFIG_VALUES_FILE = "runicorn-config.json"


@dataclass
class RestoreResult:
    kind: str
    name: str | None
    target: Path
    files: int
    bytes: int
    left_out_links: list[str]  # "name -> target" of symlinks that would point outside the target

    @property
    def left_out_note(self) -> str | None:
        """What the user is told about the links left out, or None."""
        if not self.left_out_links:
            return None
        count = len(self.left_out_links)
        return (f"left out {count} symlink{'s' if count > 1 else ''} that point{'s' if count == 1 else ''} outside "
                f"{self.target}: {shown_list(self.left_out_links)}; everything else was restored. Recreate "
                f"{'it' if count == 1 else 'them'} with `ln -s TARGET NAME` if you need {'it' if count == 1 else 'them'}")


@dataclass
class RestorePlan:
    """What a restore writes: objects with the names they get below the target, and how many bytes in all."""

    view: RunView
    kind: str
    name: str | None
    items: list[tuple[str, Ref]]  # (relative path, ref): "" for a tree restored as the target itself
    bytes: int
    config_values: dict | None = None  # for --config: the logged arguments and extra values
    checked: MaterializeResult | None = None  # for a tree: what check_tree found (missing objects refused)


@dataclass
class OutputVersion:
    """One archived version of a run's outputs (a manifest line), and whether the store still holds it."""

    number: int  # 1 = the first scan that archived something
    entry: ManifestEntry
    no_root_because: str | None  # None while it is a root; else why gc may take it ("superseded (rolling)", ...)
    available: bool  # its tree is still in the store (a superseded version stays until gc collects it)

    @property
    def step(self) -> int | None:
        return self.entry.get("step")


def output_versions(store: ObjectStore, view: RunView) -> list[OutputVersion]:
    """Every archived version of the run's outputs, oldest first (``runicorn outputs`` lists them)."""
    return [OutputVersion(number, entry, why, store.locate(entry.ref.id) is not None)
            for number, (entry, why) in enumerate(view.read_manifest().versions("outputs", "outputs"), 1)]


def pick_version(versions: list[OutputVersion], *, number: int | None = None, step: int | None = None,
                 view: RunView) -> OutputVersion:
    """A version by number, or the last one archived at or before a step."""
    if not versions:
        raise RunError(f"run {view.id} archived no outputs (use run.scan_outputs_once or run.watch_outputs)")
    if number is not None:
        if not 1 <= number <= len(versions):
            raise RunError(f"run {view.id} has outputs versions 1 to {len(versions)}, not {number}; "
                           f"`runicorn outputs {view.id}` lists them")
        return versions[number - 1]
    if step is not None:
        earlier = [v for v in versions if v.step is not None and v.step <= step]
        if not earlier:
            raise RunError(f"run {view.id} archived no outputs at or before step {step}; "
                           f"`runicorn outputs {view.id}` lists its versions and their steps")
        return earlier[-1]
    return versions[-1]


def plan_restore(store: ObjectStore, view: RunView, kind: str, name: str | None = None, *,
                 version: int | None = None, step: int | None = None) -> RestorePlan:
    """Find what to restore and check it can be (unsafe links and missing objects are refused here).

    For outputs, ``version`` (a number from ``output_versions``) or ``step`` picks an earlier version.
    """
    if kind not in KINDS:
        raise ValueError(f"cannot restore {kind!r}; choose one of {', '.join(KINDS)}")
    if view.unsupported:
        raise UnsupportedFormat(view.unsupported)
    if kind == "config":
        return _plan_config(store, view)
    if kind == "images":
        return _plan_images(store, view, name)
    if (version is not None or step is not None) and kind != "outputs":
        raise ValueError("a version or step picks among the versions of outputs only")
    if kind == "outputs":
        items = [("", _outputs_tree(store, view, name, pick_version(output_versions(store, view), number=version,
                                                                      step=step, view=view)))]
    else:
        entry, why = _entry(view, kind, name)
        _refuse_dropped(store, entry, f"{kind} {entry.name!r} of run {view.id}", why)
        if entry.ref.kind == TREE:
            items = [("", entry.ref)]
        else:
            source = entry.get("path") or entry.get("resolved_path") or entry.name
            return RestorePlan(view, kind, name, [(check_name(os.path.basename(str(source))), entry.ref)],
                               Walker(store).content_size(entry.ref))
    checked = check_tree(store, items[0][1].id)  # refuses a missing object before anything is written
    return RestorePlan(view, kind, name, items, checked.bytes, checked=checked)


def restore(store: ObjectStore, plan: RestorePlan, target: str | os.PathLike, *, force: bool = False,
            progress: Progress = NO_PROGRESS) -> RestoreResult:
    """Write what ``plan`` found into ``target``; ``progress`` counts bytes out of the plan's total."""
    target = Path(target)
    progress.start(plan.bytes, "bytes")
    if plan.checked is not None:
        result = materialize_tree(store, plan.items[0][1].id, target, force=force, progress=progress,
                                  checked=plan.checked)
    else:
        folder = prepare_target(target, force=force)
        result = MaterializeResult()
        for rel, ref in plan.items:
            parent = folder
            parts = [check_name(part) for part in rel.split("/")]  # one component each, whatever planned them
            for part in parts[:-1]:
                parent = make_real_dir(parent / part)
            result.bytes += materialize_blob(store, ref.id, parent / parts[-1], progress=progress,
                                             chunks=ref.id if ref.kind == CHUNKS else None)
            result.files += 1
        if plan.config_values is not None:
            atomic_write_json(folder / CONFIG_VALUES_FILE, jsonable_tree(plan.config_values))
            result.files += 1
            result.bytes += (folder / CONFIG_VALUES_FILE).stat().st_size
    return RestoreResult(plan.kind, plan.name, target, result.files, result.bytes, result.left_out_links)


def _entry(view: RunView, kind: str, name: str | None) -> tuple[ManifestEntry, str | None]:
    """The latest stored entry of a role (and name), with why it is no longer a root (None while it is)."""
    manifest = view.read_manifest()
    latest = [e for (role, _), e in manifest.latest().items() if role == kind]
    entries = [e for e in latest if name is None or e.name == name]
    stored = [e for e in entries if e.ref is not None]
    if stored:
        why = {id(entry): why for entry, why in manifest.judged()}
        return stored[-1], why.get(id(stored[-1]))
    restorable = sorted(e.name for e in latest if e.ref is not None)
    if manifest.problems:  # what is asked for may stand in a line that does not read
        raise DamagedRun(f"run {view.id} has no stored {kind}{f' named {name!r}' if name else ''} that reads: its "
                         f"manifest is damaged ({manifest.problems[0]}); `runicorn verify` shows the damage")
    if kind == "code":
        raise RunError(f"run {view.id} has no code snapshot (it was started without snapshot_code=True)")
    if name is None:
        raise RunError(f"restoring a {kind} needs its name; run {view.id} has: {', '.join(restorable) or 'none'}")
    hint = ("it was recorded as a reference only (save=False), so its files were never stored" if entries
            else f"stored {kind}s: {', '.join(restorable) or 'none'}")
    raise RunError(f"run {view.id} has no stored {kind} named {name!r}; {hint}")


def _refuse_dropped(store: ObjectStore, entry: ManifestEntry, what: str, why: str | None) -> None:
    """An asset a retention policy dropped, or a superseded version, whose objects gc has since collected."""
    if why and store.locate(entry.ref.id) is None:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(entry.at)) if entry.at else "earlier"
        raise RunError(f"the {what} (recorded {when}) is no longer a root: {why}; gc has collected its files, "
                       "so it cannot be restored")


def _outputs_tree(store: ObjectStore, view: RunView, name: str | None, version: OutputVersion) -> Ref:
    """A version's outputs tree, or one output folder of it."""
    entry = version.entry
    _refuse_dropped(store, entry, f"outputs version {version.number} of run {view.id}", version.no_root_because)
    if name is None:
        return entry.ref
    folders = {e.name: e for e in read_tree(store, entry.ref.id) if e.kind == DIR}
    if name not in folders:
        raise RunError(f"run {view.id} has no output folder {name!r}; it has: {', '.join(sorted(folders))}")
    return Ref(folders[name].id, TREE)


def _plan_config(store: ObjectStore, view: RunView) -> RestorePlan:
    """Config files as they were, plus ``runicorn-config.json`` with the logged args and extra values."""
    config = view.run_config
    damage = [p for p in view.problems if "config.json" in p]
    if damage:
        raise DamagedRun(damage[0])
    files = config.stored_files()
    if not config.args and not config.extra and not files:
        raise RunError(f"run {view.id} logged no config (run.log_config)")
    items = [(name, ref) for name, ref in _place_config_files(files).items()]
    for rel, _ in items:
        for part in rel.split("/"):
            check_name(part)
    return RestorePlan(view, "config", None, items, sum(store.size(ref.id) for _, ref in items),
                       config_values={"args": config.args, "extra": config.extra})


def _plan_images(store: ObjectStore, view: RunView, key: str | None) -> RestorePlan:
    """Every logged image (or those of one key) as ``<key>/<step>.<format>``; a key is made a safe folder name."""
    rows = [row for row in view.images() if key is None or row["key"] == key]
    if not rows:
        keys = sorted({row["key"] for row in view.images()})
        raise RunError(f"run {view.id} logged no images" + (f" under key {key!r}; its keys: {', '.join(keys) or 'none'}"
                                                             if key is not None else " (run.log_image)"))
    items: dict[str, Ref] = {}
    for row in rows:
        folder = _SAFE.sub("_", row["key"]).strip(".") or "_"
        step = row.get("_step")
        stem = f"{step:06d}" if isinstance(step, int) else "unknown-step"
        extension = _SAFE.sub("_", str(row.get("format") or "bin"))
        name = f"{folder}/{stem}.{extension}"
        count = 1
        while name in items:  # two images of one key at one step
            count += 1
            name = f"{folder}/{stem}-{count}.{extension}"
        items[name] = Ref.parse(row["id"], "blob")
    return RestorePlan(view, "images", key, list(items.items()), sum(store.size(ref.id) for ref in items.values()))


def _place_config_files(files: list[tuple[dict, Ref]]) -> dict[str, Ref]:
    """Where each config file goes: its name or, when two share a name, its path below their common folder.

    Flat names would let the second of two ``base.yaml`` overwrite the first.
    """
    names = [file.get("name") or os.path.basename(file["path"]) for file, _ in files]
    if len(set(names)) == len(names):
        return {name: ref for name, (_, ref) in zip(names, files)}
    parts = [[p for p in posixpath.normpath(str(file.get("path") or name)).split("/") if p not in ("", ".", "..")]
             for (file, _), name in zip(files, names)]
    common = 0
    while all(len(p) > common + 1 for p in parts) and len({p[common] for p in parts}) == 1:
        common += 1
    return {"/".join(p[common:]): ref for p, (_, ref) in zip(parts, files)}  # one path twice: the later record

