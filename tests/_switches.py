"""Context managers that set an ISA level, a CPU backend or a thread count for a block and restore
the previous setting (used by conftest's fixtures and by tests that switch inside a test)."""
from __future__ import annotations

import contextlib

import regcore as rc


@contextlib.contextmanager
def isa_level(level):
    previous = rc.active_isa()
    rc.set_isa(level)
    try:
        yield level
    finally:
        rc.set_isa(previous)


@contextlib.contextmanager
def cpu_backend(name):
    """'numpy' or 'cpu-<isa>' for the duration of the block."""
    if name == "numpy":
        with rc.use_backend("numpy"):
            yield name
        return
    with isa_level(name.split("-", 1)[1]), rc.use_backend("cpu"):
        yield name


@contextlib.contextmanager
def num_threads(n):
    previous = rc.get_num_threads()
    rc.set_num_threads(n)
    try:
        yield n
    finally:
        rc.set_num_threads(previous)


@contextlib.contextmanager
def avx512_bf16(on):
    """AVX512_BF16 (the batch-norm bfloat16 pair store's rounding instruction) on or off for the
    block. Turning it on where the processor lacks it raises ValueError."""
    from regcore import _native

    previous = _native.cpu.avx512_bf16_active()
    _native.cpu.set_avx512_bf16(on)
    try:
        yield on
    finally:
        _native.cpu.set_avx512_bf16(previous)
