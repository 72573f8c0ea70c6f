"""The workloads of BENCH.md: which script runs them, in which phases, with which sizes.

Each phase runs in a fresh child process; phases of one workload share a
workdir, so a later phase sees what an earlier one wrote (the W1 reader, the
second and third W2 runs).
"""

import sys
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Workload:
    id: str
    title: str  # formatted with the workload's params
    script: str  # file name under benchmarks/workloads/
    phases: tuple[str, ...]
    params: dict = field(default_factory=dict)
    quick_params: dict = field(default_factory=dict)  # overrides under --quick
    full_only: bool = False
    # A workload whose workdir (same rep, same side) this one uses, passed as params["<id>_workdir"].
    needs: str | None = None

    def params_for(self, quick: bool) -> dict:
        return {**self.params, **(self.quick_params if quick else {})}

    def describe(self, quick: bool) -> str:
        return self.title.format(**self.params_for(quick))


WORKLOADS = [
    Workload("W1", "{calls:,} × run.log of 10 float scalars, then a fresh process reads them back",
             "w1_log.py", ("write", "read"), {"calls": 20_000, "budget_sec": None}),
    # The peer slows down as its run grows: 200,000 calls would take it hours, hence a budget.
    Workload("W1b", "{calls:,} × run.log of 10 float scalars (stops after {budget_sec} s), then read back",
             "w1_log.py", ("write", "read"), {"calls": 200_000, "budget_sec": 300}, full_only=True),
    Workload("W2", "code snapshot of a 3,000-file workspace: cold, unchanged, one file edited",
             "w2_snapshot.py", ("cold", "unchanged", "edited")),
    # --quick archives fewer runs: the peer spends ~20 s per run after the first.
    Workload("W3", "{runs} runs × (5 checkpoints of 20 MiB sharing 16 MiB, 3 small files), scan_outputs_once",
             "w3_outputs.py", ("sweep",), {"runs": 10}, quick_params={"runs": 4}),
    # The checkpoints are written by this interpreter (writer_python), with safetensors and torch where installed
    # here (benchmark only), so both sides archive files of the same layout; the peer's venv has neither package.
    Workload("W3r", "{runs} runs × {epochs} epochs × (safetensors + torch.save) sharing a {backbone_mib} MiB frozen "
             "backbone, per-run heads, per-epoch names, scan_outputs_once",
             "w3r_real_formats.py", ("sweep",),
             {"runs": 10, "epochs": 5, "backbone_mib": 64, "writer_python": sys.executable},
             quick_params={"runs": 4}),
    Workload("W4", "log_dataset(save=True) of 300 MiB in 300 files, then again unchanged",
             "w4_dataset.py", ("first", "unchanged")),
    Workload("W5", "{images} × run.log_image of a 64x64 RGB uint8 array",
             "w5_images.py", ("main",), {"images": 500}),
    Workload("W6", "CLI on the W3 root: rm half of its runs, gc, export the other half, import, restore",
             "w6_cli.py", ("main",), needs="W3"),
    # Both sides' viewers are timed through the same Playwright + chromium, run by this interpreter (browser_python).
    Workload("W7", "viewer: runs page at {small_runs:,} and {large_runs:,} runs, a {long_points:,}-point chart, "
             "compare of {compare_runs} runs × {compare_metrics} metrics × {compare_steps:,} steps",
             "w7_viewer.py", ("build", "runs", "chart", "compare"),
             {"small_runs": 1_000, "large_runs": 10_000, "long_points": 1_000_000, "compare_runs": 20,
              "compare_metrics": 10, "compare_steps": 100_000, "browser_python": sys.executable}),
    # --quick: 10 runs × 5 epochs × 4 MiB; the full size stores 20 GiB before its first gc.
    Workload("W8", "retention: {runs} runs × {epochs} epochs overwriting a {size_mib} MiB last.pt (rolling), "
             "then keep the best {keep_best} runs' outputs and gc",
             "w8_retention.py", ("sweep", "retain"), {"runs": 50, "epochs": 20, "size_mib": 20, "keep_best": 3},
             quick_params={"runs": 10, "epochs": 5, "size_mib": 4}),
    # --quick: 1,000 runs (building 10,000 through our SDK takes about two minutes).
    Workload("W9", "scale: {runs:,} runs × 10 steps: ls (cold and warm run index), ls --json, the read API's run "
             "list, du, gc --dry-run, verify", "w9_scale.py", ("build", "commands"), {"runs": 10_000},
             quick_params={"runs": 1_000}),
]


def select(only: list[str] | None, full: bool) -> list[Workload]:
    """The workloads to run, in catalog order, with the workloads they need."""
    by_id = {w.id.lower(): w for w in WORKLOADS}
    if not only:
        return [w for w in WORKLOADS if full or not w.full_only]
    unknown = [name for name in only if name.lower() not in by_id]
    if unknown:
        known = ", ".join(w.id for w in WORKLOADS)
        raise ValueError(f"unknown workload(s) {', '.join(unknown)}; known: {known}")
    wanted = {name.lower() for name in only}
    wanted |= {by_id[name].needs.lower() for name in wanted if by_id[name].needs}
    return [w for w in WORKLOADS if w.id.lower() in wanted]
