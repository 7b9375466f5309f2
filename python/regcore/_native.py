"""Loads the compiled extension modules, each only if present.

``cpu`` is the CPU module (``None`` when the package was installed without a compiler, or when
``REGCORE_BACKEND=numpy`` asks for the pure-NumPy backend); ``cuda`` is the CUDA module (``None``
for a build without nvcc). Importing never touches a GPU driver: the CUDA module links the CUDA
runtime statically and asks for devices only when called.
"""
from __future__ import annotations

import importlib
import importlib.util

from . import _env

cpu = None
cuda = None
cpu_import_error: str | None = None
cuda_import_error: str | None = None



def _load(name: str, missing: str):
    """(module, None) or (None, why). A module that is simply not there is reported as missing:
    Python's own message for it, raised inside a package still being imported, blames a
    circular import."""
    full = f"{__package__}.{name}"
    if importlib.util.find_spec(full) is None:
        return None, f"the compiled module {full} is not installed ({missing})"
    try:
        return importlib.import_module(full), None
    except ImportError as exc:  # present but unloadable (wrong Python, missing shared library)
        return None, f"the compiled module {full} is present but could not be loaded: {exc}"


# no compiled extension: the numpy backend serves every CPU call
cpu, cpu_import_error = _load(
    "_regcore_cpu", "regcore was installed without building its C++ part; reinstall from a "
    "checkout with a C++17 compiler and CMake: pip install .")
cuda, cuda_import_error = _load("_regcore_cuda", "this build has no CUDA module: nvcc was not found "
                                "or REGCORE_CUDA=OFF")


def _apply_isa_from_env() -> None:
    forced = _env.isa()
    if not forced:
        return
    if cpu is None:
        raise _env.EnvironmentVariableError(
            f"REGCORE_ISA={forced} was set, but the native CPU module is not available: {cpu_import_error}")
    try:
        cpu.set_isa(forced)
    except ValueError as exc:
        raise _env.EnvironmentVariableError(f"REGCORE_ISA={forced}: {exc}") from None


_apply_isa_from_env()
