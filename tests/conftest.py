"""Fixtures any family's tests can reuse: run a test at every ISA level, on every CPU backend
(numpy + native at each ISA level), or at 1 and 2 threads, restoring the previous setting."""
from __future__ import annotations

import contextlib

import pytest

import regcore as rc

ISAS = rc.available_isas()
BACKENDS = ["numpy"] + [f"cpu-{isa}" for isa in ISAS]


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


@pytest.fixture(params=ISAS or [pytest.param(None, marks=pytest.mark.skip(reason="no native CPU module"))])
def isa(request):
    """Each ISA level the processor and build support, set for the test."""
    with isa_level(request.param):
        yield request.param


@pytest.fixture(params=BACKENDS)
def backend(request):
    """'numpy', then 'cpu-<isa>' for each supported level, set for the test."""
    with cpu_backend(request.param):
        yield request.param


@pytest.fixture(params=[1, 2])
def threads(request):
    """1 and 2 OpenMP threads."""
    with num_threads(request.param):
        yield request.param
