"""Weight initialization (docs/init.md): each sampler's formula, bounds and statistics, the
gain/fan tables, bit identity across backends / ISA levels / threads, and bad input."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special, stats

import regcore as rc
from regcore._backends.numpy_backend._transforms import ndtri_as241

from conftest import BACKENDS, cpu_backend, num_threads

DTYPES = [np.float32, np.float64]

try:
    import ml_dtypes
    HALF = [np.dtype(ml_dtypes.bfloat16), np.dtype(np.float16)]
except ImportError:
    HALF = [np.dtype(np.float16)]

# ---------------------------------------------------------------- gains and fans (PyTorch's table)

GAINS = {  # torch.nn.init.calculate_gain, documented values
    ("linear", None): 1.0, ("conv1d", None): 1.0, ("conv2d", None): 1.0, ("conv3d", None): 1.0,
    ("conv_transpose1d", None): 1.0, ("conv_transpose2d", None): 1.0, ("conv_transpose3d", None): 1.0,
    ("sigmoid", None): 1.0, ("tanh", None): 5.0 / 3.0, ("relu", None): math.sqrt(2.0),
    ("leaky_relu", None): math.sqrt(2.0 / (1 + 0.01**2)), ("leaky_relu", 0.2): math.sqrt(2.0 / 1.04),
    ("selu", None): 0.75,
}


@pytest.mark.parametrize("nl,param", list(GAINS))
def test_calculate_gain_matches_pytorchs_table(nl, param):
    assert rc.init.calculate_gain(nl, param) == pytest.approx(GAINS[(nl, param)], rel=1e-15)


@pytest.mark.parametrize("shape,layout,fans", [
    ((20, 30), "channels_first", (30, 20)),
    ((8, 4, 5), "channels_first", (20, 40)),
    ((8, 4, 3, 3), "channels_first", (36, 72)),
    ((8, 4, 2, 3, 3), "channels_first", (72, 144)),
    ((30, 20), "channels_last", (30, 20)),
    ((3, 3, 4, 8), "channels_last", (36, 72)),
    ((0, 5), "channels_first", (5, 0)),
])
def test_fan_in_and_fan_out(shape, layout, fans):
    assert rc.init.fan_in_and_fan_out(shape, layout) == fans


def test_gain_and_fan_bad_input():
    with pytest.raises(ValueError, match="nonlinearity"):
        rc.init.calculate_gain("gelu")
    with pytest.raises(TypeError, match="param"):
        rc.init.calculate_gain("leaky_relu", True)
    with pytest.raises(ValueError, match="shape"):
        rc.init.fan_in_and_fan_out((5,))
    with pytest.raises(ValueError, match="layout"):
        rc.init.fan_in_and_fan_out((5, 5), "nchw")


# ---------------------------------------------------------------- each initializer's law

FAN_IN, FAN_OUT = 64 * 9, 128 * 9
SHAPE = (128, 64, 3, 3)   # 73728 elements


def _var_check(x, var, rel=0.03):
    x = x.astype(np.float64)
    assert abs(x.mean()) < 5 * math.sqrt(var / x.size)
    assert x.var() == pytest.approx(var, rel=rel)


@pytest.mark.parametrize("dtype", DTYPES)
def test_variances_match_their_formulas(dtype):
    g = rc.Generator(21)
    kw = dict(dtype=dtype, generator=g)
    gain = 1.7
    _var_check(rc.init.xavier_uniform(SHAPE, gain, **kw), gain**2 * 2 / (FAN_IN + FAN_OUT))
    _var_check(rc.init.xavier_normal(SHAPE, gain, **kw), gain**2 * 2 / (FAN_IN + FAN_OUT))
    _var_check(rc.init.kaiming_normal(SHAPE, nonlinearity="relu", **kw), 2 / FAN_IN)
    _var_check(rc.init.kaiming_normal(SHAPE, mode="fan_out", nonlinearity="relu", **kw), 2 / FAN_OUT)
    _var_check(rc.init.kaiming_uniform(SHAPE, a=0.1, **kw), 2 / (1 + 0.01) / FAN_IN)
    _var_check(rc.init.kaiming_uniform(SHAPE, mode="fan_out", nonlinearity="tanh", **kw), (5 / 3) ** 2 / FAN_OUT)
    _var_check(rc.init.lecun_normal(SHAPE, **kw), 1 / FAN_IN)
    _var_check(rc.init.lecun_uniform(SHAPE, **kw), 1 / FAN_IN)
    _var_check(rc.init.normal(SHAPE, 0.0, 0.3, **kw), 0.09)
    _var_check(rc.init.uniform(SHAPE, -0.5, 0.5, **kw), 1 / 12)
    # channels-last weights give the same fans
    cl = (3, 3, 64, 128)
    _var_check(rc.init.kaiming_normal(cl, nonlinearity="relu", layout="channels_last", **kw), 2 / FAN_IN)


@pytest.mark.parametrize("dtype", DTYPES)
def test_uniform_family_bounds(dtype):
    g = rc.Generator(22)
    bound = math.sqrt(6 / (FAN_IN + FAN_OUT))
    x = rc.init.xavier_uniform(SHAPE, dtype=dtype, generator=g)
    assert x.min() >= -np.float32(bound) * (1 + 1e-6) and x.max() < bound * (1 + 1e-6)
    assert x.max() > 0.99 * bound and x.min() < -0.99 * bound
    bound = math.sqrt(2) * math.sqrt(3 / FAN_IN)
    x = rc.init.kaiming_uniform(SHAPE, nonlinearity="relu", dtype=dtype, generator=g)
    assert np.abs(x).max() <= bound * (1 + 1e-6)
    x = rc.init.uniform(SHAPE, 2.0, 3.0, dtype=dtype, generator=g)
    assert x.min() >= 2.0 and x.max() < 3.0


@pytest.mark.parametrize("dtype", DTYPES)
def test_constants(backend, dtype):
    assert np.all(rc.init.zeros((3, 5), dtype=dtype) == 0) and rc.init.zeros(4, dtype=dtype).dtype == dtype
    assert np.all(rc.init.ones((3, 5), dtype=dtype) == 1)
    x = np.empty((7, 3), dtype)
    rc.init.constant_(x, 0.25)
    assert np.all(x == 0.25)
    rc.init.zeros_(x)
    assert np.all(x == 0)
    rc.init.ones_(x)
    assert np.all(x == 1)
    assert np.all(rc.init.constant(5, -3.5, dtype=dtype) == -3.5)


@pytest.mark.parametrize("shape,layout", [((40, 70), "channels_first"), ((70, 40), "channels_first"),
                                          ((16, 4, 3, 3), "channels_first"), ((3, 3, 4, 16), "channels_last"),
                                          ((50, 50), "channels_first")])
@pytest.mark.parametrize("dtype", DTYPES)
def test_orthogonal(backend, shape, layout, dtype):
    gain = 1.3
    w = rc.init.orthogonal(shape, gain, layout=layout, dtype=dtype, generator=rc.Generator(5))
    if layout == "channels_last":
        cf = np.moveaxis(w, (-1, -2), (0, 1))
        w_cf = rc.init.orthogonal(cf.shape, gain, dtype=dtype, generator=rc.Generator(5))
        np.testing.assert_array_equal(cf, w_cf)
        w = cf
    m = w.reshape(w.shape[0], -1).astype(np.float64)
    small = m @ m.T if m.shape[0] <= m.shape[1] else m.T @ m
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(small, gain**2 * np.eye(small.shape[0]), atol=tol)


@pytest.mark.parametrize("shape,layout,k", [((64, 100), "channels_first", 15), ((32, 8, 3, 3), "channels_first", 7),
                                            ((3, 3, 8, 32), "channels_last", 7), ((10, 20), "channels_first", 0),
                                            ((10, 20), "channels_first", 20), ((5, 1), "channels_first", 1)])
@pytest.mark.parametrize("dtype", DTYPES)
def test_sparse_rows_hold_exactly_k_nonzeros(backend, shape, layout, k, dtype):
    w = rc.init.sparse(shape, k, 0.5, layout=layout, dtype=dtype, generator=rc.Generator(8))
    cf = w if layout == "channels_first" else np.moveaxis(w, (-1, -2), (0, 1))
    rows = cf.reshape(cf.shape[0], -1)
    assert np.all(np.count_nonzero(rows, axis=1) == k)


def test_sparse_follows_its_selection_rule():
    """Oracle: keep, per row, the k smallest (key, column) pairs; values are the normal stream."""
    rows, fan_in, k, std = 12, 40, 9, 0.5
    w = rc.init.sparse((rows, fan_in), k, std, dtype=np.float64, generator=rc.Generator(31))
    g = rc.Generator(31)
    keys = rc.random.bits(rows * fan_in, generator=g).reshape(rows, fan_in)
    vals = rc.random.normal((rows, fan_in), 0.0, std, dtype=np.float64, generator=g)
    want = np.zeros_like(vals)
    for r in range(rows):
        order = sorted(range(fan_in), key=lambda j: (int(keys[r, j]), j))[:k]
        want[r, order] = vals[r, order]
    np.testing.assert_array_equal(w, want)
    std_hat = w[w != 0].std()
    assert 0.35 < std_hat < 0.65


# ---------------------------------------------------------------- trunc_normal


def test_ndtri_matches_scipy():
    p = np.concatenate([np.logspace(-300, -1, 3000), np.linspace(0.01, 0.99, 3001), 1 - np.logspace(-15, -1, 500)])
    z, ref = ndtri_as241(p), special.ndtri(p)
    assert np.all(np.abs(z - ref) <= 4e-15 * np.maximum(np.abs(ref), 1.0))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mean,std,a,b", [(0.0, 1.0, -2.0, 2.0), (1.0, 3.0, -2.0, 0.5), (0.0, 1.0, 3.0, 10.0),
                                          (0.0, 1.0, -30.0, -25.0), (2.0, 0.1, 2.05, np.inf)])
def test_trunc_normal_bounds_and_moments(dtype, mean, std, a, b):
    x = rc.init.trunc_normal(300_000, mean, std, a, b, dtype=dtype, generator=rc.Generator(3))
    assert x.min() >= a and x.max() <= b
    d = stats.truncnorm((a - mean) / std, (b - mean) / std, loc=mean, scale=std)
    x = x.astype(np.float64)
    assert abs(x.mean() - d.mean()) < 5 * d.std() / math.sqrt(x.size) + 1e-6 * abs(d.mean())
    assert x.var() == pytest.approx(d.var(), rel=0.02)


def test_trunc_normal_std_is_result_and_parent_std_helper():
    s = rc.init.trunc_normal_parent_std(0.5, 0.0, -1.0, 1.0)
    d = stats.truncnorm(-1 / s, 1 / s, scale=s)
    assert d.std() == pytest.approx(0.5, rel=1e-9)
    x = rc.init.trunc_normal(200_000, 0.0, 0.5, -1.0, 1.0, std_is="result", dtype=np.float64, generator=rc.Generator(4))
    y = rc.init.trunc_normal(200_000, 0.0, s, -1.0, 1.0, dtype=np.float64, generator=rc.Generator(4))
    np.testing.assert_array_equal(x, y)
    assert x.std() == pytest.approx(0.5, rel=0.01)
    with pytest.raises(ValueError, match="std"):
        rc.init.trunc_normal_parent_std(0.6, 0.0, -1.0, 1.0)   # above (b - a)/sqrt(12)


def test_trunc_normal_zero_std_and_float32_bounds_inside():
    x = rc.init.trunc_normal(9, 0.3, 0.0, -1.0, 1.0, dtype=np.float32, generator=rc.Generator(1))
    assert np.all(x == np.float32(0.3))
    x = rc.init.trunc_normal(100_000, 0.0, 10.0, -0.1, 0.1, dtype=np.float32, generator=rc.Generator(1))
    assert x.min() >= -0.1 and x.max() <= 0.1


# ---------------------------------------------------------------- bit identity everywhere

SAMPLERS = {
    "uniform": lambda s, dt, g: rc.init.uniform(s, -1.0, 2.0, dtype=dt, generator=g),
    "normal": lambda s, dt, g: rc.init.normal(s, 0.5, 2.0, dtype=dt, generator=g),
    "trunc_normal": lambda s, dt, g: rc.init.trunc_normal(s, 0.5, 2.0, -1.0, 3.0, dtype=dt, generator=g),
    "trunc_normal_tail": lambda s, dt, g: rc.init.trunc_normal(s, 0.0, 1.0, 4.0, 8.0, dtype=dt, generator=g),
    # float32 rounds these tiny negative draws to -0.0, which the clamp at b = +0.0 must keep
    # (the min/max of the two zeros is where NumPy's np.minimum and the kernels' min differ)
    "trunc_normal_signed_zero": lambda s, dt, g: rc.init.trunc_normal(s, 0.0, 1e-300, -1.0, 0.0, dtype=dt, generator=g),
    "uniform_point": lambda s, dt, g: rc.init.uniform(s, -0.75, -0.75, dtype=dt, generator=g),
    "xavier_uniform": lambda s, dt, g: rc.init.xavier_uniform(s, 1.2, dtype=dt, generator=g),
    "xavier_normal": lambda s, dt, g: rc.init.xavier_normal(s, 1.2, dtype=dt, generator=g),
    "kaiming_uniform": lambda s, dt, g: rc.init.kaiming_uniform(s, 0.1, dtype=dt, generator=g),
    "kaiming_normal": lambda s, dt, g: rc.init.kaiming_normal(s, 0.0, "fan_out", "relu", dtype=dt, generator=g),
    "lecun_uniform": lambda s, dt, g: rc.init.lecun_uniform(s, dtype=dt, generator=g),
    "lecun_normal": lambda s, dt, g: rc.init.lecun_normal(s, dtype=dt, generator=g),
    "orthogonal": lambda s, dt, g: rc.init.orthogonal(s, 0.9, dtype=dt, generator=g),
    "sparse": lambda s, dt, g: rc.init.sparse(s, min(3, s[1]), dtype=dt, generator=g),
}


@pytest.mark.parametrize("name", list(SAMPLERS))
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (13, 5), (64, 1), (65, 3), (5, 0), (600, 1001)])
def test_every_sampler_is_bit_identical_across_backends_and_threads(name, dtype, shape):
    if name == "orthogonal" and shape == (600, 1001):
        shape = (60, 101)  # keep the QR small
    ref = None
    for be in BACKENDS:
        for t in ([1, 2] if be != "numpy" else [1]):
            with cpu_backend(be), num_threads(t):
                g = rc.Generator.from_state({"seed": 77, "offset": 2**32 - 9})
                got = SAMPLERS[name](shape, dtype, g)
                first = SAMPLERS[name](shape, dtype, g)  # a second call continues the stream
            assert got.shape == shape and got.dtype == dtype
            if ref is None:
                ref = (got, first)
            else:
                assert got.tobytes() == ref[0].tobytes() and first.tobytes() == ref[1].tobytes(), (be, t)


@pytest.mark.parametrize("name", ["uniform", "normal", "trunc_normal", "kaiming_normal", "orthogonal", "sparse"])
def test_in_place_equals_allocating(backend, name):
    shape = (9, 7)
    want = SAMPLERS[name](shape, np.float32, rc.Generator(6))
    x = np.full(shape, np.nan, np.float32)
    fn = getattr(rc.init, name + "_")
    g = rc.Generator(6)
    args = {"uniform": (-1.0, 2.0), "normal": (0.5, 2.0), "trunc_normal": (0.5, 2.0, -1.0, 3.0),
            "kaiming_normal": (0.0, "fan_out", "relu"), "orthogonal": (0.9,), "sparse": (3,)}[name]
    assert fn(x, *args, generator=g) is x
    np.testing.assert_array_equal(x, want)


# ---------------------------------------------------------------- bad input: error, nothing written

BAD = [
    (lambda x, g: rc.init.kaiming_normal_(x, nonlinearity="swish", generator=g), ValueError, "nonlinearity"),
    (lambda x, g: rc.init.kaiming_uniform_(x, mode="fan_avg", generator=g), ValueError, "mode"),
    (lambda x, g: rc.init.kaiming_normal_(x, a="0.1", generator=g), TypeError, "a"),
    (lambda x, g: rc.init.xavier_normal_(x, layout="nhwc", generator=g), ValueError, "layout"),
    (lambda x, g: rc.init.xavier_normal_(x, gain=-1.0, generator=g), ValueError, "gain"),
    (lambda x, g: rc.init.normal_(x, 0.0, -0.1, generator=g), ValueError, "std"),
    (lambda x, g: rc.init.trunc_normal_(x, 0.0, -1.0, generator=g), ValueError, "std"),
    (lambda x, g: rc.init.trunc_normal_(x, 0.0, 1.0, 2.0, 2.0, generator=g), ValueError, "b"),
    (lambda x, g: rc.init.trunc_normal_(x, 0.0, 1.0, 3.0, -3.0, generator=g), ValueError, "b"),
    (lambda x, g: rc.init.trunc_normal_(x, 0.0, 1.0, 50.0, 60.0, generator=g), ValueError, "a"),
    (lambda x, g: rc.init.trunc_normal_(x, std_is="truncated", generator=g), ValueError, "std_is"),
    (lambda x, g: rc.init.uniform_(x, 2.0, 1.0, generator=g), ValueError, "b"),
    (lambda x, g: rc.init.sparse_(x, 7, generator=g), ValueError, "k"),
    (lambda x, g: rc.init.sparse_(x, -1, generator=g), ValueError, "k"),
    (lambda x, g: rc.init.sparse_(x, 2.0, generator=g), TypeError, "k"),
    (lambda x, g: rc.init.orthogonal_(x, gain="1", generator=g), TypeError, "gain"),
    (lambda x, g: rc.init.constant_(x, None), TypeError, "value"),
    (lambda x, g: rc.init.normal_(x, generator=5), TypeError, "generator"),
]


@pytest.mark.parametrize("call,exc,match", BAD)
def test_bad_parameters_raise_and_write_nothing(backend, call, exc, match):
    x = np.full((4, 6), 7.0, np.float32)
    g = rc.Generator(1)
    with pytest.raises(exc, match=match):
        call(x, g)
    assert np.all(x == 7.0) and g.offset == 0


FAN_BASED = ["xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "lecun_uniform_",
             "lecun_normal_", "orthogonal_"]


@pytest.mark.parametrize("name", FAN_BASED + ["sparse_"])
def test_fan_based_init_refuses_fewer_than_two_dims(name):
    x = np.full(5, 7.0, np.float32)
    args = (1,) if name == "sparse_" else ()
    with pytest.raises(ValueError, match="x"):
        getattr(rc.init, name)(x, *args, generator=rc.Generator(1))
    assert np.all(x == 7.0)
    with pytest.raises(ValueError, match="shape"):
        getattr(rc.init, name[:-1])((5,), *args)


@pytest.mark.parametrize("name", FAN_BASED + ["uniform_", "normal_", "trunc_normal_", "zeros_", "ones_"])
def test_in_place_refuses_bad_arrays(backend, name):
    fn = getattr(rc.init, name)
    kw = {} if name in ("zeros_", "ones_") else {"generator": rc.Generator(1)}
    ro = np.full((4, 4), 7.0, np.float32)
    ro.flags.writeable = False
    strided = np.full((4, 8), 7.0, np.float32)
    for x, exc in [(ro, ValueError), (strided[:, ::2], ValueError), (np.full((4, 4), 7, np.int32), TypeError),
                   (np.full((4, 4), 7, np.uint16), TypeError)]:   # (float16: test_half.py)
        with pytest.raises(exc, match="x"):
            fn(x, **kw)
        assert np.all(x == 7)


@pytest.mark.parametrize("dtype", [np.int32, np.uint16, "complex64"])
def test_allocating_forms_refuse_non_float_dtypes(dtype):
    with pytest.raises(TypeError, match="dtype"):
        rc.init.kaiming_normal((4, 4), dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES + HALF)
def test_uniform_with_equal_bounds_fills_a_and_consumes_the_draws_range(backend, dtype):
    """torch.nn.init fills U(a, a) with a. The stream advances as for any uniform draw of that
    size, so what is drawn next does not depend on the bounds."""
    ga, gb = rc.Generator(9), rc.Generator(9)
    rc.init.uniform((7, 5), 0.3, 1.0, dtype=dtype, generator=ga)
    x = np.full((7, 5), 7.0, dtype)
    assert rc.init.uniform_(x, -0.0, -0.0, generator=gb) is x
    assert gb.offset == ga.offset > 0
    assert np.all(x.astype(np.float64) == 0.0) and np.all(np.signbit(x.astype(np.float64)))   # a's sign kept, as torch
    np.testing.assert_array_equal(rc.random.normal(9, generator=ga), rc.random.normal(9, generator=gb))
    y = rc.init.uniform((3, 4), 2.5, 2.5, dtype=dtype, generator=rc.Generator(9))
    assert y.dtype == dtype and np.all(y.astype(np.float64) == 2.5)


def test_uniform_bounds_that_round_to_one_value_fill_it_and_a_above_b_is_refused():
    x = rc.init.uniform(6, 1.0, 1.0 + 2.0 ** -30, dtype=np.float32, generator=rc.Generator(1))
    assert np.all(x == np.float32(1.0))
    with pytest.raises(ValueError, match="b"):
        rc.init.uniform(6, 1.0 + 2.0 ** -30, 1.0, dtype=np.float32, generator=rc.Generator(1))
    with pytest.raises(ValueError, match="high"):   # the sampling primitive keeps its law U[low, high), low < high
        rc.random.uniform(6, 1.0, 1.0, generator=rc.Generator(1))


def test_kaiming_slope_none_is_calculate_gains_default_and_read_only_for_leaky_relu():
    for fn in (rc.init.kaiming_uniform, rc.init.kaiming_normal):
        want = fn((6, 4), 0.01, generator=rc.Generator(2))
        np.testing.assert_array_equal(fn((6, 4), None, generator=rc.Generator(2)), want)
        want = fn((6, 4), 0.0, nonlinearity="relu", generator=rc.Generator(2))
        np.testing.assert_array_equal(fn((6, 4), None, nonlinearity="relu", generator=rc.Generator(2)), want)
        np.testing.assert_array_equal(fn((6, 4), "unread", nonlinearity="relu", generator=rc.Generator(2)), want)
    with pytest.raises(TypeError, match="^a: "):
        rc.init.kaiming_uniform((6, 4), True, generator=rc.Generator(2))


def test_zero_size_weights_are_no_ops():
    g = rc.Generator(1)
    for name in FAN_BASED:
        assert getattr(rc.init, name[:-1])((0, 5), generator=g).shape == (0, 5)
    assert rc.init.sparse((0, 5), 2, generator=g).shape == (0, 5)
    assert rc.init.trunc_normal((0,), generator=g).shape == (0,)


# ---------------------------------------------------------------- CUDA


from _cuda_libs import LIBS as CUDA_LIBS  # noqa: E402


@pytest.mark.cuda
@pytest.mark.skipif(not CUDA_LIBS, reason="no CUDA device, CUDA build or CUDA array library")
@pytest.mark.parametrize("lib", CUDA_LIBS or ["none"])
@pytest.mark.parametrize("name", list(SAMPLERS))
@pytest.mark.parametrize("dtype", DTYPES)
def test_cuda_samplers_match_the_cpu_bit_for_bit(lib, name, dtype):
    if lib == "cupy":
        import cupy

        like, host = cupy.empty(1, np.float32), cupy.asnumpy
    else:
        import torch

        like, host = torch.empty(1, device="cuda"), (lambda t: t.cpu().numpy())
    shape = (65, 33)
    g = rc.Generator(11)
    fn = SAMPLERS[name]
    got = None
    # allocating beside a device array runs on the device
    import functools

    if name in ("uniform", "normal", "trunc_normal", "trunc_normal_tail"):
        kw = {"uniform": (-1.0, 2.0), "normal": (0.5, 2.0), "trunc_normal": (0.5, 2.0, -1.0, 3.0),
              "trunc_normal_tail": (0.0, 1.0, 4.0, 8.0)}[name]
        base = name.replace("_tail", "")
        got = getattr(rc.init, base)(shape, *kw, dtype=dtype, generator=g, like=like)
    else:
        got = functools.partial(getattr(rc.init, name), shape)
        extra = {"xavier_uniform": (1.2,), "xavier_normal": (1.2,), "kaiming_uniform": (0.1,),
                 "kaiming_normal": (0.0, "fan_out", "relu"), "lecun_uniform": (), "lecun_normal": (),
                 "orthogonal": (0.9,), "sparse": (3,)}[name]
        got = got(*extra, dtype=dtype, generator=g, like=like)
    assert type(got).__module__.split(".")[0] == lib
    with rc.use_backend("numpy"):
        want = fn(shape, dtype, rc.Generator(11))
    np.testing.assert_array_equal(host(got), want)
