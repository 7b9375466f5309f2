"""CUDA array libraries usable for the CUDA tests, and moving arrays to and from them.

LIBS lists "cupy" and/or "torch" when regcore was built with CUDA, a device is visible and the
library sees it; every CUDA test module parametrizes over it and is skipped when it is empty.
"""
from __future__ import annotations

import numpy as np
import pytest

from regcore import _native


def _detect():
    if _native.cuda is None or not _native.cuda.devices():
        return []
    libs = []
    try:
        import cupy

        if cupy.cuda.runtime.getDeviceCount() > 0:
            libs.append("cupy")
    except Exception:
        pass
    try:
        import torch

        if torch.cuda.is_available():
            libs.append("torch")
    except Exception:
        pass
    return libs


LIBS = _detect()
SKIP_WITHOUT_GPU = [pytest.mark.cuda,
                    pytest.mark.skipif(not LIBS, reason="no CUDA device, CUDA build or CUDA array library")]


def to_device(lib, a):
    if lib == "cupy":
        import cupy

        return cupy.asarray(a)
    import torch

    return torch.from_numpy(np.ascontiguousarray(a)).cuda()


def to_host(lib, x):
    if lib == "cupy":
        import cupy

        return cupy.asnumpy(x)
    return x.cpu().numpy()


def empty(lib, shape, dtype):
    if lib == "cupy":
        import cupy

        return cupy.empty(shape, dtype=dtype)
    import torch

    return torch.empty(shape, dtype=getattr(torch, np.dtype(dtype).name), device="cuda")


def numpy_reference(fn):
    """fn() on the numpy backend: what the CUDA path must reproduce."""
    import regcore as rc

    with rc.use_backend("numpy"):
        return fn()


def assert_pair_matches_numpy(lib, forward, backward, x, dy):
    """A forward/backward pair of the dropout family (forward(x) -> (y, mask), backward(dy,
    mask) -> dx) on lib's device arrays gives bit for bit the numpy backend's y, dx, keep
    decisions and, for a kind="bits" mask, stored words."""
    y, m = forward(to_device(lib, x))
    dx = backward(to_device(lib, dy), m)
    yr, mr = numpy_reference(lambda: forward(x))
    dxr = numpy_reference(lambda: backward(dy, mr))
    np.testing.assert_array_equal(to_host(lib, y), yr)
    np.testing.assert_array_equal(to_host(lib, dx), dxr)
    np.testing.assert_array_equal(m.to_numpy(), mr.to_numpy())
    if m.kind == "bits":
        np.testing.assert_array_equal(to_host(lib, m.bits), mr.bits)
