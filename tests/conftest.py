"""Fixtures any family's tests can reuse: run a test at every ISA level, on every CPU backend
(numpy + native at each ISA level), or at 1 and 2 threads, restoring the previous setting."""
from __future__ import annotations

import shutil
import sys

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


@pytest.fixture(scope="session")
def cuda_on_cpu_build(tmp_path_factory):
    """One build per session of the CUDA sources executed on the CPU (tests/cuda_on_cpu/): the
    check binary and the _regcore_cuda_sim module; its directory."""
    if shutil.which("g++") is None:
        pytest.skip("g++ is needed to execute the CUDA sources on the CPU")
    from _cuda_sim import build

    out = tmp_path_factory.mktemp("cuda_on_cpu_plain")
    build(out, sys.executable)
    return out


@pytest.fixture(scope="session")
def cuda_sim_module(cuda_on_cpu_build):
    """_regcore_cuda_sim: regcore's CUDA bindings and kernels run on the CPU (tests/_cuda_sim.py)."""
    from _cuda_sim import load_module

    if not any(cuda_on_cpu_build.glob("_regcore_cuda_sim*")):
        pytest.skip("pybind11 is needed to build the CUDA bindings over the emulated kernels")
    return load_module(cuda_on_cpu_build)
