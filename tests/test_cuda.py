"""CUDA backend: the same bits as NumPy for the same generator state, written in place."""
from __future__ import annotations

import numpy as np
import pytest

import regcore as rc

from _cuda_libs import LIBS, SKIP_WITHOUT_GPU
from _cuda_libs import empty as _empty
from _cuda_libs import to_host as _host

pytestmark = SKIP_WITHOUT_GPU


@pytest.mark.parametrize("lib", LIBS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [0, 1, 5, 1023, 1 << 20])
@pytest.mark.parametrize("draw", ["uniform_", "normal_"])
def test_cuda_draws_match_numpy_bit_for_bit(lib, dtype, n, draw):
    x = _empty(lib, (n,), dtype)
    ptr_before = x.data.ptr if lib == "cupy" else x.data_ptr()
    getattr(rc.random, draw)(x, generator=rc.Generator(123))
    ptr_after = x.data.ptr if lib == "cupy" else x.data_ptr()
    assert ptr_before == ptr_after  # in place, no copy
    ref = np.empty(n, dtype)
    with rc.use_backend("numpy"):
        getattr(rc.random, draw)(ref, generator=rc.Generator(123))
    np.testing.assert_array_equal(_host(lib, x), ref)


@pytest.mark.parametrize("lib", LIBS)
def test_cuda_bits_and_allocation_beside_an_array(lib):
    like = _empty(lib, (3,), np.float32)
    b = rc.random.bits((4097,), generator=rc.Generator(9), like=like)
    assert type(b).__module__.split(".")[0] == lib
    with rc.use_backend("numpy"):
        ref = rc.random.bits((4097,), generator=rc.Generator(9))
    np.testing.assert_array_equal(_host(lib, b), ref)


@pytest.mark.parametrize("lib", LIBS)
def test_cuda_unaligned_views_and_offsets_near_the_32bit_wrap(lib):
    base = _empty(lib, (1001,), np.float32)
    view = base[1:]  # 4-byte aligned, not 16: the scalar store path
    g = rc.Generator.from_state({"seed": 77, "offset": (1 << 32) - 100})
    rc.random.normal_(view, generator=g)
    ref = np.empty(1000, np.float32)
    with rc.use_backend("numpy"):
        rc.random.normal_(ref, generator=rc.Generator.from_state({"seed": 77, "offset": (1 << 32) - 100}))
    np.testing.assert_array_equal(_host(lib, view), ref)
