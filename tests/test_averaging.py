"""Weight averaging (ema_update_, swa_update_): a float64 oracle on every backend and ISA level,
the exact end points (decay = 1 keeps, w = 1 copies), bit-identity across backends, ISA levels and
thread counts, mixed-dtype lists, and bad input that leaves every average as it was."""
from __future__ import annotations

import numpy as np
import pytest

import regcore as rc
from _averaging_steps import SHAPES, STEPS, run_steps, step, weight
from _bits import assert_same_bits_nan_aware
from _switches import cpu_backend, num_threads

BACKENDS = ["numpy"] + [f"cpu-{i}" for i in rc.available_isas()]
DTYPES = [np.float32, np.float64]


def make_lists(seed, dtype, shapes=SHAPES, scale=3.0):
    rng = np.random.default_rng(seed)
    avgs = [(rng.standard_normal(s) * scale).astype(dtype) for s in shapes]
    params = [(rng.standard_normal(s) * scale).astype(dtype) for s in shapes]
    return avgs, params


def oracle(a, p, w):
    """The exact running average in float64, rounded once to the dtype."""
    a64, p64 = a.astype(np.float64), p.astype(np.float64)
    return (a64 + float(np.dtype(a.dtype).type(w)) * (p64 - a64)).astype(a.dtype)


def assert_close_to_oracle(got, want, a, p):
    eps = float(np.finfo(got.dtype).eps)
    bound = 4 * eps * (np.abs(a.astype(np.float64)) + np.abs(p.astype(np.float64)))
    err = np.abs(got.astype(np.float64) - want.astype(np.float64))
    assert np.all(err <= bound), f"max error {err.max()} over bound"


@pytest.mark.parametrize("be", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_every_step_matches_the_float64_oracle(be, dtype):
    avgs, params = make_lists(1, dtype)
    with cpu_backend(be):
        for kind, arg in STEPS:
            before = [a.copy() for a in avgs]
            step(kind, arg, avgs, params)
            for a0, a, p in zip(before, avgs, params):
                assert a.dtype == dtype
                assert_close_to_oracle(a, oracle(a0, p, weight(kind, arg)), a0, p)
            params = [p[::-1].copy() if p.ndim == 1 else p[::-1].copy() for p in params]


@pytest.mark.parametrize("be", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_end_points_are_exact(be, dtype):
    """decay = 1 writes nothing (NaN/inf params and -0 averages included); decay = 0 and
    n_averaged = 0 copy the parameters bit for bit (signed zeros, infinities, NaN payloads)."""
    t = np.dtype(dtype).type
    specials = np.array([-0.0, 0.0, np.inf, -np.inf, np.nan, 1e-30, -3.5, np.finfo(dtype).max], dtype)
    with cpu_backend(be):
        a = np.array([-0.0, -0.0, 1.0, 2.0, -0.0, 5.0, np.finfo(dtype).min, -np.finfo(dtype).max], dtype)
        before = a.copy()
        rc.ema_update_([a], [specials], 1.0)
        assert a.tobytes() == before.tobytes()
        rc.ema_update_([a], [specials], 1.0 - 1e-60)   # w = 1e-60 rounds to 0 in either dtype
        assert a.tobytes() == before.tobytes()
        rc.ema_update_([a], [specials], 0.0)
        assert a.tobytes() == specials.tobytes()
        b = np.full(8, t(7), dtype)
        rc.swa_update_([b], [specials], 0)
        assert b.tobytes() == specials.tobytes()
        # Huge values of opposite sign: p - a overflows to inf, yet the ends stay exact.
        c = np.array([np.finfo(dtype).max] * 3, dtype)
        q = np.array([-np.finfo(dtype).max] * 3, dtype)
        rc.ema_update_([c], [q], 1.0)
        assert np.all(c == np.finfo(dtype).max)
        rc.swa_update_([c], [q], 0)
        assert np.all(c == -np.finfo(dtype).max)


def test_nan_and_inf_propagate_as_the_formula_says():
    for be in BACKENDS:
        with cpu_backend(be):
            a = np.array([1.0, np.nan, 1.0, np.inf], np.float32)
            p = np.array([np.nan, 1.0, np.inf, 1.0], np.float32)
            rc.ema_update_([a], [p], 0.9)
            assert np.isnan(a[0]) and np.isnan(a[1]) and a[2] == np.inf and np.isnan(a[3]), (be, a)


def run_all(be, dtype, threads, seed=5):
    """Every step of STEPS in turn; the averages after each step (a copy step would hide the
    earlier ones if only the end were compared)."""
    return run_steps(be, threads, *make_lists(seed, dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_every_backend_isa_and_thread_count_gives_the_same_bits(dtype):
    ref = run_all("numpy", dtype, 1)
    for be in BACKENDS[1:]:
        for th in (1, 2):
            got = run_all(be, dtype, th)
            for k, (rs, gs) in enumerate(zip(ref, got)):
                for i, (r, g) in enumerate(zip(rs, gs)):
                    assert_same_bits_nan_aware(g, r, f"{be} threads={th} step {STEPS[k]} tensor {i}")


def test_mixed_dtype_list_equals_separate_calls():
    a32, p32 = make_lists(2, np.float32, [(5,), (70000,)])
    a64, p64 = make_lists(3, np.float64, [(9,), (3, 4)])
    mixed_a = [a32[0].copy(), a64[0].copy(), a32[1].copy(), a64[1].copy()]
    mixed_p = [p32[0], p64[0], p32[1], p64[1]]
    rc.ema_update_(mixed_a, mixed_p, 0.99)
    rc.ema_update_(a32, p32, 0.99)
    rc.ema_update_(a64, p64, 0.99)
    for got, want in zip(mixed_a, [a32[0], a64[0], a32[1], a64[1]]):
        assert got.tobytes() == want.tobytes()


def test_weight_rounding_is_documented_one():
    """w = 1 - decay is formed in float64 and rounded once to float32 (not 1 - float32(decay))."""
    a = np.zeros(4, np.float32)
    p = np.ones(4, np.float32)
    rc.ema_update_([a], [p], 0.999)
    assert a[0] == np.float32(1.0 - 0.999)
    b = np.zeros(3, np.float32)
    rc.swa_update_([b], [np.full(3, 3.0, np.float32)], 2)
    assert b[0] == np.float32(0.0) + np.float32(1 / 3) * np.float32(3.0)


def test_empty_lists_and_lists_of_empty_arrays_are_fine():
    rc.ema_update_([], [], 0.5)
    rc.swa_update_((), (), 3)
    rc.ema_update_([np.zeros(0, np.float32)], [np.zeros(0, np.float32)], 0.5)


# ---------------------------------------------------------------- bad input: nothing written


def fresh():
    avgs = [np.arange(4, dtype=np.float32), np.arange(6, dtype=np.float64).reshape(2, 3)]
    params = [np.ones(4, np.float32), np.ones((2, 3), np.float64)]
    return avgs, params


def bad_cases():
    ro = np.zeros(4, np.float32)
    ro.flags.writeable = False
    return [
        ("decay -0.1", lambda a, p: rc.ema_update_(a, p, -0.1), ValueError, r"^decay: "),
        ("decay 1.5", lambda a, p: rc.ema_update_(a, p, 1.5), ValueError, r"^decay: "),
        ("decay nan", lambda a, p: rc.ema_update_(a, p, float("nan")), ValueError, r"^decay: "),
        ("decay bool", lambda a, p: rc.ema_update_(a, p, True), TypeError, r"^decay: "),
        ("decay str", lambda a, p: rc.ema_update_(a, p, "0.9"), TypeError, r"^decay: "),
        ("n negative", lambda a, p: rc.swa_update_(a, p, -1), ValueError, r"^n_averaged: "),
        ("n float", lambda a, p: rc.swa_update_(a, p, 1.5), TypeError, r"^n_averaged: "),
        ("n bool", lambda a, p: rc.swa_update_(a, p, False), TypeError, r"^n_averaged: "),
        ("not a list", lambda a, p: rc.ema_update_(a[0], p, 0.5), TypeError, r"^averages: "),
        ("params not a list", lambda a, p: rc.ema_update_(a, p[0], 0.5), TypeError, r"^params: "),
        ("length", lambda a, p: rc.ema_update_(a, p[:1], 0.5), ValueError, r"^params: "),
        ("shape", lambda a, p: rc.ema_update_(a, [p[0], np.ones(6, np.float64)], 0.5), ValueError, r"^params\[1\]: "),
        ("dtype", lambda a, p: rc.ema_update_(a, [p[0], np.ones((2, 3), np.float32)], 0.5), TypeError, r"^params\[1\]: "),
        ("int average", lambda a, p: rc.ema_update_([a[0], np.ones((2, 3), np.int64)], p, 0.5), TypeError,
         r"^averages\[1\]: "),
        ("read-only", lambda a, p: rc.ema_update_([a[0], ro], [p[0], np.ones(4, np.float32)], 0.5), ValueError,
         r"^averages\[1\]: "),
        ("strided", lambda a, p: rc.ema_update_([a[0], np.zeros(8, np.float32)[::2]], [p[0], p[0]], 0.5),
         ValueError, r"^averages\[1\]: "),
        ("param is its average", lambda a, p: rc.ema_update_(a, [p[0], a[1]], 0.5), ValueError,
         r"averages\[1\] and params\[1\]|params\[1\] and averages\[1\]"),
        ("average twice", lambda a, p: rc.ema_update_([a[0], a[1], a[0]], p + [p[0]], 0.5), ValueError,
         r"averages\[0\] and averages\[2\]"),
        ("overlap", lambda a, p: rc.ema_update_([a[1].reshape(-1)[:4]], [a[1].reshape(-1)[2:]], 0.5), ValueError,
         r"overlapping"),
        ("object", lambda a, p: rc.ema_update_([a[0], "x"], p, 0.5), TypeError, r"^averages\[1\]: "),
    ]


@pytest.mark.parametrize("be", BACKENDS)
@pytest.mark.parametrize("case", bad_cases(), ids=lambda c: c[0])
def test_bad_input_raises_naming_the_argument_and_writes_nothing(be, case):
    _, call, exc, pattern = case
    avgs, params = fresh()
    before = [a.copy() for a in avgs]
    with cpu_backend(be), pytest.raises(exc, match=pattern):
        call(avgs, params)
    for a, b in zip(avgs, before):
        assert a.tobytes() == b.tobytes()


def test_params_may_share_memory_with_each_other():
    p = np.ones(8, np.float32)
    a0, a1 = np.zeros(8, np.float32), np.zeros(4, np.float32)
    rc.ema_update_([a0, a1], [p, p[2:6]], 0.5)
    assert np.all(a0 == 0.5) and np.all(a1 == 0.5)


def test_small_tensors_packed_into_tasks_give_the_same_bits():
    """Many tiny tensors share thread-pool tasks (csrc/cpu/multi_tensor.h pack_items); the bits
    are those of one call per tensor, at 1 and 2 threads."""
    rng = np.random.default_rng(9)
    sizes = [1, 3, 64, 7, 65536, 2, 65535, 1, 70000, 5] * 3
    params = [rng.standard_normal(k).astype(np.float32) for k in sizes]
    start = [rng.standard_normal(k).astype(np.float32) for k in sizes]
    want = [a.copy() for a in start]
    with cpu_backend("numpy"):
        for a, p in zip(want, params):
            rc.ema_update_([a], [p], 0.75)
    for be in BACKENDS[1:]:
        for th in (1, 2):
            got = [a.copy() for a in start]
            with cpu_backend(be), num_threads(th):
                rc.ema_update_(got, params, 0.75)
            for g, w in zip(got, want):
                assert g.tobytes() == w.tobytes()


def test_torch_cpu_tensors_take_the_same_path_and_bits():
    torch = pytest.importorskip("torch")
    a, p = make_lists(4, np.float32, [(5,), (70001,)])
    ta = [torch.from_numpy(x.copy()) for x in a]
    tp = [torch.from_numpy(x) for x in p]
    rc.ema_update_(a, p, 0.9)
    rc.ema_update_(ta, tp, 0.9)
    for x, y in zip(ta, a):
        assert x.numpy().tobytes() == y.tobytes()
    # a parameter that requires grad is refused while autograd records (the intake's rule)
    with pytest.raises(TypeError, match=r"^params\[0\]: "):
        rc.ema_update_([ta[0]], [tp[0].clone().requires_grad_()], 0.9)
