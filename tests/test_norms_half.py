"""bfloat16 and float16 through the normalization family (batch norm with its fused ReLU and split
API, instance, layer and group norm): 16-bit x / y / dy / dx, float32 math, with float32
parameters ("mixed", PyTorch's CPU batch norm) or parameters of x's own dtype (docs/precision.md).

* against a float64 oracle written here, evaluated on the same 16-bit inputs, within the bound
  docs/precision.md states: half an ulp of the 16-bit format (the final round-to-nearest-even
  store) plus a float32 term for the element formula's own roundings;
* bit identity across ISA levels and thread counts (fused calls), and numpy vs native given the
  same statistics (the element passes);
* the parameter-dtype combinations: the documented ones work, every other one raises a TypeError
  naming both arguments and writes nothing;
* parity with PyTorch's own bf16/fp16 CPU ops within torch.testing.assert_close's defaults.
"""
from __future__ import annotations

import numpy as np
import pytest

import regcore as rc

from conftest import BACKENDS, cpu_backend, num_threads

ml_dtypes = pytest.importorskip("ml_dtypes")
BF16 = np.dtype(ml_dtypes.bfloat16)
F16 = np.dtype(np.float16)
F32 = np.dtype(np.float32)
FMTS = {"bfloat16": BF16, "float16": F16}
# (fraction bits, smallest normal exponent) of each format: its ulp at a value
ULP = {BF16: (7, -126), F16: (10, -14), F32: (23, -126)}
EPS = 1e-5
# The float32 term of the bound: 16 float32 ulps of the magnitudes the element formula combines
# (4 roundings at most, each half an ulp of an intermediate no larger than those magnitudes).
F32_TERM = 2.0 ** -19


def ulp(dtype, v):
    """The spacing of dtype's values at |v| (float64 array)."""
    mbits, emin = ULP[np.dtype(dtype)]
    a = np.abs(np.asarray(v, np.float64))
    e = np.floor(np.log2(np.where(a > 0, a, 1.0)))
    e = np.maximum(np.where(a > 0, e, emin), emin)
    return np.ldexp(1.0, (e - mbits).astype(np.int32))


def assert_within(got, want, scale, dtype, what):
    """|got - want| <= ulp(dtype, want)/2 + F32_TERM * scale, elementwise (float64 oracle)."""
    got = np.asarray(got).astype(np.float64)
    bound = 0.5 * ulp(dtype, want) + F32_TERM * scale
    err = np.abs(got - want)
    bad = ~(err <= bound)
    assert not bad.any(), f"{what}: {bad.sum()} elements off, worst excess {np.max(err - bound)}"


def as16(a, dtype):
    """float64 test data rounded to a 16-bit dtype (the inputs; rounding details do not matter)."""
    return np.asarray(a, np.float32).astype(dtype)


def params(C, x_dtype, kind, rng):
    """gamma, beta, running_mean, running_var of the parameter dtype of ``kind``."""
    pdt = F32 if kind == "mixed" else x_dtype
    g = (rng.standard_normal(C) * 0.5 + 1.0).astype(np.float32).astype(pdt)
    b = rng.standard_normal(C).astype(np.float32).astype(pdt)
    rm = rng.standard_normal(C).astype(np.float32).astype(pdt)
    rv = (rng.random(C) + 0.5).astype(np.float32).astype(pdt)
    return g, b, rm, rv


# ---------------------------------------------------------------- float64 oracle (batch norm)

def bn_oracle(x, g, b, axis, relu):
    """y, the forward's pieces and the backward of batch norm in float64 on the given values."""
    x = x.astype(np.float64)
    a = axis % x.ndim
    red = tuple(i for i in range(x.ndim) if i != a)
    sh = [1] * x.ndim
    sh[a] = -1
    mean, var = x.mean(axis=red), x.var(axis=red)
    rstd = 1.0 / np.sqrt(var + EPS)
    xhat = (x - mean.reshape(sh)) * rstd.reshape(sh)
    g64, b64 = g.astype(np.float64).reshape(sh), b.astype(np.float64).reshape(sh)
    z = xhat * g64 + b64
    y = np.maximum(z, 0) if relu else z
    scale = np.abs(xhat * g64) + np.abs(b64)
    return dict(y=y, z=z, xhat=xhat, rstd=rstd, mean=mean, var=var, red=red, sh=sh, g=g64, scale=scale)


def bn_oracle_backward(o, dy, relu):
    d = dy.astype(np.float64)
    if relu:
        d = np.where(o["z"] > 0, d, 0.0)
    red, sh = o["red"], o["sh"]
    m = d.size // o["rstd"].size
    dbeta = d.sum(axis=red)
    dgamma = (d * o["xhat"]).sum(axis=red)
    ka = (o["g"] * o["rstd"].reshape(sh))
    t1, t2, t3 = ka * d, ka * o["xhat"] * dgamma.reshape(sh) / m, ka * dbeta.reshape(sh) / m
    dx = t1 - t2 - t3
    return dx, dgamma, dbeta, np.abs(t1) + np.abs(t2) + np.abs(t3), np.abs(d).sum(axis=red), \
        np.abs(d * o["xhat"]).sum(axis=red)


LAYOUTS = [((9, 5), 1), ((4, 3, 13), 1), ((3, 7, 5, 17), -1), ((2, 3, 37), 1), ((40, 35), -1)]


@pytest.mark.parametrize("fmt", FMTS)
@pytest.mark.parametrize("kind", ["mixed", "half"])
@pytest.mark.parametrize("shape,axis", LAYOUTS)
@pytest.mark.parametrize("relu", [False, True])
def test_batch_norm_oracle(backend, fmt, kind, shape, axis, relu):
    T = FMTS[fmt]
    rng = np.random.default_rng(sum(shape) + relu)
    C = shape[axis % len(shape)]
    x = as16(rng.standard_normal(shape) * 2.0 + 3.0, T)
    dy = as16(rng.standard_normal(shape), T)
    g, b, rm, rv = params(C, T, kind, rng)
    rm0, rv0 = rm.astype(np.float64), rv.astype(np.float64)
    with cpu_backend(backend):
        y, saved = rc.batch_norm(x, g, b, rm, rv, axis=axis, activation="relu" if relu else None)
        dx, dg, db = rc.batch_norm_backward(dy, x, g, saved)
    o = bn_oracle(x, g, b, axis, relu)
    assert y.dtype == T and dx.dtype == T
    assert dg.dtype == db.dtype == g.dtype          # the parameters' dtype (float32 when mixed)
    assert saved.mean.dtype == np.float64
    assert_within(y, o["y"], o["scale"], T, "y")
    wdx, wdg, wdb, sdx, sdb, sdg = bn_oracle_backward(o, dy, relu)
    assert_within(dx, wdx, sdx, T, "dx")
    assert_within(dg, wdg, sdg, g.dtype, "dgamma")
    assert_within(db, wdb, sdb, g.dtype, "dbeta")
    # running statistics: float64 update of the stored values, rounded once to their dtype
    n = x.size // C
    want_m = 0.9 * rm0 + 0.1 * o["mean"]
    want_v = 0.9 * rv0 + 0.1 * o["var"] * n / (n - 1)
    assert rm.dtype == g.dtype
    assert_within(rm, want_m, 1e-12 * (np.abs(want_m) + 1), rm.dtype, "running_mean")
    assert_within(rv, want_v, 1e-12 * (np.abs(want_v) + 1), rv.dtype, "running_var")


@pytest.mark.parametrize("fmt", FMTS)
@pytest.mark.parametrize("kind", ["mixed", "half"])
def test_batch_norm_inference_and_no_affine(backend, fmt, kind):
    T = FMTS[fmt]
    rng = np.random.default_rng(5)
    x = as16(rng.standard_normal((6, 4, 9)), T)
    g, b, rm, rv = params(4, T, kind, rng)
    with cpu_backend(backend):
        y, saved = rc.batch_norm(x, g, b, rm, rv, training=False)
        y2, _ = rc.batch_norm(x)
    mean, var = rm.astype(np.float64), rv.astype(np.float64)
    sh = (1, -1, 1)
    xhat = (x.astype(np.float64) - mean.reshape(sh)) / np.sqrt(var.reshape(sh) + EPS)
    g64, b64 = g.astype(np.float64).reshape(sh), b.astype(np.float64).reshape(sh)
    want = xhat * g64 + b64
    assert_within(y, want, np.abs(xhat * g64) + np.abs(b64), T, "y")
    o = bn_oracle(x, np.ones(4), np.zeros(4), 1, False)
    assert y2.dtype == T
    assert_within(y2, o["y"], o["scale"], T, "y (no affine)")


# ---------------------------------------------------------------- layer / group / instance norm

def grouped_oracle(x, g, b, G):
    """group norm of (N, C, *) in float64: y, xhat and the backward function."""
    N, C = x.shape[:2]
    x64 = x.astype(np.float64)
    xs = x64.reshape(N, G, -1)
    mean = xs.mean(axis=2, keepdims=True)
    rstd = 1.0 / np.sqrt(xs.var(axis=2, keepdims=True) + EPS)
    xhat = ((xs - mean) * rstd).reshape(x.shape)
    sh = (1, C) + (1,) * (x.ndim - 2)
    g64, b64 = g.astype(np.float64).reshape(sh), b.astype(np.float64).reshape(sh)
    y = xhat * g64 + b64
    return y, xhat, rstd, g64, np.abs(xhat * g64) + np.abs(b64)


def grouped_backward_oracle(dy, xhat, rstd, g64, G):
    N, C = dy.shape[:2]
    d = dy.astype(np.float64)
    red = (0,) + tuple(range(2, dy.ndim))
    dgamma, dbeta = (d * xhat).sum(axis=red), d.sum(axis=red)
    dxh = (d * g64).reshape(N, G, -1)
    xh = xhat.reshape(N, G, -1)
    m = dxh.shape[2]
    t1 = dxh * rstd
    t2 = rstd * dxh.sum(axis=2, keepdims=True) / m
    t3 = rstd * xh * (dxh * xh).sum(axis=2, keepdims=True) / m
    dx = (t1 - t2 - t3).reshape(dy.shape)
    scale = (np.abs(t1) + np.abs(t2) + np.abs(t3)).reshape(dy.shape)
    return dx, dgamma, dbeta, scale, np.abs(d).sum(axis=red), np.abs(d * xhat).sum(axis=red)


@pytest.mark.parametrize("fmt", FMTS)
@pytest.mark.parametrize("kind", ["mixed", "half"])
@pytest.mark.parametrize("op", ["group", "instance"])
def test_group_and_instance_norm_oracle(backend, fmt, kind, op):
    T = FMTS[fmt]
    rng = np.random.default_rng(11)
    shape = (3, 6, 5, 7)
    G = 3 if op == "group" else 6
    x = as16(rng.standard_normal(shape) * 1.5 - 2.0, T)
    dy = as16(rng.standard_normal(shape), T)
    g, b, rm, rv = params(6, T, kind, rng)
    with cpu_backend(backend):
        if op == "group":
            y, saved = rc.group_norm(x, G, g, b)
            dx, dg, db = rc.group_norm_backward(dy, x, g, saved)
        else:
            y, saved = rc.instance_norm(x, g, b, rm, rv)
            dx, dg, db = rc.instance_norm_backward(dy, x, g, saved)
    wy, xhat, rstd, g64, sy = grouped_oracle(x, g, b, G)
    assert y.dtype == dx.dtype == T and dg.dtype == db.dtype == g.dtype
    assert_within(y, wy, sy, T, "y")
    wdx, wdg, wdb, sdx, sdb, sdg = grouped_backward_oracle(dy, xhat, rstd, g64, G)
    assert_within(dx, wdx, sdx, T, "dx")
    assert_within(dg, wdg, sdg, g.dtype, "dgamma")
    assert_within(db, wdb, sdb, g.dtype, "dbeta")
    if op == "instance":
        assert rm.dtype == g.dtype   # updated in place, in its own dtype


@pytest.mark.parametrize("fmt", FMTS)
@pytest.mark.parametrize("kind", ["mixed", "half", "none"])
@pytest.mark.parametrize("shape,k", [((5, 24), 1), ((3, 4, 37), 1), ((2, 3, 5, 7), 2)])
def test_layer_norm_oracle(backend, fmt, kind, shape, k):
    T = FMTS[fmt]
    rng = np.random.default_rng(len(shape) + k)
    nshape = shape[len(shape) - k:]
    x = as16(rng.standard_normal(shape) * 3.0 + 1.0, T)
    dy = as16(rng.standard_normal(shape), T)
    pdt = F32 if kind == "mixed" else T
    g = b = None
    if kind != "none":
        g = as16(rng.standard_normal(nshape) * 0.5 + 1.0, pdt)
        b = as16(rng.standard_normal(nshape), pdt)
    axes = tuple(range(-k, 0))
    with cpu_backend(backend):
        y, saved = rc.layer_norm(x, g, b, axes=axes)
        dx, dg, db = rc.layer_norm_backward(dy, x, g, saved)
    R = x.size // int(np.prod(nshape))
    x64 = x.astype(np.float64).reshape(R, -1)
    mean, var = x64.mean(axis=1, keepdims=True), x64.var(axis=1, keepdims=True)
    rstd = 1.0 / np.sqrt(var + EPS)
    xhat = (x64 - mean) * rstd
    g64 = np.ones(x64.shape[1]) if g is None else g.astype(np.float64).reshape(-1)
    b64 = np.zeros(x64.shape[1]) if b is None else b.astype(np.float64).reshape(-1)
    wy = xhat * g64 + b64
    assert y.dtype == dx.dtype == T
    assert_within(y.reshape(R, -1), wy, np.abs(xhat * g64) + np.abs(b64), T, "y")
    d = dy.astype(np.float64).reshape(R, -1)
    dxh = d * g64
    L = x64.shape[1]
    t1, t2 = dxh * rstd, rstd * dxh.sum(axis=1, keepdims=True) / L
    t3 = rstd * xhat * (dxh * xhat).sum(axis=1, keepdims=True) / L
    assert_within(dx.reshape(R, -1), t1 - t2 - t3, np.abs(t1) + np.abs(t2) + np.abs(t3), T, "dx")
    if g is None:
        assert dg is None and db is None
    else:
        assert dg.dtype == db.dtype == pdt and dg.shape == nshape
        assert_within(dg.reshape(-1), (d * xhat).sum(axis=0), np.abs(d * xhat).sum(axis=0), pdt, "dgamma")
        assert_within(db.reshape(-1), d.sum(axis=0), np.abs(d).sum(axis=0), pdt, "dbeta")


# ---------------------------------------------------------------- bit identity

def _bits(a):
    return None if a is None else np.ascontiguousarray(a).view(np.uint8).copy()


def _all_calls(x, dy, g, b, rm, rv, axis):
    """Every normalization forward and backward of x (fused calls), as bytes."""
    out = []
    rm, rv = rm.copy(), rv.copy()
    y, s = rc.batch_norm(x, g, b, rm, rv, axis=axis, activation="relu")
    out += [y, *rc.batch_norm_backward(dy, x, g, s), rm, rv]
    y, s = rc.batch_norm(x, g, b, axis=axis)
    out += [y, *rc.batch_norm_backward(dy, x, g, s)]
    if axis == 1 and x.ndim >= 3:
        C = x.shape[1]
        y, s = rc.group_norm(x, C if C % 2 else 2, g, b)
        out += [y, *rc.group_norm_backward(dy, x, g, s)]
        y, s = rc.instance_norm(x, g, b)
        out += [y, *rc.instance_norm_backward(dy, x, g, s)]
    y, s = rc.layer_norm(x)
    out += [y, *rc.layer_norm_backward(dy, x, None, s)]
    return [_bits(a) for a in out]


@pytest.mark.parametrize("fmt", FMTS)
@pytest.mark.parametrize("kind", ["mixed", "half"])
@pytest.mark.parametrize("shape,axis", [((4, 6, 37), 1), ((3, 20, 300), 1), ((300, 53), -1), ((64, 48), -1)])
def test_native_identical_across_isas_and_threads(fmt, kind, shape, axis):
    if not rc.available_isas():
        pytest.skip("no native CPU module")
    T = FMTS[fmt]
    rng = np.random.default_rng(7)
    C = shape[axis % len(shape)]
    x = as16(rng.standard_normal(shape) * 4 + 100, T)    # a large mean: the split mean matters
    dy = as16(rng.standard_normal(shape), T)
    g, b, rm, rv = params(C, T, kind, rng)
    ref = None
    for name in BACKENDS[1:]:
        for n in (1, 2):
            with cpu_backend(name), num_threads(n):
                got = _all_calls(x, dy, g, b, rm, rv, axis)
            if ref is None:
                ref = got
                continue
            for i, (a, r) in enumerate(zip(got, ref)):
                assert (a is None and r is None) or np.array_equal(a, r), (name, n, i)


@pytest.mark.parametrize("fmt", FMTS)
@pytest.mark.parametrize("kind", ["mixed", "half"])
@pytest.mark.parametrize("shape,axis", [((3, 5, 7, 9), 1), ((3, 7, 5, 17), -1), ((2, 3, 350003), 1)])
def test_numpy_and_native_elementwise_bit_identical(fmt, kind, shape, axis):
    """The same statistics and sums in -> the same bits out of normalize and dx everywhere."""
    T = FMTS[fmt]
    rng = np.random.default_rng(21)
    C = shape[axis % len(shape)]
    x = as16(rng.standard_normal(shape) * 2 + 3, T)
    dy = as16(rng.standard_normal(shape), T)
    g, b, _, _ = params(C, T, kind, rng)
    with cpu_backend("numpy"):
        total = rc.batch_norm_stats(x, axis=axis)
    outs = []
    for name in BACKENDS:
        with cpu_backend(name):
            y, saved = rc.batch_norm_apply(x, total, g, b, axis=axis, activation="relu")
            with rc.use_backend("numpy"):
                red = rc.batch_norm_backward_reduce(dy, x, saved)
            dx, dg, db = rc.batch_norm_backward_apply(dy, x, g, saved, red)
            native_red = rc.batch_norm_backward_reduce(dy, x, saved)
        outs.append([_bits(a) for a in (y, dx, dg, db)])
        np.testing.assert_allclose(native_red, red, rtol=1e-12, atol=1e-9 * np.abs(red).max())
    for o in outs[1:]:
        for a, r in zip(o, outs[0]):
            assert np.array_equal(a, r)


@pytest.mark.parametrize("fmt", FMTS)
@pytest.mark.parametrize("affine", [True, False])
def test_layer_norm_kernels_numpy_and_native_identical(fmt, affine):
    """Same float32 coefficients -> the same bits of y, dx and the reduction sums from the numpy
    backend and every ISA level (16-bit data as the kernels take it: float16, or bfloat16's uint16
    view)."""
    from regcore import _dtypes
    from regcore._backend import native_backend
    from regcore._backends import numpy_backend as np_be

    T = FMTS[fmt]
    rng = np.random.default_rng(10)
    R, L = 7, 45
    x = _dtypes.kernel_view(as16(rng.standard_normal((R, L)) * 3 + 2, T))
    dy = _dtypes.kernel_view(as16(rng.standard_normal((R, L)), T))
    mhi, mlo, rstd = (rng.standard_normal(R).astype(np.float32) for _ in range(3))
    g = b = None
    if affine:
        g, b = rng.standard_normal(L).astype(np.float32), rng.standard_normal(L).astype(np.float32)
    kb, kc = rng.standard_normal(R).astype(np.float32), rng.standard_normal(R).astype(np.float32)
    want_y, want_dx = np.empty_like(x), np.empty_like(x)
    want_row, want_col = np.empty((R, 2)), np.empty((2, L))
    np_be.ln_normalize(x, want_y, R, L, mhi, mlo, rstd, g, b)
    np_be.ln_grad_apply(dy, x, want_dx, R, L, mhi, mlo, rstd, g, b, kb, kc)
    np_be.ln_grad_reduce(dy, x, R, L, mhi, mlo, rstd, g, b, want_row, want_col)
    if not rc.available_isas():
        pytest.skip("no native CPU module")
    cpu_be = native_backend("cpu")
    for name in BACKENDS[1:]:
        with cpu_backend(name):
            y, dx = np.empty_like(x), np.empty_like(x)
            row, col = np.empty((R, 2)), np.empty((2, L))
            cpu_be.ln_normalize(x, y, R, L, mhi, mlo, rstd, g, b)
            cpu_be.ln_grad_apply(dy, x, dx, R, L, mhi, mlo, rstd, g, b, kb, kc)
            cpu_be.ln_grad_reduce(dy, x, R, L, mhi, mlo, rstd, g, b, row, col)
        assert np.array_equal(y, want_y) and np.array_equal(dx, want_dx), name
        np.testing.assert_allclose(row, want_row, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(col, want_col, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------- dtype combinations

def test_documented_parameter_dtypes():
    for T in (BF16, F16):
        assert rc.batch_norm(np.ones((4, 3), T), np.ones(3, F32), np.zeros(3, F32))[0].dtype == T
        assert rc.batch_norm(np.ones((4, 3), T), np.ones(3, T), np.zeros(3, T))[0].dtype == T
        assert rc.layer_norm(np.ones((4, 3), T), np.ones(3, F32), np.zeros(3, F32))[0].dtype == T


@pytest.mark.parametrize("call", ["batch_norm", "batch_norm_running", "instance_norm", "group_norm", "layer_norm"])
@pytest.mark.parametrize("x_dtype,p_dtype", [(F16, BF16), (BF16, F16), (F32, np.float64), (np.float64, F32),
                                             (F32, BF16), (BF16, np.float64)])
def test_undocumented_combination_refused_naming_both(call, x_dtype, p_dtype):
    x = np.ones((4, 3, 5), x_dtype)
    p = np.ones(3, p_dtype)
    rm, rv = np.zeros(3, x_dtype), np.ones(3, x_dtype)
    before = (rm.copy(), rv.copy())
    with pytest.raises(TypeError) as e:
        if call == "batch_norm":
            rc.batch_norm(x, p, None)
        elif call == "batch_norm_running":
            rc.batch_norm(x, None, None, rm.astype(p_dtype), rv)
        elif call == "instance_norm":
            rc.instance_norm(x, None, None, rm, rv.astype(p_dtype))
        elif call == "group_norm":
            rc.group_norm(x, 3, None, p)
        else:
            rc.layer_norm(x, np.ones(5, p_dtype))
    msg = str(e.value)
    assert f"x of dtype {np.dtype(x_dtype)}" in msg and f"dtype {np.dtype(p_dtype)}" in msg, msg
    assert msg.split(":")[0] in ("gamma", "beta", "running_mean", "running_var")
    assert np.array_equal(rm, before[0]) and np.array_equal(rv, before[1])


def test_parameters_share_one_dtype():
    """gamma float32 with beta bfloat16 (each alone is allowed for bfloat16 x): refused, naming
    both parameters; the running statistics are left as they were."""
    x = np.ones((4, 3), BF16)
    rm, rv = np.zeros(3, F32), np.ones(3, F32)
    with pytest.raises(TypeError, match=r"beta: expected dtype float32 \(the dtype of gamma"):
        rc.batch_norm(x, np.ones(3, F32), np.zeros(3, BF16), rm, rv)
    with pytest.raises(TypeError, match=r"running_mean: expected dtype bfloat16 \(the dtype of gamma"):
        rc.batch_norm(x, np.ones(3, BF16), None, rm, rv)
    with pytest.raises(TypeError, match=r"beta: expected dtype float32 \(the dtype of gamma"):
        rc.layer_norm(x, np.ones(3, F32), np.zeros(3, BF16))
    assert np.all(rm == 0) and np.all(rv == 1)


def test_backward_dtype_must_match_forward():
    x = np.ones((4, 3), BF16)
    _, saved = rc.batch_norm(x + np.arange(3).astype(BF16))
    with pytest.raises(TypeError, match="dy: expected dtype bfloat16"):
        rc.batch_norm_backward(np.ones((4, 3), F16), x, None, saved)


def test_without_ml_dtypes_bfloat16_tensors_say_what_to_install(monkeypatch):
    torch = pytest.importorskip("torch")
    from regcore import _dtypes

    monkeypatch.setattr(_dtypes, "_bf16", None)
    monkeypatch.setattr(_dtypes, "bfloat16", lambda: None)
    with pytest.raises(TypeError, match="pip install ml_dtypes"):
        rc.batch_norm(torch.ones(4, 3, dtype=torch.bfloat16))
    # float16 needs nothing beyond NumPy
    assert rc.layer_norm(np.ones((2, 3), F16))[0].dtype == F16


# ---------------------------------------------------------------- PyTorch parity (CPU)

@pytest.mark.parametrize("tdtype", ["bfloat16", "float16"])
@pytest.mark.parametrize("kind", ["mixed", "half"])
def test_against_pytorch(backend, tdtype, kind):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    dt = getattr(torch, tdtype)
    pt = torch.float32 if kind == "mixed" else dt
    torch.manual_seed(0)
    x = (torch.randn(8, 6, 5, 7) * 2 + 1).to(dt)
    dy = torch.randn(8, 6, 5, 7).to(dt)
    rm, rv = torch.zeros(6, dtype=pt), torch.ones(6, dtype=pt)

    def torch_run(fn, xt, *args):
        xt = xt.clone().requires_grad_()
        ps = [a.clone().requires_grad_() for a in args]
        y = fn(xt, *ps)
        grads = torch.autograd.grad(y, [xt, *ps], dy.to(y.dtype))
        return [y.detach(), *grads]

    def err(a, b):
        return float((a.double() - b.double()).abs().max())

    cases = [
        ("batch_norm", lambda xt, w, bb: F.batch_norm(xt, None, None, w, bb, training=True),
         lambda g_, b_: rc.batch_norm(x, g_, b_, rm.clone(), rv.clone()), rc.batch_norm_backward, (6,)),
        ("layer_norm", lambda xt, w, bb: F.layer_norm(xt, (7,), w, bb),
         lambda g_, b_: rc.layer_norm(x, g_, b_), rc.layer_norm_backward, (7,)),
        ("group_norm", lambda xt, w, bb: F.group_norm(xt, 3, w, bb),
         lambda g_, b_: rc.group_norm(x, 3, g_, b_), rc.group_norm_backward, (6,)),
    ]
    with cpu_backend(backend):
        for name, tfn, rfn, rbwd, pshape in cases:
            gt, bt = (torch.rand(pshape) + 0.5).to(pt), torch.randn(pshape).to(pt)
            try:
                want = torch_run(tfn, x, gt, bt)
            except RuntimeError as e:   # a combination this PyTorch build does not take
                pytest.skip(f"torch {name}: {e}")
            exact = torch_run(tfn, x.double(), gt.double(), bt.double())
            with torch.no_grad():
                y, saved = rfn(gt, bt)
                got = [y, *rbwd(dy, x, gt, saved)]
            assert got[0].dtype == got[1].dtype == dt and got[2].dtype == got[3].dtype == pt
            for i, what in enumerate(("y", "dx", "dgamma", "dbeta")):
                if kind == "mixed" and i < 2:
                    # PyTorch's mixed CPU norms keep float32 math too: assert_close's defaults
                    torch.testing.assert_close(got[i], want[i], msg=lambda m: f"{name} {what}: {m}")
                # and never farther from the float64 result than PyTorch (its all-16-bit norms
                # round intermediates to the 16-bit dtype; its bf16 layer_norm sums dgamma in
                # 16 bits), up to half an ulp of the output's largest value
                np_dtype = {torch.bfloat16: BF16, torch.float16: F16, torch.float32: F32}[got[i].dtype]
                slack = 0.5 * float(ulp(np_dtype, float(exact[i].abs().max())))
                assert err(got[i], exact[i]) <= err(want[i], exact[i]) + slack, (name, what)


# ---------------------------------------------------------------- regcore.torch

TORCH_16 = ["bfloat16", "float16"]


def _torch():
    torch = pytest.importorskip("torch")
    import regcore.torch  # noqa: F401  (registers torch.ops.regcore)
    return torch


@pytest.mark.parametrize("tdtype", TORCH_16)
@pytest.mark.parametrize("kind", ["mixed", "half"])
def test_torch_modules_match_torch(tdtype, kind):
    """regcore.torch's norm modules on 16-bit input, with the module's float32 parameters (mixed)
    or the module converted to the 16-bit dtype, next to torch.nn's own modules in the same state:
    outputs, input and parameter gradients and running statistics within assert_close's defaults
    (all-16-bit: regcore keeps float32 coefficients, so its y is compared with float64 math)."""
    torch = _torch()
    import regcore.torch.nn as rnn

    dt = getattr(torch, tdtype)
    torch.manual_seed(1)
    x = (torch.randn(6, 4, 5, 3) * 2 + 1).to(dt)
    dy = torch.randn(6, 4, 5, 3).to(dt)
    pairs = [(rnn.BatchNorm2d(4), torch.nn.BatchNorm2d(4)), (rnn.GroupNorm(2, 4), torch.nn.GroupNorm(2, 4)),
             (rnn.LayerNorm(3), torch.nn.LayerNorm(3)),
             (rnn.InstanceNorm2d(4, affine=True, track_running_stats=True),
              torch.nn.InstanceNorm2d(4, affine=True, track_running_stats=True))]
    for ours, theirs in pairs:
        with torch.no_grad():
            for p in theirs.parameters():
                p.uniform_(0.5, 1.5)
        ours.load_state_dict(theirs.state_dict())
        if kind == "half":
            ours.to(dt), theirs.to(dt)
        outs = []
        for m in (ours, theirs):
            xi = x.clone().requires_grad_()
            y = m(xi)
            grads = torch.autograd.grad(y, [xi, *m.parameters()], dy)
            outs.append((y.detach(), grads, {k: v.clone() for k, v in m.state_dict().items()}))
        (y, g, st), (ty, tg, tst) = outs
        what = type(ours).__name__
        assert y.dtype == dt and g[0].dtype == dt
        assert all(a.dtype == b.dtype for a, b in zip(g[1:], tg[1:])), what
        if kind == "mixed":
            torch.testing.assert_close(y, ty, msg=lambda m: f"{what} y: {m}")
            torch.testing.assert_close(g[0], tg[0], msg=lambda m: f"{what} dx: {m}")
        else:
            xd = x.double()
            exact = type(theirs)(*_module_args(theirs)).double()
            exact.load_state_dict({k: v.double() if v.is_floating_point() else v
                                   for k, v in theirs.state_dict().items()}, strict=False)
            assert (y.double() - exact(xd)).abs().max() <= (ty.double() - exact(xd)).abs().max() + 2 ** -8
        for k in st:
            if st[k].is_floating_point():   # running statistics: float32 math, same formula
                torch.testing.assert_close(st[k], tst[k], msg=lambda m: f"{what} {k}: {m}")


def _module_args(m):
    torch = pytest.importorskip("torch")
    if isinstance(m, torch.nn.GroupNorm):
        return (m.num_groups, m.num_channels)
    if isinstance(m, torch.nn.LayerNorm):
        return (m.normalized_shape,)
    if isinstance(m, torch.nn.InstanceNorm2d):
        return (m.num_features, m.eps, m.momentum, m.affine, m.track_running_stats)
    return (m.num_features,)


@pytest.mark.parametrize("tdtype", TORCH_16)
def test_torch_opcheck_16bit(tdtype):
    """torch.library.opcheck on every normalization operator with 16-bit x and float32
    (mixed) or 16-bit parameters."""
    torch = _torch()
    ops = torch.ops.regcore
    dt = getattr(torch, tdtype)
    torch.manual_seed(2)

    def t(*shape, dtype=dt, grad=False):
        return torch.randn(*shape).to(dtype).requires_grad_(grad)

    for pdt in (torch.float32, dt):
        x4, dy4 = t(4, 6, 3, 3, grad=True), t(4, 6, 3, 3)
        w, b = t(6, dtype=pdt, grad=True), t(6, dtype=pdt, grad=True)
        rm, rv = torch.zeros(6, dtype=pdt), torch.ones(6, dtype=pdt)
        xd, wd, bd = x4.detach(), w.detach(), b.detach()
        y, mean, var, _, _ = ops.batch_norm(xd, wd, bd, rm.clone(), rv.clone(), True, 0.1, 1e-5, 1)
        st = ops.batch_norm_stats(xd, 1)
        red = ops.batch_norm_backward_reduce(dy4, xd, wd, bd, mean, var, 0.0, 1e-5, 1)
        lw, lb = t(3, 3, dtype=pdt, grad=True), t(3, 3, dtype=pdt, grad=True)
        lmean, lvar = ops.layer_norm(xd, lw.detach(), lb.detach(), 2, 1e-5)[1:]
        gmean, gvar = ops.group_norm(xd, 3, wd, bd, 1e-5)[1:]
        imean, ivar = ops.instance_norm(xd, wd, bd, None, None, True, 0.1, 1e-5)[1:3]
        cases = [
            (ops.batch_norm, (x4, w, b, rm.clone(), rv.clone(), True, 0.1, 1e-5, 1)),
            (ops.batch_norm, (x4, w, b, rm, rv, False, 0.1, 1e-5, 1)),
            (ops.batch_norm_backward, (dy4, xd, wd, bd, mean, var, True, 0.0, 1e-5, 1)),
            (ops.batch_norm_stats, (xd, 1)),
            (ops.batch_norm_apply, (xd, st, wd, bd, rm.clone(), rv.clone(), 0.1, 1e-5, 1)),
            (ops.batch_norm_backward_reduce, (dy4, xd, wd, bd, mean, var, 0.0, 1e-5, 1)),
            (ops.batch_norm_backward_apply, (dy4, xd, wd, bd, mean, var, red, red, 0.0, 1e-5, 1)),
            (ops.layer_norm, (x4, lw, lb, 2, 1e-5)),
            (ops.layer_norm_backward, (dy4, xd, lw.detach(), lb.detach(), lmean, lvar, 2, 1e-5)),
            (ops.group_norm, (x4, 3, w, b, 1e-5)),
            (ops.group_norm_backward, (dy4, xd, wd, bd, gmean, gvar, 3, 1e-5)),
            (ops.instance_norm, (x4, w, b, rm.clone(), rv.clone(), True, 0.1, 1e-5)),
            (ops.instance_norm_backward, (dy4, xd, wd, bd, imean, ivar, True, 1e-5)),
        ]
        for op, args in cases:
            torch.library.opcheck(op, args)


def test_torch_autocast_keeps_the_input_dtype():
    """Under CPU autocast regcore's norms run in their input's dtype, as torch's own CPU norms do
    (docs/precision.md)."""
    torch = _torch()
    import regcore.torch.nn.functional as RF

    x = torch.randn(4, 3, 5)
    w, b = torch.ones(3), torch.zeros(3)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        for xi in (x, x.bfloat16()):
            ours = [RF.batch_norm(xi, None, None, w, b, training=True), RF.layer_norm(xi, (5,)),
                    RF.group_norm(xi, 3, w, b), RF.instance_norm(xi)]
            theirs = [torch.nn.functional.batch_norm(xi, None, None, w, b, training=True),
                      torch.nn.functional.layer_norm(xi, (5,)), torch.nn.functional.group_norm(xi, 3, w, b),
                      torch.nn.functional.instance_norm(xi)]
            for o, t in zip(ours, theirs):
                assert o.dtype == t.dtype == xi.dtype
