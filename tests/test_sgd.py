"""Penalized SGD step: float64 oracle over option combinations, bit-identity across backends,
ISA levels and thread counts, multi-tensor == loop of single steps, penalty value."""
from __future__ import annotations


import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import regcore as rc
from _switches import cpu_backend, num_threads
from regcore import _native

from _sgd_oracle import ALL_ON, COMBOS as COMBOS_2D, oracle_penalty, oracle_step

BACKENDS = ["numpy"] + [f"cpu:{i}" for i in rc.available_isas()]
DTYPES = [np.float32, np.float64]


def backend(name):
    """'numpy' or 'cpu:<isa>' for the block."""
    return cpu_backend(name.replace(":", "-"))


threads = num_threads


def bits(x):
    return np.ascontiguousarray(x).view(np.uint8)


def run_steps(w, grads, opts, be="numpy", multi=False):
    """Copies w, applies the steps; returns (w, buffer)."""
    w = w.copy()
    b = None
    with backend(be):
        for g in grads:
            if multi:
                (b,) = rc.sgd_step_multi_([w], [g], [b], **opts)
            else:
                b = rc.sgd_step_(w, g, b, **opts)
    return w, b


def random_case(seed, shape, dtype, steps=3):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal(shape).astype(dtype)
    grads = [rng.standard_normal(shape).astype(dtype) for _ in range(steps)]
    return w, grads


option_sets = st.fixed_dictionaries({
    "lr": st.sampled_from([0.01, 0.1, 0.5]),
    "momentum": st.sampled_from([0.0, 0.5, 0.9]),
    "dampening": st.sampled_from([0.0, 0.3]),
    "nesterov": st.booleans(),
    "weight_decay": st.sampled_from([0.0, 1e-2, 0.3]),
    "decoupled_weight_decay": st.sampled_from([0.0, 0.1]),
    "l1": st.sampled_from([0.0, 0.05, 0.5]),
    "l1_mode": st.sampled_from(["proximal", "subgradient"]),
    "max_norm": st.sampled_from([None, 0.5, 3.0]),
    "max_norm_axis": st.sampled_from([0, 1, -1]),
    "maximize": st.booleans(),
})


def legal(o):
    o = dict(o)
    if o["nesterov"] and (o["momentum"] == 0 or o["dampening"] != 0):
        o["nesterov"] = False
    return o


@pytest.mark.parametrize("be", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=25, deadline=None)
@given(opts=option_sets, seed=st.integers(0, 2**32 - 1),
       shape=st.sampled_from([(7, 5), (3, 17), (1, 33), (4, 3, 5), (2, 0)]))
def test_matches_float64_oracle_over_several_steps(be, dtype, opts, seed, shape):
    opts = legal(opts)
    w0, grads = random_case(seed, shape, dtype)
    w, b = run_steps(w0, grads, opts, be)
    ow, ob = w0.astype(np.float64), None
    for g in grads:
        ow, ob = oracle_step(ow, g, ob, opts)
    tol = dict(rtol=2e-5, atol=2e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    assert w.dtype == dtype
    np.testing.assert_allclose(w, ow, **tol)
    if opts["momentum"]:
        assert b.dtype == dtype and b.shape == w.shape
        np.testing.assert_allclose(b, ob, **tol)
    else:
        assert b is None


# the shared option sets plus a max-norm over the last axis of the 3-D cases
COMBOS = COMBOS_2D + [dict(ALL_ON, max_norm_axis=2)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("opts", COMBOS, ids=[str(i) for i in range(len(COMBOS))])
@pytest.mark.parametrize("shape", [(61,), (9, 37, 3), (3, 5, 130)])
def test_every_backend_and_isa_gives_the_same_bits(dtype, opts, shape):
    if opts.get("max_norm") and opts.get("max_norm_axis", 0) >= len(shape):
        opts = dict(opts, max_norm_axis=-1)
    w0, grads = random_case(11, shape, dtype, steps=4)
    ref_w, ref_b = run_steps(w0, grads, opts, "numpy")
    for be in BACKENDS[1:]:
        w, b = run_steps(w0, grads, opts, be)
        assert np.array_equal(bits(w), bits(ref_w)), be
        if opts.get("momentum"):
            assert np.array_equal(bits(b), bits(ref_b)), be


@pytest.mark.skipif(_native.cpu is None, reason="native CPU module not built")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("axis", [None, 0, 1])
def test_one_and_two_threads_give_the_same_bits(dtype, axis):
    # Large enough for several chunks (and several rows per chunk on the fused max-norm path).
    shape = (300, 701)
    opts = dict(ALL_ON, max_norm=None if axis is None else 10.0, max_norm_axis=axis or 0)
    w0, grads = random_case(5, shape, dtype, steps=2)
    with threads(1):
        w1, b1 = run_steps(w0, grads, opts, "cpu:" + rc.available_isas()[-1])
    with threads(2):
        w2, b2 = run_steps(w0, grads, opts, "cpu:" + rc.available_isas()[-1])
    assert np.array_equal(bits(w1), bits(w2)) and np.array_equal(bits(b1), bits(b2))
    wn, bn = run_steps(w0, grads, opts, "numpy")
    assert np.array_equal(bits(w1), bits(wn)) and np.array_equal(bits(b1), bits(bn))


@pytest.mark.skipif(_native.cpu is None, reason="native CPU module not built")
@pytest.mark.parametrize("shape, axis", [((40, 64, 20), 1), ((5, 3000), 1), ((7, 9, 2, 300), 2)])
def test_strided_max_norm_blocks_give_the_same_bits(shape, axis):
    # Neuron blocks of the inner-axis max-norm (several per tensor, segments shorter and longer
    # than 16 elements): the same bits as NumPy's neuron-by-neuron sums, for 1 and 2 threads.
    opts = dict(lr=0.1, momentum=0.9, weight_decay=0.01, max_norm=4.0, max_norm_axis=axis)
    w0, grads = random_case(8, shape, np.float32, steps=2)
    wn, bn = run_steps(w0, grads, opts, "numpy")
    for n in (1, 2):
        with threads(n):
            w, b = run_steps(w0, grads, opts, "cpu:" + rc.available_isas()[-1])
        assert np.array_equal(bits(w), bits(wn)) and np.array_equal(bits(b), bits(bn)), n


@pytest.mark.parametrize("be", BACKENDS)
@pytest.mark.parametrize("opts", [COMBOS[2], dict(ALL_ON, max_norm_axis=0), dict(ALL_ON, max_norm_axis=-1)],
                         ids=["plain", "maxnorm0", "maxnorm_last"])
def test_multi_tensor_step_equals_a_loop_of_single_steps(be, opts):
    rng = np.random.default_rng(3)
    shapes = [(70000,), (3, 5), (0, 4), (130, 517), (8, 1), (2, 3, 4)]
    dts = [np.float32, np.float64, np.float32, np.float32, np.float64, np.float32]
    ws = [rng.standard_normal(s).astype(d) for s, d in zip(shapes, dts)]
    gss = [[rng.standard_normal(s).astype(d) for s, d in zip(shapes, dts)] for _ in range(3)]
    with backend(be):
        multi = [w.copy() for w in ws]
        mb = None
        for gs in gss:
            mb = rc.sgd_step_multi_(multi, gs, mb, **opts)
        single = [w.copy() for w in ws]
        sb = [None] * len(ws)
        for gs in gss:
            for i in range(len(ws)):
                sb[i] = rc.sgd_step_(single[i], gs[i], sb[i], **opts)
    for i in range(len(ws)):
        assert np.array_equal(bits(multi[i]), bits(single[i])), i
        assert np.array_equal(bits(mb[i]), bits(sb[i])), i


@pytest.mark.parametrize("be", BACKENDS)
def test_momentum_buffer_lifecycle(be):
    w0, (g,) = random_case(1, (5, 3), np.float32, steps=1)
    with backend(be):
        w = w0.copy()
        b = rc.sgd_step_(w, g, None, lr=0.1, momentum=0.9)
        np.testing.assert_array_equal(b, g)  # the first buffer is the gradient
        given = np.full_like(w0, 2.0)
        out = rc.sgd_step_(w, g, given, lr=0.1, momentum=0.9)
        assert out is given
        np.testing.assert_array_equal(given, np.float32(0.9) * np.float32(2.0) + np.float32(1.0) * g)
        # No momentum: the buffer is neither read nor written, and returned as given.
        sentinel = np.full_like(w0, np.nan)
        w2 = w0.copy()
        assert rc.sgd_step_(w2, g, sentinel, lr=0.1, momentum=0.0) is sentinel
        assert np.isnan(sentinel).all()
        np.testing.assert_array_equal(w2, w0 - np.float32(0.1) * g)
        assert rc.sgd_step_(w0.copy(), g, None, lr=0.1, momentum=0.0) is None


@pytest.mark.parametrize("be", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_proximal_l1_gives_exact_positive_zeros(be, dtype):
    w = np.array([0.05, -0.05, 0.3, -0.3, 0.0, -0.0], dtype)
    g = np.zeros_like(w)
    with backend(be):
        rc.sgd_step_(w, g, None, lr=1.0, momentum=0.0, l1=0.1)
    assert np.array_equal(bits(w[[0, 1, 4, 5]]), bits(np.zeros(4, dtype)))
    np.testing.assert_allclose(w[2:4], [0.2, -0.2], rtol=1e-6)


@pytest.mark.parametrize("be", BACKENDS)
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_max_norm_holds_for_every_neuron(be, axis):
    w0, grads = random_case(2, (6, 40), np.float32, steps=5)
    w0 *= 3
    with backend(be):
        w, b = w0.copy(), None
        for g in grads:
            b = rc.sgd_step_(w, g, b, lr=0.1, momentum=0.9, max_norm=1.5, max_norm_axis=axis)
            norms = np.sqrt((w.astype(np.float64) ** 2).sum(axis=1 - (axis % 2)))
            assert (norms <= 1.5 * (1 + 1e-6)).all()


@pytest.mark.parametrize("be", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_nan_weights_are_not_hidden(be, dtype):
    w = np.array([np.nan, 1.0, np.nan], dtype)
    with backend(be):
        rc.sgd_step_(w, np.zeros_like(w), None, lr=0.1, momentum=0.0, l1=0.5)
    assert np.isnan(w[[0, 2]]).all() and w[1] == dtype(1.0) - dtype(0.05)


@pytest.mark.parametrize("dtype", DTYPES)
def test_penalty_value_and_bits(dtype):
    rng = np.random.default_rng(9)
    xs = [rng.standard_normal(s).astype(dtype) for s in [(70001,), (3, 17), (0,), (200, 700)]]
    want = oracle_penalty(xs, 0.01, 0.5)
    values = []
    for be in BACKENDS:
        with backend(be):
            values.append(rc.penalty(xs, l1=0.01, l2=0.5))
    assert values[0] == pytest.approx(want, rel=1e-12)
    assert all(v == values[0] for v in values), values
    if _native.cpu is not None:
        with backend(BACKENDS[-1]), threads(1):
            v1 = rc.penalty(xs, l1=0.01, l2=0.5)
        with backend(BACKENDS[-1]), threads(2):
            v2 = rc.penalty(xs, l1=0.01, l2=0.5)
        assert v1 == v2 == values[0]
    with backend(BACKENDS[-1]):
        assert rc.penalty(xs[1], l1=2.0) == pytest.approx(2 * np.abs(xs[1].astype(np.float64)).sum(), rel=1e-12)
        assert rc.penalty([], l1=1.0, l2=1.0) == 0.0


def test_zero_size_and_odd_sizes():
    for n in [0, 1, 7, 15, 16, 17, 31, 33, 65537]:
        w0, grads = random_case(n, (n,), np.float32, steps=2)
        ref = run_steps(w0, grads, ALL_ON, "numpy")
        for be in BACKENDS[1:]:
            got = run_steps(w0, grads, ALL_ON, be)
            assert np.array_equal(bits(got[0]), bits(ref[0])), (be, n)


@pytest.mark.parametrize("be", BACKENDS)
def test_torch_cpu_tensors_are_updated_in_place(be):
    torch = pytest.importorskip("torch")
    w = torch.randn(4, 5)
    g = torch.randn(4, 5)
    before = w.clone()
    with backend(be):
        b = rc.sgd_step_(w, g, None, lr=0.1, momentum=0.9)
    assert isinstance(b, torch.Tensor)
    torch.testing.assert_close(w, before - 0.1 * g)
