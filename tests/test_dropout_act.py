"""Accuracy and cross-backend identity of bias_act_dropout's activations (core/dropout_act.h).

The activations are evaluated through the public API with p = 0 and a zero bias (y = f(x),
dx = f'(x) for dy = 1) on every backend, against references computed independently here:
float64 NumPy/math for float32 results, mpmath at 120 bits for float64 results. Stated
tolerances (docs/dropout.md): f within a few ulps of the reference (gelu_tanh: the cubic inside
the exponential is ill-conditioned, so only |z| <= 5 is held to ulps), f' within 4 ulps plus
2 eps absolute (f' of gelu has a root near z = -0.75 where only an absolute bound is meaningful)."""
from __future__ import annotations

import math

import numpy as np
import pytest

import regcore as rc
from _bits import assert_same_bits_nan_aware
from _dropout_oracle import backend, cfg_id, configs

CONFIGS = configs()
# max ulps of f, over results in the normal range
F_ULPS = {"gelu": {np.float32: 8, np.float64: 12}, "gelu_tanh": {np.float32: 32, np.float64: 32},
          "tanh": {np.float32: 3, np.float64: 3}, "sigmoid": {np.float32: 3, np.float64: 3}}


def run(cfg, name, z):
    b = np.zeros(z.shape[-1], z.dtype)
    with backend(cfg):
        y, st = rc.bias_act_dropout(z, b, name, 0.0, generator=rc.Generator(1))
        dx, _ = rc.bias_act_dropout_backward(np.ones_like(z), st)
    return y, dx


def ref64(name, z):
    """float64 references (for float32 results): math.erf / np.exp / np.tanh in float64."""
    z = z.astype(np.float64)
    if name == "gelu":
        cdf = np.array([0.5 * math.erfc(-v / math.sqrt(2.0)) for v in z.ravel()]).reshape(z.shape)
        return z * cdf, cdf + z * np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
    if name == "gelu_tanh":
        c = math.sqrt(2 / math.pi)
        u = c * (z + 0.044715 * z**3)
        s = 0.5 * (1 + np.tanh(u))
        return z * s, s + z * (1 - np.tanh(u) ** 2) * 0.5 * c * (1 + 3 * 0.044715 * z * z)
    if name == "tanh":
        return np.tanh(z), 1 / np.cosh(z) ** 2
    e = np.exp(-np.abs(z))
    s = np.where(z >= 0, 1 / (1 + e), e / (1 + e))
    return s, e / (1 + e) ** 2


def ref_mp(name, z):
    """mpmath references at 120 bits (for float64 results)."""
    mp = pytest.importorskip("mpmath")
    mp.mp.prec = 120
    f, d = [], []
    for v in z.ravel():
        x = mp.mpf(float(v))
        if name == "gelu":
            P, p = mp.ncdf(x), mp.npdf(x)
            fv, dv = x * P, P + x * p
        elif name == "gelu_tanh":
            c = mp.sqrt(2 / mp.pi)
            k = mp.mpf(0.044715)
            s = 1 / (1 + mp.exp(-2 * c * (x + k * x**3)))
            fv, dv = x * s, s + x * 2 * s * (1 - s) * c * (1 + 3 * k * x * x)
        elif name == "tanh":
            fv, dv = mp.tanh(x), 1 / mp.cosh(x) ** 2
        else:
            fv = 1 / (1 + mp.exp(-x))
            dv = fv * (1 - fv)
        f.append(float(fv))
        d.append(float(dv))
    return np.array(f).reshape(z.shape), np.array(d).reshape(z.shape)


def inputs(dtype, n):
    rng = np.random.default_rng(5)
    z = np.concatenate([rng.standard_normal(n // 2) * 3, rng.uniform(-40, 40, n - n // 2 - 6),
                        [0.0, -0.0, 1e-20, -1e-20, 0.75, -0.75]])
    return z.astype(dtype).reshape(-1, 1)  # one column: bias broadcast trivially, odd length


def ulps(got, ref, dtype):
    r = ref.astype(dtype)
    return np.abs(got.astype(np.float64) - ref) / np.spacing(np.abs(r)).astype(np.float64)


@pytest.mark.parametrize("cfg", CONFIGS, ids=cfg_id)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["gelu", "gelu_tanh", "tanh", "sigmoid"])
def test_accuracy(cfg, dtype, name):
    z = inputs(dtype, 1201 if dtype == np.float32 else 301)
    f, d = run(cfg, name, z)
    rf, rd = (ref64 if dtype == np.float32 else ref_mp)(name, z)
    normal = np.abs(rf) >= np.finfo(dtype).tiny
    if name == "gelu_tanh":
        normal &= np.abs(z.astype(np.float64)) <= 5
    assert ulps(f, rf, dtype)[normal].max() <= F_ULPS[name][dtype]
    tol = 4 * np.spacing(np.abs(rd.astype(dtype))).astype(np.float64) + 2 * np.finfo(dtype).eps
    assert np.all(np.abs(d.astype(np.float64) - rd) <= tol)
    # Results below the normal range: absolute error within a few of the smallest subnormals.
    if name != "gelu_tanh":
        sub = ~normal
        assert np.all(np.abs(f.astype(np.float64)[sub] - rf[sub]) <= 64 * np.finfo(dtype).smallest_subnormal)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["identity", "relu", "gelu", "gelu_tanh", "tanh", "sigmoid"])
def test_bit_identical_across_backends(dtype, name):
    """Extremes included: overflow/underflow of e^x, clamps of the GELU tail, +-0, inf, NaN."""
    rng = np.random.default_rng(9)
    z = np.concatenate([rng.standard_normal(700) * 4, rng.uniform(-800, 800, 297),
                        [0.0, -0.0, 88.5, -88.5, 89.5, -104.5, 709.9, -745.5, 1e300, -1e300,
                         np.inf, -np.inf, 14.79, -14.81, 38.69, -38.71, np.nan, -np.nan]])
    with np.errstate(over="ignore"):
        z = z.astype(dtype).reshape(-1, 29)  # 29 columns: words wrap across rows
    out = [run(cfg, name, z) for cfg in CONFIGS]
    for f, d in out[1:]:   # NaN at the same places, every other bit identical (tests/_bits.py)
        assert_same_bits_nan_aware(f, out[0][0], "f")
        assert_same_bits_nan_aware(d, out[0][1], "f'")
