"""alpha_dropout / alpha_dropout_backward (element-wise): float64 oracle on every backend and ISA
level, dropout's keep decisions, bit identity across backends / ISAs / threads, finite
differences, SELU's moments and bad input."""
from __future__ import annotations

import math

import numpy as np
import pytest

import regcore as rc
from _channel_dropout_oracle import ALPHA_LAMBDA, affine, alpha_coefficients
from _dropout_oracle import backend, cfg_id, configs, keep, threads

CONFIGS = configs()
DTYPES = (np.float32, np.float64)


def data(shape, dtype, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", [0.0, 0.05, 0.1, 0.5, 0.9, 1.0])
def test_coefficients(dtype, p):
    a, b, d = rc.alpha_coefficients(p, dtype)
    assert (float(a), float(b), float(d)) == alpha_coefficients(p, dtype)
    assert a.dtype == b.dtype == d.dtype == np.dtype(dtype)
    if p < 1:
        # the definitions: mean 0 and variance 1 after the map for zero-mean unit-variance x
        q = 1 - p
        a64 = 1 / math.sqrt(q * (1 + p * ALPHA_LAMBDA**2))
        assert math.isclose(float(d), a64 * -ALPHA_LAMBDA + a64 * ALPHA_LAMBDA * p, rel_tol=1e-6)
        mean = q * 0 + p * -ALPHA_LAMBDA
        var = q * 1 + p * ALPHA_LAMBDA**2 - mean**2
        assert math.isclose(a64 * a64 * var, 1.0, rel_tol=1e-12)
        assert math.isclose(a64 * mean + a64 * ALPHA_LAMBDA * p, 0.0, abs_tol=1e-12)


@pytest.mark.parametrize("cfg", CONFIGS, ids=cfg_id)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["bits", "none"])
@pytest.mark.parametrize("n", [0, 1, 31, 33, 1073, 70001])
def test_forward_backward_match_oracle(cfg, dtype, kind, n):
    x = data(n, dtype, 1)
    x[:5] = [np.inf, -np.inf, np.nan, 0.0, -0.0][:n]
    dy = data(n, dtype, 2)
    g = rc.Generator(77)
    g.reserve(5)
    with backend(cfg):
        y, m = rc.alpha_dropout(x, 0.3, generator=g, mask=kind)
        dx = rc.alpha_dropout_backward(dy, m)
    assert g.offset == 5 + (n + 3) // 4
    k = keep(77, 5, n, 0.3)
    ref, a = affine(x, k, 0.3)
    np.testing.assert_array_equal(y, ref.astype(dtype))
    np.testing.assert_array_equal(dx, np.where(k, dy.astype(np.float64) * float(a), 0.0).astype(dtype))
    np.testing.assert_array_equal(m.to_numpy(), k)
    # the same decisions as dropout from the same generator state
    _, md = rc.dropout(np.zeros(n, dtype), 0.3, generator=rc.Generator.from_state({"seed": 77, "offset": 5}))
    np.testing.assert_array_equal(m.to_numpy(), md.to_numpy())


def test_identical_across_backends_isas_and_threads():
    n = 3 * 65536 + 77
    x = data(n, np.float32, 5)
    dy = data(n, np.float32, 6)
    res = []
    for cfg in CONFIGS:
        for nt in (1, 2):
            with backend(cfg), threads(nt):
                y, m = rc.alpha_dropout(x, 0.2, generator=rc.Generator(9))
                res.append((cfg, nt, y, m.bits, rc.alpha_dropout_backward(dy, m)))
    for cfg, nt, y, b, dx in res:
        assert np.array_equal(y, res[0][2]) and np.array_equal(b, res[0][3]) and np.array_equal(dx, res[0][4]), (cfg, nt)


@pytest.mark.parametrize("cfg", CONFIGS, ids=cfg_id)
def test_p_edges(cfg):
    x = data(100, np.float32, 3)
    x[:3] = [np.inf, np.nan, -np.inf]
    g = rc.Generator(1)
    with backend(cfg):
        y1, m1 = rc.alpha_dropout(x, 1.0, generator=g)
        d1 = rc.alpha_dropout_backward(x, m1)
        y0, m0 = rc.alpha_dropout(x, 0.0, generator=g)
        d0 = rc.alpha_dropout_backward(x, m0)
    assert g.offset == 0
    assert not y1.any() and not np.signbit(y1).any() and not d1.any()
    # p = 0: a = 1, b = 0: y = x * 1 + 0 (equal to x; -0 becomes +0)
    np.testing.assert_array_equal(y0, x)
    np.testing.assert_array_equal(d0, x)


@pytest.mark.parametrize("cfg", CONFIGS, ids=cfg_id)
def test_backward_finite_differences(cfg):
    x = data((7, 9), np.float64, 4)
    v = data((7, 9), np.float64, 5)
    dy = data((7, 9), np.float64, 6)
    eps = 1e-6
    with backend(cfg):
        yp, _ = rc.alpha_dropout(x + eps * v, 0.35, generator=rc.Generator(2))
        ym, m = rc.alpha_dropout(x - eps * v, 0.35, generator=rc.Generator(2))
        dx = rc.alpha_dropout_backward(dy, m)
    fd = float(((yp - ym) / (2 * eps) * dy).sum())
    assert math.isclose(fd, float((dx * v).sum()), rel_tol=1e-7)


@pytest.mark.parametrize("cfg", CONFIGS, ids=cfg_id)
@pytest.mark.parametrize("p", [0.05, 0.2, 0.5])
def test_selu_moments_and_keep_rate(cfg, p):
    n = 400_000
    z = data(n, np.float64, 7)
    with backend(cfg):
        y, m = rc.alpha_dropout(z, p, generator=rc.Generator(31337))
    kept = int(m.to_numpy().sum())
    q = 1 - p
    assert abs(kept - n * q) <= 5 * math.sqrt(n * q * p)
    assert abs(float(y.mean())) < 0.01 and abs(float(y.var()) - 1.0) < 0.015


@pytest.mark.parametrize("cfg", CONFIGS, ids=cfg_id)
def test_out_in_place(cfg):
    x = data(300, np.float32, 8)
    with backend(cfg):
        ref, _ = rc.alpha_dropout(x, 0.4, generator=rc.Generator(3))
        xi = x.copy()
        y, m = rc.alpha_dropout(xi, 0.4, generator=rc.Generator(3), out=xi)
        assert y is xi
        np.testing.assert_array_equal(xi, ref)


@pytest.mark.parametrize("cfg", CONFIGS, ids=cfg_id)
def test_bad_input(cfg):
    x = data((4, 6), np.float32, 9)
    before = x.copy()
    g = rc.Generator(1)
    out = np.zeros_like(x)
    with backend(cfg):
        with pytest.raises(ValueError, match="^p: "):
            rc.alpha_dropout(x, -0.1, generator=g, out=out)
        with pytest.raises(ValueError, match="^mask: "):
            rc.alpha_dropout(x, 0.5, generator=g, mask="bytes", out=out)
        with pytest.raises(TypeError, match="^x: "):
            rc.alpha_dropout(np.ones(3, np.int64), 0.5, generator=g)
        with pytest.raises(ValueError, match="^out: "):
            rc.alpha_dropout(x, 0.5, generator=g, out=np.zeros(24, np.float32))
        _, md = rc.dropout(x, 0.5, generator=rc.Generator(2))
        with pytest.raises(TypeError, match="^mask: "):
            rc.alpha_dropout_backward(x, md, out=out)
        _, m = rc.alpha_dropout(x, 0.5, generator=rc.Generator(2))
        with pytest.raises(ValueError, match="^dy: "):
            rc.alpha_dropout_backward(np.ones((6, 4), np.float32), m, out=out)
    np.testing.assert_array_equal(x, before)
    assert not out.any() and g.offset == 0
