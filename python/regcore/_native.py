"""Loads the compiled extension modules, each only if present.

``cpu`` is the CPU module (``None`` when the package was installed without a compiler, or when
``REGCORE_BACKEND=numpy`` asks for the pure-NumPy backend); ``cuda`` is the CUDA module (``None``
for a build without nvcc). Importing never touches a GPU driver: the CUDA module links the CUDA
runtime statically and asks for devices only when called.
"""
from __future__ import annotations

import os

cpu = None
cuda = None
cpu_import_error: str | None = None
cuda_import_error: str | None = None

try:
    from . import _regcore_cpu as cpu  # type: ignore[attr-defined]
except ImportError as exc:  # no compiled extension: the numpy backend serves every call
    cpu_import_error = str(exc)

try:
    from . import _regcore_cuda as cuda  # type: ignore[attr-defined]
except ImportError as exc:
    cuda_import_error = str(exc)


def _apply_isa_from_env() -> None:
    forced = os.environ.get("REGCORE_ISA")
    if not forced:
        return
    if cpu is None:
        raise ImportError(f"REGCORE_ISA={forced} was set, but the native CPU module is not built")
    try:
        cpu.set_isa(forced)
    except ValueError as exc:
        raise ImportError(f"REGCORE_ISA={forced}: {exc}") from None


_apply_isa_from_env()
