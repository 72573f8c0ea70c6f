"""Helpers of the concurrency and disk-full tests: a child process driven line by line, content, and checks.

A ``Child`` is a Python script in a separate interpreter (real concurrency on
two cores). The test talks to it through pipes: it writes command lines to the
child's stdin and waits for the child's answer lines on stdout, so the two
sides meet at known points without sleeping. stderr goes to a file (a full pipe
would block the child) and is read once the child is gone.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from runicorn.api import Api
from runicorn.runfolder.timeline import check as check_timeline
from runicorn.store import ObjectStore, Walker, hash_bytes

HOUR = 3600.0
LINE_TIMEOUT = 60.0  # a generous bound on any one wait: a hang fails the test instead of blocking the suite


def content(tag: str, size: int) -> bytes:
    """``size`` deterministic bytes for ``tag`` (the same tag always gives the same bytes: the same object)."""
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(f"{tag}:{counter}".encode()).digest()
        counter += 1
    return bytes(out[:size])


def write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def backdate(path: Path, seconds: float) -> None:
    old = time.time() - seconds
    os.utime(path, (old, old), follow_symlinks=False)


def backdate_tree(top: Path, seconds: float) -> None:
    for path in top.rglob("*"):
        backdate(path, seconds)


def files_of(top: Path) -> dict[str, bytes]:
    """rel path -> bytes of every regular file below ``top`` (empty folders as ``b"<dir>"``)."""
    found = {}
    for folder, dirs, files in os.walk(top):
        for name in files:
            path = Path(folder) / name
            found[str(path.relative_to(top))] = path.read_bytes()
        for name in dirs:
            path = Path(folder) / name
            if not any(path.iterdir()):
                found[str(path.relative_to(top))] = b"<dir>"
    return found


def new_storage(root: Path) -> ObjectStore:
    """An empty storage root (store and runs/), so that gc has something to look at before the first run."""
    (root / "runs").mkdir(parents=True, exist_ok=True)
    return ObjectStore(root / "store")


def objects_in(root: Path) -> set[str]:
    return {o.id for o in ObjectStore(root / "store", create=False).iter_objects()}


def trashed_in(root: Path) -> set[str]:
    return {o.id for o in ObjectStore(root / "store", create=False).iter_trash()}


def lease_files(root: Path) -> list[Path]:
    folder = root / "store" / "leases"
    return sorted(folder.glob("*.lease")) if folder.is_dir() else []


def referenced(root: Path) -> tuple[set[str], list[str]]:
    """Everything the runs' manifests reach, and the referenced ids that are absent (must be none)."""
    api = Api(root)
    reach = Walker(api.store).walk([ref for view in api.runs() for ref in view.roots()])
    return set(reach.reached), sorted(reach.missing)


def gc_json(invoke, *args: str, expect: int = 0) -> dict:
    result = invoke("gc", *args, "--json", expect=expect)
    return json.loads(result.stdout)


def verify_json(invoke, expect: int | None = None) -> dict:
    result = invoke("verify", "--json", expect=expect)
    return json.loads(result.stdout)


def assert_verify_ok(invoke) -> dict:
    report = verify_json(invoke)
    assert report["ok"] is True, report
    assert report["missing"] == [] and report["corrupt"] == [] and report["damaged_runs"] == [], report
    return report


def manifest_lines(run_dir: Path) -> list[dict]:
    """Every line of a run's manifest; each one must parse as a JSON object (none torn in the middle)."""
    raw = (run_dir / "manifest.jsonl").read_bytes()
    assert raw == b"" or raw.endswith(b"\n"), f"manifest ends in a torn line: {raw[-80:]!r}"
    lines = []
    for number, line in enumerate(raw.split(b"\n")[:-1], start=1):
        value = json.loads(line)  # raises on a torn or merged line
        assert isinstance(value, dict), f"manifest line {number} is not an object: {line!r}"
        lines.append(value)
    return lines


def timeline_problems(run_dir: Path) -> list[str]:
    return check_timeline(run_dir / "timeline.bin")


def blake(data: bytes) -> str:
    return str(hash_bytes(data))


class Child:
    """A Python script in its own interpreter; stdin/stdout are line pipes, stderr goes to a file."""

    def __init__(self, script: str, *args, cwd: Path, env: dict | None = None, name: str = "child"):
        cwd = Path(cwd)
        self.script_path = cwd / f"{name}.py"
        self.script_path.write_text(script)
        self.stderr_path = cwd / f"{name}.stderr"
        self._stderr = open(self.stderr_path, "w")
        full_env = dict(os.environ)
        full_env.pop("PYTHONWARNINGS", None)
        full_env["PYTHONUNBUFFERED"] = "1"
        here = str(Path(__file__).resolve().parent)  # the child imports this module's helpers
        full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [here, full_env.get("PYTHONPATH")]))
        full_env.update(env or {})
        self.proc = subprocess.Popen([sys.executable, str(self.script_path), *map(str, args)], cwd=cwd, env=full_env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr, text=True,
                                     preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        self.lines: queue.Queue = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)  # end of output

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def send(self, line: str) -> None:
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def next_line(self, timeout: float = LINE_TIMEOUT) -> str:
        """The child's next stdout line; fails (with its stderr) if it exits or stays silent first."""
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            self.kill()
            raise AssertionError(f"the child printed nothing for {timeout} s; stderr:\n{self.stderr()}") from None
        if line is None:
            self.proc.wait()
            raise AssertionError(f"the child exited ({self.proc.returncode}) early; stderr:\n{self.stderr()}")
        return line

    def expect(self, prefix: str, timeout: float = LINE_TIMEOUT) -> str:
        line = self.next_line(timeout)
        assert line.startswith(prefix), f"wanted {prefix!r} from the child, got {line!r}; stderr:\n{self.stderr()}"
        return line[len(prefix):].strip()

    def remaining_lines(self, timeout: float = LINE_TIMEOUT) -> list[str]:
        """Every line up to the end of the child's output (call once it exited or is about to)."""
        found = []
        while True:
            try:
                line = self.lines.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"the child's output did not end within {timeout} s") from None
            if line is None:
                self.lines.put(None)
                return found
            found.append(line)

    def ready_lines(self) -> list[str]:
        """The lines printed so far, without waiting."""
        found = []
        while True:
            try:
                line = self.lines.get_nowait()
            except queue.Empty:
                return found
            if line is None:
                self.lines.put(None)  # keep the end marker for later readers
                return found
            found.append(line)

    def wait(self, timeout: float = LINE_TIMEOUT) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"the child did not exit within {timeout} s; stderr:\n{self.stderr()}") from None

    def exits_cleanly(self) -> str:
        """Wait for the child; it must exit 0 without a traceback. Returns what it wrote to stderr."""
        returncode = self.wait()
        stderr = self.stderr()
        assert returncode == 0, stderr
        assert "Traceback" not in stderr, stderr
        return stderr

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stderr(self) -> str:
        self._stderr.flush()
        return self.stderr_path.read_text(errors="replace")

    def close(self) -> None:
        self.kill()
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass
        self._stderr.close()
