"""Large NumPy outputs over memory that stays mapped between calls (a bounded caching allocator).

glibc serves allocations of 32 MB and more with mmap and unmaps them on free, so a training step
that allocates a 64 MB output pays first-touch page faults on all of it again every step: at 16M
float32 elements that was ~40% of a dropout forward's time. Outputs of ``MIN_BYTES`` or more are
therefore NumPy arrays over a buffer the CPU module owns (csrc/bindings/bind_buffer_cache_cpu.cpp):
when the last view of it dies (NumPy views, ``torch.from_numpy`` tensors and their views all keep
it alive), the memory goes to a per-size idle list instead of back to the system, and the next
output of that size reuses it, already faulted in. Idle memory is capped; the oldest idle buffers
go first.

* ``set_buffer_cache_limit(nbytes)``: the cap on idle bytes (0 turns caching off and frees what
  is idle); returns the previous cap. Default ``DEFAULT_LIMIT`` (256 MiB: the two 64 MB outputs
  of a 16M-element fwd+bwd, twice over), or ``REGCORE_BUFFER_CACHE_MB`` at import.
* ``empty_buffer_cache()``: free every idle buffer now (live arrays are not touched).
* ``buffer_cache_info()``: limit, idle bytes and buffers, hits and misses.

Without the native CPU module (an install without a compiler) outputs are plain NumPy allocations
and the cache reads as empty with limit 0.
"""
from __future__ import annotations

import math
import os

import numpy as np

from . import _native
from ._env import EnvironmentVariableError
from ._validate import integer

__all__ = ["set_buffer_cache_limit", "empty_buffer_cache", "buffer_cache_info"]

ENV = "REGCORE_BUFFER_CACHE_MB"
DEFAULT_LIMIT = 256 << 20
# Smaller outputs come from malloc's heap, which keeps them mapped already; this threshold also
# keeps the two Python-level calls of a cached allocation (~2 us) off small, per-call-bound outputs.
MIN_BYTES = 1 << 20


def empty(shape: tuple, dtype: np.dtype):
    """An uninitialized C-contiguous array over a cached buffer (64-byte aligned), or None when
    the native module is absent (the caller allocates with NumPy)."""
    cpu = _native.cpu
    if cpu is None:
        return None
    count = math.prod(shape)
    return np.frombuffer(cpu.host_buffer(count * dtype.itemsize), dtype=dtype, count=count).reshape(shape)


def set_buffer_cache_limit(nbytes: int) -> int:
    """Cap the idle memory kept for reuse by large CPU outputs at ``nbytes`` (0: no caching; idle
    buffers beyond the new cap are freed now). Returns the previous cap."""
    nbytes = integer("nbytes", nbytes, lo=0, hi=2**64 - 1)
    if _native.cpu is None:
        return 0
    return int(_native.cpu.set_buffer_cache_limit(nbytes))


def empty_buffer_cache() -> None:
    """Free every idle cached buffer (arrays still alive keep theirs)."""
    if _native.cpu is not None:
        _native.cpu.empty_buffer_cache()


def buffer_cache_info() -> dict:
    """``{"limit", "cached_bytes", "cached_buffers", "hits", "misses"}`` of the output buffer cache."""
    if _native.cpu is None:
        return {"limit": 0, "cached_bytes": 0, "cached_buffers": 0, "hits": 0, "misses": 0}
    return dict(_native.cpu.buffer_cache_info())


def _env_limit() -> int:
    raw = os.environ.get(ENV)
    if raw is None or raw.strip() == "":
        return DEFAULT_LIMIT
    try:
        mb = int(raw.strip(), 10)
    except ValueError:
        mb = -1
    if mb < 0:
        raise EnvironmentVariableError(
            f"{ENV}={raw!r}: expected a non-negative integer, the MiB of idle output buffers regcore "
            f"keeps for reuse (0 turns the cache off); unset it for the default ({DEFAULT_LIMIT >> 20})")
    return mb << 20


def apply_environment() -> None:
    limit = _env_limit()
    if _native.cpu is not None:
        _native.cpu.set_buffer_cache_limit(limit)
