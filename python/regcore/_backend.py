"""Which backend runs a call: the data decides.

* CUDA arrays -> the ``cuda`` backend (an error naming how to get a CUDA build if it is missing);
* CPU arrays  -> the native ``cpu`` backend, or the pure-NumPy ``numpy`` backend when the
  extension is missing, when ``REGCORE_BACKEND=numpy`` is set, or inside ``use_backend("numpy")``.
"""
from __future__ import annotations

import contextlib
import os
import threading

from . import _native
from ._errors import NO_CUDA_BUILD, value_error

BACKENDS = ("numpy", "cpu", "cuda")

_local = threading.local()


def _forced_cpu_backend() -> str | None:
    forced = getattr(_local, "forced", None)
    if forced is None:
        forced = os.environ.get("REGCORE_BACKEND") or None
    return forced


@contextlib.contextmanager
def use_backend(name: str):
    """Run CPU arrays on ``"numpy"`` or ``"cpu"`` inside the block (this thread only)."""
    if name not in ("numpy", "cpu"):
        raise value_error("name", "'numpy' or 'cpu' (CUDA arrays always run on 'cuda')", name)
    if name == "cpu" and _native.cpu is None:
        raise RuntimeError(f"the native CPU backend is not built: {_native.cpu_import_error}")
    previous = getattr(_local, "forced", None)
    _local.forced = name
    try:
        yield
    finally:
        _local.forced = previous


def cpu_backend_name() -> str:
    forced = _forced_cpu_backend()
    if forced == "numpy" or _native.cpu is None:
        if forced == "cpu":
            raise RuntimeError(f"REGCORE_BACKEND=cpu, but the native CPU module is not built: {_native.cpu_import_error}")
        return "numpy"
    if forced not in (None, "cpu"):
        raise value_error("REGCORE_BACKEND", "'numpy' or 'cpu'", forced)
    return "cpu"


def backend_for(ref, name: str = "x"):
    """The backend module for an ArrayRef."""
    if ref.device == "cuda":
        if _native.cuda is None:
            raise RuntimeError(NO_CUDA_BUILD.format(name=name))
        from ._backends import cuda as be
        return be
    if cpu_backend_name() == "numpy":
        from ._backends import numpy_backend as be
        return be
    from ._backends import cpu as be
    return be
