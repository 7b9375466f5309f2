"""regcore's CUDA code path on the CPU, for the tests: the real CUDA bindings (csrc/bindings/
bind_*_cuda.cpp, device_view.cpp) over the real CUDA kernels (csrc/cuda/*.cu) executed by the
simt emulation (tests/cuda_on_cpu/), built as the extension module _regcore_cuda_sim.

``cuda_sim(module)`` sends host arrays to that module for the block, so a public call such as
``rc.dropout(x, 0.3, generator=g)`` runs exactly what it runs on a GPU: the same Python glue
(the O(C) normalization arithmetic in the Array API formulas, as for CUDA arrays), the same
bindings, the same kernels. Arrays enter the bindings as DLPack views of host memory, which the
view parser accepts when asked not to require CUDA.
"""
from __future__ import annotations

import contextlib
import importlib.util
import os
import pathlib
import subprocess

import numpy as np

from regcore._backend import override_host_backend
from regcore._backends.native import NativeBackend

ROOT = pathlib.Path(__file__).resolve().parent.parent
HARNESS = ROOT / "tests" / "cuda_on_cpu"


def build(out: pathlib.Path, python: str) -> None:
    """Build the harness binary (check_kernels) and _regcore_cuda_sim into ``out``."""
    env = dict(os.environ, CXX="g++", SIMT_MODULE="1", PYTHON=python)
    r = subprocess.run(["bash", str(HARNESS / "build.sh"), str(ROOT), str(out)], capture_output=True, text=True, env=env)
    if r.returncode != 0:
        raise RuntimeError(f"harness build failed:\n{r.stdout}\n{r.stderr}")


def load_module(out: pathlib.Path):
    """The _regcore_cuda_sim module built into ``out``."""
    path = next(out.glob("_regcore_cuda_sim*"))
    spec = importlib.util.spec_from_file_location("_regcore_cuda_sim", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _ViewingExtension:
    """The module's kernels with every NumPy argument (also inside lists) made a device view."""

    def __init__(self, module):
        self._m = module

    def _view(self, a):
        if isinstance(a, np.ndarray):
            if a.dtype == np.uint16:
                # bfloat16 data as the kernels see it (regcore/_dtypes.py): NumPy's DLPack export
                # would call it uint16, so export the same memory as a bfloat16 tensor
                import torch

                a = torch.from_numpy(a.view(np.int16)).view(torch.bfloat16)
                return self._m.view_from_dlpack(a.__dlpack__(), "array", 0, require_cuda=False)
            return self._m.view_from_dlpack(a.__dlpack__(max_version=(1, 0)), "array", 0, require_cuda=False)
        if isinstance(a, (list, tuple)):
            return type(a)(self._view(v) for v in a)
        return a

    def __getattr__(self, name):
        fn = getattr(self._m, name)

        def call(*args):
            return fn(*(self._view(a) for a in args))

        return call


@contextlib.contextmanager
def cuda_sim(module):
    """Run host arrays through the emulated CUDA backend inside the block."""
    with override_host_backend(NativeBackend(_ViewingExtension(module), "cuda-sim")):
        yield
