"""What the figures were measured on: they mean nothing without it."""
from __future__ import annotations

import os
import platform
import sys

import numpy as np

from .. import _native
from .._build_info import build_info
from . import _torch


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _mem_total_gib():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def load_average():
    """The 1-minute load average (None where the OS has none): above the usable CPU count, the
    benchmark shares its cores and its thread-scaling rows mean little."""
    try:
        return round(os.getloadavg()[0], 2)
    except (OSError, AttributeError):
        return None


def describe() -> dict:
    info = build_info()
    torch = _torch.get()
    return {
        "cpu_model": _cpu_model(),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "memory_gib": _mem_total_gib(),
        "isa_levels": info.get("isa_supported", []),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "torch": getattr(torch, "__version__", None),
        "torch_cuda": _torch.cuda_available(),
        "regcore": info,
        "native_cuda_module": _native.cuda is not None,
    }
