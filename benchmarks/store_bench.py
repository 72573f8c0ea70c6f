"""Object store micro-benchmarks: large-file ingest, folder ingest, durability cost, verify.

    python benchmarks/store_bench.py            # 1 GiB file, 3 repetitions: about 2 minutes
    python benchmarks/store_bench.py --quick    # smoke test: 256 MiB file, 1 repetition: about 20 s
    options: --reps N, --only 1,2,3,5 (sections), --profile (cProfile of a cold tree ingest),
             --json FILE, --tmp DIR (default /tmp), --keep-temp, --no-prewarm

Measures ``runicorn.store`` directly (no SDK, no peer) and prints one table:

0. The machine: writing a new file into untouched memory and into pages just
   freed (see the VM note below), creating 3,000 small files (the floor of
   storing 3,000 new objects on this filesystem), a child's baseline RSS.
1. Ingest of one large random file (1 GiB; ``--quick``: 256 MiB) into a fresh
   store with ``ObjectStore.put_file``, against ``cat FILE > /dev/null`` (warm
   cache: cat runs twice, the second is timed), a plain Python read loop of
   1 MiB ``readinto`` calls, read+blake3 without storing (the hash ceiling) and
   a plain copy to a new file with fsync (the write floor); the peak RSS of the
   ingesting child; and a re-put of the same file (the object exists, so
   nothing should be written: the bytes passed to write(2) come from
   ``/proc/self/io``).
2. Ingest of a 3,000-file tree (~30 MB: files of 1–20 KiB, four of 1–5 MiB,
   150 nested folders) with ``Ingester(store, stat_cache=StatCache(...))``:
   cold (empty store and stat cache; the inputs are in the page cache), then
   the unchanged tree again with the stat cache (hashed bytes must be 0) and
   without it. File mtimes are set 10 s into the past first: the stat cache
   only records a file whose mtime was older than the racy window when
   hashing began, and freshly generated inputs are not.
3. Durability cost: 3,000 small files (``--quick``: 1,000) stored one
   ``put_file`` at a time (a synchronous fsync per object) against the same
   inside ``store.batch()``, and, as a floor only, the plain loop with fsync
   disabled (not a mode the store offers).
4. ``verify`` of the stores left by 1–3: time and MB/s.
5. Chunking (docs/format.md 4.3), each put into a fresh store: a new random file
   of the section-1 size stored whole (``ObjectStore.put_file_sized``, what
   ``put_file`` does without the compiled chunker) against chunked
   (``runicorn.store.put_file``: FastCDC, each chunk an object with its own
   fsync), chunked inside ``store.batch()`` (fsyncs in the background, as the
   outputs archiver stores), and the cut points alone (reading the file and
   running FastCDC, nothing hashed or stored); then the same for a safetensors
   checkpoint of the same size that shares nothing (random tensors of 4 KiB to
   24 MiB: cut at each tensor, those over 16 MiB by FastCDC). The overhead in
   bytes is what the chunked store holds beyond the file (the chunk list), with
   the number of objects; a re-put of the chunked checkpoint shows the cost
   when every chunk is already stored.

How it measures (the conventions of ``benchmarks/run.py``): every measurement
runs in a child process of this interpreter, which times only its operation
with ``time.perf_counter`` (interpreter start and imports excluded) and prints
one JSON line; the parent reads each child's peak RSS from ``os.wait4`` (the
rusage that ``getrusage(RUSAGE_CHILDREN).ru_maxrss`` reports, for that child
alone). fsync calls are counted by wrapping ``os.fsync`` in the child (their
time is summed over threads). Inputs are generated from fixed seeds, outside
the timed parts, in a temp folder that is removed at the end; ``sync(2)`` runs
between sections, never inside a timed part, so that one section's write-back
does not land in the next.

Two properties of small VMs are handled explicitly. In a VM whose host backs
guest memory lazily, writing into memory not touched for a while is several
times slower than into pages just freed (which the host takes back after about
a second); so every child that writes new data first writes and deletes a
scratch file of about that size, untimed
(``--no-prewarm`` turns this off; section 0 shows both speeds). And on an ext4
without a journal, creating an inode soon after many deletes is slow (the
kernel skips recently deleted inodes one by one), so stores are removed only
at the end, not between sections; deletes by other processes still show.

Cells are the median over repetitions (3; ``--quick``: 1) with [min–max].
MB is 10^6 bytes, RSS is in MiB. On a small shared machine expect noise:
compare ratios and rows of the same run rather than absolute times.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHUNK = 1 << 20  # the read size of the Python loop, the same as the store's
BIG_SEED, TREE_SEED, SMALL_SEED, CHECKPOINT_SEED = 1, 2, 3, 4
BACKDATE_NS = 10_000_000_000  # beyond both racy windows of the stat cache (100 ms and 3 s)


# --------------------------------------------------------------------------
# child side: one operation, timed from inside, reported as one JSON line
# --------------------------------------------------------------------------

class _FsyncCounter:
    """Wraps os.fsync (which the store calls through the os module) to count calls and time."""

    def __init__(self, enabled: bool = True):
        self.calls = 0
        self.seconds = 0.0
        self._real = os.fsync
        self._enabled = enabled
        os.fsync = self._fsync

    def _fsync(self, fd):
        started = time.perf_counter()
        if self._enabled:
            self._real(fd)
        self.seconds += time.perf_counter() - started
        self.calls += 1


def _proc_io() -> dict:
    try:
        with open("/proc/self/io") as handle:
            return {key: int(value) for key, value in (line.split(":") for line in handle)}
    except OSError:
        return {}


def _io_delta(before: dict, after: dict) -> dict:
    keys = ("rchar", "wchar", "write_bytes", "cancelled_write_bytes")
    return {key: after[key] - before[key] for key in keys if key in before and key in after}


def _prewarm(spec) -> None:
    """Write and delete a scratch file before timing, so the timed writes get recycled page-cache pages.

    In a VM whose host backs guest memory lazily (and takes free pages back after
    a few seconds), the first touch of a page costs a host fault: writing a new
    file then runs at a few hundred MB/s instead of GB/s. That is the machine,
    not the code under test; every child that writes new data starts alike.
    """
    size = spec.get("prewarm_bytes", 0)
    if not size:
        return
    path = os.path.join(spec["prewarm_dir"], f".prewarm-{os.getpid()}")
    zeros = bytes(CHUNK)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        for _ in range(-(-size // CHUNK)):
            os.write(fd, zeros)
    finally:
        os.close(fd)
        os.unlink(path)


def _child_vmprobe(spec) -> dict:
    """Write a new file twice: into memory untouched for a while, then into the pages just freed."""
    zeros = bytes(CHUNK)
    times = []
    for attempt in range(2):
        path = os.path.join(spec["dir"], f".vmprobe-{attempt}")
        started = time.perf_counter()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        for _ in range(spec["bytes"] // CHUNK):
            os.write(fd, zeros)
        os.close(fd)
        times.append(time.perf_counter() - started)
        os.unlink(path)
    return {"seconds": times[0], "recycled_seconds": times[1], "bytes": spec["bytes"]}


def _child_createprobe(spec) -> dict:
    """Create, write and close many small files in a new folder: the floor of storing as many new objects."""
    folder = spec["dir"]
    os.mkdir(folder)
    data = bytes(spec["size"])
    started = time.perf_counter()
    for index in range(spec["files"]):
        fd = os.open(os.path.join(folder, f"f{index}"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, data)
        os.close(fd)
    return {"seconds": time.perf_counter() - started, "files": spec["files"]}


def _child_read(spec) -> dict:
    buffer = bytearray(CHUNK)
    total = 0
    started = time.perf_counter()
    with open(spec["path"], "rb", buffering=0) as handle:
        while count := handle.readinto(buffer):
            total += count
    return {"seconds": time.perf_counter() - started, "bytes": total}


def _child_copy(spec) -> dict:
    """The floor of any ingest that keeps its own copy: read + write a new file + fsync, no hash."""
    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    total = 0
    started = time.perf_counter()
    fd = os.open(spec["dest"], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with open(spec["path"], "rb", buffering=0) as handle:
            while count := handle.readinto(buffer):
                chunk = view[:count]
                while chunk:
                    chunk = chunk[os.write(fd, chunk):]
                total += count
        written = time.perf_counter()
        os.fsync(fd)
    finally:
        os.close(fd)
    finished = time.perf_counter()
    os.unlink(spec["dest"])
    return {"seconds": finished - started, "fsync_seconds": finished - written, "bytes": total}


def _child_hash(spec) -> dict:
    from runicorn.store import hash_stream

    started = time.perf_counter()
    with open(spec["path"], "rb", buffering=0) as handle:
        oid, size = hash_stream(handle)
    return {"seconds": time.perf_counter() - started, "bytes": size, "id": str(oid)}


def _child_put(spec) -> dict:
    from runicorn.store import ObjectStore

    store = ObjectStore(spec["store"])
    existed = sum(1 for _ in store.iter_objects())
    fsyncs = _FsyncCounter()
    io_before = _proc_io()
    started = time.perf_counter()
    oid = store.put_file(spec["path"])
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "bytes": os.path.getsize(spec["path"]), "id": str(oid),
            "objects_before": existed, "fsync_calls": fsyncs.calls, "fsync_seconds": fsyncs.seconds,
            "io": _io_delta(io_before, _proc_io())}


def _child_ingest(spec) -> dict:
    from runicorn.store import Ingester, ObjectStore, StatCache

    store = ObjectStore(spec["store"])
    before = {o.id for o in store.iter_objects()}
    cache = StatCache(store.cache_dir / "stat.sqlite") if spec["stat_cache"] else None
    ingester = Ingester(store, stat_cache=cache)
    fsyncs = _FsyncCounter()
    profiler = None
    if spec.get("profile"):
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    io_before = _proc_io()
    started = time.perf_counter()
    result = ingester.ingest(spec["src"])
    seconds = time.perf_counter() - started
    io = _io_delta(io_before, _proc_io())
    if profiler is not None:
        profiler.disable()
    if cache is not None:
        cache.close()
    added = [o for o in store.iter_objects() if o.id not in before]
    report = {"seconds": seconds, "id": str(result.id), "files": result.files, "bytes": result.bytes,
              "hashed_bytes": result.hashed_bytes, "objects_added": len(added),
              "bytes_added": sum(o.size for o in added), "fsync_calls": fsyncs.calls,
              "fsync_seconds": fsyncs.seconds, "io": io}
    if profiler is not None:
        report["profile"] = _profile_text(profiler, spec.get("profile_lines", 25))
    return report


def _profile_text(profiler, lines: int) -> str:
    import io
    import pstats

    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(lines)
    stats.sort_stats("cumulative").print_stats(lines)
    text = out.getvalue()
    return text.replace(str(Path(sys.prefix)), "<python>").replace(str(Path.cwd()), ".")


def _child_puts(spec) -> dict:
    """Store every file of a flat folder, one put_file each, in the given durability mode."""
    from runicorn.store import ObjectStore

    store = ObjectStore(spec["store"])
    paths = sorted(os.path.join(spec["src"], name) for name in os.listdir(spec["src"]))
    mode = spec["mode"]
    fsyncs = _FsyncCounter(enabled=mode != "nofsync")
    started = time.perf_counter()
    if mode == "batch":
        with store.batch():
            for path in paths:
                store.put_file(path)
    else:
        for path in paths:
            store.put_file(path)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "files": len(paths), "bytes": sum(os.path.getsize(p) for p in paths),
            "fsync_calls": fsyncs.calls, "fsync_seconds": fsyncs.seconds}


def _child_verify(spec) -> dict:
    from runicorn.store import ObjectId, ObjectStore, verify
    from runicorn.store import BLOB, TREE, Ref

    store = ObjectStore(spec["store"], create=False)
    roots = {"bench": [Ref(ObjectId(oid), TREE if is_tree else BLOB) for oid, is_tree in spec["roots"]]}
    started = time.perf_counter()
    report = verify(store, roots)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "objects": report.objects_checked, "bytes": report.bytes_checked,
            "ok": report.ok, "corrupt": len(report.corrupt), "missing": len(report.missing)}


def _child_putfile(spec) -> dict:
    """Store one file whole (``put_file_sized``) or as a chunk list (``runicorn.store.put_file``), maybe in a batch."""
    from runicorn.store import ObjectStore, put_file
    from runicorn.store.chunked import read_chunk_list

    store = ObjectStore(spec["store"])
    before = {o.id for o in store.iter_objects()}
    fsyncs = _FsyncCounter()
    io_before = _proc_io()
    started = time.perf_counter()
    if spec["mode"] == "whole":
        oid, size = store.put_file_sized(spec["path"])
        chunks = None
    elif spec["mode"] == "batch":
        with store.batch():
            stored = put_file(store, spec["path"])
        oid, size, chunks = stored.id, stored.size, stored.chunks
    else:
        stored = put_file(store, spec["path"])
        oid, size, chunks = stored.id, stored.size, stored.chunks
    seconds = time.perf_counter() - started
    io = _io_delta(io_before, _proc_io())
    added = [o for o in store.iter_objects() if o.id not in before]
    return {"seconds": seconds, "bytes": size, "id": str(oid), "objects_added": len(added),
            "bytes_added": sum(o.size for o in added), "list_bytes": store.size(chunks) if chunks else 0,
            "chunks": len(read_chunk_list(store, chunks).chunks) if chunks else 0,
            "fsync_calls": fsyncs.calls, "fsync_seconds": fsyncs.seconds, "io": io}


def _child_cut(spec) -> dict:
    """Only the cut points: read the file and decide where chunks begin (format pieces, FastCDC)."""
    from runicorn.store.chunking import cut_points

    started = time.perf_counter()
    with open(spec["path"], "rb", buffering=0) as handle:
        pieces = list(cut_points(handle, os.fstat(handle.fileno()).st_size))
    return {"seconds": time.perf_counter() - started, "bytes": sum(length for _, length in pieces),
            "chunks": len(pieces)}


def _child_idle(spec) -> dict:
    """Only the import: the baseline RSS of every child."""
    import runicorn.store

    return {"seconds": 0.0, "module": runicorn.store.__name__}


CHILD_OPS = {"read": _child_read, "copy": _child_copy, "hash": _child_hash, "put": _child_put, "ingest": _child_ingest,
             "puts": _child_puts, "verify": _child_verify, "idle": _child_idle, "putfile": _child_putfile,
             "cut": _child_cut,
             "vmprobe": _child_vmprobe, "createprobe": _child_createprobe}


def child_main(spec_json: str) -> None:
    spec = json.loads(spec_json)
    _prewarm(spec)
    print(json.dumps(CHILD_OPS[spec["op"]](spec)))


# --------------------------------------------------------------------------
# parent side: inputs, children, repetitions, the table
# --------------------------------------------------------------------------

def run_child(spec: dict, log_dir: Path) -> dict:
    """Run one operation in a child; add its peak RSS. A failure becomes {"error": ...}."""
    log_dir.mkdir(parents=True, exist_ok=True)
    stderr_path = log_dir / f"child-{time.time_ns()}.stderr.log"
    with open(stderr_path, "wb") as stderr:
        proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--child", json.dumps(spec)],
                                stdout=subprocess.PIPE, stderr=stderr)
        out = proc.stdout.read()
        proc.stdout.close()
        # wait4 instead of wait(): the rusage of this child alone (RUSAGE_CHILDREN keeps a running max).
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        lines = stderr_path.read_text(errors="replace").strip().splitlines()
        return {"error": lines[-1] if lines else f"exit code {proc.returncode}"}
    report = json.loads(out.decode().strip().splitlines()[-1])
    report["rss_mib"] = usage.ru_maxrss / 1024  # KiB on Linux
    return report


def time_cat(path: Path) -> float:
    """Warm-cache cat: the first run loads the page cache, the second is timed (process start included)."""
    for _ in range(2):
        started = time.perf_counter()
        subprocess.run(["cat", str(path)], stdout=subprocess.DEVNULL, check=True)
        seconds = time.perf_counter() - started
    return seconds


def make_big_file(path: Path, size: int) -> None:
    rng = random.Random(BIG_SEED)
    with open(path, "wb") as handle:
        for _ in range(size // CHUNK):
            handle.write(rng.randbytes(CHUNK))
        handle.flush()
        os.fsync(handle.fileno())


def make_checkpoint_file(path: Path, size: int) -> dict:
    """A safetensors checkpoint of about ``size`` bytes of random F32 tensors that nothing else shares.

    Tensor sizes cycle through 24 MiB (over the 16 MiB piece bound: cut by FastCDC), 8, 4 and 1 MiB and a
    4 KiB bias (grouped with its neighbours); the layout is safetensors' own, written by hand.
    """
    rng = random.Random(CHECKPOINT_SEED)
    cycle = [24 << 20, 4096, 8 << 20, 4096, 4 << 20, 1 << 20, 4096]
    sizes, total, index = [], 0, 0
    while total < size - (24 << 20):
        sizes.append(cycle[index % len(cycle)])
        total += sizes[-1]
        index += 1
    sizes.append(size - total)  # the last tensor brings the data to ``size`` bytes
    header, offset = {"__metadata__": {"bench": "store_bench"}}, 0
    for index, length in enumerate(sizes):
        header[f"layer{index:04d}"] = {"dtype": "F32", "shape": [length // 4],
                                       "data_offsets": [offset, offset + length]}
        offset += length
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as handle:
        handle.write(len(text).to_bytes(8, "little") + text)
        for length in sizes:
            for start in range(0, length, CHUNK):
                handle.write(rng.randbytes(min(CHUNK, length - start)))
        handle.flush()
        os.fsync(handle.fileno())
    return {"tensors": len(sizes), "bytes": path.stat().st_size}


def make_tree(root: Path, files: int) -> dict:
    """A code-snapshot-like tree: nested folders, many 1–20 KiB files (log-uniform), four of 1–5 MiB."""
    rng = random.Random(TREE_SEED)
    folders = [""]
    for index in range(max(1, files // 20)):
        parent = rng.choice(folders)
        if parent.count("/") >= 4:
            parent = ""
        folders.append(f"{parent}pkg{index}/")
    for folder in folders:
        (root / folder).mkdir(parents=True, exist_ok=True)
    large = [1, 2, 3, 5][: max(0, min(4, files // 500))]
    total = 0
    for index in range(files - len(large)):
        size = int(1024 * 20 ** rng.random())
        suffix = rng.choice([".py", ".py", ".py", ".txt", ".json", ".md"])
        (root / f"{rng.choice(folders)}mod{index}{suffix}").write_bytes(rng.randbytes(size))
        total += size
    for index, mib in enumerate(large):
        (root / f"{rng.choice(folders)}asset{index}.bin").write_bytes(rng.randbytes(mib << 20))
        total += mib << 20
    return {"files": files, "folders": len(folders), "bytes": total}


def make_small_files(root: Path, count: int) -> dict:
    rng = random.Random(SMALL_SEED)
    root.mkdir(parents=True)
    total = 0
    for index in range(count):
        size = int(1024 * 20 ** rng.random())
        (root / f"f{index:05d}.py").write_bytes(rng.randbytes(size))
        total += size
    return {"files": count, "bytes": total}


def backdate(root: Path, seconds_ns: int) -> None:
    """Set every file's mtime into the past, so the stat cache may record it (racy-window rule)."""
    when = time.time_ns() - seconds_ns
    for folder, _, names in os.walk(root):
        for name in names:
            os.utime(os.path.join(folder, name), ns=(when, when))


def machine(workdir: Path) -> dict:
    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import blake3
        blake3_version = blake3.__version__
    except Exception:  # noqa: BLE001  (a header line must not stop the benchmark)
        blake3_version = "?"
    return {"nproc": os.cpu_count(), "cpu": model, "kernel": platform.release(),
            "python": platform.python_version(), "blake3": blake3_version,
            "filesystem": describe_filesystem(workdir),
            "mem_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)}


def describe_filesystem(path: Path) -> str:
    """Type, device and (for ext4) whether it has a journal: it changes what fsync and create cost."""
    try:
        device = os.stat(path).st_dev
        best = None
        for line in Path("/proc/self/mounts").read_text().splitlines():
            source, target, fstype = line.split()[:3]
            try:
                if os.stat(target).st_dev == device and (best is None or len(target) > len(best[1])):
                    best = (source, target, fstype)
            except OSError:
                continue
        if best is None:
            return "?"
        source, target, fstype = best
        text = f"{fstype} on {target} ({source})"
        if fstype == "ext4":
            journal = Path("/proc/fs/jbd2").exists() and any(
                p.name.startswith(Path(source).name + "-") for p in Path("/proc/fs/jbd2").iterdir())
            text += ", journal" if journal else ", no journal"
        return text
    except OSError:
        return "?"


def sync() -> None:
    """Flush write-back between sections so it is not charged to the next timed part."""
    if hasattr(os, "sync"):
        os.sync()


class Table:
    """Collects per-repetition values per row; renders median [min–max]."""

    def __init__(self):
        self.rows: dict[tuple[str, str], dict] = {}

    def add(self, section: str, name: str, **values) -> None:
        row = self.rows.setdefault((section, name), {"values": {}, "meta": {}})
        for key, value in values.items():
            if key in ("goal", "unit"):
                row["meta"][key] = value
            elif value is not None:
                row["values"].setdefault(key, []).append(value)

    def error(self, section: str, name: str, message: str) -> None:
        self.rows.setdefault((section, name), {"values": {}, "meta": {}})["meta"]["error"] = message

    def median(self, section: str, name: str, key: str):
        values = self.rows.get((section, name), {}).get("values", {}).get(key)
        return statistics.median(values) if values else None

    def render(self) -> str:
        header = ("measurement", "time", "figure", "peak RSS", "goal")
        lines = []
        # Sections are numbered; verify rows arrive interleaved with the others and go last.
        for (section, name), row in sorted(self.rows.items(), key=lambda item: item[0][0].split(".")[0]):
            values, meta = row["values"], row["meta"]
            if "error" in meta:
                lines.append((section, name, f"error: {meta['error']}", "", "", meta.get("goal", "")))
                continue
            time_cell = _cell(values.get("seconds"), _fmt_seconds)
            figure = _cell(values.get("figure"), _fmt_number, meta.get("unit", ""))
            rss = _cell(values.get("rss_mib"), lambda v: f"{v:.0f}", " MiB")
            lines.append((section, name, time_cell, figure, rss, meta.get("goal", "")))
        widths = [max(len(header[i]), *(len(line[i + 1]) for line in lines)) for i in range(len(header))]
        out = []
        current = None
        for line in lines:
            if line[0] != current:
                current = line[0]
                out.append("")
                out.append(current)
                out.append("  " + "  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip())
            out.append("  " + "  ".join(c.ljust(w) for c, w in zip(line[1:], widths)).rstrip())
        return "\n".join(out)

    def as_json(self) -> list:
        return [{"section": s, "name": n, **row} for (s, n), row in self.rows.items()]


def _cell(values, fmt, unit: str = "") -> str:
    """median [min–max] with the unit once; one value when all repetitions agree."""
    if not values:
        return ""
    if any(isinstance(v, (str, bool)) for v in values):  # verdicts, not numbers: show each distinct one
        return ", ".join(sorted({("yes" if v else "no") if isinstance(v, bool) else str(v) for v in values}))
    low, mid, high = fmt(min(values)), fmt(statistics.median(values)), fmt(max(values))
    if len(values) == 1 or low == high:
        return mid + unit
    return f"{mid} [{low}–{high}]{unit}"


def _fmt_seconds(value: float) -> str:
    if value < 1:
        return f"{value * 1000:.1f} ms" if value < 0.1 else f"{value * 1000:.0f} ms"
    return f"{value:.2f} s"


def _fmt_number(value: float) -> str:
    if value == int(value) and abs(value) >= 10:
        return f"{int(value):,}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def mb_per_s(nbytes: int, seconds: float) -> float | None:
    return nbytes / seconds / 1e6 if seconds > 0 else None


def main() -> None:
    args = parse_args()
    if args.child is not None:
        child_main(args.child)
        return
    reps = args.reps or (1 if args.quick else 3)
    big_size = (256 if args.quick else 1024) << 20
    tree_files = 3000
    small_files = 1000 if args.quick else 3000

    session = Path(tempfile.mkdtemp(prefix="runicorn-store-bench-", dir=args.tmp))
    need = (big_size * (reps + 1) if 1 in args.only else 0) + (200 << 20) * reps
    if 5 in args.only:  # its inputs (the large file, a checkpoint as large) and six stores of either per rep
        need += big_size * (2 + 6 * reps)
    free = shutil.disk_usage(session).free
    if free < need * 1.2:
        shutil.rmtree(session)
        sys.exit(f"store_bench: {session.parent} has {free / 2**30:.1f} GiB free; "
                 f"this run needs about {need / 2**30:.1f} GiB (use --quick or --tmp DIR)")
    info = machine(session)
    table = Table()
    profile_text = None
    logs = session / "logs"
    try:
        _progress(f"generating inputs in {session} ...")
        big = session / "input-big.bin"
        if 1 in args.only or 5 in args.only:
            make_big_file(big, big_size)
        checkpoint = session / "input-checkpoint.safetensors"
        checkpoint_info = make_checkpoint_file(checkpoint, big_size) if 5 in args.only else {}
        tree = session / "input-tree"
        tree_info = make_tree(tree, tree_files)
        small = session / "input-small"
        small_info = make_small_files(small, small_files)
        # The stat cache records a file only if its mtime was older than the racy window
        # (100 ms; 3 s for whole-second mtimes) when hashing began: a file written in the
        # same clock tick as the hash could change without changing its stat. Inputs just
        # generated are that young, so they are moved 10 s into the past; a real workspace
        # is older than that.
        backdate(tree, BACKDATE_NS)
        sync()

        def prewarm(nbytes: int) -> dict:
            return {} if args.no_prewarm else {"prewarm_bytes": nbytes, "prewarm_dir": str(session)}

        probe = run_child({"op": "vmprobe", "dir": str(session), "bytes": min(big_size, 256 << 20)}, logs)
        if "error" in probe:
            table.error("0. machine", "write a new file", probe["error"])
        else:
            mib = probe["bytes"] >> 20
            table.add("0. machine", f"write a new {mib} MiB file (no fsync), first", seconds=probe["seconds"],
                      figure=mb_per_s(probe["bytes"], probe["seconds"]), unit=" MB/s")
            table.add("0. machine", "  again, into the pages just freed", seconds=probe["recycled_seconds"],
                      figure=mb_per_s(probe["bytes"], probe["recycled_seconds"]), unit=" MB/s")
        probe = run_child({"op": "createprobe", "dir": str(session / "createprobe"), "files": tree_files,
                           "size": 8192}, logs)
        if "error" in probe:
            table.error("0. machine", "create small files", probe["error"])
        else:
            table.add("0. machine", f"create {tree_files:,} new 8 KiB files (no fsync)", seconds=probe["seconds"],
                      figure=probe["seconds"] / probe["files"] * 1e6, unit=" µs per file")
        idle = run_child({"op": "idle"}, logs)
        table.add("0. machine", "child: python + import runicorn.store", seconds=None,
                  rss_mib=idle.get("rss_mib"))

        for rep in range(1, reps + 1):
            rep_dir = session / f"rep{rep}"
            rep_dir.mkdir()
            if 1 in args.only:
                _progress(f"rep {rep}/{reps}: large file ...")
                bench_big_file(table, big, rep_dir, logs, prewarm)
                sync()
            if 2 in args.only:
                _progress(f"rep {rep}/{reps}: {tree_files:,}-file tree ...")
                bench_tree(table, tree, tree_info, rep_dir, logs, prewarm)
                sync()
            if 3 in args.only:
                _progress(f"rep {rep}/{reps}: {small_files:,} small files, durability ...")
                bench_small(table, small, small_info, rep_dir, logs, prewarm)
                sync()
            if 5 in args.only:
                _progress(f"rep {rep}/{reps}: chunking, whole-file against chunked ...")
                bench_chunking(table, big, checkpoint, checkpoint_info, rep_dir, logs, prewarm)
                sync()

        if args.profile:
            _progress("profiling one more cold tree ingest ...")
            prof = run_child({"op": "ingest", "store": str(session / "profile-store"), "src": str(tree),
                              "stat_cache": True, "profile": True, "profile_lines": args.profile_lines,
                              **prewarm(2 * tree_info["bytes"])}, logs)
            profile_text = prof.get("profile") or f"error: {prof.get('error')}"
            if "profile" in prof:
                profile_text += (f"\n(the profiled ingest took {prof['seconds']:.3f} s with profiler overhead; "
                                 f"{prof['fsync_calls']} fsync calls, "
                                 f"{prof['fsync_seconds']:.3f} s summed over threads)")
    finally:
        if args.keep_temp:
            _progress(f"kept the temp folder {session}")
        else:
            shutil.rmtree(session, ignore_errors=True)

    print_report(info, table, reps, big_size, tree_info, small_info, args)
    if profile_text:
        print("\ncProfile of a cold 3,000-file ingest (main thread):")
        print(profile_text)
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": info, "reps": reps, "quick": args.quick,
                                               "tree": tree_info, "small": small_info,
                                               "rows": table.as_json()}, indent=1))


def bench_big_file(table: Table, big: Path, rep_dir: Path, logs: Path, prewarm) -> None:
    section = "1. large file"
    size = big.stat().st_size
    label = f"{size >> 20} MiB"
    cat_seconds = time_cat(big)
    table.add(section, f"cat {label} > /dev/null (warm, 2nd run)", seconds=cat_seconds,
              figure=mb_per_s(size, cat_seconds), unit=" MB/s")
    read = run_child({"op": "read", "path": str(big)}, logs)
    _add(table, section, "python read loop (1 MiB readinto)", read,
         figure=lambda r: mb_per_s(r["bytes"], r["seconds"]), unit=" MB/s")
    hashed = run_child({"op": "hash", "path": str(big)}, logs)
    _add(table, section, "read + blake3, nothing stored (hash_stream)", hashed,
         figure=lambda r: mb_per_s(r["bytes"], r["seconds"]), unit=" MB/s")
    copy = run_child({"op": "copy", "path": str(big), "dest": str(rep_dir / "copy.bin"), **prewarm(size)}, logs)
    _add(table, section, "copy to a new file, no hash (read+write+fsync)", copy,
         figure=lambda r: mb_per_s(r["bytes"], r["seconds"]), unit=" MB/s")
    if "error" not in copy:
        table.add(section, "  of which fsync", seconds=copy["fsync_seconds"])
    store = rep_dir / "store-big"
    put = run_child({"op": "put", "store": str(store), "path": str(big), **prewarm(size)}, logs)
    _add(table, section, "put_file into a fresh store", put,
         figure=lambda r: mb_per_s(r["bytes"], r["seconds"]), unit=" MB/s", goal="RSS < 100 MiB")
    if "error" not in put:
        table.add(section, "  of which fsync (summed)", seconds=put["fsync_seconds"],
                  figure=put["fsync_calls"], unit=" calls")
        table.add(section, "  ingest / cat throughput", figure=100 * cat_seconds / put["seconds"],
                  unit=" %", goal=">= 50 %")
        if "error" not in copy:
            table.add(section, "  ingest / copy throughput", figure=100 * copy["seconds"] / put["seconds"], unit=" %")
        if "error" not in hashed:
            table.add(section, "  hash-only / cat throughput", figure=100 * cat_seconds / hashed["seconds"],
                      unit=" %")
    reput = run_child({"op": "put", "store": str(store), "path": str(big), **prewarm(size)}, logs)
    _add(table, section, "re-put of the same file (object exists)", reput,
         figure=lambda r: r["io"].get("wchar", 0) / 2**20, unit=" MiB passed to write(2)",
         goal="writes nothing")
    if "error" not in reput and "write_bytes" in reput["io"]:
        # Dirty pages of a temp file unlinked before write-back never reach the disk.
        to_disk = reput["io"]["write_bytes"] - reput["io"].get("cancelled_write_bytes", 0)
        table.add(section, "  of which bound for the disk (dirtied − cancelled)", figure=max(0, to_disk) / 1024,
                  unit=" KiB")
    if "error" not in put:
        verify = run_child({"op": "verify", "store": str(store), "roots": [[put["id"], False]]}, logs)
        _add(table, "4. verify", f"store of 1. ({label}, 1 object)", verify,
             figure=lambda r: mb_per_s(r["bytes"], r["seconds"]) if r["ok"] else "NOT OK", unit=" MB/s")


def bench_tree(table: Table, tree: Path, tree_info: dict, rep_dir: Path, logs: Path, prewarm) -> None:
    section = (f"2. tree: {tree_info['files']:,} files, {tree_info['folders']} folders, "
               f"{tree_info['bytes'] / 1e6:.1f} MB (mtimes backdated 10 s: see notes)")
    store = rep_dir / "store-tree"
    warm_memory = prewarm(2 * tree_info["bytes"])
    cold = run_child({"op": "ingest", "store": str(store), "src": str(tree), "stat_cache": True, **warm_memory}, logs)
    _add(table, section, "cold ingest (empty store + stat cache)", cold,
         figure=lambda r: r["objects_added"], unit=" objects written", goal="< 0.5 s")
    if "error" in cold:
        return
    table.add(section, "  of which fsync (summed over threads)", seconds=cold["fsync_seconds"],
              figure=cold["fsync_calls"], unit=" calls")
    warm = run_child({"op": "ingest", "store": str(store), "src": str(tree), "stat_cache": True, **warm_memory}, logs)
    _add(table, section, "unchanged, with stat cache", warm,
         figure=lambda r: r["hashed_bytes"], unit=" bytes hashed", goal="tens of ms; 0 bytes hashed")
    if "error" not in warm:
        table.add(section, "  same root id as cold", figure=warm["id"] == cold["id"], unit="")
        table.add(section, "  objects added", figure=warm["objects_added"], unit="", goal="0")
    nocache = run_child({"op": "ingest", "store": str(store), "src": str(tree), "stat_cache": False, **warm_memory},
                        logs)
    _add(table, section, "unchanged, no stat cache (re-hash all)", nocache,
         figure=lambda r: r["hashed_bytes"] / 1e6, unit=" MB hashed")
    verify = run_child({"op": "verify", "store": str(store), "roots": [[cold["id"], True]]}, logs)
    _add(table, "4. verify", f"store of 2. ({cold['objects_added']:,} objects)", verify,
         figure=lambda r: mb_per_s(r["bytes"], r["seconds"]) if r["ok"] else "NOT OK", unit=" MB/s")


def bench_small(table: Table, small: Path, small_info: dict, rep_dir: Path, logs: Path, prewarm) -> None:
    section = f"3. durability: {small_info['files']:,} small files, {small_info['bytes'] / 1e6:.1f} MB"
    runs = {}
    for mode, name in (("sync", "put_file each (fsync per object)"),
                       ("batch", "put_file inside store.batch()"),
                       ("nofsync", "floor: put_file each, fsync disabled")):
        store = rep_dir / f"store-small-{mode}"
        runs[mode] = run_child({"op": "puts", "store": str(store), "src": str(small), "mode": mode,
                                **prewarm(2 * small_info["bytes"])}, logs)
        _add(table, section, name, runs[mode], figure=lambda r: r["fsync_calls"],
             unit=" fsync calls" + (" (skipped)" if mode == "nofsync" else ""))
    if all("error" not in runs[m] for m in ("sync", "batch")):
        table.add(section, "  sync / batch time", figure=runs["sync"]["seconds"] / runs["batch"]["seconds"], unit=" x")
    verify = run_child({"op": "verify", "store": str(rep_dir / "store-small-batch"), "roots": []}, logs)
    _add(table, "4. verify", f"store of 3., batch ({small_info['files']:,} objects)", verify,
         figure=lambda r: mb_per_s(r["bytes"], r["seconds"]) if r["ok"] else "NOT OK", unit=" MB/s")


def bench_chunking(table: Table, big: Path, checkpoint: Path, checkpoint_info: dict, rep_dir: Path, logs: Path,
                   prewarm) -> None:
    """Section 5: a new file stored whole and chunked, on random data and on a checkpoint that shares nothing."""
    inputs = (("random", big, f"random {big.stat().st_size >> 20} MiB file"),
              ("checkpoint", checkpoint, f"safetensors checkpoint, {checkpoint_info['tensors']} tensors, "
                                         f"{checkpoint.stat().st_size >> 20} MiB, nothing shared"))
    for key, path, title in inputs:
        section = f"5. chunking: {title}"
        size = path.stat().st_size
        runs = {}
        for mode, name in (("whole", "whole-file put (put_file_sized), fresh store"),
                           ("chunked", "chunked put (store.put_file), fresh store"),
                           ("batch", "chunked put inside store.batch(), fresh store")):
            runs[mode] = run_child({"op": "putfile", "store": str(rep_dir / f"store-chunking-{key}-{mode}"),
                                    "path": str(path), "mode": mode, **prewarm(size)}, logs)
            _add(table, section, name, runs[mode], figure=lambda r: mb_per_s(r["bytes"], r["seconds"]), unit=" MB/s")
            if "error" not in runs[mode]:
                table.add(section, f"  {mode}: objects written", figure=runs[mode]["objects_added"], unit="")
                table.add(section, f"  {mode}: fsync calls (summed time)", seconds=runs[mode]["fsync_seconds"],
                          figure=runs[mode]["fsync_calls"], unit="")
        cut = run_child({"op": "cut", "path": str(path)}, logs)
        _add(table, section, "cut points only (read + format pieces + FastCDC)", cut,
             figure=lambda r: mb_per_s(r["bytes"], r["seconds"]), unit=" MB/s")
        whole, chunked = runs["whole"], runs["chunked"]
        if "error" in whole or "error" in chunked:
            continue
        table.add(section, "  chunked / whole time", figure=chunked["seconds"] / whole["seconds"], unit=" x")
        if "error" not in runs["batch"]:
            table.add(section, "  chunked in a batch / whole time", figure=runs["batch"]["seconds"] / whole["seconds"],
                      unit=" x")
        table.add(section, "  chunks", figure=chunked["chunks"], unit="")
        table.add(section, "  mean chunk size", figure=chunked["bytes"] / max(1, chunked["chunks"]) / 2**20,
                  unit=" MiB")
        table.add(section, "  chunk list size", figure=chunked["list_bytes"] / 1024, unit=" KiB")
        overhead = chunked["bytes_added"] - whole["bytes_added"]
        table.add(section, "  bytes stored beyond whole-file", figure=overhead / 1024, unit=" KiB")
        table.add(section, "  the same, as a share of the file", figure=100 * overhead / whole["bytes_added"],
                  unit=" %")
        if key == "checkpoint":
            reput = run_child({"op": "putfile", "store": str(rep_dir / f"store-chunking-{key}-chunked"),
                               "path": str(path), "mode": "chunked", **prewarm(size)}, logs)
            _add(table, section, "re-put of the chunked checkpoint (every chunk stored)", reput,
                 figure=lambda r: r["io"].get("wchar", 0) / 2**20, unit=" MiB passed to write(2)",
                 goal="writes nothing")


def _add(table: Table, section: str, name: str, report: dict, figure=None, unit: str = "", goal: str = "") -> None:
    if "error" in report:
        table.error(section, name, report["error"])
        return
    value = figure(report) if figure else None
    if isinstance(value, str):  # a verdict instead of a number (verify not ok)
        table.error(section, name, value)
        return
    table.add(section, name, seconds=report.get("seconds") or None, figure=value,
              rss_mib=report.get("rss_mib"), unit=unit, goal=goal)


def print_report(info: dict, table: Table, reps: int, big_size: int, tree_info: dict, small_info: dict, args) -> None:
    print(f"runicorn store benchmark  ({'quick, ' if args.quick else ''}{reps} repetition{'s' if reps > 1 else ''}; "
          "median [min–max])")
    print(f"machine: {info['nproc']} CPUs, {info['cpu']}, {info['mem_gib']} GiB RAM, Linux {info['kernel']}, "
          f"Python {info['python']}, blake3 {info['blake3']}")
    print(f"temp filesystem: {info['filesystem']}")
    print(table.render())
    print()
    print("Notes:")
    print("- Times are measured inside each child around the operation only; cat includes its process start.")
    print("- 'cold' means an empty store and stat cache; the inputs are in the page cache (just written).")
    print("- Before the tree ingests every file's mtime is set 10 s into the past (os.utime): the stat cache")
    print("  records a file only if its mtime was older than the racy window (100 ms; 3 s for whole-second")
    print("  mtimes) when hashing began, so freshly generated inputs would otherwise be re-hashed.")
    print("- 'passed to write(2)' is wchar from /proc/self/io: bytes copied into temp files, even if they are")
    print("  unlinked before they reach the disk ('bound for the disk': write_bytes - cancelled_write_bytes).")
    print("- The fsync-disabled row is a floor for comparison, not a mode the store offers.")
    if not args.no_prewarm:
        print("- Children that write new data first write and delete a scratch file of about that size")
        print("  (untimed), so their writes reuse freed page-cache pages: in a VM that backs guest memory")
        print("  lazily, a first touch costs a host fault (section 0 shows both). --no-prewarm turns it off.")


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="smoke test: 256 MiB file, 1,000 small files, 1 repetition")
    parser.add_argument("--only", type=lambda text: {int(part) for part in text.split(",")}, default={1, 2, 3, 5},
                        metavar="1,2,3,5", help="sections to run (4, verify, follows the others; 5: chunking)")
    parser.add_argument("--reps", type=int, help="repetitions (default 3; --quick: 1)")
    parser.add_argument("--profile", action="store_true", help="add a cProfile of one cold 3,000-file ingest")
    parser.add_argument("--profile-lines", type=int, default=25, help="lines per cProfile listing (default 25)")
    parser.add_argument("--json", metavar="FILE", help="also write every measured value as JSON")
    parser.add_argument("--no-prewarm", action="store_true",
                        help="do not recycle page-cache memory before timed writes (see the VM note)")
    parser.add_argument("--tmp", metavar="DIR", default="/tmp", help="where the temp folder goes (default /tmp)")
    parser.add_argument("--keep-temp", action="store_true", help="keep the temp folder (stores, child stderr logs)")
    parser.add_argument("--child", metavar="SPEC", help=argparse.SUPPRESS)
    return parser.parse_args()


if __name__ == "__main__":
    main()
