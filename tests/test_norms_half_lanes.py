"""The 16-bit lanes of the normalization kernels at their edges: lengths around the vector width
(rows and layer-norm rows shorter than one vector, one element past a vector and past a pair of
vectors: the 16-bit passes store two vectors at a time), and 16-bit inputs holding subnormals,
+-inf, quiet and signalling NaNs and -0, with outputs that round to 16-bit subnormals and
overflow to inf. Both formats.

* float32 parameters holding a NaN with low payload bits set (the rounding store keeps it a NaN);
* every ISA level gives the scalar level's bits (the NumPy backend's too for the element passes,
  which take the same statistics), NaN payloads aside (docs/precision.md);
* on finite data, a float64 oracle within the bound docs/precision.md states (the helpers of
  test_norms_half.py).
"""
from __future__ import annotations

import numpy as np
import pytest

import regcore as rc

from conftest import BACKENDS, cpu_backend
from test_norms_half import BF16, F16, FMTS, as16, assert_within, bn_oracle, bn_oracle_backward, params

# every test with AVX512_BF16 on and off (conftest.avx512_bf16_both)
pytestmark = pytest.mark.usefixtures("avx512_bf16_both")

if not rc.available_isas():
    pytest.skip("no native CPU module", allow_module_level=True)

# 16-bit patterns: quiet NaN, signalling NaN, +inf, -inf, -0, smallest subnormal, a negative
# subnormal, the smallest normal.
SPECIAL = {
    BF16: [0x7FC1, 0x7F81, 0x7F80, 0xFF80, 0x8000, 0x0001, 0x807F, 0x0080],
    F16: [0x7E01, 0x7C01, 0x7C00, 0xFC00, 0x8000, 0x0001, 0x83FF, 0x0400],
}
# Rows (N, C, S): S around 16 (one AVX-512 vector of 16-bit data) and 8 (AVX2), so the pair loop,
# the one-vector loop and the scalar tail all run; S = 1 is the channels-last (cols) layout.
ROWS = [(2, 3, 1), (2, 3, 7), (2, 2, 8), (1, 3, 15), (2, 2, 16), (2, 2, 17), (1, 2, 31), (2, 2, 32),
        (1, 2, 33), (2, 2, 47), (1, 2, 64), (2, 2, 65)]
COLS = [(5, 3), (4, 17), (3, 33), (3, 48), (2, 65)]       # (M, C) channels-last
LN = [(3, 1), (2, 5), (3, 15), (2, 16), (2, 17), (2, 31), (2, 32), (2, 33), (2, 63), (2, 64), (2, 65)]


def _data(shape, T, rng, special):
    x = as16(rng.standard_normal(shape) * 2 + 3, T)
    if special:
        bits = x.view(np.uint16).reshape(-1)
        pick = rng.random(bits.size) < 0.25
        bits[pick] = rng.choice(np.array(SPECIAL[T], np.uint16), pick.sum())
    return x


def _canon(a):
    """Bytes of a with every NaN made one pattern (their payload is not part of the contract)."""
    a = np.array(a, copy=True)
    if a.dtype == BF16:
        u = a.view(np.uint16)
        u[(u & 0x7FFF) > 0x7F80] = 0x7FC0
    else:
        a[np.isnan(a.astype(np.float64))] = np.nan
    return a.view(np.uint8)


# A float32 NaN whose low 16 bits are set: the rounding store must keep it a NaN (adding the
# rounding bias to its bits would carry into the sign and give -0).
NAN32 = np.array([0x7FFFFFFF], np.uint32).view(np.float32)[0]


def _gamma(C, T, kind, rng, special=False):
    """Parameters with one channel scaled down to 16-bit subnormal outputs and one up to inf
    (special, float32 parameters: one channel's gamma the NaN above)."""
    g, b, _, _ = params(C, T, kind, rng)
    tiny, huge = (1e-38, 3e38) if T == BF16 else (2e-6, 6e4)
    g = g.astype(np.float32)
    g[0] = tiny
    if C > 2:
        g[-1] = huge
    if special and kind == "mixed" and C > 1:
        g[1] = NAN32
    return g.astype(g.dtype if kind == "mixed" else T), b


def _bn_all(x, dy, g, b, axis):
    """Fused forward/backward (relu and plain) and the split element passes on the scalar level's
    statistics: y, dx, dgamma, dbeta of each."""
    out = []
    for relu in ("relu", None):
        y, s = rc.batch_norm(x, g, b, axis=axis, activation=relu)
        out += [s.mean, s.var, y, *rc.batch_norm_backward(dy, x, g, s)]
    return out


@pytest.mark.parametrize("fmt", FMTS)
@pytest.mark.parametrize("kind", ["mixed", "half"])
@pytest.mark.parametrize("special", [False, True])
def test_batch_norm_lanes_match_scalar(fmt, kind, special):
    T = FMTS[fmt]
    rng = np.random.default_rng(3 + special)
    cases = [((N, C, S), 1) for N, C, S in ROWS] + [((M, C), -1) for M, C in COLS]
    for shape, axis in cases:
        C = shape[axis % len(shape)]
        x, dy = _data(shape, T, rng, special), _data(shape, T, rng, special)
        g, b = _gamma(C, T, kind, rng, special)
        with cpu_backend("cpu-scalar"):
            ref = [_canon(a) for a in _bn_all(x, dy, g, b, axis)]
            stats = rc.batch_norm_stats(x, axis=axis)
        for name in BACKENDS[1:]:
            with cpu_backend(name):
                got = [_canon(a) for a in _bn_all(x, dy, g, b, axis)]
            for i, (a, r) in enumerate(zip(got, ref)):
                assert np.array_equal(a, r), (name, shape, i)
        # the element passes on the same statistics: the NumPy backend too
        outs = []
        for name in BACKENDS:
            with cpu_backend(name):
                y, saved = rc.batch_norm_apply(x, stats, g, b, axis=axis, activation="relu")
                with rc.use_backend("numpy"):
                    red = rc.batch_norm_backward_reduce(dy, x, saved)
                outs.append([_canon(a) for a in (y, *rc.batch_norm_backward_apply(dy, x, g, saved, red))])
        for name, o in zip(BACKENDS[1:], outs[1:]):
            for i, (a, r) in enumerate(zip(o, outs[0])):
                assert np.array_equal(a, r), (name, shape, i)


@pytest.mark.parametrize("fmt", FMTS)
@pytest.mark.parametrize("relu", [False, True])
def test_batch_norm_lanes_oracle(fmt, relu):
    """Finite data with subnormal and -0 inputs, outputs near the 16-bit subnormal range."""
    T = FMTS[fmt]
    rng = np.random.default_rng(11 + relu)
    sub = SPECIAL[T][4:]                     # -0 and the subnormals / smallest normal
    for shape, axis in [((N, C, S), 1) for N, C, S in ROWS] + [((M, C), -1) for M, C in COLS]:
        C = shape[axis % len(shape)]
        x, dy = _data(shape, T, rng, False), _data(shape, T, rng, False)
        for a in (x, dy):
            bits = a.view(np.uint16).reshape(-1)
            pick = rng.random(bits.size) < 0.2
            bits[pick] = rng.choice(np.array(sub, np.uint16), pick.sum())
        g, b, _, _ = params(C, T, "mixed", rng)
        g[0] = 1e-3 if T == F16 else 1e-30
        for name in BACKENDS[1:]:
            with cpu_backend(name):
                y, saved = rc.batch_norm(x, g, b, axis=axis, activation="relu" if relu else None)
                dx, dg, db = rc.batch_norm_backward(dy, x, g, saved)
            o = bn_oracle(x, g, b, axis, relu)
            assert_within(y, o["y"], o["scale"], T, f"y {name} {shape}")
            wdx, wdg, wdb, sdx, sdb, sdg = bn_oracle_backward(o, dy, relu)
            assert_within(dx, wdx, sdx, T, f"dx {name} {shape}")
            assert_within(dg, wdg, sdg, g.dtype, f"dgamma {name} {shape}")
            assert_within(db, wdb, sdb, g.dtype, f"dbeta {name} {shape}")


@pytest.mark.parametrize("fmt", FMTS)
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("special", [False, True])
def test_layer_norm_lanes_match_scalar(fmt, affine, special):
    T = FMTS[fmt]
    rng = np.random.default_rng(5 + special + 2 * affine)
    for R, L in LN:
        x, dy = _data((R, L), T, rng, special), _data((R, L), T, rng, special)
        g = b = None
        if affine:
            g = (rng.standard_normal(L) + 1).astype(np.float32)
            g[0] = 1e-38 if T == BF16 else 2e-6
            if special and L > 1:
                g[1] = NAN32
            b = rng.standard_normal(L).astype(np.float32)
        outs = []
        for name in BACKENDS[1:]:
            with cpu_backend(name):
                y, s = rc.layer_norm(x, g, b)
                outs.append([_canon(a) for a in (y, *rc.layer_norm_backward(dy, x, g, s)) if a is not None])
        for name, o in zip(BACKENDS[2:], outs[1:]):
            for i, (a, r) in enumerate(zip(o, outs[0])):
                assert np.array_equal(a, r), (name, (R, L), i)
        if not special:
            x64 = x.astype(np.float64)
            mean, var = x64.mean(axis=1, keepdims=True), x64.var(axis=1, keepdims=True)
            xhat = (x64 - mean) / np.sqrt(var + 1e-5)
            g64 = np.ones(L) if g is None else g.astype(np.float64)
            b64 = np.zeros(L) if b is None else b.astype(np.float64)
            with cpu_backend(BACKENDS[-1]):
                y, _ = rc.layer_norm(x, g, b)
            assert_within(y, xhat * g64 + b64, np.abs(xhat * g64) + np.abs(b64), T, f"layer norm y {(R, L)}")
