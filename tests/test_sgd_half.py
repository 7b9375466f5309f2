"""Penalized SGD on bfloat16 / float16 parameters (docs/sgd.md "16-bit parameters", docs/precision.md
"Stochastic rounding"): a float64 oracle of the same 16-bit inputs with the stated ulp bounds, bit
identity across numpy / scalar / AVX2 / AVX-512 / 1-2 threads, the float32 master copy, stochastic
rounding (a fixed-seed statistical test of its probabilities, its special values, reproducibility),
and the refusals (mixed dtypes name both arrays; nothing is written)."""
from __future__ import annotations

import math

import numpy as np
import pytest

import regcore as rc
from _sgd_oracle import ALL_ON, COMBOS, oracle_step
from _switches import cpu_backend, num_threads
from regcore import _native

ml_dtypes = pytest.importorskip("ml_dtypes")
BF16 = np.dtype(ml_dtypes.bfloat16)
F16 = np.dtype(np.float16)
HALF = [BF16, F16]
IDS = ["bf16", "f16"]
BACKENDS = ["numpy"] + [f"cpu-{i}" for i in rc.available_isas()]
MANT = {BF16: 7, F16: 10}   # fraction bits


def bits(x):
    return np.ascontiguousarray(x).view(np.uint8)


def ulp(dtype, v):
    """The spacing of dtype's values at |v| (float64, v float64); subnormal spacing below the normals."""
    m = MANT[np.dtype(dtype)]
    tiny = float(ml_dtypes.finfo(dtype).smallest_normal)
    a = np.maximum(np.abs(v), tiny)
    return np.ldexp(1.0, (np.floor(np.log2(a)) - m).astype(np.int32))


def case(seed, shape, dtype, steps=3, scale=1.0):
    rng = np.random.default_rng(seed)
    w = (rng.standard_normal(shape) * scale).astype(np.float32).astype(dtype)
    grads = [rng.standard_normal(shape).astype(np.float32).astype(dtype) for _ in range(steps)]
    return w, grads


def run(w0, grads, opts, be="numpy", masters=False, sr=False, seed=7, multi=False):
    """Copies of w0 (and a float32 master when asked), the steps; returns (w, buffer, master)."""
    w = w0.copy()
    m = w0.astype(np.float32) if masters else None
    b = None
    g = rc.Generator(seed) if sr else None
    with cpu_backend(be):
        for gr in grads:
            if multi:
                (b,) = rc.sgd_step_multi_([w], [gr], [b], master_params=None if m is None else [m],
                                          stochastic_rounding=sr, generator=g, **opts)
            else:
                b = rc.sgd_step_(w, gr, b, master_param=m, stochastic_rounding=sr, generator=g, **opts)
    return w, b, m




# ---------------------------------------------------------------- against the float64 oracle

@pytest.mark.parametrize("dtype", HALF, ids=IDS)
@pytest.mark.parametrize("opts", COMBOS, ids=[str(i) for i in range(len(COMBOS))])
@pytest.mark.parametrize("be", BACKENDS)
def test_each_step_is_the_float64_step_rounded_within_one_ulp(dtype, opts, be):
    """Step by step from the kernel's own 16-bit state: the new parameter is the float64 result
    rounded to nearest within 1 ulp of the format (2 with max-norm, whose norm is taken of the
    rounded step), plus the float32 arithmetic's own error (2^-21 of the operands' size); the
    float32 momentum buffer within float32 rounding of the float64 one."""
    shape = (9, 37)
    w, grads = case(3, shape, dtype, steps=3)
    b = None
    for g in grads:
        prev_w = w.astype(np.float64)
        prev_b = None if b is None else b.astype(np.float64)
        w_ref, b_ref = oracle_step(prev_w, g.astype(np.float64), prev_b, opts)
        with cpu_backend(be):
            b = rc.sgd_step_(w, g, b, **opts)
        got = w.astype(np.float64)
        assert w.dtype == dtype
        units = 2 if opts.get("max_norm") else 1
        slack = 2.0 ** -21 * (np.abs(prev_w) + np.abs(g.astype(np.float64)) + 1.0)
        err = np.abs(got - w_ref)
        assert np.all(err <= units * ulp(dtype, w_ref) + slack), float(np.max(err / ulp(dtype, w_ref)))
        if opts.get("momentum"):
            assert b.dtype == np.float32 and b.shape == shape
            np.testing.assert_allclose(b, b_ref, rtol=2e-6, atol=2e-6)
        else:
            assert b is None


@pytest.mark.parametrize("dtype", HALF, ids=IDS)
@pytest.mark.parametrize("opts", [COMBOS[2], dict(ALL_ON, max_norm_axis=1)], ids=["nesterov", "all"])
def test_master_copy_is_the_float32_run_and_params_its_nearest_rounding(dtype, opts):
    shape = (9, 37)
    w0, grads = case(4, shape, dtype, steps=3)
    w, b, m = run(w0, grads, opts, masters=True)
    # The master follows the float32 arithmetic of a float32 run from the same start exactly.
    w32 = w0.astype(np.float32)
    b32 = None
    for g in grads:
        b32 = rc.sgd_step_(w32, g.astype(np.float32), b32, **opts)
    assert np.array_equal(bits(m), bits(w32))
    if b is not None:
        assert np.array_equal(bits(b), bits(b32))
    # ml_dtypes' float32 -> 16-bit conversion rounds to nearest even: an independent check.
    assert np.array_equal(bits(w), bits(m.astype(dtype)))


# ---------------------------------------------------------------- bit identity

MODES = [dict(), dict(masters=True), dict(sr=True)]
MODE_IDS = ["rne", "master", "sr"]


@pytest.mark.parametrize("dtype", HALF, ids=IDS)
@pytest.mark.parametrize("mode", MODES, ids=MODE_IDS)
@pytest.mark.parametrize("opts", [COMBOS[0], COMBOS[1], COMBOS[4], dict(ALL_ON, max_norm_axis=0),
                                  dict(ALL_ON, max_norm_axis=1)], ids=["plain", "damp", "decay", "mn0", "mn1"])
def test_every_backend_and_isa_gives_the_same_bits(dtype, mode, opts):
    w0, grads = case(11, (9, 37, 3), dtype, steps=3)
    ref = run(w0, grads, opts, "numpy", **mode)
    for be in BACKENDS[1:]:
        got = run(w0, grads, opts, be, **mode)
        for a, r in zip(got, ref):
            assert (a is None) == (r is None)
            if a is not None:
                assert np.array_equal(bits(a), bits(r)), be


@pytest.mark.skipif(_native.cpu is None, reason="native CPU module not built")
@pytest.mark.parametrize("dtype", HALF, ids=IDS)
@pytest.mark.parametrize("mode", MODES, ids=MODE_IDS)
@pytest.mark.parametrize("axis", [None, 0, 1])
def test_one_and_two_threads_and_numpy_give_the_same_bits(dtype, mode, axis):
    # Several chunks (and rows per chunk on the fused max-norm path); the random words of a
    # chunk follow the element index wherever the chunk starts.
    shape = (300, 701)
    opts = dict(ALL_ON, max_norm=None if axis is None else 10.0, max_norm_axis=axis or 0)
    w0, grads = case(5, shape, dtype, steps=2)
    be = "cpu-" + rc.available_isas()[-1]
    with num_threads(1):
        r1 = run(w0, grads, opts, be, **mode)
    with num_threads(2):
        r2 = run(w0, grads, opts, be, **mode)
    rn = run(w0, grads, opts, "numpy", **mode)
    for a, b, c in zip(r1, r2, rn):
        if a is not None:
            assert np.array_equal(bits(a), bits(b)) and np.array_equal(bits(a), bits(c))


@pytest.mark.parametrize("dtype", HALF, ids=IDS)
@pytest.mark.parametrize("be", BACKENDS)
def test_multi_tensor_step_is_the_loop_of_single_steps(dtype, be):
    shapes = [(5, 7), (130,), (0, 3), (3, 4, 5)]
    ws = [case(i, s, dtype)[0] for i, s in enumerate(shapes)]
    gs = [case(i + 10, s, dtype)[0] for i, s in enumerate(shapes)]
    opts = dict(COMBOS[4])
    loop = [w.copy() for w in ws]
    gen = rc.Generator(1)
    with cpu_backend(be):
        for w, g in zip(loop, gs):
            rc.sgd_step_(w, g, None, stochastic_rounding=True, generator=gen, **opts)
        multi = [w.copy() for w in ws]
        gen2 = rc.Generator(1)
        rc.sgd_step_multi_(multi, gs, None, stochastic_rounding=True, generator=gen2, **opts)
    assert gen.offset == gen2.offset == sum(-(-math.prod(s) // 4) for s in shapes)
    for a, b in zip(loop, multi):
        assert np.array_equal(bits(a), bits(b))


# ---------------------------------------------------------------- stochastic rounding

def neighbours(dtype, x):
    """The two values of dtype around float64 x (below, above)."""
    lo = np.array(x, np.float64).astype(dtype)
    if float(lo) > x:
        lo = np.nextafter(lo, dtype.type(-np.inf)) if dtype == F16 else ml_dtypes_next(lo, -1)
    hi = np.nextafter(lo, dtype.type(np.inf)) if dtype == F16 else ml_dtypes_next(lo, 1)
    return float(lo), float(hi)


def ml_dtypes_next(v, direction):
    u = int(np.array(v, BF16).view(np.uint16))
    u = u + direction if u < 0x8000 else u - direction
    return np.array(u, np.uint16).view(BF16)[()]


N_SR = 200_000


LR = 2.0 ** -6   # a power of two: lr * g is exact, and g = step / lr is a normal 16-bit value


def sr_once(dtype, w_value, step, be, seed=123, n=N_SR):
    """n copies of w_value after one plain SGD step of about +step (no momentum), rounded
    stochastically; returns them and the exact float32 result x they round."""
    w = np.full(n, w_value, dtype)
    g = np.full(n, -step / LR, np.float32).astype(dtype)
    with cpu_backend(be):
        rc.sgd_step_(w, g, None, lr=LR, momentum=0.0, stochastic_rounding=True, generator=rc.Generator(seed))
    return w.astype(np.float64), float(np.array(w_value, dtype).astype(np.float64)) - LR * float(g[0].astype(np.float64))


@pytest.mark.parametrize("dtype", HALF, ids=IDS)
@pytest.mark.parametrize("where", ["one", "negative", "subnormal"])
@pytest.mark.parametrize("be", BACKENDS)
def test_sr_rounds_up_with_the_probability_of_the_fractional_position(dtype, where, be):
    """P(up) = the position of x between its neighbours (exactly, for these x): the count of
    rounded-up elements within 5 binomial standard deviations, the mean within 5 sigma of x."""
    base, frac_steps = {"one": (1.0, [0.1, 0.3, 0.5, 0.77]), "negative": (-2.0, [0.2, 0.6]),
                        "subnormal": (0.0, [0.25, 0.7])}[where]
    if where == "subnormal":
        tiny = float(ml_dtypes.finfo(dtype).smallest_subnormal)
        base = 3 * tiny
    for frac in frac_steps:
        lo0, hi0 = neighbours(dtype, base)
        u = ulp(dtype, np.float64(base)) if where != "subnormal" else float(ml_dtypes.finfo(dtype).smallest_subnormal)
        step = -frac * u if where == "negative" else frac * u   # moves |x| away from zero by frac ulp
        got, x = sr_once(dtype, base, step, be)
        lo, hi = neighbours(dtype, x)
        assert set(np.unique(got)) <= {lo, hi}
        p = (x - lo) / (hi - lo)
        ups = int(np.sum(got == hi))
        sd = math.sqrt(N_SR * p * (1 - p))
        assert abs(ups - N_SR * p) <= 5 * sd, (frac, ups / N_SR, p)
        assert abs(got.mean() - x) <= 5 * sd / N_SR * (hi - lo)


@pytest.mark.parametrize("dtype", HALF, ids=IDS)
def test_sr_special_values(dtype):
    """Representable results stay exact; inf and NaN stay; values past the largest finite one
    round to inf with the probability of their position (float16: between 65504 and 2^16)."""
    fin = ml_dtypes.finfo(dtype)
    maxv = float(fin.max)
    w = np.array([1.0, -0.5, np.inf, -np.inf, np.nan, maxv, -maxv, 0.0], dtype)
    g = np.zeros_like(w)
    rc.sgd_step_(w, g, None, lr=1.0, momentum=0.0, stochastic_rounding=True, generator=rc.Generator(0))
    out = w.astype(np.float64)
    assert np.array_equal(out[[0, 1, 2, 3, 5, 6, 7]], [1.0, -0.5, np.inf, -np.inf, maxv, -maxv, 0.0])
    assert np.isnan(out[4])
    # Half an ulp above the largest finite value: inf about half of the time, never anything else.
    n = 20000
    half_ulp = float(ulp(dtype, np.float64(maxv))) / 2
    w = np.full(n, maxv, dtype)
    # A float32 master would hide this: the parameter itself steps by half an ulp.
    g = np.full(n, -half_ulp, np.float32).astype(dtype)
    assert float(g[0]) == -half_ulp
    rc.sgd_step_(w, g, None, lr=1.0, momentum=0.0, stochastic_rounding=True, generator=rc.Generator(1))
    v = w.astype(np.float64)
    assert set(np.unique(v)) <= {maxv, np.inf}
    assert abs(np.mean(v == np.inf) - 0.5) < 5 * math.sqrt(0.25 / n)


@pytest.mark.parametrize("dtype", HALF, ids=IDS)
def test_sr_is_reproducible_and_consumes_the_stream(dtype):
    w0, grads = case(2, (1000,), dtype, steps=1, scale=1.0)
    opts = dict(lr=1e-3, momentum=0.0)
    a, b = w0.copy(), w0.copy()
    ga, gb = rc.Generator(5), rc.Generator(5)
    rc.sgd_step_(a, grads[0], None, stochastic_rounding=True, generator=ga, **opts)
    rc.sgd_step_(b, grads[0], None, stochastic_rounding=True, generator=gb, **opts)
    assert np.array_equal(bits(a), bits(b))
    assert ga.offset == 250   # one 32-bit word per element, four per counter block
    c = w0.copy()
    rc.sgd_step_(c, grads[0], None, stochastic_rounding=True, generator=ga, **opts)   # offset 250 now
    assert not np.array_equal(bits(a), bits(c))
    d = w0.copy()
    rc.sgd_step_(d, grads[0], None, stochastic_rounding=True, generator=rc.Generator(6), **opts)
    assert not np.array_equal(bits(a), bits(d))
    # The words are the generator's `bits` draw: the same stream rc.random.bits returns.
    words = rc.random.bits((1000,), generator=rc.Generator(5)).astype(np.uint32)
    from regcore._backends.numpy_backend.sgd import stochastic_round

    x = w0.astype(np.float32) - np.float32(1e-3) * grads[0].astype(np.float32)
    want = stochastic_round(x, words, dtype == BF16).astype(dtype)
    assert np.array_equal(bits(a), bits(want))


def test_sr_keeps_small_updates_that_nearest_rounding_loses():
    """The point of stochastic rounding: 200 steps of a tenth of an ulp move a bfloat16 weight
    (by about 20 ulps on average) while nearest rounding leaves it where it was."""
    n, steps = 4000, 200
    w_rne = np.full(n, 1.0, BF16)
    w_sr = w_rne.copy()
    g = np.full(n, -(2.0 ** -7) * 0.1, np.float32).astype(BF16)   # 0.1 ulp of 1.0 per step (lr 1)
    gen = rc.Generator(3)
    for _ in range(steps):
        rc.sgd_step_(w_rne, g, None, lr=1.0, momentum=0.0)
        rc.sgd_step_(w_sr, g, None, lr=1.0, momentum=0.0, stochastic_rounding=True, generator=gen)
    assert np.all(w_rne.astype(np.float64) == 1.0)
    expected = 1.0 - steps * float(g[0])
    assert abs(w_sr.astype(np.float64).mean() - expected) < 0.02 * (expected - 1.0)


# ---------------------------------------------------------------- refusals

def test_mixed_dtypes_name_both_arrays_and_write_nothing():
    w = np.ones(8, BF16)
    g = np.ones(8, F16)
    keep = w.copy()
    with pytest.raises(TypeError, match=r"grad: expected the dtype of param \(bfloat16\)"):
        rc.sgd_step_(w, g, None)
    with pytest.raises(TypeError, match=r"grads\[1\]: expected the dtype of params\[1\]"):
        rc.sgd_step_multi_([w.copy(), w], [np.ones(8, BF16), g])
    assert np.array_equal(bits(w), bits(keep))
    with pytest.raises(TypeError, match=r"momentum_buf: expected float32 \(the arithmetic type of param"):
        rc.sgd_step_(w, np.ones(8, BF16), np.zeros(8, BF16))
    with pytest.raises(TypeError, match=r"master_param: a float32 master copy is only for bfloat16 or float16 parameters, got one for param of dtype float32"):
        rc.sgd_step_(np.ones(8, np.float32), np.ones(8, np.float32), None, master_param=np.ones(8, np.float32))
    with pytest.raises(TypeError, match=r"master_param: expected an array of dtype float32"):
        rc.sgd_step_(w, np.ones(8, BF16), None, master_param=np.ones(8, np.float64))
    with pytest.raises(TypeError, match=r"param: expected bfloat16 or float16 with stochastic_rounding=True"):
        rc.sgd_step_(np.ones(8, np.float32), np.ones(8, np.float32), None, stochastic_rounding=True)
    with pytest.raises(TypeError, match=r"stochastic_rounding: expected True or False"):
        rc.sgd_step_(w, np.ones(8, BF16), None, stochastic_rounding=1)
    gen = rc.Generator(0)
    with pytest.raises(ValueError, match=r"stochastic_rounding: expected False with a master copy"):
        rc.sgd_step_(w, np.ones(8, BF16), None, master_param=np.ones(8, np.float32), stochastic_rounding=True,
                     generator=gen)
    assert gen.offset == 0
    # A bad tensor late in the list: the generator does not advance, nothing is written.
    ws = [np.ones(8, BF16), np.ones(8, BF16)]
    with pytest.raises(TypeError):
        rc.sgd_step_multi_(ws, [np.ones(8, BF16), np.ones(8, np.float32)], stochastic_rounding=True, generator=gen)
    assert gen.offset == 0 and all(np.all(x.astype(np.float32) == 1) for x in ws)
    assert np.array_equal(bits(w), bits(keep))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", HALF, ids=IDS)
def test_penalty_takes_16_bit_arrays(backend, dtype):
    # the NumPy backend summed bfloat16's uint16 bit patterns (2.2e9 for values of about 1)
    x = np.array([1.5, -2.0, 0.25], dtype)
    with cpu_backend(backend):
        assert rc.penalty([x], l1=1.0, l2=2.0) == 3.75 + (2.25 + 4.0 + 0.0625)


# ---------------------------------------------------------------- regcore.optim.SGD

def test_optimizer_master_weights_and_state_dict():
    ws = [case(1, (6, 5), BF16)[0], np.ones(4, np.float32)]   # a float32 parameter steps as usual
    grads = [[case(2 + k, (6, 5), BF16)[0], np.full(4, 0.5, np.float32)] for k in range(3)]
    ref_w, ref_m = ws[0].copy(), ws[0].astype(np.float32)
    ref_f = ws[1].copy()
    opt = rc.optim.SGD([w for w in ws], lr=0.05, momentum=0.9, master_weights=True)
    b = bf = None
    for k, gs in enumerate(grads):
        if k == 2:   # resume from a state_dict: bit for bit
            sd = opt.state_dict()
            assert sd["state"][0]["master_param"].dtype == np.float32 and "master_param" not in sd["state"][1]
            opt = rc.optim.SGD(ws, lr=0.05, momentum=0.9, master_weights=True)
            opt.load_state_dict(sd)
        opt.step(gs)
        b = rc.sgd_step_(ref_w, gs[0], b, lr=0.05, momentum=0.9, master_param=ref_m)
        bf = rc.sgd_step_(ref_f, gs[1], bf, lr=0.05, momentum=0.9)
    assert np.array_equal(bits(ws[0]), bits(ref_w)) and np.array_equal(bits(ws[1]), bits(ref_f))
    assert np.array_equal(bits(opt.state_dict()["state"][0]["master_param"]), bits(ref_m))


def test_optimizer_stochastic_rounding_rounds_its_16_bit_parameters_only():
    ws = [case(1, (6, 5), F16)[0], np.ones(4, np.float32), case(3, (9,), F16)[0]]
    gs = [case(2, (6, 5), F16)[0], np.full(4, 0.5, np.float32), case(4, (9,), F16)[0]]
    ref = [w.copy() for w in ws]
    opt = rc.optim.SGD(ws, lr=0.01, momentum=0.0, stochastic_rounding=True, generator=rc.Generator(3))
    opt.step(gs)
    gen = rc.Generator(3)
    rc.sgd_step_(ref[0], gs[0], None, lr=0.01, momentum=0.0, stochastic_rounding=True, generator=gen)
    rc.sgd_step_(ref[1], gs[1], None, lr=0.01, momentum=0.0)
    rc.sgd_step_(ref[2], gs[2], None, lr=0.01, momentum=0.0, stochastic_rounding=True, generator=gen)
    assert all(np.array_equal(bits(a), bits(b)) for a, b in zip(ws, ref))
    assert opt.generator.offset == gen.offset == 8 + 3
    with pytest.raises(ValueError, match="stochastic_rounding: expected False with master_weights=True"):
        rc.optim.SGD(ws, master_weights=True, stochastic_rounding=True)
