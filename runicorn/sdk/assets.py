"""A run's assets: everything that is bytes goes into the object store, and the manifest names it.

Ordering (docs/format.md, section 7): each object is durable in the store before
the manifest line naming it is queued. Every operation that puts objects holds
a store lease from before its first put until the writer has written the lines
naming them (``_rooting``), so a gc running meanwhile, even with no grace
period, never takes what the run has just saved. Images share one lease per
flush of the writer.

``RunAssets`` works with explicit collaborators, given by the run: the store
(opened on first use), the run's folder (identity, environment and config
files) and its writer (manifest and media lines).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import shutil
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Callable

from ..runfolder import MANIFEST, MEDIA, ROLLING, ManifestEntry, RunConfig, RunFolder
from ..store import (BLOB, CHUNKS, FILE, TREE, Ingester, ObjectId, ObjectStore, Ref, StatCache, content_bytes, prune_tree,
                     read_tree, walk_tree)
from .values import jsonable
from .warn import shown_list, warn_user
from .writer import RunWriter

# Snapshot, image, environment and outputs support is imported on first use:
# a run that logs only metrics starts without them (SPEC §7: init under 20 ms).

# Source types whose "path" is usually a hub or library identifier, not a file.
_IDENTIFIER_SOURCES = frozenset({"huggingface", "hf", "torchvision", "timm", "torchhub", "url", "openai", "keras"})


class RunAssets:
    def __init__(self, *, store: Callable[[], ObjectStore], folder: RunFolder, writer: RunWriter,
                 storage_root: Path, workspace_root: Path | None, config: RunConfig, current_step: Callable[[], int],
                 write_state: Callable[[Callable[[], None]], None]):
        self._store = store
        self._folder = folder
        self._writer = writer
        self.storage_root = storage_root
        self.workspace_root = workspace_root
        self.config = config
        self._current_step = current_step
        self._write_state = write_state  # the run's guard: a state file of a folder deleted under it is skipped
        self._background: list[threading.Thread] = []
        self._outputs = None
        self._image_batch = None
        self._image_lease = None  # held from the first image put after a flush until that flush wrote their lines
        self._image_lock = threading.Lock()
        self._waiting_leases: list = []  # leases whose lines the disk refused for now: released once written
        self._roots: set[Ref] = set()  # the roots this run's asset calls named (images aside), checked at finish
        self._code: tuple[ObjectId, Path] | None = None  # the code snapshot's tree and workspace, once taken
        self._left_out: set[str] = set()  # workspace folders the code tree no longer holds: not pruned again
        writer.flush_hooks.append(self.release_leases)

    def start(self, *, snapshot_code: bool, force_snapshot: bool, capture_env: bool) -> None:
        """What ``rn.init`` asked for at start: a code snapshot (or git metadata) and the environment."""
        if snapshot_code:
            self._snapshot_code(force_snapshot)
        elif shutil.which("git"):
            self._in_background(self._record_git)
        if capture_env:
            self._in_background(self._capture_environment)

    @property
    def store(self) -> ObjectStore:
        return self._store()

    @property
    def outputs(self):
        if self._outputs is None:
            from .outputs import OutputsArchiver

            self._outputs = OutputsArchiver(self._store, self.add_root, self._rooting, self._current_step,
                                            exclude=(self.storage_root,))
        return self._outputs

    def add_root(self, role: str, name: str, oid: ObjectId, kind: str, **meta: Any) -> None:
        """Queue a manifest line naming a durable object."""
        ref = Ref(oid, kind)
        if role != "image":
            self._roots.add(ref)
        self._writer.append(MANIFEST, ManifestEntry.new(role, name, ref, **meta).to_json())

    @contextlib.contextmanager
    def _rooting(self):
        """Hold a lease while objects are put and until the manifest lines naming them are written."""
        lease = self.store.lease()
        lease.acquire()
        try:
            yield
        except BaseException:
            lease.release()
            raise
        self._writer.flush()  # now, not at the next tick: the lease ends as soon as the lines are on disk
        if self._writer.holding:
            self._waiting_leases.append(lease)  # the disk refused them for now; released once written
        else:
            lease.release()

    def release_leases(self, *, final: bool = False) -> None:
        """After each flush: leases whose lines are all written end. ``final`` (the run's very end): every lease
        ends, as whatever the disk kept refusing is lost anyway; no lease outlives the run."""
        if self._writer.holding and not final:
            return
        while self._waiting_leases:
            self._waiting_leases.pop().release()
        with self._image_lock:
            if self._image_lease is not None and (final or not self._writer.has_pending(MEDIA)):
                self._image_lease.release()
                self._image_lease = None

    def _in_background(self, target) -> None:
        thread = threading.Thread(target=target, name=f"runicorn-{target.__name__.strip('_')}", daemon=True)
        thread.start()
        self._background.append(thread)

    def close(self) -> None:
        """At finish: the last outputs scan, then wait for background captures."""
        try:
            if self._outputs is not None:
                self._outputs.close()
        finally:
            for thread in self._background:
                thread.join()

    def missing_roots(self) -> list[Ref]:
        """Roots this run named that are no longer in the store (something deleted them under the live run)."""
        if not self._roots:
            return []
        store = self.store
        return sorted((ref for ref in self._roots if store.locate(ref.id) is None), key=lambda ref: ref.id)

    # -- identity and environment ---------------------------------------------------

    def _set_identity_git(self, git: dict | None) -> None:
        if not git or not self._folder.exists():  # a folder deleted under the live run keeps nothing
            return

        def write() -> None:
            identity = self._folder.read_identity()
            identity.git = git
            self._folder.write_identity(identity)

        self._write_state(write)

    def _record_git(self) -> None:
        from .gitinfo import git_metadata
        from .snapshot import default_workspace

        self._set_identity_git(git_metadata(self.workspace_root or default_workspace()))

    def _capture_environment(self) -> None:
        from .environment import capture_environment

        environment = capture_environment()
        self._write_state(lambda: self._folder.write_environment(environment))

    # -- code -----------------------------------------------------------------

    def _snapshot_code(self, force: bool) -> None:
        from .snapshot import default_workspace, snapshot_workspace

        workspace = self.workspace_root or default_workspace()
        with self._rooting():
            snapshot = snapshot_workspace(self.store, workspace, storage_root=self.storage_root, force=force)
            self.workspace_root = snapshot.workspace
            # Rolling: when a folder of the workspace turns out to be outputs or a saved dataset, a pruned tree
            # replaces this one, and what was pruned stops being a root (leave_out_of_code).
            self.add_root("code", "code", snapshot.tree_id, TREE, mode=ROLLING, workspace=str(snapshot.workspace),
                          files=snapshot.files, bytes=snapshot.bytes, skipped=snapshot.skipped[:100])
            self._code = (snapshot.tree_id, snapshot.workspace)
            if snapshot.diff_id is not None:
                self.add_root("code_diff", "git diff HEAD", snapshot.diff_id, BLOB)
        self._set_identity_git(snapshot.git)

    def leave_out_of_code(self, path: Path, why: str) -> None:
        """Outputs and saved datasets are not code: take a folder the snapshot holds out of it, with a warning."""
        if self._code is None:
            return
        tree, workspace = self._code
        real = Path(os.path.realpath(path))
        if real == workspace or workspace not in real.parents:
            return
        rel = real.relative_to(workspace).as_posix()
        if rel in self._left_out:  # every outputs scan asks again: the tree is read and pruned once
            return
        self._left_out.add(rel)
        with self._rooting():
            pruned = prune_tree(self.store, tree, [rel])
            if pruned == tree:
                return  # the snapshot never held it (ignored by git, .rnignore, or the defaults)
            files = sum(1 for _, entry in walk_tree(self.store, pruned) if entry.kind == FILE)
            self.add_root("code", "code", pruned, TREE, mode=ROLLING, workspace=str(workspace), files=files,
                          bytes=content_bytes(read_tree(self.store, pruned)), left_out=[rel])
            self._code = (pruned, workspace)
        shown = rel + ("/" if real.is_dir() else "")
        warn_user(f"code snapshot: left out {shown} ({why}); it is not code. List it in .gitignore or .rnignore "
                  "to keep it out from the start")

    # -- config ---------------------------------------------------------------

    def log_config(self, *, args: Any, extra: Any, config_files: Any) -> None:
        config = self.config
        if args is not None:
            config.args.update(jsonable(_as_mapping(args, "args")))
        if extra is not None:
            if not isinstance(extra, Mapping):
                raise TypeError(f"extra must be a dict, got {type(extra).__name__}")
            config.extra.update(jsonable(dict(extra)))
        if config_files is not None:
            if isinstance(config_files, (str, os.PathLike)):
                config_files = [config_files]
            paths = [Path(item) for item in config_files]
            for path in paths:
                if not path.is_file():
                    raise FileNotFoundError(f"config file {path} does not exist or is not a file")
            with self._rooting():
                for path in paths:
                    oid, size = self.store.put_file_sized(path)
                    kept = [f for f in config.config_files if f.get("path") != str(path)]
                    config.config_files = kept + [{"path": str(path), "name": path.name, "id": oid.tagged,
                                                   "size": size}]
                    self.add_root("config_file", path.name, oid, BLOB, path=str(path), size=size)
        self._write_state(lambda: self._folder.write_config(config))

    # -- datasets and pretrained weights -----------------------------------------------

    def log_reference(self, role: str, name: str, target: Any, *, save: bool, description: str | None,
                      force_save: bool, max_archive_bytes: int, max_archive_files: int,
                      context: str | None = None, source_type: str | None = None) -> dict:
        if not isinstance(name, str) or not name:
            raise ValueError(f"{role} name must be a non-empty string, got {name!r}")
        record: dict[str, Any] = {"role": role, "name": name, "description": description, "saved": False,
                                  "at": time.time()}
        if role == "dataset":
            record["context"] = context
        else:
            record["source_type"] = source_type
        if isinstance(target, Mapping):
            record["uri"] = jsonable(dict(target))
            if save:
                raise TypeError(f"save=True needs a local path for {role} {name!r}, not a mapping")
        elif target is not None:
            with self._rooting():
                self._describe_target(record, role, name, target, save=save, force_save=force_save,
                                      max_bytes=max_archive_bytes, max_files=max_archive_files,
                                      source_type=source_type)
                self._writer.append(MANIFEST, record)
            return record
        elif save:
            raise ValueError(f"save=True needs path_or_uri for {role} {name!r}")
        self._writer.append(MANIFEST, record)
        return record

    def _describe_target(self, record: dict, role: str, name: str, target: Any, *, save: bool, force_save: bool,
                         max_bytes: int, max_files: int, source_type: str | None) -> None:
        text = os.fspath(target) if isinstance(target, os.PathLike) else str(target)
        path = Path(text).expanduser()
        if "://" in text or (source_type in _IDENTIFIER_SOURCES and not path.exists()):
            record["uri"] = text
            if save:
                raise ValueError(f"save=True needs a local path; {role} {name!r} points to {text!r}")
            return
        record["path"] = text
        record["resolved_path"] = os.path.realpath(path)  # never raises, even for a symlink loop
        if not path.exists():
            if save:
                raise FileNotFoundError(f"cannot save {role} {name!r}: {path} does not exist")
            warn_user(f"{role} {name!r}: local path {path} does not exist; recorded as a reference only")
            record["exists"] = False
            return
        if not (path.is_file() or path.is_dir()):  # reading a FIFO or a device would block or never end
            if save:
                raise ValueError(f"cannot save {role} {name!r}: {path} is not a regular file or a folder")
            warn_user(f"{role} {name!r}: {path} is not a regular file or a folder; recorded as a reference only")
            record["regular"] = False
            return
        if save and not force_save:
            _check_limits(role, name, path, max_bytes, max_files, self.storage_root)
        with StatCache(self.store.cache_dir / "stat.sqlite") as cache:
            result = Ingester(self.store, stat_cache=cache, store_content=save,
                              accept=_outside(self.storage_root, path)).ingest(path)
        if result.skipped:
            warn_user(f"{role} {name!r}: skipped what the store cannot hold: {shown_list(result.skipped)}")
        object_type = TREE if result.kind == "dir" else BLOB
        record["fingerprint"] = {"id": result.id.tagged, "type": object_type, "files": result.files,
                                 "bytes": result.bytes}
        if save:
            record.update(id=result.id.tagged, type=object_type, saved=True)
            if result.chunks is not None:  # one large file, stored as a chunk list
                record["chunks"] = result.chunks.tagged
            self._roots.add(Ref(result.chunks, CHUNKS) if result.chunks else Ref(result.id, object_type))
            self.leave_out_of_code(path, f"saved as {role} {name!r}")

    # -- images ---------------------------------------------------------------

    def _images_batch(self):
        """Images are published in batches by the run's writer, just before it writes the lines naming them:
        one fsync of the fan-out folders per flush instead of two synchronous flushes per image."""
        if self._image_batch is None:
            self._image_batch = self.store.new_batch()
            self._writer.before_write_hooks.append(self._image_batch.commit)
        return self._image_batch

    def log_image(self, key: str, image: Any, step: int, caption: str | None, format: str, quality: int) -> str:
        if not isinstance(key, str) or not key:
            raise ValueError(f"image key must be a non-empty string, got {key!r}")
        if caption is not None and not isinstance(caption, str):
            raise TypeError(f"caption must be a string, got {type(caption).__name__}")
        from .images import encode_image

        encoded = encode_image(image, format, quality)
        batch = self._images_batch()
        with self._image_lock:  # the lease ends only after a flush that finds no image line waiting
            if self._image_lease is None:
                self._image_lease = self.store.lease()
                self._image_lease.acquire()
            if encoded.data is not None:
                oid = self.store.put_bytes(encoded.data, batch=batch)
            else:
                oid, _ = self.store.put_file_sized(encoded.path, batch=batch)
            self._writer.append(MEDIA, {"_step": step, "_time": time.time(), "key": key, "id": oid.tagged,
                                        "format": encoded.format, "width": encoded.width,
                                        "height": encoded.height, "caption": caption})
            self.add_root("image", key, oid, BLOB, step=step)
        return str(oid)


def _as_mapping(args: Any, what: str) -> dict:
    if isinstance(args, argparse.Namespace):
        return vars(args)
    if dataclasses.is_dataclass(args) and not isinstance(args, type):
        return dataclasses.asdict(args)
    if isinstance(args, Mapping):
        return dict(args)
    for method in ("to_dict", "dict", "model_dump"):
        convert = getattr(args, method, None)
        if callable(convert):
            try:
                converted = convert()
            except TypeError:
                continue
            if isinstance(converted, Mapping):
                return dict(converted)
    if callable(getattr(args, "keys", None)) and hasattr(args, "__getitem__"):  # mapping-like, not a Mapping
        return {key: args[key] for key in args.keys()}
    if hasattr(args, "__dict__"):
        return {k: v for k, v in vars(args).items() if not k.startswith("_")}
    raise TypeError(f"{what} must be an argparse.Namespace, a dict, a dataclass or a mapping; "
                    f"got {type(args).__name__}")


def _outside(storage_root: Path, path: Path):
    """An ``accept`` for ``Ingester`` that leaves out the storage root when it lies inside ``path``.

    Otherwise a dataset folder holding the storage root (``"."`` with the default
    ``./.runicorn``) would take in the store itself, and its fingerprint would change on every call.
    """
    storage = os.path.realpath(storage_root)
    if not storage.startswith(os.path.join(os.path.realpath(path), "")):
        return None
    return lambda rel, entry, is_dir: not (is_dir and os.path.realpath(entry.path) == storage)


def _file_sizes(path: Path, storage_root: Path):
    if path.is_file():
        yield path.stat().st_size
        return
    storage = os.path.realpath(storage_root) if _outside(storage_root, path) is not None else None
    for folder, dirs, names in os.walk(path):
        if storage is not None:  # the storage root inside the folder is not part of it (see _outside)
            dirs[:] = [d for d in dirs if os.path.realpath(os.path.join(folder, d)) != storage]
        for name in names:
            try:
                yield os.lstat(os.path.join(folder, name)).st_size
            except FileNotFoundError:
                continue


def _check_limits(role: str, name: str, path: Path, max_bytes: int, max_files: int, storage_root: Path) -> None:
    """Refuse an oversize save before reading any content (a stat-only walk that stops early)."""
    files = total = 0
    for size in _file_sizes(path, storage_root):
        files += 1
        total += size
        if files > max_files or total > max_bytes:
            raise ValueError(
                f"{role} {name!r} at {path} exceeds the archive limit ({files:,} files / {total:,} bytes so far; "
                f"limits {max_files:,} files / {max_bytes:,} bytes); pass force_save=True to store it anyway, "
                "or raise max_archive_bytes / max_archive_files"
            )
