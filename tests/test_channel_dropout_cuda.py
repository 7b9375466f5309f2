"""Channel and alpha dropout on CUDA arrays: decisions, masks and outputs bit-identical with the
numpy backend (needs a GPU; the kernels themselves also run on the CPU in test_cuda_on_cpu.py)."""
from __future__ import annotations

import numpy as np
import pytest

import regcore as rc

from _cuda_libs import LIBS, SKIP_WITHOUT_GPU
from _cuda_libs import to_device as _dev
from _cuda_libs import to_host as _host

pytestmark = SKIP_WITHOUT_GPU


def _ref(fn):
    with rc.use_backend("numpy"):
        return fn()


@pytest.mark.parametrize("lib", LIBS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(3, 5, 7), (2, 37, 3, 5), (4, 70), (8, 64, 33, 31)], ids=str)
@pytest.mark.parametrize("layout", ["channels_first", "channels_last"])
@pytest.mark.parametrize("kind", ["bits", "none"])
@pytest.mark.parametrize("alpha", [False, True])
def test_channel_dropout_matches_numpy(lib, dtype, shape, layout, kind, alpha):
    x = np.random.default_rng(1).standard_normal(shape).astype(dtype)
    dy = np.random.default_rng(2).standard_normal(shape).astype(dtype)
    fwd = rc.feature_alpha_dropout if alpha else rc.channel_dropout
    y, m = fwd(_dev(lib, x), 0.3, layout=layout, generator=rc.Generator(5), mask=kind)
    dx = rc.channel_dropout_backward(_dev(lib, dy), m)
    yr, mr = _ref(lambda: fwd(x, 0.3, layout=layout, generator=rc.Generator(5), mask=kind))
    dxr = _ref(lambda: rc.channel_dropout_backward(dy, mr))
    np.testing.assert_array_equal(_host(lib, y), yr)
    np.testing.assert_array_equal(_host(lib, dx), dxr)
    np.testing.assert_array_equal(m.to_numpy(), mr.to_numpy())
    if kind == "bits":
        np.testing.assert_array_equal(_host(lib, m.bits), mr.bits)


@pytest.mark.parametrize("lib", LIBS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [0, 1, 33, 4097, 1 << 20])
@pytest.mark.parametrize("kind", ["bits", "none"])
def test_alpha_dropout_matches_numpy(lib, dtype, n, kind):
    x = np.random.default_rng(n).standard_normal(n).astype(dtype)
    dy = np.random.default_rng(n + 1).standard_normal(n).astype(dtype)
    y, m = rc.alpha_dropout(_dev(lib, x), 0.2, generator=rc.Generator(7), mask=kind)
    dx = rc.alpha_dropout_backward(_dev(lib, dy), m)
    yr, mr = _ref(lambda: rc.alpha_dropout(x, 0.2, generator=rc.Generator(7), mask=kind))
    dxr = _ref(lambda: rc.alpha_dropout_backward(dy, mr))
    np.testing.assert_array_equal(_host(lib, y), yr)
    np.testing.assert_array_equal(_host(lib, dx), dxr)
    if kind == "bits":
        np.testing.assert_array_equal(_host(lib, m.bits), mr.bits)
