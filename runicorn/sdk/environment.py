"""``capture_env=True``: what the run ran on, gathered off the start-up path and without secrets.

Installed distributions come from importlib.metadata (no subprocess); hardware
from files the kernel already exposes, and GPU details only from torch when the
script has already imported it. Environment variables are never recorded.
"""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata


def capture_environment() -> dict:
    return {
        "python": {"version": platform.python_version(), "implementation": platform.python_implementation(),
                   "executable": sys.executable},
        "platform": {"system": platform.system(), "release": platform.release(), "machine": platform.machine(),
                     "platform": platform.platform()},
        "packages": _packages(),
        "hardware": {"cpu_count": os.cpu_count(), "cpu_model": _cpu_model(), "memory_bytes": _memory_bytes(),
                     "gpus": _gpus()},
    }


def _packages() -> dict[str, str]:
    packages: dict[str, str] = {}
    for dist in metadata.distributions():
        name = dist.metadata.get("Name") if dist.metadata else None
        if name:
            packages.setdefault(name, dist.version)
    return dict(sorted(packages.items(), key=lambda item: item[0].lower()))


def _cpu_model() -> str | None:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def _memory_bytes() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def _gpus() -> list[dict]:
    torch = sys.modules.get("torch")  # never import torch just to describe the machine
    if torch is None:
        return []
    try:
        if not torch.cuda.is_available():
            return []
        return [{"name": torch.cuda.get_device_name(i),
                 "memory_bytes": torch.cuda.get_device_properties(i).total_memory}
                for i in range(torch.cuda.device_count())]
    except Exception:  # a broken driver must not break the run
        return []
