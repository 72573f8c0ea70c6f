"""Run one workload phase in a child process and collect what it reports.

The child measures its own timed sections and prints one JSON object on
stdout (see workloads/common.py). The parent adds the child's peak memory and
turns every failure into a one-line error, so a broken side never stops the
harness.
"""

import json
import os
import signal
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path

WORKLOADS_DIR = Path(__file__).resolve().parent / "workloads"


@dataclass
class PhaseResult:
    """Metrics as (name, value, unit) triples, or an error line when the phase failed."""

    metrics: list[tuple[str, object, str]] = field(default_factory=list)
    error: str | None = None


def run_phase(
    python: Path, script: str, params: dict, workdir: Path, env: dict, timeout: float
) -> PhaseResult:
    """Run `python workloads/<script> <params>` in `workdir` and parse its report."""
    workdir.mkdir(parents=True, exist_ok=True)
    stderr_path = workdir / f"{params['phase']}.stderr.log"
    with open(stderr_path, "wb") as stderr:
        # The child's cwd is its workdir, never the repo: the peer must not see our package.
        proc = subprocess.Popen(
            [str(python), str(WORKLOADS_DIR / script), json.dumps(params)],
            cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=stderr, start_new_session=True,
        )
        timed_out = threading.Event()

        def kill_on_timeout() -> None:
            timed_out.set()
            os.killpg(proc.pid, signal.SIGKILL)

        killer = threading.Timer(timeout, kill_on_timeout)
        killer.start()
        try:
            stdout = proc.stdout.read()
            # wait4 gives this child's own rusage; RUSAGE_CHILDREN's ru_maxrss is a
            # max over every child reaped so far, so it cannot be split per child.
            _, status, rusage = os.wait4(proc.pid, 0)
        except BaseException:
            # Its own session does not get the terminal's Ctrl-C: stop it with us.
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise
        finally:
            killer.cancel()
            proc.stdout.close()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        reason = f"timeout after {timeout:.0f} s" if timed_out.is_set() else _last_line(stderr_path)
        return PhaseResult(error=f"error: {reason}")
    try:
        metrics = [tuple(m) for m in json.loads(stdout)["metrics"]]
    except (ValueError, KeyError) as exc:
        return PhaseResult(error=f"error: unreadable child report ({exc})")
    peak_rss = rusage.ru_maxrss * 1024  # Linux reports KiB
    metrics.append((f"peak RSS ({params['phase']})", peak_rss, "bytes"))
    return PhaseResult(metrics=metrics)


def _last_line(path: Path) -> str:
    lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1].strip() if lines else "child failed without a message"


# Variables that would make a child measure something else: a foreign import path, another
# storage root, or runs disabled as if it were a non-zero rank of a distributed job.
_UNSET_VARIABLES = (
    "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "RUNICORN_DIR", "RUNICORN_ON", "RANK", "LOCAL_RANK",
)


def child_env(home: Path) -> dict:
    """The environment of every child: ours and the peer see the same one, with a private HOME."""
    env = {name: value for name, value in os.environ.items() if name not in _UNSET_VARIABLES}
    env["HOME"] = str(home)  # neither side may read or write the user's config
    return env


def describe_interpreter(python: Path, env: dict, cwd: Path) -> str:
    """Which runicorn `python` imports, so that a mixed-up side is visible in the report."""
    probe = (
        "import runicorn, sys; print(f'runicorn {runicorn.__version__} from {runicorn.__file__},"
        " Python {sys.version.split()[0]}')"
    )
    done = subprocess.run([str(python), "-c", probe], cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or ["unknown failure"]
        return f"{python}: error: {lines[-1]}"
    return done.stdout.strip()
