"""gaussian_noise (additive, multiplicative) and mc_dropout."""
from __future__ import annotations

import math

import numpy as np
import pytest

import regcore as rc
from _dropout_oracle import backend, cfg_id, configs, threads
from _dropout_oracle import dropout as oracle_dropout

CONFIGS = configs()
DTYPES = (np.float32, np.float64)


def data(shape, dtype, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


# ---- gaussian_noise

@pytest.mark.parametrize("cfg", CONFIGS, ids=cfg_id)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode", ["additive", "multiplicative"])
@pytest.mark.parametrize("n", [0, 1, 7, 1001])
def test_noise_is_random_normal(cfg, dtype, mode, n):
    """The noise factor is bit-identical with regcore.random.normal from the same state; the
    combination with x is one IEEE operation, checked against float64 rounded once."""
    x = data(n, dtype, 1)
    mean = 1.0 if mode == "multiplicative" else 0.0
    with backend(cfg):
        y = rc.gaussian_noise(x, 0.3, mode=mode, generator=rc.Generator(5))
        z = rc.random.normal(n, mean, 0.3, dtype=dtype, generator=rc.Generator(5))
    x64, z64 = x.astype(np.float64), z.astype(np.float64)
    ref = x64 * z64 if mode == "multiplicative" else x64 + z64
    np.testing.assert_array_equal(y, ref.astype(dtype))


def test_noise_identical_across_backends_and_threads():
    x = data(200_001, np.float64, 2)
    outs = []
    for cfg in CONFIGS:
        for nt in (1, 2):
            with backend(cfg), threads(nt):
                outs.append(rc.gaussian_noise(x, 0.5, generator=rc.Generator(9)))
    for o in outs[1:]:
        np.testing.assert_array_equal(o, outs[0])


@pytest.mark.parametrize("cfg", CONFIGS, ids=cfg_id)
def test_noise_statistics(cfg):
    n = 200_000
    x = np.full(n, 2.0, np.float32)
    with backend(cfg):
        ya = rc.gaussian_noise(x, 0.5, generator=rc.Generator(1)).astype(np.float64)
        ym = rc.gaussian_noise(x, 0.5, mode="multiplicative", generator=rc.Generator(2)).astype(np.float64)
    for y, sd in ((ya, 0.5), (ym, 1.0)):  # E[y] = x; sd = std (additive), |x| std (multiplicative)
        assert abs(y.mean() - 2.0) <= 5 * sd / math.sqrt(n)
        assert abs(y.std() - sd) <= 5 * sd / math.sqrt(2 * n)


def test_noise_zero_std_and_generator_advance():
    x = data(10, np.float32, 3)
    g = rc.Generator(1)
    np.testing.assert_array_equal(rc.gaussian_noise(x, 0.0, generator=g), x)
    assert g.offset == 3  # ceil(10 / 4) blocks for float32
    rc.gaussian_noise(x.astype(np.float64), 1.0, generator=g)
    assert g.offset == 3 + 5  # ceil(10 / 2) for float64


@pytest.mark.parametrize("cfg", CONFIGS, ids=cfg_id)
def test_noise_bad_input(cfg):
    x = data(10, np.float32, 4)
    g = rc.Generator(1)
    with backend(cfg):
        for std, exc in ((-1.0, ValueError), (float("nan"), ValueError), (float("inf"), ValueError), ("1", TypeError)):
            with pytest.raises(exc, match="^std: "):
                rc.gaussian_noise(x, std, generator=g)
        with pytest.raises(ValueError, match="^mode: "):
            rc.gaussian_noise(x, 1.0, mode="dropout", generator=g)
        with pytest.raises(TypeError, match="^x: "):
            rc.gaussian_noise(np.ones(3, np.int16), 1.0, generator=g)
    assert g.offset == 0


# ---- mc_dropout

def net(w):
    def forward(x, generator):
        h, _ = rc.dropout(x @ w, 0.3, generator=generator, mask="none")
        return np.tanh(h)
    return forward


@pytest.mark.parametrize("cfg", CONFIGS, ids=cfg_id)
@pytest.mark.parametrize("ddof", [0, 1])
def test_mc_dropout_matches_numpy_loop(cfg, ddof):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 5))
    w = rng.standard_normal((5, 9))
    T = 12
    with backend(cfg):
        g = rc.Generator(7)
        mean, std = rc.mc_dropout(net(w), x, samples=T, generator=g, ddof=ddof)
    # the loop: pass k uses the counter range right after pass k-1's
    ys, off = [], 0
    for _ in range(T):
        ref, _ = oracle_dropout(x @ w, 7, off, 0.3)
        ys.append(np.tanh(ref))
        off += (ref.size + 3) // 4
    ys = np.stack(ys)
    assert g.offset == off
    np.testing.assert_allclose(mean, ys.mean(axis=0), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(std, ys.std(axis=0, ddof=ddof), rtol=1e-10, atol=1e-13)


def test_mc_dropout_single_sample_and_dtype():
    x = np.ones((3, 4), np.float32)
    mean, std = rc.mc_dropout(lambda a, g: rc.dropout(a, 0.5, generator=g)[0], x, samples=1,
                              generator=rc.Generator(1))
    assert mean.dtype == std.dtype == np.float32 and not std.any()


def test_mc_dropout_welford_is_stable():
    """Large mean, tiny spread: E[y^2] - E[y]^2 would cancel to garbage in float64."""
    x = np.full(4, 1e8)
    mean, std = rc.mc_dropout(lambda a, g: a + rc.gaussian_noise(np.zeros(4), 1e-3, generator=g), x,
                              samples=200, generator=rc.Generator(3))
    assert np.all(np.abs(std - 1e-3) < 2e-4)


def test_mc_dropout_bad_input():
    x = np.ones(3)
    g = rc.Generator(1)
    f = net(np.ones((3, 2)))
    with pytest.raises(TypeError, match="^forward_fn: "):
        rc.mc_dropout(None, x, samples=3, generator=g)
    for bad, exc in ((0, ValueError), (2.5, TypeError), (True, TypeError)):
        with pytest.raises(exc, match="^samples: "):
            rc.mc_dropout(f, x, samples=bad, generator=g)
    with pytest.raises(ValueError, match="^ddof: "):
        rc.mc_dropout(f, x, samples=3, generator=g, ddof=3)
    assert g.offset == 0
    shapes = iter([(2,), (3,)])
    with pytest.raises(ValueError, match="^forward_fn: "):
        rc.mc_dropout(lambda a, gen: np.zeros(next(shapes)), x, samples=2, generator=g)


def test_mc_dropout_infinite_samples_and_matrix_results():
    """An infinite value in the samples makes the mean that inf, as the mean of the samples is
    (Welford's update turned it into NaN at the next finite sample); an np.matrix result is
    averaged as the plain array (its `*` is a matrix product: the std came out NaN)."""
    x = np.random.default_rng(0).standard_normal((4, 4))
    x[0, 0], x[1, 1], x[2, 2] = np.inf, -np.inf, np.nan
    f = lambda a, g: rc.dropout(a, 0.5, generator=g)[0]   # noqa: E731
    mean, std = rc.mc_dropout(f, x, samples=20, generator=rc.Generator(1))
    g = rc.Generator(1)
    ys = np.stack([f(x, g) for _ in range(20)])
    with np.errstate(invalid="ignore"):
        want_mean, want_std = ys.mean(axis=0), ys.std(axis=0)
    np.testing.assert_allclose(mean, want_mean, rtol=1e-12, atol=1e-14)   # equal_nan, infs equal
    np.testing.assert_array_equal(np.isnan(std), np.isnan(want_std))
    y = np.random.default_rng(1).standard_normal((4, 4))
    fm = lambda a, g: np.asmatrix(rc.dropout(a, 0.5, generator=g)[0])   # noqa: E731
    got = rc.mc_dropout(fm, y, samples=10, generator=rc.Generator(2))
    want = rc.mc_dropout(f, y, samples=10, generator=rc.Generator(2))
    for a, b in zip(got, want):
        assert type(a) is np.ndarray
        np.testing.assert_array_equal(a, b)
