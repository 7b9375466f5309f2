"""Fixtures any family's tests can reuse: run a test at every ISA level, on every CPU backend
(numpy + native at each ISA level), or at 1 and 2 threads, restoring the previous setting."""
from __future__ import annotations

import pytest

import regcore as rc
from _switches import cpu_backend, isa_level, num_threads  # noqa: F401

ISAS = rc.available_isas()
BACKENDS = ["numpy"] + [f"cpu-{isa}" for isa in ISAS]


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
    """1 and 2 threads."""
    with num_threads(request.param):
        yield request.param
