"""Dropout family on CUDA arrays: masks and outputs bit-identical with the numpy backend."""
from __future__ import annotations

import numpy as np
import pytest

import regcore as rc

from _cuda_libs import LIBS, SKIP_WITHOUT_GPU, assert_pair_matches_numpy
from _cuda_libs import numpy_reference as _ref
from _cuda_libs import to_device as _dev
from _cuda_libs import to_host as _host

pytestmark = SKIP_WITHOUT_GPU


@pytest.mark.parametrize("lib", LIBS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [0, 1, 5, 127, 129, 4097, 1 << 20])
@pytest.mark.parametrize("kind", ["bits", "bytes", "none"])
def test_dropout_matches_numpy(lib, dtype, n, kind):
    x = np.random.default_rng(n).standard_normal(n).astype(dtype)
    dy = np.random.default_rng(n + 1).standard_normal(n).astype(dtype)
    assert_pair_matches_numpy(lib, lambda a: rc.dropout(a, 0.3, generator=rc.Generator(5), mask=kind),
                              rc.dropout_backward, x, dy)


@pytest.mark.parametrize("lib", LIBS)
@pytest.mark.parametrize("act", ["relu", "gelu", "gelu_tanh", "sigmoid"])
def test_bias_act_dropout_matches_numpy(lib, act):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((300, 77)).astype(np.float32)
    b = rng.standard_normal(77).astype(np.float32)
    r = rng.standard_normal((300, 77)).astype(np.float32)
    dy = rng.standard_normal((300, 77)).astype(np.float32)
    y, s = rc.bias_act_dropout(_dev(lib, x), _dev(lib, b), act, 0.2, residual=_dev(lib, r), generator=rc.Generator(3))
    dx, db, _ = rc.bias_act_dropout_backward(_dev(lib, dy), s)
    yr, sr = _ref(lambda: rc.bias_act_dropout(x, b, act, 0.2, residual=r, generator=rc.Generator(3)))
    dxr, dbr, _ = _ref(lambda: rc.bias_act_dropout_backward(dy, sr))
    np.testing.assert_array_equal(_host(lib, s.mask.bits), sr.mask.bits)
    np.testing.assert_allclose(_host(lib, y), yr, rtol=2e-5, atol=2e-6)
    np.testing.assert_allclose(_host(lib, dx), dxr, rtol=2e-5, atol=2e-6)
    np.testing.assert_allclose(_host(lib, db), dbr, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("lib", LIBS)
@pytest.mark.parametrize("mode", ["additive", "multiplicative"])
def test_gaussian_noise_matches_numpy(lib, mode):
    x = np.random.default_rng(1).standard_normal(10001).astype(np.float32)
    y = rc.gaussian_noise(_dev(lib, x), 0.5, mode=mode, generator=rc.Generator(4))
    yr = _ref(lambda: rc.gaussian_noise(x, 0.5, mode=mode, generator=rc.Generator(4)))
    np.testing.assert_array_equal(_host(lib, y), yr)
