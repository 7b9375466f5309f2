"""Which backend runs a call: the data decides.

* CUDA arrays -> the ``cuda`` backend (an error naming how to get a CUDA build if it is missing);
* CPU arrays  -> the native ``cpu`` backend, or the pure-NumPy ``numpy`` backend when the
  extension is missing, when ``REGCORE_BACKEND=numpy`` is set (read at import), or inside
  ``use_backend("numpy")``.
"""
from __future__ import annotations

import contextlib
import threading

from . import _env, _native
from ._errors import NO_CUDA_BUILD, value_error

BACKENDS = ("numpy", "cpu", "cuda")

_local = threading.local()


# Read once, at import (as REGCORE_ISA): every call asks which backend runs it, and an environment
# lookup per call cost more than a small batch-norm kernel.
_ENV_BACKEND = _env.backend()
if _ENV_BACKEND == "cpu" and _native.cpu is None:
    raise _env.EnvironmentVariableError(
        f"REGCORE_BACKEND='cpu', but the native CPU module is not available: {_native.cpu_import_error}")


def _forced_cpu_backend() -> str | None:
    forced = getattr(_local, "forced", None)
    return _ENV_BACKEND if forced is None else forced


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


_native_backends: dict = {}
_DEFAULT_NATIVE = _ENV_BACKEND in (None, "cpu") and _native.cpu is not None   # what host_backend picks unforced


def native_backend(device: str):
    """The native backend of "cpu" or "cuda" (the extension module behind backend names)."""
    be = _native_backends.get(device)
    if be is None:
        from ._backends.native import NativeBackend

        be = _native_backends[device] = NativeBackend(getattr(_native, device), device)
    return be


@contextlib.contextmanager
def override_host_backend(backend):
    """Run the kernels of host arrays on ``backend`` inside the block (this thread only), as
    backend_for would run a device array's; work that is host work on every device
    (host_backend) stays where it was. Not public: the tests use it to run the public API through
    the CUDA bindings and kernels executed on the CPU (tests/_cuda_sim.py), which take host memory."""
    previous = getattr(_local, "host_override", None)
    _local.host_override = backend
    try:
        yield backend
    finally:
        _local.host_override = previous


def host_backend():
    """The backend for NumPy arrays on the host: native CPU unless numpy is forced or only."""
    if cpu_backend_name() == "numpy":
        from ._backends import numpy_backend as be
        return be
    return native_backend("cpu")


def cpu_array_backend():
    """backend_for(ref) of a CPU array's ArrayRef, without making one (the trusted entry points,
    whose callers have already checked that every array is a CPU one). Where neither this
    thread nor REGCORE_BACKEND chose a backend, the native one, in one frame: the trusted entry
    points of small tensors pay this on every call."""
    chosen = _local.__dict__
    if _DEFAULT_NATIVE and chosen.get("host_override") is None and chosen.get("forced") is None:
        return _native_backends.get("cpu") or native_backend("cpu")
    override = getattr(_local, "host_override", None)
    return host_backend() if override is None else override


def backend_for(ref, name: str = "x"):
    """The backend for an ArrayRef."""
    if ref.device == "cuda":
        if _native.cuda is None:
            raise RuntimeError(NO_CUDA_BUILD.format(name=name))
        return native_backend("cuda")
    override = getattr(_local, "host_override", None)
    return host_backend() if override is None else override
