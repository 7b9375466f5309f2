"""Float32 averages of bfloat16 / float16 parameters (ema_update_, swa_update_; docs/averaging.md):
each step is the float32 computation of core/average.h on the exactly widened 16-bit parameter,
stored in float32 (checked bit for bit against an oracle written here in float64, and against
the exact average with the stated bound); the copy step widens exactly, the keep step writes
nothing; the bits are the same on the NumPy backend, every ISA level and 1 or 2 threads, and in
lists that mix every pair; other dtype pairs are refused naming both arguments, nothing written."""
from __future__ import annotations

import numpy as np
import pytest

import regcore as rc
from _averaging_steps import SHAPES, STEPS, run_steps, step, weight
from _bits import assert_same_bits_nan_aware
from _switches import cpu_backend

ml_dtypes = pytest.importorskip("ml_dtypes")

F32 = np.float32
BACKENDS = ["numpy"] + [f"cpu-{i}" for i in rc.available_isas()]
HALF = {"bfloat16": np.dtype(ml_dtypes.bfloat16), "float16": np.dtype(np.float16)}


def _f32(v):
    """float64 values rounded to float32 (one float32 operation on float32 operands: float64 holds
    the exact result's correct rounding to float32, 53 >= 2*24 + 2 bits)."""
    with np.errstate(over="ignore", invalid="ignore"):
        return np.asarray(v, np.float64).astype(F32).astype(np.float64)


def oracle(a, p, w64):
    """core/average.h in float32 on a float32 average a and the exact value of the 16-bit p: w
    rounded once to float32, the mode decided on it, the two-sided blend, each operation rounded
    to float32; the result stays float32."""
    a64, p64 = a.astype(np.float64), p.astype(np.float64)
    w = float(_f32(w64))
    if w == 0.0:
        return a.copy()
    if w == 1.0:
        return p64.astype(F32)
    with np.errstate(invalid="ignore"):
        d = _f32(p64 - a64)
        r = _f32(a64 + _f32(w * d)) if w < 0.5 else _f32(p64 - _f32((1.0 - w) * d))
    return r.astype(F32)


def make_lists(seed, fmt, shapes=SHAPES, scale=3.0):
    rng = np.random.default_rng(seed)
    avgs = [(rng.standard_normal(s) * scale).astype(F32) for s in shapes]
    params = [(rng.standard_normal(s) * scale).astype(HALF[fmt]) for s in shapes]
    # 16-bit subnormals, the largest finite values and signed zeros among the parameters
    big = float(np.finfo(HALF[fmt]).max)
    tiny = float(np.finfo(HALF[fmt]).smallest_subnormal)
    specials = np.array([tiny, -3 * tiny, big, -big, 0.0, -0.0], np.float64).astype(HALF[fmt])
    biggest = max(params, key=lambda x: x.size).reshape(-1)
    biggest[:specials.size] = specials
    return avgs, params


@pytest.mark.parametrize("be", BACKENDS)
@pytest.mark.parametrize("fmt", sorted(HALF))
def test_every_step_is_the_float32_computation_of_the_widened_parameter(be, fmt):
    avgs, params = make_lists(1, fmt)
    with cpu_backend(be):
        for kind, arg in STEPS:
            before = [a.copy() for a in avgs]
            step(kind, arg, avgs, params)
            w = weight(kind, arg)
            for a, b, p in zip(avgs, before, params):
                assert a.dtype == F32 and p.dtype == HALF[fmt]
                assert_same_bits_nan_aware(a, oracle(b, p, w), f"{be} {fmt} {kind}({arg})")
                # against the exact average: the float32 roundings of w, d, the product, the sum
                # (where param - avg stays finite in float32: bfloat16's largest values can
                # overflow it, and then the formula gives inf / NaN, as documented)
                a64, p64 = b.astype(np.float64), p.astype(np.float64)
                fin = np.abs(p64 - a64) <= np.finfo(F32).max
                with np.errstate(invalid="ignore"):
                    exact = a64 + w * (p64 - a64)
                bound = 4 * 2.0 ** -24 * (np.abs(a64) + np.abs(p64) + np.abs(p64 - a64))
                assert np.all(np.abs(a.astype(np.float64) - exact)[fin] <= bound[fin])
                assert fin.size == 0 or fin.mean() > 0.99
            params = [np.roll(p, 1) for p in params]


@pytest.mark.parametrize("be", BACKENDS)
@pytest.mark.parametrize("fmt", sorted(HALF))
def test_end_points_copy_widens_exactly_and_keep_writes_nothing(be, fmt):
    h = HALF[fmt]
    p = np.array([np.inf, -np.inf, np.nan, -0.0, 0.0, 1.5, -2.25, float(np.finfo(h).max)] * 5, np.float64).astype(h)
    a0 = np.array([-0.0, 7.0, 1e-40, np.nan, -0.0, 3.0, np.inf, -1.0] * 5, F32)
    with cpu_backend(be):
        a = a0.copy()
        rc.ema_update_([a], [p], 1.0)                   # w = 0: not even NaN / inf reach the average
        assert a.tobytes() == a0.tobytes()
        rc.ema_update_([a], [p], 1.0 - 1e-60)           # a weight that rounds to 0 in float32
        assert a.tobytes() == a0.tobytes()
        rc.swa_update_([a], [p], 0)                     # w = 1: the parameter, widened exactly
        want = p.astype(F32)
        assert_same_bits_nan_aware(a, want)
        assert np.array_equal(np.signbit(a), np.signbit(want))


def test_a_float32_average_moves_where_a_16_bit_one_stalls():
    """The reason for the pair: a bfloat16 EMA of decay 0.999 stops moving once the step is below
    half its ulp; the float32 average keeps integrating the parameter."""
    bf = HALF["bfloat16"]
    p = np.full(4, 1.0, bf)
    a16 = np.zeros(4, bf)
    a32 = np.zeros(4, F32)
    for _ in range(3000):
        rc.ema_update_([a16, a32], [p, p], 0.999)
    exact = 1.0 - 0.999 ** 3000
    assert abs(float(a32[0]) - exact) < 1e-3
    assert abs(float(a16[0]) - exact) > 0.05     # stalled far below


def run_all(be, threads, seed=5):
    """Every step of STEPS over a list mixing every pair (float32, float64, float32 averages of
    bfloat16 and of float16 parameters, bfloat16 and float16 averages); the averages after each."""
    avgs, params = [], []
    for k, (adt, pdt) in enumerate([(F32, "bfloat16"), (F32, F32), (F32, "float16"), (np.float64, np.float64),
                                    ("bfloat16", "bfloat16"), ("float16", "float16")]):
        rng = np.random.default_rng(seed + k)
        for s in SHAPES[k % 3::3]:
            avgs.append((rng.standard_normal(s) * 3).astype(HALF.get(adt, adt)))
            params.append((rng.standard_normal(s) * 3).astype(HALF.get(pdt, pdt)))
    return run_steps(be, threads, avgs, params)


def test_every_backend_isa_and_thread_count_gives_the_same_bits():
    ref = run_all("numpy", 1)
    for be in BACKENDS[1:]:
        for th in (1, 2):
            for k, (rs, gs) in enumerate(zip(ref, run_all(be, th))):
                for i, (r, g) in enumerate(zip(rs, gs)):
                    assert g.tobytes() == r.tobytes(), f"{be} threads={th} step {STEPS[k]} tensor {i}"


def test_mixed_list_equals_one_call_per_pair():
    a, p = make_lists(3, "bfloat16", [(5,), (70000,)])
    b, q = make_lists(4, "float16", [(9,), (3, 4)])
    mixed_a = [a[0].copy(), b[0].copy(), a[1].copy(), b[1].copy()]
    rc.ema_update_(mixed_a, [p[0], q[0], p[1], q[1]], 0.99)
    rc.ema_update_(a, p, 0.99)
    rc.ema_update_(b, q, 0.99)
    for got, want in zip(mixed_a, [a[0], b[0], a[1], b[1]]):
        assert got.tobytes() == want.tobytes()


def test_torch_cpu_tensors_give_the_array_bits():
    torch = pytest.importorskip("torch")
    a, p = make_lists(6, "float16", [(5,), (70001,)])
    ta = [torch.from_numpy(x.copy()) for x in a]
    tp = [torch.from_numpy(x) for x in p]
    b = [np.random.default_rng(7).standard_normal(9).astype(F32)]
    qb = torch.randn(9).to(torch.bfloat16)
    tb = [torch.from_numpy(b[0].copy())]
    rc.ema_update_(a, p, 0.9)
    rc.ema_update_(ta, tp, 0.9)
    rc.swa_update_(b, [qb.view(torch.int16).numpy().view(HALF["bfloat16"])], 3)
    rc.swa_update_(tb, [qb], 3)
    for x, y in zip(ta + tb, a + b):
        assert x.numpy().tobytes() == y.tobytes()


@pytest.mark.parametrize("be", BACKENDS)
@pytest.mark.parametrize("adt, pdt, want", [
    (np.float64, "bfloat16", r"averages\[1\] \(float64\), got"),
    (np.float64, np.float32, r"averages\[1\] \(float64\), got"),
    (F32, np.float64, r"averages\[1\] \(float32\) or bfloat16 or float16, got"),
    ("bfloat16", F32, r"averages\[1\] \(bfloat16\), got"),
    ("float16", "bfloat16", r"averages\[1\] \(float16\), got"),
    ("bfloat16", "float16", r"averages\[1\] \(bfloat16\), got")])
def test_other_pairs_are_refused_naming_both_and_nothing_is_written(be, adt, pdt, want):
    adt, pdt = HALF.get(adt, adt), HALF.get(pdt, pdt)
    first = np.zeros(4, F32)
    avgs = [first, np.full(4, 3, adt)]
    params = [np.ones(4, HALF["bfloat16"]), np.ones(4, pdt)]
    with cpu_backend(be), pytest.raises(TypeError, match=rf"^params\[1\]: expected the dtype of {want} "
                                                         rf"'dtype {np.dtype(pdt)}'$"):
        rc.ema_update_(avgs, params, 0.5)
    assert np.all(first == 0) and np.all(avgs[1].astype(F32) == 3)


def test_the_extension_checks_the_pair_itself():
    """Called directly (past the Python checks), the CPU binding refuses a pair the kernels do not
    take before it reads anything."""
    ext = rc._native.cpu
    if ext is None:
        pytest.skip("no native CPU backend")
    a = np.zeros(4, np.float16)
    with pytest.raises(TypeError, match=r"^params\[0\]: expected the dtype of averages\[0\] \(float16\), got dtype float32$"):
        ext.average_multi([a], [np.ones(4, F32)], 0.5)
    with pytest.raises(TypeError, match=r"^params\[0\]: expected the dtype of averages\[0\] \(float32\) or bfloat16 "
                                        r"or float16, got dtype float64$"):
        ext.average_multi([np.zeros(4, F32)], [np.ones(4, np.float64)], 0.5)
    assert not a.any()
    b = np.zeros(4, F32)
    ext.average_multi([b], [np.ones(4, np.float16)], 0.5)
    assert np.all(b == 0.5)
