"""regcore.build_info(): what was compiled, and what was chosen at run time."""
from __future__ import annotations

from . import _native
from ._backend import cpu_backend_name
from ._threads import get_num_threads, set_num_threads  # noqa: F401  (re-exported: bench runner)

__version__ = "0.1.0"


def build_info() -> dict:
    info = {
        "version": __version__,
        "cpu_backend": cpu_backend_name(),
        "native_cpu": _native.cpu is not None,
    }
    if _native.cpu is not None:
        info.update(
            compiler=_native.cpu.build["compiler"],
            build_type=_native.cpu.build["build_type"],
            threading=_native.cpu.build["threading"],
            isa_compiled=list(_native.cpu.compiled_isas()),
            isa_supported=list(_native.cpu.supported_isas()),
            isa_active=_native.cpu.active_isa(),
            # an extension of the avx512 level (bfloat16 batch-norm stores; the same bits off or on)
            avx512_bf16=_native.cpu.avx512_bf16_active(),
            threads=_native.cpu.max_threads(),
            thread_limit=_native.cpu.thread_limit(),
            usable_cpus=_native.cpu.usable_cpus(),
        )
    else:
        info["native_cpu_error"] = _native.cpu_import_error
    info["cuda_compiled"] = _native.cuda is not None
    if _native.cuda is not None:
        info.update(
            cuda_version=_native.cuda.build["cuda_version"],
            cuda_architectures=_native.cuda.build["architectures"],
            cuda_devices=_native.cuda.devices(),
        )
    else:
        info["cuda_devices"] = []
    return info


def set_isa(level: str) -> None:
    """Use the kernels of ISA level 'scalar', 'avx2' or 'avx512' (ValueError if unavailable)."""
    if _native.cpu is None:
        raise RuntimeError(f"the native CPU module is not built: {_native.cpu_import_error}")
    if not isinstance(level, str):
        raise TypeError(f"level: expected 'scalar', 'avx2' or 'avx512', got {level!r}")
    _native.cpu.set_isa(level)


def available_isas() -> list:
    return [] if _native.cpu is None else list(_native.cpu.supported_isas())


def active_isa():
    return None if _native.cpu is None else _native.cpu.active_isa()


