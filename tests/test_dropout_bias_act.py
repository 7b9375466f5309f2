"""bias_act_dropout and its backward: oracle, finite differences with the mask fixed, fused dbias
identical across thread counts, bad input."""
from __future__ import annotations

import numpy as np
import pytest

import regcore as rc
from _dropout_oracle import ACTIVATIONS, act, backend, cfg_id, configs, keep, scale, threads

CONFIGS = configs()
DTYPES = (np.float32, np.float64)
# The activations (core/dropout_act.h) run in the data dtype, a few ulp from the float64 oracle;
# tolerances relative to the float64 oracle.
TOL = {np.float32: dict(rtol=2e-5, atol=2e-6), np.float64: dict(rtol=1e-12, atol=1e-13)}


def inputs(shape, dtype, seed=0, residual=False):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(shape) * 2).astype(dtype)
    b = rng.standard_normal(shape[-1]).astype(dtype)
    r = rng.standard_normal(shape).astype(dtype) if residual else None
    return x, b, r


def oracle(x, b, r, name, p, seed, offset, dy):
    k = keep(seed, offset, x.size, p).reshape(x.shape)
    s = scale(p, "inverted", x.dtype)
    z = x.astype(np.float64) + b.astype(np.float64)
    f, d = act(name, z)
    y = np.where(k, f * s, 0.0)
    if r is not None:
        y = y + r
    dx = np.where(k, dy.astype(np.float64) * s * d, 0.0)
    cols = x.shape[-1]
    return y, dx, (dx.reshape(-1, cols).sum(axis=0) if cols else np.zeros(0))


@pytest.mark.parametrize("cfg", CONFIGS, ids=cfg_id)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ACTIVATIONS)
@pytest.mark.parametrize("kind", ["bits", "bytes", "none"])
def test_matches_oracle(cfg, dtype, name, kind):
    shape = (23, 3, 37)
    x, b, r = inputs(shape, dtype, 1, residual=(kind == "bits"))
    dy = inputs(shape, dtype, 2)[0]
    g = rc.Generator(8)
    with backend(cfg):
        y, state = rc.bias_act_dropout(x, b, name, 0.3, residual=r, generator=g, mask=kind)
        grads = rc.bias_act_dropout_backward(dy, state)
    yr, dxr, dbr = oracle(x, b, r, name, 0.3, 8, 0, dy)
    np.testing.assert_allclose(y, yr, **TOL[dtype])
    np.testing.assert_allclose(grads[0], dxr, **TOL[dtype])
    np.testing.assert_allclose(grads[1], dbr, rtol=TOL[dtype]["rtol"] * 10, atol=TOL[dtype]["atol"] * 40)
    assert y.dtype == grads[0].dtype == grads[1].dtype == dtype
    if r is not None:
        assert len(grads) == 3 and grads[2] is dy
    else:
        assert len(grads) == 2
    np.testing.assert_array_equal(state.mask.to_numpy(), keep(8, 0, x.size, 0.3).reshape(shape))


@pytest.mark.parametrize("cfg", CONFIGS, ids=cfg_id)
@pytest.mark.parametrize("name", ACTIVATIONS)
def test_finite_differences(cfg, name):
    """Central differences of L = sum(dy * y) in float64 with the mask fixed (same generator
    state for every evaluation)."""
    shape = (5, 7)
    x, b, _ = inputs(shape, np.float64, 3)
    if name == "relu":
        x[np.abs(x + b) < 1e-3] += 0.01  # keep away from the kink
    dy = inputs(shape, np.float64, 4)[0]

    def loss(xv, bv):
        y, _ = rc.bias_act_dropout(xv, bv, name, 0.4, generator=rc.Generator(21))
        return float((dy * y).sum())

    with backend(cfg):
        _, state = rc.bias_act_dropout(x, b, name, 0.4, generator=rc.Generator(21))
        dx, db = rc.bias_act_dropout_backward(dy, state)
        h = 1e-6
        num_dx = np.zeros_like(x)
        for i in np.ndindex(shape):
            xp_, xm = x.copy(), x.copy()
            xp_[i] += h
            xm[i] -= h
            num_dx[i] = (loss(xp_, b) - loss(xm, b)) / (2 * h)
        num_db = np.zeros_like(b)
        for j in range(b.size):
            bp, bm = b.copy(), b.copy()
            bp[j] += h
            bm[j] -= h
            num_db[j] = (loss(x, bp) - loss(x, bm)) / (2 * h)
    np.testing.assert_allclose(dx, num_dx, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(db, num_db, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("cfg", CONFIGS, ids=cfg_id)
@pytest.mark.parametrize("cols", [1, 7, 33, 1000, 70000])
def test_threads_identical(cfg, cols):
    rows = max(1, 300_000 // cols)
    x, b, r = inputs((rows, cols), np.float32, 5, residual=True)
    dy = inputs((rows, cols), np.float32, 6)[0]
    out = []
    for nt in (1, 2):
        with backend(cfg), threads(nt):
            y, s = rc.bias_act_dropout(x, b, "gelu_tanh", 0.2, residual=r, generator=rc.Generator(3))
            out.append((y, *rc.bias_act_dropout_backward(dy, s)[:2]))
    for a, c in zip(out[0], out[1]):
        assert np.array_equal(a, c)


def test_masks_identical_across_backends():
    x, b, _ = inputs((17, 129), np.float32, 7)
    masks = []
    for cfg in CONFIGS:
        with backend(cfg):
            masks.append(rc.bias_act_dropout(x, b, "relu", 0.5, generator=rc.Generator(4))[1].mask.bits)
    for m in masks[1:]:
        np.testing.assert_array_equal(m, masks[0])


@pytest.mark.parametrize("cfg", CONFIGS, ids=cfg_id)
@pytest.mark.parametrize("shape", [(0,), (0, 5), (5, 0), (1,), (3, 1)])
def test_zero_and_tiny_sizes(cfg, shape):
    x, b, _ = inputs(shape, np.float64, 8)
    with backend(cfg):
        y, s = rc.bias_act_dropout(x, b, "sigmoid", 0.5, generator=rc.Generator(1))
        dx, db = rc.bias_act_dropout_backward(np.ones(shape), s)
    yr, dxr, dbr = oracle(x, b, None, "sigmoid", 0.5, 1, 0, np.ones(shape))
    np.testing.assert_allclose(y, yr, rtol=1e-12)
    np.testing.assert_allclose(dx, dxr, rtol=1e-12)
    np.testing.assert_allclose(db, dbr, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("cfg", CONFIGS, ids=cfg_id)
def test_p_one_gives_zeros_and_residual(cfg):
    x, b, r = inputs((6, 40), np.float32, 9, residual=True)
    with backend(cfg):
        y, s = rc.bias_act_dropout(x, b, "gelu", 1.0, residual=r, generator=rc.Generator(1))
        dx, db, dr = rc.bias_act_dropout_backward(np.ones_like(x), s)
    np.testing.assert_array_equal(y, r)
    assert not dx.any() and not db.any()


@pytest.mark.parametrize("cfg", CONFIGS, ids=cfg_id)
def test_bad_input(cfg):
    x, b, r = inputs((4, 6), np.float32, 10, residual=True)
    g = rc.Generator(1)
    with backend(cfg):
        with pytest.raises(ValueError, match="^bias: "):
            rc.bias_act_dropout(x, b[:5], generator=g)
        with pytest.raises(ValueError, match="^bias: "):
            rc.bias_act_dropout(x, b.reshape(1, 6), generator=g)
        with pytest.raises(TypeError, match="^bias: "):
            rc.bias_act_dropout(x, b.astype(np.float64), generator=g)
        with pytest.raises(ValueError, match="^activation: "):
            rc.bias_act_dropout(x, b, "swish", generator=g)
        with pytest.raises(ValueError, match="^p: "):
            rc.bias_act_dropout(x, b, "relu", 1.01, generator=g)
        with pytest.raises(ValueError, match="^mode: "):
            rc.bias_act_dropout(x, b, "relu", 0.1, generator=g, mode="x")
        with pytest.raises(ValueError, match="^residual: "):
            rc.bias_act_dropout(x, b, residual=r[:2], generator=g)
        with pytest.raises(TypeError, match="^residual: "):
            rc.bias_act_dropout(x, b, residual=r.astype(np.float64), generator=g)
        with pytest.raises(TypeError, match="^x: "):
            rc.bias_act_dropout(x.astype(np.int32), b, generator=g)
        with pytest.raises(ValueError, match="^x: "):
            rc.bias_act_dropout(np.ones((), np.float32), b[:1], generator=g)
        assert g.offset == 0
        _, s = rc.bias_act_dropout(x, b, generator=g)
        with pytest.raises(ValueError, match="^dy: "):
            rc.bias_act_dropout_backward(np.ones((6, 4), np.float32), s)
        with pytest.raises(TypeError, match="^dy: "):
            rc.bias_act_dropout_backward(np.ones((4, 6), np.float64), s)
        with pytest.raises(TypeError, match="^state: "):
            rc.bias_act_dropout_backward(np.ones((4, 6), np.float32), s.mask)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float16"])
@pytest.mark.parametrize("cols", [1024, 1000])
def test_large_backward_gives_the_same_bits_everywhere(dtype, cols):
    """A backward over 9 MiB (several chunks per thread, beyond the caches): dx and dbias equal
    the NumPy backend's bits at every ISA level and on 1 and 2 threads (cols = 1000: words that
    cross row ends)."""
    if dtype == "bfloat16":
        dt = np.dtype(pytest.importorskip("ml_dtypes").bfloat16)
    else:
        dt = np.dtype(dtype)
    rows = (9 << 20) // (cols * dt.itemsize) + 1
    x, b = (a.astype(dt) for a in inputs((rows, cols), np.float32, 7)[:2])
    dy = inputs((rows, cols), np.float32, 8)[0].astype(dt)
    ref = None
    for cfg in CONFIGS:
        for nt in ((1,) if cfg[0] == "numpy" else (1, 2)):
            with backend(cfg), threads(nt):
                _, st = rc.bias_act_dropout(x, b, "relu", 0.3, generator=rc.Generator(11))
                dx, db = rc.bias_act_dropout_backward(dy, st)
            got = (dx.view(np.uint8), db.view(np.uint8))
            if ref is None:
                ref = got
                continue
            for u, v in zip(ref, got):
                assert np.array_equal(u, v), (cfg, nt)
