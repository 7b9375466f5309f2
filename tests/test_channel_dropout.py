"""channel_dropout / feature_alpha_dropout and their backward: float64 oracle on every backend and
ISA level, both layouts, the (N, C) stream layout shared with dropout, bit identity across
backends / ISAs / threads, finite differences, keep-rate statistics and bad input."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import regcore as rc
from _channel_dropout_oracle import affine, channel_axes, channel_dropout, channel_keep
from _dropout_oracle import backend, cfg_id, configs, scale, threads

CONFIGS = configs()
DTYPES = (np.float32, np.float64)
LAYOUTS = ("channels_first", "channels_last")
KINDS = ("bits", "none")
# odd sizes: C below and above 32, spatial 1, spatial not a multiple of a vector, rows that
# cross fixed chunk boundaries; channels last with C a multiple of every vector width (the
# per-sample lane-mask path), one whose rows cross the 65536-element chunk boundaries (C = 48)
SHAPES = [(3, 5, 7), (2, 37, 3, 5), (4, 1, 33), (5, 70), (2, 3, 2, 2, 3), (1, 33, 17), (3, 64, 4, 4),
          (2, 2, 40000), (3, 4, 4, 64), (2, 700, 48)]


def data(shape, dtype, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def _special(x):
    flat = x.reshape(-1)
    flat[:5] = [np.inf, -np.inf, np.nan, 0.0, -0.0][: flat.size]
    return x


@pytest.mark.parametrize("cfg", CONFIGS, ids=cfg_id)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_channel_dropout_matches_oracle(cfg, dtype, layout, shape):
    x = _special(data(shape, dtype, 1))
    dy = data(shape, dtype, 2)
    for kind in KINDS:
        g = rc.Generator(77)
        g.reserve(5)
        with backend(cfg):
            y, m = rc.channel_dropout(x, 0.3, layout=layout, generator=g, mask=kind)
            dx = rc.channel_dropout_backward(dy, m)
        n, c, _ = channel_axes(shape, layout)
        assert g.offset == 5 + (n * c + 3) // 4
        ref, k = channel_dropout(x, 77, 5, 0.3, layout)
        np.testing.assert_array_equal(y, ref.astype(dtype))
        kb = np.broadcast_to(channel_keep(shape, layout, 77, 5, 0.3)[0], shape)
        assert not np.signbit(y[~kb]).any(), "dropped elements are +0"
        dref, _ = channel_dropout(dy, 77, 5, 0.3, layout)
        np.testing.assert_array_equal(dx, dref.astype(dtype))
        np.testing.assert_array_equal(m.to_numpy(), k)
        assert (m.kind, m.layout, m.shape, m.dtype, m.seed, m.offset) == (kind, layout, shape, np.dtype(dtype), 77, 5)


@pytest.mark.parametrize("cfg", CONFIGS, ids=cfg_id)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("p", [0.2, 0.5, 0.9])
def test_feature_alpha_dropout_matches_oracle(cfg, dtype, layout, p):
    for shape in [(3, 5, 7), (2, 37, 3, 5), (5, 70), (1, 33, 17)]:
        x = _special(data(shape, dtype, 3))
        dy = data(shape, dtype, 4)
        for kind in KINDS:
            with backend(cfg):
                y, m = rc.feature_alpha_dropout(x, p, layout=layout, generator=rc.Generator(8), mask=kind)
                dx = rc.feature_alpha_dropout_backward(dy, m)
            kb, k = channel_keep(shape, layout, 8, 0, p)
            kb = np.broadcast_to(kb, shape)
            ref, a = affine(x, kb, p)
            np.testing.assert_array_equal(y, ref.astype(dtype))
            np.testing.assert_array_equal(dx, np.where(kb, dy.astype(np.float64) * float(a), 0.0).astype(dtype))
            np.testing.assert_array_equal(m.to_numpy(), k)
            assert m.mode == "alpha" and float(m.scale) == float(a)


def test_decisions_are_dropouts_mask_of_an_n_by_c_array():
    """One stream element per (n, c), in (n, c) order: the same decisions as dropout on (N, C)."""
    for layout, shape in (("channels_first", (6, 11, 5, 3)), ("channels_last", (6, 5, 3, 11))):
        x = data(shape, np.float32, 5)
        _, m = rc.channel_dropout(x, 0.4, layout=layout, generator=rc.Generator(21))
        _, md = rc.dropout(np.zeros((6, 11), np.float32), 0.4, generator=rc.Generator(21))
        np.testing.assert_array_equal(m.to_numpy(), md.to_numpy())
        np.testing.assert_array_equal(m.bits, md.bits)


@pytest.mark.parametrize("cfg", CONFIGS, ids=cfg_id)
def test_layouts_give_the_same_result(cfg):
    xf = data((3, 13, 4, 6), np.float64, 6)
    xl = np.ascontiguousarray(np.moveaxis(xf, 1, -1))
    with backend(cfg):
        yf, mf = rc.channel_dropout(xf, 0.5, generator=rc.Generator(4))
        yl, ml = rc.channel_dropout(xl, 0.5, layout="channels_last", generator=rc.Generator(4))
        af, _ = rc.feature_alpha_dropout(xf, 0.5, generator=rc.Generator(4))
        al, _ = rc.feature_alpha_dropout(xl, 0.5, layout="channels_last", generator=rc.Generator(4))
    np.testing.assert_array_equal(np.moveaxis(yf, 1, -1), yl)
    np.testing.assert_array_equal(np.moveaxis(af, 1, -1), al)
    np.testing.assert_array_equal(mf.bits, ml.bits)


def test_identical_across_backends_isas_and_threads():
    results = []
    for shape, layout in (((4, 48, 70, 40), "channels_first"), ((4, 70, 40, 48), "channels_last"),
                          ((3, 7, 65536 + 3), "channels_first"), ((2, 65536 + 5, 3), "channels_last")):
        x = data(shape, np.float32, 7)
        dy = data(shape, np.float32, 8)
        per = []
        for cfg in CONFIGS:
            for nt in (1, 2):
                with backend(cfg), threads(nt):
                    y, m = rc.channel_dropout(x, 0.5, layout=layout, generator=rc.Generator(12345))
                    _, mn = rc.channel_dropout(x, 0.5, layout=layout, generator=rc.Generator(12345), mask="none")
                    a, ma = rc.feature_alpha_dropout(x, 0.5, layout=layout, generator=rc.Generator(12345))
                    per.append((cfg, nt, y, m.bits, rc.channel_dropout_backward(dy, m),
                                rc.channel_dropout_backward(dy, mn), a, rc.feature_alpha_dropout_backward(dy, ma)))
        results.append(per)
    for per in results:
        ref = per[0]
        for r in per:
            for j in range(2, 8):
                assert np.array_equal(r[j], ref[j], equal_nan=True), (r[0], r[1], j)
            assert np.array_equal(r[5], ref[4]), "regenerated decisions equal the stored ones"


@pytest.mark.parametrize("cfg", CONFIGS, ids=cfg_id)
def test_counter_low_word_wrap(cfg):
    g = rc.Generator.from_state({"seed": 99, "offset": (1 << 32) - 13})
    x = data((20, 30, 3), np.float64, 9)
    with backend(cfg):
        y, _ = rc.channel_dropout(x, 0.5, generator=g)
    ref, _ = channel_dropout(x, 99, (1 << 32) - 13, 0.5, "channels_first")
    np.testing.assert_array_equal(y, ref)


@pytest.mark.parametrize("cfg", CONFIGS, ids=cfg_id)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_p_edges(cfg, layout):
    x = _special(data((4, 9, 5), np.float32, 10))
    for kind in KINDS:
        g = rc.Generator(1)
        with backend(cfg):
            y1, m1 = rc.channel_dropout(x, 1.0, layout=layout, generator=g, mask=kind)
            d1 = rc.channel_dropout_backward(x, m1)
            y0, m0 = rc.channel_dropout(x, 0.0, layout=layout, generator=g, mask=kind)
            d0 = rc.channel_dropout_backward(x, m0)
            a1, ma1 = rc.feature_alpha_dropout(x, 1.0, layout=layout, generator=g, mask=kind)
        assert g.offset == 0, "p = 0 and p = 1 draw nothing"
        assert not y1.any() and not d1.any() and not np.signbit(y1).any() and not m1.to_numpy().any()
        assert not a1.any() and not np.signbit(a1).any()
        np.testing.assert_array_equal(y0, x)
        np.testing.assert_array_equal(d0, x)
        assert m0.to_numpy().all()


@pytest.mark.parametrize("cfg", CONFIGS, ids=cfg_id)
def test_out_and_in_place(cfg):
    x = data((3, 8, 10), np.float64, 11)
    ref, _ = channel_dropout(x, 3, 0, 0.5, "channels_first")
    with backend(cfg):
        out = np.empty_like(x)
        y, _ = rc.channel_dropout(x, 0.5, generator=rc.Generator(3), out=out)
        assert y is out
        np.testing.assert_array_equal(out, ref)
        xi = x.copy()
        y, m = rc.channel_dropout(xi, 0.5, generator=rc.Generator(3), out=xi)
        np.testing.assert_array_equal(xi, ref)
        dy = x.copy()
        dx = rc.channel_dropout_backward(dy, m, out=dy)
        assert dx is dy
        np.testing.assert_array_equal(dy, ref)  # dx = keep ? dy * s : 0, the forward map


@pytest.mark.parametrize("cfg", CONFIGS, ids=cfg_id)
@pytest.mark.parametrize("alpha", [False, True])
def test_backward_finite_differences(cfg, alpha):
    """The forward is affine in x for fixed decisions: central differences along a random
    direction, the same generator state each call, against <dy, dx>."""
    shape = (3, 6, 5)
    x = data(shape, np.float64, 12)
    v = data(shape, np.float64, 13)
    dy = data(shape, np.float64, 14)
    fwd = rc.feature_alpha_dropout if alpha else rc.channel_dropout
    eps = 1e-6
    with backend(cfg):
        yp, _ = fwd(x + eps * v, 0.4, generator=rc.Generator(5))
        ym, m = fwd(x - eps * v, 0.4, generator=rc.Generator(5))
        dx = rc.channel_dropout_backward(dy, m)
    fd = float(((yp - ym) / (2 * eps) * dy).sum())
    assert math.isclose(fd, float((dx * v).sum()), rel_tol=1e-7, abs_tol=1e-9)


@pytest.mark.parametrize("cfg", CONFIGS, ids=cfg_id)
@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_keep_rate_and_moments(cfg, p):
    n, c = 400, 500
    x = np.full((n, c, 3), 1.5, np.float32)
    with backend(cfg):
        y, m = rc.channel_dropout(x, p, generator=rc.Generator(31337))
        z = data((n, c, 3), np.float64, 15)
        a, _ = rc.feature_alpha_dropout(z, p, generator=rc.Generator(4242))
    q = 1 - p
    kept = int(m.to_numpy().sum())
    d = n * c
    assert abs(kept - d * q) <= 5 * math.sqrt(d * q * (1 - q))  # binomial, 5 sigma
    assert abs(float(y.astype(np.float64).mean()) - 1.5) <= 5 * 1.5 * math.sqrt((1 - q) / (q * d))  # E[y] = x
    # SELU's fixed point: zero mean and unit variance in, zero mean and unit variance out
    assert abs(float(a.mean())) < 0.02 and abs(float(a.var()) - 1.0) < 0.03


def test_disjoint_calls_differ():
    g = rc.Generator(5)
    x = np.ones((64, 64, 2), np.float32)
    a = rc.channel_dropout(x, 0.5, generator=g)[1].to_numpy()
    b = rc.channel_dropout(x, 0.5, generator=g)[1].to_numpy()
    assert 0.4 < float((a == b).mean()) < 0.6


# ---- bad input: the named error, nothing written, no counter consumed

@pytest.mark.parametrize("cfg", CONFIGS, ids=cfg_id)
def test_bad_input(cfg):
    x = data((4, 6, 5), np.float32, 16)
    before = x.copy()
    g = rc.Generator(1)
    out = np.zeros_like(x)
    with backend(cfg):
        for fwd in (rc.channel_dropout, rc.feature_alpha_dropout):
            for bad in (np.ones(5, np.float32), np.ones((), np.float32)):
                with pytest.raises(ValueError, match="^x: .*at least 2 dimensions"):
                    fwd(bad, 0.5, generator=g, out=None)
            with pytest.raises(ValueError, match="^p: "):
                fwd(x, 1.5, generator=g, out=out)
            with pytest.raises(TypeError, match="^p: "):
                fwd(x, "0.5", generator=g, out=out)
            with pytest.raises(ValueError, match="^layout: "):
                fwd(x, 0.5, layout="nchw", generator=g, out=out)
            with pytest.raises(ValueError, match="^mask: "):
                fwd(x, 0.5, mask="bytes", generator=g, out=out)
            with pytest.raises(TypeError, match="^x: "):
                fwd(np.ones((3, 4), np.int32), 0.5, generator=g)
            with pytest.raises(TypeError, match="^generator: "):
                fwd(x, 0.5, generator=3, out=out)
            with pytest.raises(ValueError, match="^out: "):
                fwd(x, 0.5, generator=g, out=np.zeros((4, 6), np.float32))
            with pytest.raises(TypeError, match="^out: "):
                fwd(x, 0.5, generator=g, out=np.zeros((4, 6, 5), np.float64))
        with pytest.raises(ValueError, match="^mode: "):
            rc.channel_dropout(x, 0.5, mode="alpha", generator=g, out=out)
        _, m = rc.channel_dropout(x, 0.5, generator=rc.Generator(2))
        dx = np.zeros_like(x)
        with pytest.raises(ValueError, match="^dy: .*shape"):
            rc.channel_dropout_backward(np.ones((4, 5, 6), np.float32), m, out=dx)
        with pytest.raises(TypeError, match="^dy: .*dtype"):
            rc.channel_dropout_backward(np.ones((4, 6, 5), np.float64), m)
        with pytest.raises(TypeError, match="^mask: "):
            rc.channel_dropout_backward(x, m.bits, out=dx)
        with pytest.raises(ValueError, match="^mask: "):
            rc.feature_alpha_dropout_backward(x, m, out=dx)
        _, md = rc.dropout(x, 0.5, generator=rc.Generator(2))
        with pytest.raises(TypeError, match="^mask: "):
            rc.channel_dropout_backward(x, md, out=dx)
        m.bits = m.bits[:-1]
        with pytest.raises(ValueError, match="^mask.bits: "):
            rc.channel_dropout_backward(x, m, out=dx)
    np.testing.assert_array_equal(x, before)
    assert not out.any() and not dx.any()
    assert g.offset == 0


@pytest.mark.parametrize("cfg", CONFIGS, ids=cfg_id)
@pytest.mark.parametrize("layout, shape", [("channels_first", (3, 37, 151, 131)),   # 8.8 MB float32
                                           ("channels_last", (3, 151, 131, 37)),
                                           ("channels_last", (3, 151, 73, 64))])    # lane-mask path
def test_large_outputs_streaming_stores(cfg, layout, shape):
    """Outputs of 8 MiB or more take the non-temporal store path (aligned vectors after a scalar
    head in every row of odd length): the same values as the oracle."""
    x = data(shape, np.float32, 17)
    with backend(cfg):
        y, m = rc.channel_dropout(x, 0.5, layout=layout, generator=rc.Generator(2))
        a, _ = rc.feature_alpha_dropout(x, 0.5, layout=layout, generator=rc.Generator(2))
    ref, _ = channel_dropout(x, 2, 0, 0.5, layout)
    np.testing.assert_array_equal(y, ref.astype(np.float32))
    kb = np.broadcast_to(channel_keep(shape, layout, 2, 0, 0.5)[0], shape)
    np.testing.assert_array_equal(a, affine(x, kb, 0.5)[0].astype(np.float32))


@pytest.mark.parametrize("fmt", ["bfloat16", "float16"])
def test_large_16bit_outputs_stream_with_the_same_bits(fmt):
    """16-bit outputs of 8 MiB or more stream two vectors per store (rows of odd length: a
    scalar head to the aligned address, pairs, a vector and scalar tail): forward, feature alpha
    and backward give the NumPy backend's bits at every ISA level."""
    dt = np.dtype(pytest.importorskip("ml_dtypes").bfloat16) if fmt == "bfloat16" else np.dtype(np.float16)
    x = data((6, 37, 151, 131), np.float32, 19).astype(dt)   # 8.8 MB of 16-bit data
    outs = []
    for cfg in CONFIGS:
        with backend(cfg):
            y, m = rc.channel_dropout(x, 0.5, generator=rc.Generator(4))
            a, ma = rc.feature_alpha_dropout(x, 0.3, generator=rc.Generator(5))
            dx = rc.channel_dropout_backward(x, m)
            da = rc.feature_alpha_dropout_backward(x, ma)
        outs.append([v.view(np.uint16) for v in (y, a, dx, da)])
    for o in outs[1:]:
        for u, v in zip(outs[0], o):
            np.testing.assert_array_equal(u, v)


@settings(max_examples=25, deadline=None)
@given(shape=st.lists(st.integers(0, 12), min_size=2, max_size=4), p=st.floats(0.0, 1.0),
       layout=st.sampled_from(LAYOUTS), kind=st.sampled_from(KINDS), dtype=st.sampled_from(DTYPES),
       alpha=st.booleans(), offset=st.integers(0, 2**40), seed=st.integers(0, 2**64 - 1))
def test_property_matches_oracle(shape, p, layout, kind, dtype, alpha, offset, seed):
    shape = tuple(shape)
    x = data(shape, dtype, 18)
    kb = np.broadcast_to(channel_keep(shape, layout, seed, offset, p)[0], shape)
    ref = affine(x, kb, p)[0] if alpha else channel_dropout(x, seed, offset, p, layout)[0]
    for cfg in CONFIGS:
        g = rc.Generator.from_state({"seed": seed, "offset": offset})
        with backend(cfg):
            fwd = rc.feature_alpha_dropout if alpha else rc.channel_dropout
            y, m = fwd(x, p, layout=layout, generator=g, mask=kind)
            dx = rc.channel_dropout_backward(x, m)
        np.testing.assert_array_equal(y, ref.astype(dtype))
        if not alpha:
            np.testing.assert_array_equal(dx, ref.astype(dtype))
