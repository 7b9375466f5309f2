"""Layer, group and instance norm: every backend, ISA level and dtype against a float64 oracle
written here, finite-difference gradients, PyTorch when installed, the large-mean case, thread
identity, running statistics of instance norm and bad inputs (nothing written)."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import regcore as rc

from _norm_calls import every_norm_call

EPS = 1e-5


# ------------------------------------------------------------------ oracle (float64)
# Each norm is the textbook formula on a float64 copy; gradients are finite differences of it.

def oracle_layer(x, gamma, beta, k, eps=EPS):
    x = x.astype(np.float64)
    red = tuple(range(x.ndim - k, x.ndim))
    mean = x.mean(axis=red, keepdims=True)
    var = x.var(axis=red, keepdims=True)
    xhat = (x - mean) / np.sqrt(var + eps)
    g = 1.0 if gamma is None else gamma.astype(np.float64)
    b = 0.0 if beta is None else beta.astype(np.float64)
    return xhat * g + b


def oracle_group(x, G, gamma, beta, eps=EPS, stats=None):
    """Group norm; instance norm is G = C. ``stats``: per-channel (mean, var) instead."""
    x = x.astype(np.float64)
    N, C = x.shape[:2]
    if stats is None:
        xg = x.reshape(N, G, -1)
        xhat = ((xg - xg.mean(axis=2, keepdims=True)) / np.sqrt(xg.var(axis=2, keepdims=True) + eps))
        xhat = xhat.reshape(x.shape)
    else:
        sh = (1, C) + (1,) * (x.ndim - 2)
        xhat = (x - stats[0].reshape(sh)) / np.sqrt(stats[1].reshape(sh) + eps)
    sh = (1, C) + (1,) * (x.ndim - 2)
    g = 1.0 if gamma is None else gamma.astype(np.float64).reshape(sh)
    b = 0.0 if beta is None else beta.astype(np.float64).reshape(sh)
    return xhat * g + b


def fd_grads(f, x, gamma, beta, dy, h=1e-6):
    """Central finite differences of L = sum(f(x, gamma, beta) * dy) (float64)."""
    def loss(x_, g_, b_):
        return float((f(x_, g_, b_) * dy).sum())

    out = []
    for which, arr in enumerate((x, gamma, beta)):
        if arr is None:
            out.append(None)
            continue
        grad = np.zeros_like(arr)
        it = np.nditer(arr, flags=["multi_index"])
        for _ in it:
            i = it.multi_index
            args = [x.copy(), None if gamma is None else gamma.copy(), None if beta is None else beta.copy()]
            args[which][i] += h
            up = loss(*args)
            args[which][i] -= 2 * h
            grad[i] = (up - loss(*args)) / (2 * h)
        out.append(grad)
    return out


def tol(dtype):
    return dict(rtol=0, atol=3e-5) if dtype == np.float32 else dict(rtol=0, atol=1e-11)


def _data(shape, pshape, dtype, seed=0, loc=3.0, scale=2.0):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(shape) * scale + loc).astype(dtype)
    gamma = (rng.standard_normal(pshape) + 1.0).astype(dtype)
    beta = rng.standard_normal(pshape).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    return x, gamma, beta, dy


def _grad_oracle(f, x, gamma, beta, dy):
    """Exact float64 gradients of sum(f * dy) from the oracle by finite differences on a
    float64 copy: the oracle's derivative, not the implementation's formula."""
    return fd_grads(f, x.astype(np.float64), None if gamma is None else gamma.astype(np.float64),
                    None if beta is None else beta.astype(np.float64), dy.astype(np.float64))


# ------------------------------------------------------------------ layer norm

LN_CASES = [((4, 37), 1), ((3, 5, 7), 2), ((2, 3, 4, 9), 1), ((2, 3, 4, 5), 3), ((6, 1), 1), ((5, 70), 1)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,k", LN_CASES)
@pytest.mark.parametrize("affine", [True, False])
def test_layer_norm_oracle(backend, shape, k, dtype, affine):
    x, gamma, beta, dy = _data(shape, shape[len(shape) - k:], dtype)
    if not affine:
        gamma = beta = None
    axes = tuple(range(-k, 0))
    y, saved = rc.layer_norm(x, gamma, beta, axes=axes)
    assert y.dtype == dtype and y.shape == x.shape
    np.testing.assert_allclose(y, oracle_layer(x, gamma, beta, k), **tol(dtype))
    dx, dg, db = rc.layer_norm_backward(dy, x, gamma, saved)
    wdx, wdg, wdb = _grad_oracle(lambda a, g, b: oracle_layer(a, g, b, k), x, gamma, beta, dy)
    fd_tol = dict(rtol=0, atol=2e-4) if dtype == np.float32 else dict(rtol=0, atol=2e-6)
    np.testing.assert_allclose(dx, wdx, **fd_tol)
    if affine:
        assert dg.shape == gamma.shape and db.shape == beta.shape
        np.testing.assert_allclose(dg, wdg, **fd_tol)
        np.testing.assert_allclose(db, wdb, **fd_tol)
    else:
        assert dg is None and db is None


# ------------------------------------------------------------------ group / instance norm

GN_CASES = [((3, 6, 5, 7), 3), ((2, 4, 9), 2), ((2, 6, 2, 3, 3), 6), ((3, 5, 11), 1), ((4, 8), 4)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,G", GN_CASES)
@pytest.mark.parametrize("affine", [True, False])
def test_group_norm_oracle(backend, shape, G, dtype, affine):
    x, gamma, beta, dy = _data(shape, (shape[1],), dtype, seed=1)
    if not affine:
        gamma = beta = None
    y, saved = rc.group_norm(x, G, gamma, beta)
    np.testing.assert_allclose(y, oracle_group(x, G, gamma, beta), **tol(dtype))
    dx, dg, db = rc.group_norm_backward(dy, x, gamma, saved)
    wdx, wdg, wdb = _grad_oracle(lambda a, g, b: oracle_group(a, G, g, b), x, gamma, beta, dy)
    fd_tol = dict(rtol=0, atol=2e-4) if dtype == np.float32 else dict(rtol=0, atol=2e-6)
    np.testing.assert_allclose(dx, wdx, **fd_tol)
    if affine:
        np.testing.assert_allclose(dg, wdg, **fd_tol)
        np.testing.assert_allclose(db, wdb, **fd_tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(3, 5, 13), (2, 3, 4, 6), (2, 2, 3, 2, 3)])
def test_instance_norm_oracle(backend, shape, dtype):
    x, gamma, beta, dy = _data(shape, (shape[1],), dtype, seed=2)
    C = shape[1]
    y, saved = rc.instance_norm(x, gamma, beta)
    np.testing.assert_allclose(y, oracle_group(x, C, gamma, beta), **tol(dtype))
    dx, dg, db = rc.instance_norm_backward(dy, x, gamma, saved)
    wdx, wdg, wdb = _grad_oracle(lambda a, g, b: oracle_group(a, C, g, b), x, gamma, beta, dy)
    fd_tol = dict(rtol=0, atol=2e-4) if dtype == np.float32 else dict(rtol=0, atol=2e-6)
    np.testing.assert_allclose(dx, wdx, **fd_tol)
    np.testing.assert_allclose(dg, wdg, **fd_tol)
    np.testing.assert_allclose(db, wdb, **fd_tol)


def test_instance_norm_running_stats(backend):
    """Training updates the running statistics with the per-instance mean and unbiased variance
    averaged over samples; inference then normalizes with them (constants for the gradient)."""
    x, gamma, beta, dy = _data((4, 3, 10), (3,), np.float64, seed=3)
    rm, rv = np.full(3, 0.5), np.full(3, 2.0)
    rc.instance_norm(x, gamma, beta, rm, rv, training=True, momentum=0.25)
    m = x.mean(axis=2).mean(axis=0)
    v = x.var(axis=2, ddof=1).mean(axis=0)
    np.testing.assert_allclose(rm, 0.75 * 0.5 + 0.25 * m, rtol=1e-13)
    np.testing.assert_allclose(rv, 0.75 * 2.0 + 0.25 * v, rtol=1e-13)
    y, saved = rc.instance_norm(x, gamma, beta, rm, rv, training=False)
    np.testing.assert_allclose(y, oracle_group(x, 3, gamma, beta, stats=(rm, rv)), atol=1e-12, rtol=0)
    dx, dg, db = rc.instance_norm_backward(dy, x, gamma, saved)
    wdx, wdg, wdb = _grad_oracle(lambda a, g, b: oracle_group(a, 3, g, b, stats=(rm, rv)), x, gamma, beta, dy)
    np.testing.assert_allclose(dx, wdx, atol=2e-6, rtol=0)
    np.testing.assert_allclose(dg, wdg, atol=2e-6, rtol=0)
    # momentum=None: the cumulative average over num_batches_tracked + 1 batches.
    rm2, rv2 = np.zeros(3), np.ones(3)
    rc.instance_norm(x, None, None, rm2, rv2, momentum=None, num_batches_tracked=1)
    np.testing.assert_allclose(rm2, 0.5 * m, rtol=1e-13)


# ------------------------------------------------------------------ PyTorch

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # pragma: no cover
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch not installed")


def _torch_grads(fn, x, gamma, beta, dy):
    t = [None if a is None else torch.tensor(a, requires_grad=True) for a in (x, gamma, beta)]
    out = fn(*t)
    out.backward(torch.tensor(dy))
    return out.detach().numpy(), [None if a is None else a.grad.numpy() for a in t]


@needs_torch
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_vs_torch(backend, dtype):
    x, gamma, beta, dy = _data((4, 6, 5, 7), (5, 7), dtype, seed=4)
    t_tol = dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)
    y, saved = rc.layer_norm(x, gamma, beta, axes=(-2, -1))
    ty, tg = _torch_grads(lambda a, g, b: F.layer_norm(a, (5, 7), g, b, eps=EPS), x, gamma, beta, dy)
    np.testing.assert_allclose(y, ty, **t_tol)
    for got, want in zip(rc.layer_norm_backward(dy, x, gamma, saved), tg):
        np.testing.assert_allclose(got, want, **t_tol)
    _, gc, bc, _ = _data((6,), (6,), dtype, seed=5)
    y, saved = rc.group_norm(x, 3, gc, bc)
    ty, tg = _torch_grads(lambda a, g, b: F.group_norm(a, 3, g, b, eps=EPS), x, gc, bc, dy)
    np.testing.assert_allclose(y, ty, **t_tol)
    for got, want in zip(rc.group_norm_backward(dy, x, gc, saved), tg):
        np.testing.assert_allclose(got, want, **t_tol)
    y, saved = rc.instance_norm(x, gc, bc)
    ty, tg = _torch_grads(lambda a, g, b: F.instance_norm(a, weight=g, bias=b, eps=EPS), x, gc, bc, dy)
    np.testing.assert_allclose(y, ty, **t_tol)
    for got, want in zip(rc.instance_norm_backward(dy, x, gc, saved), tg):
        np.testing.assert_allclose(got, want, **t_tol)
    # running statistics as torch.nn.InstanceNorm with track_running_stats=True
    rm, rv = np.zeros(6, dtype), np.ones(6, dtype)
    trm, trv = torch.zeros(6, dtype=torch.tensor(x).dtype), torch.ones(6, dtype=torch.tensor(x).dtype)
    rc.instance_norm(x, None, None, rm, rv, momentum=0.1)
    F.instance_norm(torch.tensor(x), trm, trv, use_input_stats=True, momentum=0.1, eps=EPS)
    np.testing.assert_allclose(rm, trm.numpy(), **t_tol)
    np.testing.assert_allclose(rv, trv.numpy(), **t_tol)


# ------------------------------------------------------------------ numerics, threads, edges

def test_large_mean_float32(backend):
    """Mean 1e4, std 1e-2 in float32: full float32 accuracy of the normalized values."""
    rng = np.random.default_rng(7)
    x = (1e4 + 1e-2 * rng.standard_normal((4, 6, 300))).astype(np.float32)
    for y, want in ((rc.layer_norm(x, axes=-1)[0], oracle_layer(x, None, None, 1)),
                    (rc.group_norm(x, 3)[0], oracle_group(x, 3, None, None)),
                    (rc.instance_norm(x)[0], oracle_group(x, 6, None, None))):
        np.testing.assert_allclose(y, want, rtol=0, atol=2e-5)


def test_thread_identity():
    x, gamma, beta, dy = _data((64, 16, 40, 41), (16,), np.float32, seed=8)
    _, lg, lb, _ = _data((2,), (40, 41), np.float32, seed=9)
    before, before_isa = rc.get_num_threads(), rc.active_isa()

    def run():
        y1, s1 = rc.layer_norm(x, lg, lb, axes=(-2, -1))
        y2, s2 = rc.group_norm(x, 4, gamma, beta)
        # (group and instance norm: many "channels" of a few thousand elements, handed to the
        # threads in runs of pieces)
        y3, s3 = rc.instance_norm(x, gamma, beta)
        return [y1, *rc.layer_norm_backward(dy, x, lg, s1), y2, *rc.group_norm_backward(dy, x, gamma, s2),
                y3, *rc.instance_norm_backward(dy, x, gamma, s3)]

    try:
        for isa in rc.available_isas():
            rc.set_isa(isa)
            rc.set_num_threads(1)
            one = run()
            rc.set_num_threads(2)
            two = run()
            for a, b in zip(one, two):
                assert np.array_equal(a, b)
    finally:
        rc.set_num_threads(before)
        rc.set_isa(before_isa)


@pytest.mark.parametrize("L", [300, 1024, 70000])
def test_layer_norm_column_sums_every_length(L):
    """dgamma / dbeta of the native layer norm (checked and one-call paths, every ISA level)
    against the numpy backend's float64 column sums: lengths whose two column-sum arrays sit at
    every distance modulo 4 KiB (L*8 bytes: 2400, 8192, 560000), and one longer than a
    statistics piece (65536 values)."""
    rng = np.random.default_rng(L)
    R = 5
    x = rng.standard_normal((R, L)) * 2 + 1
    dy, g, b = rng.standard_normal((R, L)), rng.standard_normal(L), rng.standard_normal(L)
    with rc.use_backend("numpy"):
        y0, s0 = rc.layer_norm(x, g, b)
        want = rc.layer_norm_backward(dy, x, g, s0)
    before = rc.active_isa()
    try:
        for isa in rc.available_isas():
            rc.set_isa(isa)
            y, s = rc.layer_norm(x, g, b)
            got = rc.layer_norm_backward(dy, x, g, s)
            mean, var, y1 = np.empty(R), np.empty(R), np.empty_like(x)
            rc.norms.layer_norm_trusted(x, g, b, 1, EPS, y1, mean, var)
            dx1, dg1, db1 = np.empty_like(x), np.empty_like(g), np.empty_like(b)
            rc.norms.layer_norm_backward_trusted(dy, x, g, b, mean, var, 1, EPS, dx1, dg1, db1)
            np.testing.assert_allclose(y, y0, rtol=0, atol=1e-12)
            for a, w in zip((*got, dx1, dg1, db1), (*want, *want)):
                np.testing.assert_allclose(a, w, rtol=1e-11, atol=1e-11 * np.sqrt(R)), (isa, L)
    finally:
        rc.set_isa(before)


def test_numpy_native_elementwise_bit_identity():
    """Same coefficients -> the same normalize and dx bits in numpy and every ISA level (the
    element formulas round once per operation, no FMA)."""
    from regcore._backend import native_backend
    from regcore._backends import numpy_backend as np_be

    cpu_be = native_backend("cpu")

    rng = np.random.default_rng(10)
    R, L = 7, 45
    x = (rng.standard_normal((R, L)) * 3 + 2).astype(np.float32)
    dy = rng.standard_normal((R, L)).astype(np.float32)
    mhi, mlo, rstd = (rng.standard_normal(R).astype(np.float32) for _ in range(3))
    g, b = rng.standard_normal(L).astype(np.float32), rng.standard_normal(L).astype(np.float32)
    kb, kc = rng.standard_normal(R).astype(np.float32), rng.standard_normal(R).astype(np.float32)
    want_y, want_dx = np.empty_like(x), np.empty_like(x)
    np_be.ln_normalize(x, want_y, R, L, mhi, mlo, rstd, g, b)
    np_be.ln_grad_apply(dy, x, want_dx, R, L, mhi, mlo, rstd, g, b, kb, kc)
    before = rc.active_isa()
    try:
        for isa in rc.available_isas():
            rc.set_isa(isa)
            y, dx = np.empty_like(x), np.empty_like(x)
            cpu_be.ln_normalize(x, y, R, L, mhi, mlo, rstd, g, b)
            cpu_be.ln_grad_apply(dy, x, dx, R, L, mhi, mlo, rstd, g, b, kb, kc)
            assert np.array_equal(y, want_y) and np.array_equal(dx, want_dx), isa
    finally:
        rc.set_isa(before)


# (N, C, G): groups of at most 7 channels, more than one channel (NumPy sums these in index
# order); then groups of 8 or more channels and one channel over 20 samples (NumPy pairs the terms)
GROUP_GRAD_SHAPES = [(3, 6, 3), (2, 8, 8), (4, 6, 1), (64, 64, 16), (5, 28, 4), (7, 3, 3)]
GROUP_GRAD_PAIRWISE = [(1, 40, 1), (20, 1, 1), (3, 80, 2), (64, 64, 8)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("batch_stats", [True, False])
def test_native_group_grad_arithmetic_is_the_array_api_formula(dtype, affine, batch_stats):
    """The native CPU backend's group-norm backward arithmetic (csrc/cpu/groupnorm_channels.h) is
    a twin of the Array API formula the numpy backend and CUDA data run: the same bits where
    NumPy sums in index order, float64 rounding of the sums where it pairs them."""
    from regcore import _native
    from regcore import _norm_stats as ns

    if _native.cpu is None:
        pytest.skip("native CPU module not built")
    rng = np.random.default_rng(14)
    T = np.dtype(dtype)
    for shapes, exact in ((GROUP_GRAD_SHAPES, True), (GROUP_GRAD_PAIRWISE, False)):
        for N, C, G in shapes:
            rstd = 1.0 / np.sqrt(rng.random(N * G if batch_stats else C) * 10.0 ** rng.integers(-6, 4) + 1e-5)
            red = rng.standard_normal((2, N * C)) * 10.0 ** rng.integers(-3, 6, (2, N * C))
            g = (rng.standard_normal(C) * 3).astype(T) if affine else None
            for count in (2.0, 21.0):
                want = ns.group_grad_coefficients(rstd, g, red, N, C, G, count, batch_stats, T)
                got = _native.cpu.gn_grad_coefficients(rstd, g, red, N, C, G, count, batch_stats, T)
                for w, v in zip(want, got):
                    assert v.dtype == w.dtype and v.shape == w.shape, (N, C, G)
                    if exact:
                        np.testing.assert_array_equal(v, w, err_msg=str((N, C, G)))
                    else:
                        np.testing.assert_allclose(v, w, rtol=1e-6 if w.dtype == np.float32 else 1e-12,
                                                   atol=0, err_msg=str((N, C, G)))


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 5), st.integers(1, 4), st.integers(1, 3), st.integers(0, 19),
       st.sampled_from([np.float32, np.float64]))
def test_shapes_property(N, G, Cg, S, dtype):
    shape = (N, G * Cg, S)
    x, gamma, beta, dy = _data(shape, (G * Cg,), dtype, seed=N * 100 + S)
    if S == 0:
        y, s = rc.group_norm(x, G, gamma, beta)
        assert y.shape == shape
        dx, dg, db = rc.group_norm_backward(dy, x, gamma, s)
        assert dx.shape == shape and np.all(dg == 0) and np.all(db == 0)
        return
    y, _ = rc.group_norm(x, G, gamma, beta)
    np.testing.assert_allclose(y, oracle_group(x, G, gamma, beta), **tol(dtype))
    _, lg, lb, _ = _data((1,), (S,), dtype, seed=S)
    y, _ = rc.layer_norm(x, lg, lb)
    np.testing.assert_allclose(y, oracle_layer(x, lg, lb, 1), **tol(dtype))


def test_zero_size():
    x = np.zeros((0, 4, 5), np.float32)
    y, s = rc.layer_norm(x, np.ones(5, np.float32), np.zeros(5, np.float32))
    dx, dg, db = rc.layer_norm_backward(x, x, np.ones(5, np.float32), s)
    assert y.shape == dx.shape == x.shape and np.all(dg == 0) and np.all(db == 0)
    y, s = rc.instance_norm(x)
    assert y.shape == x.shape


@pytest.mark.parametrize("shape", [(0, 4, 5), (2, 4, 0), (2, 0, 5), (0, 0, 0), (2, 4, 0, 3), (3, 2)])
def test_zero_size_every_combination(backend, shape):
    """Empty batch, empty spatial / normalized extent, no channels: empty results, zero
    parameter gradients, and nothing read or written outside the (empty) arrays."""
    f32 = np.float32
    buf, dbuf = np.full(4096, 7.0, f32), np.full(4096, 5.0, f32)
    if 0 not in shape:
        shape = (shape[0], shape[1], 0)
    x, dy = buf[:0].reshape(shape), dbuf[:0].reshape(shape)
    N, C = shape[0], shape[1]
    for k in (1, 2):
        ns = shape[len(shape) - k:]
        y, s = rc.layer_norm(x, np.ones(ns, f32), np.zeros(ns, f32), axes=tuple(range(-k, 0)))
        dx, dg, db = rc.layer_norm_backward(dy, x, np.ones(ns, f32), s)
        assert y.shape == dx.shape == shape and np.all(dg == 0) and np.all(db == 0)
    for G in ([1, 2] if C else [1]):
        y, s = rc.group_norm(x, G, np.ones(C, f32), np.zeros(C, f32))
        dx, dg, db = rc.group_norm_backward(dy, x, np.ones(C, f32), s)
        assert y.shape == dx.shape == shape and np.all(dg == 0) and np.all(db == 0)
    rm, rv = np.zeros(C, f32), np.ones(C, f32)
    for training in (True, False):
        y, s = rc.instance_norm(x, np.ones(C, f32), None, rm, rv, training=training, momentum=0.5)
        dx, dg, _ = rc.instance_norm_backward(dy, x, np.ones(C, f32), s)
        assert y.shape == dx.shape == shape and np.all(dg == 0)
        assert np.all(rm == 0) and np.all(rv == 1)   # no values: running statistics untouched
    assert np.all(buf == 7.0) and np.all(dbuf == 5.0)


# ------------------------------------------------------------------ bad input

def _snapshot(*arrays):
    return [None if a is None else a.copy() for a in arrays]


BAD_CALLS = [
    ("groups", ValueError, lambda x, g, b, rm, rv: rc.group_norm(x, 4, g, b)),
    ("groups", ValueError, lambda x, g, b, rm, rv: rc.group_norm(x, 0, g, b)),
    ("groups", TypeError, lambda x, g, b, rm, rv: rc.group_norm(x, 2.0, g, b)),
    ("gamma", ValueError, lambda x, g, b, rm, rv: rc.group_norm(x, 3, g[:5], b)),
    ("gamma", TypeError, lambda x, g, b, rm, rv: rc.group_norm(x, 3, g.astype(np.float64), b)),
    ("beta", ValueError, lambda x, g, b, rm, rv: rc.instance_norm(x, g, b[:2])),
    ("eps", ValueError, lambda x, g, b, rm, rv: rc.group_norm(x, 3, g, b, eps=0.0)),
    ("eps", ValueError, lambda x, g, b, rm, rv: rc.layer_norm(x, eps=float("nan"))),
    ("eps", ValueError, lambda x, g, b, rm, rv: rc.instance_norm(x, eps=-1.0)),
    ("axes", ValueError, lambda x, g, b, rm, rv: rc.layer_norm(x, axes=3)),
    ("axes", ValueError, lambda x, g, b, rm, rv: rc.layer_norm(x, axes=(0, 1))),
    ("axes", ValueError, lambda x, g, b, rm, rv: rc.layer_norm(x, axes=())),
    ("axes", TypeError, lambda x, g, b, rm, rv: rc.layer_norm(x, axes=1.5)),
    ("gamma", ValueError, lambda x, g, b, rm, rv: rc.layer_norm(x, g, axes=-1)),
    ("x", TypeError, lambda x, g, b, rm, rv: rc.layer_norm(x.astype(np.int32))),
    ("x", TypeError, lambda x, g, b, rm, rv: rc.group_norm(x.astype(np.int32), 3)),
    ("gamma", TypeError, lambda x, g, b, rm, rv: rc.group_norm(x.astype(np.float16), 3, g.astype(np.float64))),
    ("x", ValueError, lambda x, g, b, rm, rv: rc.group_norm(x[0, 0], 1)),
    ("x", ValueError, lambda x, g, b, rm, rv: rc.layer_norm(x[:, :, ::2])),
    ("momentum", ValueError, lambda x, g, b, rm, rv: rc.instance_norm(x, g, b, rm, rv, momentum=1.5)),
    ("momentum", ValueError, lambda x, g, b, rm, rv: rc.instance_norm(x, g, b, rm, rv, momentum=float("nan"))),
    ("running_var", ValueError, lambda x, g, b, rm, rv: rc.instance_norm(x, g, b, rm, None)),
    ("running_mean", ValueError, lambda x, g, b, rm, rv: rc.instance_norm(x, g, b, rm[:2], rv)),
    ("training", TypeError, lambda x, g, b, rm, rv: rc.instance_norm(x, g, b, rm, rv, training=1)),
    ("x", ValueError, lambda x, g, b, rm, rv: rc.instance_norm(np.ascontiguousarray(x[:, :, :1]), g, b, rm, rv)),
]


@pytest.mark.parametrize("name,exc,call", BAD_CALLS, ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(BAD_CALLS)])
def test_bad_input(name, exc, call):
    x, g, b, _ = _data((2, 6, 8), (6,), np.float32, seed=11)
    rm, rv = np.zeros(6, np.float32), np.ones(6, np.float32)
    before = _snapshot(x, g, b, rm, rv)
    with pytest.raises(exc, match=name):
        call(x, g, b, rm, rv)
    for a, w in zip((x, g, b, rm, rv), before):
        assert np.array_equal(a, w)


def test_bad_backward_inputs():
    x, g, b, dy = _data((2, 6, 8), (6,), np.float32, seed=12)
    _, s = rc.group_norm(x, 3, g, b)
    _, ls = rc.layer_norm(x)
    with pytest.raises(TypeError, match="saved"):
        rc.group_norm_backward(dy, x, g, ls)
    with pytest.raises(TypeError, match="saved"):
        rc.layer_norm_backward(dy, x, None, s)
    with pytest.raises(ValueError, match="gamma"):
        rc.group_norm_backward(dy, x, None, s)
    with pytest.raises(ValueError, match="gamma"):
        rc.layer_norm_backward(dy, x, np.ones(8, np.float32), ls)
    with pytest.raises(ValueError, match="dy"):
        rc.group_norm_backward(dy[:1], x, g, s)
    with pytest.raises(TypeError, match="dy"):
        rc.group_norm_backward(dy.astype(np.float64), x, g, s)


# ------------------------------------------------------------------ the glue in another namespace

@pytest.fixture
def torch_glue(monkeypatch):
    """Run the norms' O(N*C) glue in PyTorch's namespace on CPU tensors, as it runs in the caller's
    library for CUDA data: every compute-form array is a torch tensor (sharing the kernels' NumPy
    buffers), the kernels still get NumPy arrays."""
    torch = pytest.importorskip("torch")
    from regcore import norms

    def compute_form(ref):
        return torch.from_numpy(ref.target) if ref.device == "cpu" else ref.obj

    def filled(x_ref, shape, value, dtype):
        return torch.full(tuple(shape), value, dtype=getattr(torch, np.dtype(dtype).name))

    def kernel_args(ref, *arrays):
        out = tuple(a.numpy() if isinstance(a, torch.Tensor) else a for a in arrays)
        assert all(a is None or a.flags.c_contiguous for a in out)   # None: non-affine layer norm
        return out

    monkeypatch.setattr(norms, "host_or_library", compute_form)
    monkeypatch.setattr(norms, "_filled", filled)
    monkeypatch.setattr(norms, "_kernel_args", kernel_args)
    return torch


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_glue_same_results_in_torch_namespace(torch_glue, monkeypatch, dtype):
    """The glue uses only Array API operations, so CuPy or PyTorch arrays on a device take the same
    code: the outputs in PyTorch's namespace match NumPy's up to an ulp of rstd (PyTorch's CPU
    float64 sqrt is not always correctly rounded) and the order of the library's own sums over
    groups and samples."""
    torch = torch_glue
    rng = np.random.default_rng(21)
    shape = (3, 6, 5, 7)
    x = (rng.standard_normal(shape) * 2 + 10).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    g, b = (rng.standard_normal(6) + 1).astype(dtype), rng.standard_normal(6).astype(dtype)
    lg, lb = (rng.standard_normal(7) + 1).astype(dtype), rng.standard_normal(7).astype(dtype)
    rm0, rv0 = rng.standard_normal(6).astype(dtype), (rng.random(6) + 0.5).astype(dtype)
    # the numpy backend: its per-channel arithmetic is the Array API formulas (as for CUDA data)
    with rc.use_backend("numpy"):
        got = every_norm_call(x, dy, g, b, lg, lb, rm0.copy(), rv0.copy())
        monkeypatch.undo()
        want = every_norm_call(x, dy, g, b, lg, lb, rm0.copy(), rv0.copy())
    rtol = 1e-6 if dtype == np.float32 else 1e-13
    for key in want:
        for gv, wv in zip(got[key], want[key]):
            assert (gv is None) == (wv is None)
            if wv is not None:
                assert not isinstance(gv, torch.Tensor)    # NumPy data in, NumPy results out
                np.testing.assert_allclose(gv, wv, rtol=rtol, atol=rtol, err_msg=key)


def test_backward_refuses_saved_state_of_another_place():
    x, g, b, dy = _data((2, 6, 8), (6,), np.float32, seed=13)
    _, s = rc.group_norm(x, 3, g, b)
    s.place = ("cuda", 0)
    dx_before = dy.copy()
    with pytest.raises(ValueError, match="x"):
        rc.group_norm_backward(dy, x, g, s)
    assert np.array_equal(dy, dx_before)
