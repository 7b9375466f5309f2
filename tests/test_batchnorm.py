"""Batch normalization: every layout, dtype, backend and ISA level against a float64 oracle
written here (independent of the numpy backend), finite-difference gradients, running
statistics, the large-mean case, thread identity and bad inputs."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import regcore as rc

EPS = 1e-5
BACKENDS = [("numpy", None)] + [("cpu", isa) for isa in rc.available_isas()]



# ------------------------------------------------------------------ oracle (float64)

def _axes(x, axis):
    a = axis % x.ndim
    return tuple(i for i in range(x.ndim) if i != a), a


def _bshape(x, axis):
    sh = [1] * x.ndim
    sh[axis % x.ndim] = -1
    return sh


def oracle_forward(x, gamma, beta, axis=1, relu=False, mean=None, var=None, eps=EPS):
    x = x.astype(np.float64)
    red, _ = _axes(x, axis)
    sh = _bshape(x, axis)
    if mean is None:
        mean = x.mean(axis=red)
        var = x.var(axis=red)
    xhat = (x - mean.reshape(sh)) / np.sqrt(var.reshape(sh) + eps)
    g = 1.0 if gamma is None else gamma.astype(np.float64).reshape(sh)
    b = 0.0 if beta is None else beta.astype(np.float64).reshape(sh)
    z = xhat * g + b
    return (np.maximum(z, 0) if relu else z), xhat, z


def oracle_backward(dy, x, gamma, axis=1, relu=False, eps=EPS):
    """Textbook batch-norm gradients with batch statistics (Ioffe & Szegedy, 2015)."""
    _, xhat, _ = oracle_forward(x, None, None, axis, False, eps=eps)
    red, _ = _axes(x, axis)
    sh = _bshape(x, axis)
    x64 = x.astype(np.float64)
    var = x64.var(axis=red)
    rstd = 1.0 / np.sqrt(var + eps)
    d = dy.astype(np.float64)
    if relu is not False:
        d = np.where(relu, d, 0.0)  # relu: boolean mask of z > 0 from the caller
    g = np.ones(x.shape[axis % x.ndim]) if gamma is None else gamma.astype(np.float64)
    m = x.size // x.shape[axis % x.ndim]
    dbeta = d.sum(axis=red)
    dgamma = (d * xhat).sum(axis=red)
    dx = (g * rstd).reshape(sh) / m * (m * d - dbeta.reshape(sh) - xhat * dgamma.reshape(sh))
    return dx, dgamma, dbeta


def tol(dtype):
    return dict(rtol=0, atol=3e-5) if dtype == np.float32 else dict(rtol=0, atol=1e-11)


LAYOUTS = [
    ((9, 5), 1),
    ((4, 3, 13), 1),
    ((3, 5, 7, 9), 1),
    ((2, 3, 3, 5, 7), 1),
    ((3, 7, 5, 17), -1),     # channels-last NHWC
    ((6, 11, 33), -1),       # channels-last NLC, C not a multiple of any vector width
    ((4, 19, 1, 1), 1),      # S == 1 in channel-first
]


def _data(shape, axis, dtype, seed=0, loc=3.0, scale=2.0):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(shape) * scale + loc).astype(dtype)
    C = shape[axis % len(shape)]
    gamma = (rng.standard_normal(C) + 1.0).astype(dtype)
    beta = rng.standard_normal(C).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    return x, gamma, beta, dy


# ------------------------------------------------------------------ forward / backward vs oracle

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,axis", LAYOUTS)
@pytest.mark.parametrize("relu", [False, True])
def test_forward_backward_oracle(backend, shape, axis, dtype, relu):
    x, gamma, beta, dy = _data(shape, axis, dtype)
    y, saved = rc.batch_norm(x, gamma, beta, axis=axis, activation="relu" if relu else None)
    want, _, z = oracle_forward(x, gamma, beta, axis, relu)
    assert y.dtype == dtype and y.shape == x.shape
    np.testing.assert_allclose(y, want, **tol(dtype))
    dx, dgamma, dbeta = rc.batch_norm_backward(dy, x, gamma, saved)
    mask = (z > 0) if relu else False
    wdx, wdg, wdb = oracle_backward(dy, x, gamma, axis, mask)
    scale = np.abs(dy).max() * x.size
    np.testing.assert_allclose(dx, wdx, **tol(dtype))
    np.testing.assert_allclose(dgamma, wdg, rtol=0, atol=tol(dtype)["atol"] * scale ** 0.5 * 4)
    np.testing.assert_allclose(dbeta, wdb, rtol=0, atol=tol(dtype)["atol"] * scale ** 0.5 * 4)


@pytest.mark.parametrize("shape,axis", [((5, 3, 4), 1), ((4, 5, 3), -1)])
def test_no_affine(backend, shape, axis):
    x, _, _, dy = _data(shape, axis, np.float64, seed=3)
    y, saved = rc.batch_norm(x, axis=axis)
    np.testing.assert_allclose(y, oracle_forward(x, None, None, axis)[0], atol=1e-12)
    dx, dg, db = rc.batch_norm_backward(dy, x, None, saved)
    assert dg is None and db is None
    np.testing.assert_allclose(dx, oracle_backward(dy, x, None, axis)[0], atol=1e-11)


# ------------------------------------------------------------------ finite differences

def _fd_check(fn, args, idx, w, h=1e-6):
    """Central differences of L = sum(w * fn(*args)) w.r.t. args[idx], every element."""
    a = args[idx]
    g = np.empty_like(a)
    for i in np.ndindex(a.shape):
        old = a[i]
        a[i] = old + h
        lp = (w * fn(*args)).sum()
        a[i] = old - h
        lm = (w * fn(*args)).sum()
        a[i] = old
        g[i] = (lp - lm) / (2 * h)
    return g


@pytest.mark.parametrize("shape,axis", [((4, 3, 5), 1), ((5, 2, 3), -1), ((6, 3), 1)])
@pytest.mark.parametrize("relu", [False, True])
def test_finite_differences(backend, shape, axis, relu):
    x, gamma, beta, w = _data(shape, axis, np.float64, seed=11)
    act = "relu" if relu else None

    def f(x_, g_, b_):
        return rc.batch_norm(x_, g_, b_, axis=axis, activation=act)[0]

    y, saved = rc.batch_norm(x, gamma, beta, axis=axis, activation=act)
    if relu:  # keep every pre-activation away from the kink so differences are smooth
        z = oracle_forward(x, gamma, beta, axis)[2]
        assert np.abs(z).min() > 1e-3
    dx, dg, db = rc.batch_norm_backward(w, x, gamma, saved)
    args = [x.copy(), gamma.copy(), beta.copy()]
    np.testing.assert_allclose(dx, _fd_check(f, args, 0, w), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(dg, _fd_check(f, args, 1, w), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(db, _fd_check(f, args, 2, w), rtol=1e-6, atol=1e-7)


# ------------------------------------------------------------------ inference and running stats

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,axis", [((3, 5, 7, 9), 1), ((3, 7, 5, 17), -1)])
def test_inference(backend, shape, axis, dtype):
    x, gamma, beta, dy = _data(shape, axis, dtype, seed=5)
    C = shape[axis]
    rm = np.linspace(-1, 1, C).astype(dtype)
    rv = np.linspace(0.5, 2, C).astype(dtype)
    rm0, rv0 = rm.copy(), rv.copy()
    y, saved = rc.batch_norm(x, gamma, beta, rm, rv, training=False, axis=axis, activation="relu")
    want, _, z = oracle_forward(x, gamma, beta, axis, True, mean=rm.astype(np.float64), var=rv.astype(np.float64))
    np.testing.assert_allclose(y, want, **tol(dtype))
    assert np.array_equal(rm, rm0) and np.array_equal(rv, rv0)
    dx, dg, db = rc.batch_norm_backward(dy, x, gamma, saved)
    sh = _bshape(x, axis)
    d = np.where(z > 0, dy.astype(np.float64), 0.0)
    rstd = 1 / np.sqrt(rv.astype(np.float64) + EPS)
    np.testing.assert_allclose(dx, d * (gamma * rstd).reshape(sh), **tol(dtype))
    red, _ = _axes(x, axis)
    xhat = (x - rm.astype(np.float64).reshape(sh)) * rstd.reshape(sh)
    np.testing.assert_allclose(db, d.sum(axis=red), rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-4)
    np.testing.assert_allclose(dg, (d * xhat).sum(axis=red), rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-4)


def test_inference_without_running_stats_uses_batch_stats(backend):
    x, gamma, beta, _ = _data((6, 4, 5), 1, np.float64)
    y, _ = rc.batch_norm(x, gamma, beta, training=False)
    np.testing.assert_allclose(y, oracle_forward(x, gamma, beta)[0], atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_running_stats_textbook(backend, dtype):
    x, gamma, beta, _ = _data((6, 4, 5, 3), 1, dtype, seed=2)
    rm = np.full(4, 0.5, dtype)
    rv = np.full(4, 2.0, dtype)
    x64 = x.astype(np.float64)
    bm = x64.mean(axis=(0, 2, 3))
    bv = x64.var(axis=(0, 2, 3), ddof=1)  # unbiased for the running variance
    rc.batch_norm(x, gamma, beta, rm, rv, momentum=0.25)
    np.testing.assert_allclose(rm, 0.75 * 0.5 + 0.25 * bm, rtol=1e-6 if dtype == np.float32 else 1e-14)
    np.testing.assert_allclose(rv, 0.75 * 2.0 + 0.25 * bv, rtol=1e-6 if dtype == np.float32 else 1e-14)
    # cumulative average: after k batches the running stats are the mean of the batch stats
    rm = np.zeros(4, dtype)
    rv = np.ones(4, dtype)
    means, vars_ = [], []
    for k in range(3):
        xk, *_ = _data((6, 4, 5, 3), 1, dtype, seed=10 + k)
        xk64 = xk.astype(np.float64)
        means.append(xk64.mean(axis=(0, 2, 3)))
        vars_.append(xk64.var(axis=(0, 2, 3), ddof=1))
        rc.batch_norm(xk, gamma, beta, rm, rv, momentum=None, num_batches_tracked=k)
    np.testing.assert_allclose(rm, np.mean(means, axis=0), rtol=1e-5 if dtype == np.float32 else 1e-13)
    np.testing.assert_allclose(rv, np.mean(vars_, axis=0), rtol=1e-5 if dtype == np.float32 else 1e-13)


@pytest.mark.parametrize("channels_last", [False, True])
def test_against_pytorch(backend, channels_last):
    torch_ = pytest.importorskip("torch")
    F = torch_.nn.functional
    x, gamma, beta, dy = _data((4, 6, 5, 7), 1, np.float64, seed=8)
    rm, rv = np.full(6, 0.1), np.full(6, 1.5)
    trm, trv = torch_.tensor(rm.copy()), torch_.tensor(rv.copy())
    tx = torch_.tensor(x, requires_grad=True)
    tg = torch_.tensor(gamma, requires_grad=True)
    tb = torch_.tensor(beta, requires_grad=True)
    ty = torch_.relu(F.batch_norm(tx, trm, trv, tg, tb, training=True, momentum=0.3, eps=EPS))
    ty.backward(torch_.tensor(dy))
    if channels_last:
        xl, dyl = np.ascontiguousarray(x.transpose(0, 2, 3, 1)), np.ascontiguousarray(dy.transpose(0, 2, 3, 1))
        y, saved = rc.batch_norm(xl, gamma, beta, rm, rv, momentum=0.3, axis=-1, activation="relu")
        dx, dg, db = rc.batch_norm_backward(dyl, xl, gamma, saved)
        y, dx = y.transpose(0, 3, 1, 2), dx.transpose(0, 3, 1, 2)
    else:
        y, saved = rc.batch_norm(x, gamma, beta, rm, rv, momentum=0.3, activation="relu")
        dx, dg, db = rc.batch_norm_backward(dy, x, gamma, saved)
    np.testing.assert_allclose(y, ty.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(rm, trm.numpy(), atol=1e-13)
    np.testing.assert_allclose(rv, trv.numpy(), atol=1e-13)
    np.testing.assert_allclose(dx, tx.grad.numpy(), atol=1e-11)
    np.testing.assert_allclose(dg, tg.grad.numpy(), atol=1e-11)
    np.testing.assert_allclose(db, tb.grad.numpy(), atol=1e-11)


# ------------------------------------------------------------------ numerics

@pytest.mark.parametrize("shape,axis", [((16, 3, 50, 40), 1), ((400, 7, 11), -1)])
def test_large_mean_full_float32_accuracy(backend, shape, axis):
    rng = np.random.default_rng(42)
    x = (1e4 + 1e-2 * rng.standard_normal(shape)).astype(np.float32)
    C = shape[axis]
    gamma = np.ones(C, np.float32)
    beta = np.zeros(C, np.float32)
    y, saved = rc.batch_norm(x, gamma, beta, axis=axis)
    want = oracle_forward(x, gamma, beta, axis)[0]
    # |y| <= ~5, one float32 ulp there is 4.8e-7: a few ulps, not the 5% error of E[x^2]-E[x]^2
    assert np.abs(y - want).max() < 2e-6
    red, _ = _axes(x, axis)
    np.testing.assert_allclose(saved.var, x.astype(np.float64).var(axis=red), rtol=1e-9)
    dy = rng.standard_normal(shape).astype(np.float32)
    dx, _, _ = rc.batch_norm_backward(dy, x, gamma, saved)
    wdx = oracle_backward(dy, x, gamma, axis)[0]
    assert np.abs(dx - wdx).max() < 2e-5 * np.abs(wdx).max()


@pytest.mark.parametrize("shape,axis", [((4, 3, 41000), 1), ((70001, 5), -1), ((3, 2, 7, 7, 1100), 1)])
def test_thread_count_identity(shape, axis):
    if not rc.available_isas():
        pytest.skip("native CPU backend not built")
    x, gamma, beta, dy = _data(shape, axis, np.float32, seed=9)
    out = []
    before = rc.get_num_threads()
    try:
        for n in (1, 2):
            rc.set_num_threads(n)
            with rc.use_backend("cpu"):
                st_ = rc.batch_norm_stats(x, axis=axis)
                y, saved = rc.batch_norm(x, gamma, beta, axis=axis, activation="relu")
                grads = rc.batch_norm_backward(dy, x, gamma, saved)
            out.append((st_, y) + grads)
    finally:
        rc.set_num_threads(before)
    for a, b in zip(*out):
        assert np.array_equal(a, b)


# ------------------------------------------------------------------ split API

@pytest.mark.parametrize("shape,axis,cut", [((10, 3, 7), 1, 5), ((10, 3, 7), 1, 3), ((9, 4, 6), -1, 2)])
def test_split_api_matches_fused(backend, shape, axis, cut):
    x, gamma, beta, dy = _data(shape, axis, np.float64, seed=4)
    rm, rv = np.zeros(shape[axis]), np.ones(shape[axis])
    rm1, rv1 = rm.copy(), rv.copy()
    y, saved = rc.batch_norm(x, gamma, beta, rm, rv, momentum=0.2, axis=axis)
    dx, dg, db = rc.batch_norm_backward(dy, x, gamma, saved)
    parts = [x[:cut], x[cut:]]
    dparts = [dy[:cut], dy[cut:]]
    stats = [rc.batch_norm_stats(p, axis=axis) for p in parts]
    assert stats[0][0][0] == x[:cut].size // shape[axis]
    total = rc.merge_stats(stats)
    np.testing.assert_array_equal(total, rc.merge_stats(np.stack(stats)))
    ys, sv = [], []
    for i, p in enumerate(parts):
        yi, si = rc.batch_norm_apply(p, total, gamma, beta, rm1 if i == 0 else rm1.copy(),
                                     rv1 if i == 0 else rv1.copy(), momentum=0.2, axis=axis)
        ys.append(yi)
        sv.append(si)
    np.testing.assert_allclose(np.concatenate(ys), y, atol=1e-13)
    np.testing.assert_allclose(rm1, rm, atol=1e-14)
    np.testing.assert_allclose(rv1, rv, atol=1e-14)
    red = sum(rc.batch_norm_backward_reduce(d, p, s) for d, p, s in zip(dparts, parts, sv))
    res = [rc.batch_norm_backward_apply(d, p, gamma, s, red) for d, p, s in zip(dparts, parts, sv)]
    np.testing.assert_allclose(np.concatenate([r[0] for r in res]), dx, atol=1e-12)
    np.testing.assert_allclose(res[0][1], dg, atol=1e-12)
    np.testing.assert_allclose(res[1][2], db, atol=1e-12)


def test_merge_stats_unequal_counts_and_empty_part():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((7, 3)) + 5, rng.standard_normal((100, 3)) * 3
    sa, sb = rc.batch_norm_stats(a), rc.batch_norm_stats(b)
    empty = rc.batch_norm_stats(np.zeros((0, 3)))
    tot = rc.merge_stats([empty, sa, empty, sb])
    both = np.concatenate([a, b])
    np.testing.assert_allclose(tot[0], 107)
    np.testing.assert_allclose(tot[1], both.mean(0), rtol=1e-14)
    np.testing.assert_allclose(tot[2], ((both - both.mean(0)) ** 2).sum(0), rtol=1e-13)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(2, 9), c=st.integers(1, 20), s=st.integers(1, 40), last=st.booleans(),
       f32=st.booleans(), seed=st.integers(0, 2**31))
def test_property_shapes(n, c, s, last, f32, seed):
    dtype = np.float32 if f32 else np.float64
    shape, axis = ((n, s, c), -1) if last else ((n, c, s), 1)
    x, gamma, beta, dy = _data(shape, axis, dtype, seed=seed)
    want = oracle_forward(x, gamma, beta, axis)[0]
    wdx = oracle_backward(dy, x, gamma, axis)[0]
    for name, isa in BACKENDS:
        if isa is not None:
            rc.set_isa(isa)
        with rc.use_backend(name):
            y, saved = rc.batch_norm(x, gamma, beta, axis=axis)
            dx = rc.batch_norm_backward(dy, x, gamma, saved)[0]
        # few values per channel make the float32 condition number larger: scale the tolerance
        t = tol(dtype)["atol"] * (10 if f32 else 1)
        np.testing.assert_allclose(y, want, rtol=0, atol=t)
        np.testing.assert_allclose(dx, wdx, rtol=0, atol=t * max(1.0, np.abs(wdx).max()))
    if rc.available_isas():
        rc.set_isa(rc.available_isas()[-1])


def test_zero_size(backend):
    x = np.zeros((0, 3, 4), np.float32)
    rm, rv = np.zeros(3, np.float32), np.ones(3, np.float32)
    y, _ = rc.batch_norm(x, None, None, rm, rv, training=False)
    assert y.shape == (0, 3, 4)
    st_ = rc.batch_norm_stats(x)
    assert st_.shape == (3, 3) and np.all(st_[0] == 0)
    y, _ = rc.batch_norm(np.zeros((4, 0, 5), np.float64))
    assert y.shape == (4, 0, 5)


# Every zero-size combination: empty batch, empty spatial axis with N > 0 (the (2, 3, 0) case once
# took the channels-last path and touched N*C elements), no channels, all of them at once.
ZERO_LAYOUTS = [((0, 3, 4), 1), ((2, 3, 0), 1), ((2, 3, 0, 5), 1), ((2, 0, 4), 1), ((0, 0, 0), 1),
                ((0, 3), 1), ((2, 0), 1), ((0, 3), -1), ((2, 0, 3), -1), ((0, 2, 3), -1), ((2, 3, 0), -1)]


def _empty_in(buf, shape):
    """An empty C-contiguous array whose data pointer lies inside ``buf`` (a sentinel-filled
    buffer), so a kernel that reads or writes elements it does not have is caught."""
    return buf[:0].reshape(shape)


@pytest.mark.parametrize("shape,axis", ZERO_LAYOUTS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_zero_size_every_combination(backend, shape, axis, dtype):
    C = shape[axis % len(shape)]
    M = int(np.prod(shape)) // C if C else 0
    buf = np.full(4096, 7.0, dtype)
    x = _empty_in(buf, shape)
    rm, rv = np.zeros(C, dtype), np.ones(C, dtype)
    st_ = rc.batch_norm_stats(x, axis=axis)
    assert st_.shape == (3, C)
    np.testing.assert_array_equal(st_, np.zeros((3, C)))   # count 0, and nothing read from buf
    y, saved = rc.batch_norm(x, np.ones(C, dtype), np.zeros(C, dtype), rm, rv, training=False, axis=axis)
    assert y.shape == shape and y.dtype == dtype
    dy = _empty_in(np.full(4096, 5.0, dtype), shape)
    red = rc.batch_norm_backward_reduce(dy, x, saved)
    np.testing.assert_array_equal(red, np.zeros((2, C)))
    dx, dg, db = rc.batch_norm_backward(dy, x, np.ones(C, dtype), saved)
    assert dx.shape == shape and np.all(dg == 0) and np.all(db == 0)
    if M <= 1 and C > 0:   # no batch statistics: training refuses, running statistics untouched
        with pytest.raises(ValueError, match="x"):
            rc.batch_norm(x, None, None, rm, rv, training=True, axis=axis)
        assert np.all(rm == 0) and np.all(rv == 1)
    else:
        y, _ = rc.batch_norm(x, None, None, rm, rv, axis=axis)
        assert y.shape == shape
    assert np.all(buf == 7.0)


@pytest.mark.parametrize("shape,S", [((2, 3, 0), 0), ((2, 0, 4), 4), ((0, 3, 4), 4)])
def test_zero_size_passes_touch_nothing(backend, shape, S):
    """The passes themselves, on (N, C, S) views with no elements: outputs that share a buffer
    with sentinels keep them (nothing written past the end), sums are zero."""
    from regcore._backend import backend_for
    from regcore import _arrays

    N, C = shape[0], shape[1]
    T = np.float32
    xbuf, ybuf = np.full(256, 7.0, T), np.full(256, 9.0, T)
    x, y = _empty_in(xbuf, shape), _empty_in(ybuf, shape)
    be = backend_for(_arrays.inspect(x, "x"))
    k = [np.full(C, 0.5, T) for _ in range(4)]
    be.bn_normalize(x, y, N, C, S, *k, False)
    be.bn_grad_apply(x, x, y, N, C, S, *k, *k[:3], True)
    out = np.full((2, C), 3.0)
    be.bn_grad_reduce(x, x, N, C, S, *k, False, out)
    assert np.all(out == 0.0) and np.all(ybuf == 9.0) and np.all(xbuf == 7.0)


def test_glue_same_bits_in_another_namespace():
    """The per-channel glue (merge, coefficients, gradient coefficients, running update) is one
    implementation over the data's Array API namespace; on CUDA it runs in the caller's library.
    Run it here in PyTorch's namespace on CPU tensors: the same bits as NumPy."""
    torch = pytest.importorskip("torch")
    from regcore import _norm_stats as ns

    rng = np.random.default_rng(11)
    C = 37
    parts = np.stack([np.stack([np.full(C, n), rng.standard_normal(C) * 10 + 1e3, rng.random(C) * n])
                      for n in (5.0, 0.0, 17.0, 3.0)])
    t = torch.from_numpy
    merged = ns.merge_parts(parts)
    merged_t = ns.merge_parts(t(parts))
    assert isinstance(merged_t, torch.Tensor)
    np.testing.assert_array_equal(merged_t.numpy(), merged)
    mean, var = merged[1], merged[2] / merged[0]
    g, b = rng.standard_normal(C).astype(np.float32), rng.standard_normal(C).astype(np.float32)
    want = ns.coefficients(mean, var, g, b, 1e-5, np.dtype(np.float32))
    got = ns.coefficients(t(mean), t(var), t(g), t(b), 1e-5, np.dtype(np.float32))
    for w, gt in zip(want, got):
        assert gt.dtype == t(w).dtype
        np.testing.assert_array_equal(gt.numpy(), w)
    red = rng.standard_normal((2, C)) * 100
    f32 = np.dtype(np.float32)
    for batch_stats in (True, False):
        for w, gt in zip(ns.grad_coefficients(want[0], g, red, 21.0, batch_stats, f32),
                         ns.grad_coefficients(got[0], t(g), t(red), 21.0, batch_stats, f32)):
            np.testing.assert_array_equal(gt.numpy(), w)
    run = rng.standard_normal(C).astype(np.float32)
    run_t = torch.from_numpy(run.copy())
    ns.running_update(run, mean, 0.3, f32)
    ns.running_update(run_t, t(mean), 0.3, f32)
    np.testing.assert_array_equal(run_t.numpy(), run)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("affine", [True, False])
def test_native_per_channel_arithmetic_is_the_array_api_formulas(dtype, affine):
    """The native CPU backend's per-channel arithmetic (csrc/cpu/batchnorm_channels.h) is a twin
    of the Array API formulas the numpy backend and CUDA data run: the same bits, including at the
    edges (tiny and huge variances, a mean that does not fit the data type, zero counts of sums)."""
    from regcore import _native
    from regcore import _norm_stats as ns

    if _native.cpu is None:
        pytest.skip("native CPU module not built")
    cpu = _native.cpu
    rng = np.random.default_rng(3)
    C = 131
    T = np.dtype(dtype)
    mean = np.concatenate([rng.standard_normal(C - 3) * 1e4, [1e-30, 3.0e38, -7.25]])
    var = np.concatenate([rng.random(C - 3) * 10.0 ** rng.integers(-12, 6, C - 3), [0.0, 1e30, 1e-300]])
    g = (rng.standard_normal(C) * 3).astype(T) if affine else None
    b = rng.standard_normal(C).astype(T) if affine else None
    for eps in (1e-5, 1e-3):
        want = ns.coefficients(mean, var, g, b, eps, T)
        got = cpu.bn_coefficients(mean, var, g, b, eps, T)
        for w, v in zip(want, got):
            assert v.dtype == w.dtype
            np.testing.assert_array_equal(v, w)
    red = rng.standard_normal((2, C)) * 10.0 ** rng.integers(-3, 6, (2, C))
    rstd = 1.0 / np.sqrt(var + 1e-5)
    for count in (2.0, 21.0, 1e6):
        for batch_stats in (True, False):
            want = ns.grad_coefficients(rstd, g, red, count, batch_stats, T)
            got = cpu.bn_grad_coefficients(rstd, g, red, count, batch_stats, T)
            for w, v in zip(want, got):
                assert v.dtype == w.dtype
                np.testing.assert_array_equal(v, w)
    for factor in (0.1, 1.0 / 3.0, 1.0, 0.0):
        run_w = rng.standard_normal(C).astype(T)
        run_n = run_w.copy()
        ns.running_update(run_w, mean, factor, T)
        cpu.bn_running_update(run_n, mean, factor, T)
        np.testing.assert_array_equal(run_n, run_w)


# ------------------------------------------------------------------ bad input

def _bad_cases():
    f32 = np.float32
    x = np.random.default_rng(0).standard_normal((4, 3, 5)).astype(f32)
    g = np.ones(3, f32)
    return x, g, [
        (dict(x=x.astype(np.int32)), TypeError, "x"),
        (dict(x=x.astype(np.float16), gamma=np.ones(3, np.float64)), TypeError, "gamma"),   # no documented pair
        (dict(x=np.ones(5, f32)), ValueError, "x"),
        (dict(x=x[:, :, ::2]), ValueError, "x"),
        (dict(x=np.ones((1, 3), f32)), ValueError, "x"),           # one value per channel
        (dict(x=np.ones((1, 3, 1), f32)), ValueError, "x"),
        (dict(eps=0.0), ValueError, "eps"),
        (dict(eps=-1e-5), ValueError, "eps"),
        (dict(eps=float("nan")), ValueError, "eps"),
        (dict(eps="a"), TypeError, "eps"),
        (dict(momentum=1.5), ValueError, "momentum"),
        (dict(momentum=-0.1), ValueError, "momentum"),
        (dict(momentum=float("nan")), ValueError, "momentum"),
        (dict(momentum=None), ValueError, "num_batches_tracked"),
        (dict(momentum=None, num_batches_tracked=-1), ValueError, "num_batches_tracked"),
        (dict(gamma=np.ones(4, f32)), ValueError, "gamma"),
        (dict(gamma=np.ones(3, np.float64)), TypeError, "gamma"),
        (dict(beta=np.ones((3, 1), f32)), ValueError, "beta"),
        (dict(rm=np.zeros(2, f32)), ValueError, "running_mean"),
        (dict(rv=np.ones(3, np.float64)), TypeError, "running_var"),
        (dict(rv=None), ValueError, "running_var"),
        (dict(axis=3), ValueError, "axis"),
        (dict(axis=-4), ValueError, "axis"),
        (dict(axis=0), ValueError, "axis"),
        (dict(axis=1.0), TypeError, "axis"),
        (dict(activation="gelu"), ValueError, "activation"),
        (dict(training="yes"), TypeError, "training"),
        (dict(rm=np.zeros(3, f32)[::-1]), ValueError, "running_mean"),  # not contiguous
    ]


@pytest.mark.parametrize("case", range(len(_bad_cases()[2])))
def test_bad_input_raises_and_writes_nothing(backend, case):
    x, g, cases = _bad_cases()
    kw, exc, name = cases[case]
    rm = np.full(3, 0.25, np.float32)
    rv = np.full(3, 2.0, np.float32)
    args = dict(x=x, gamma=g, beta=None, rm=rm, rv=rv, training=True, momentum=0.1, eps=1e-5,
                axis=1, activation=None, num_batches_tracked=None)
    args.update(kw)
    rm_in, rv_in = args["rm"], args["rv"]
    snap = [None if a is None else a.copy() for a in (rm_in, rv_in, args["x"], args["gamma"])]
    with pytest.raises(exc, match=name):
        rc.batch_norm(args["x"], args["gamma"], args["beta"], rm_in, rv_in, args["training"],
                      momentum=args["momentum"], eps=args["eps"], axis=args["axis"],
                      activation=args["activation"], num_batches_tracked=args["num_batches_tracked"])
    for before, after in zip(snap, (rm_in, rv_in, args["x"], args["gamma"])):
        if before is not None:
            assert np.array_equal(before, after)


def test_bad_input_split_and_backward(backend):
    x, gamma, beta, dy = _data((4, 3, 5), 1, np.float32)
    rm, rv = np.zeros(3, np.float32), np.ones(3, np.float32)
    y, saved = rc.batch_norm(x, gamma, beta)
    with pytest.raises(ValueError, match="stats"):
        rc.batch_norm_apply(x, np.zeros((3, 4)), gamma)
    with pytest.raises(TypeError, match="stats"):
        rc.batch_norm_apply(x, np.zeros((3, 3), np.float32), gamma)
    x1 = np.ascontiguousarray(x[:1, :, :1])
    one = rc.batch_norm_stats(x1)
    with pytest.raises(ValueError, match="x"):  # merged count 1: no batch variance
        rc.batch_norm_apply(x1, one, gamma, None, rm, rv)
    assert np.all(rm == 0) and np.all(rv == 1)
    with pytest.raises(ValueError, match="stats"):
        rc.merge_stats([])
    with pytest.raises(ValueError, match=r"stats\[1\]"):
        rc.merge_stats([np.zeros((3, 3)), np.zeros((3, 4))])
    with pytest.raises(TypeError, match="saved"):
        rc.batch_norm_backward(dy, x, gamma, "saved")
    with pytest.raises(ValueError, match="dy"):
        rc.batch_norm_backward(dy[:2], x, gamma, saved)
    with pytest.raises(TypeError, match="dy"):
        rc.batch_norm_backward(dy.astype(np.float64), x, gamma, saved)
    with pytest.raises(ValueError, match="gamma"):
        rc.batch_norm_backward(dy, x, None, saved)
    with pytest.raises(ValueError, match="red_total"):
        rc.batch_norm_backward_apply(dy, x, gamma, saved, np.zeros((3, 3)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,axis", [((3, 5, 7, 9), 1), ((3, 7, 5, 17), -1),
                                        # outputs over 8 MiB take the non-temporal-store path;
                                        # odd run/row lengths put scalar heads before every run
                                        ((2, 3, 350003), 1), ((70001, 31), -1),
                                        # cols rows over 1024 channels run in tiles of 512
                                        # (the last one partial, with a scalar tail)
                                        ((6, 1100), 1), ((3, 2, 2048), -1)])
def test_numpy_and_native_elementwise_bit_identical(shape, axis, dtype):
    """Same statistics in -> the same bits out of normalize and dx on every backend and ISA
    (small outputs with ordinary stores, large ones with streaming stores)."""
    x, gamma, beta, dy = _data(shape, axis, dtype, seed=21)
    with rc.use_backend("numpy"):
        total = rc.batch_norm_stats(x, axis=axis)
    outs = []
    for name, isa in BACKENDS:
        if isa is not None:
            rc.set_isa(isa)
        with rc.use_backend(name):
            y, saved = rc.batch_norm_apply(x, total, gamma, beta, axis=axis, activation="relu")
            with rc.use_backend("numpy"):  # the same sums for everyone: only dx is compared
                red = rc.batch_norm_backward_reduce(dy, x, saved)
            dx = rc.batch_norm_backward_apply(dy, x, gamma, saved, red)[0]
        outs.append((y, dx))
    if rc.available_isas():
        rc.set_isa(rc.available_isas()[-1])
    for y, dx in outs[1:]:
        assert np.array_equal(y, outs[0][0]) and np.array_equal(dx, outs[0][1])


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16, "bfloat16"])
@pytest.mark.parametrize("shape", [(13, 100), (11, 1024), (7, 2048), (9, 1100), (6, 48)])
@pytest.mark.parametrize("activation", [None, "relu"])
def test_cols_row_groups_same_bits(dtype, shape, activation):
    """The cols normalize and dx run their vector part a group of rows at a time (two rows where
    rows are a multiple of 4 KiB apart: (11, 1024) float32, (7, 2048) float16), with the rows
    left over and the channels past the last whole 64-byte step done one row at a time: the same
    bits as the numpy backend on every ISA level."""
    if dtype == "bfloat16":
        dtype = pytest.importorskip("ml_dtypes").bfloat16
    x, gamma, beta, dy = _data(shape, 1, np.float32, seed=17)
    x, dy = x.astype(dtype), dy.astype(dtype)
    if np.dtype(dtype).itemsize != 2:
        gamma, beta = gamma.astype(dtype), beta.astype(dtype)
    with rc.use_backend("numpy"):
        total = rc.batch_norm_stats(x)
    outs = []
    for name, isa in BACKENDS:
        if isa is not None:
            rc.set_isa(isa)
        with rc.use_backend(name):
            y, saved = rc.batch_norm_apply(x, total, gamma, beta, activation=activation)
            with rc.use_backend("numpy"):
                red = rc.batch_norm_backward_reduce(dy, x, saved)
            dx = rc.batch_norm_backward_apply(dy, x, gamma, saved, red)[0]
        outs.append((name, isa, y.view(np.uint8), dx.view(np.uint8)))
    if rc.available_isas():
        rc.set_isa(rc.available_isas()[-1])
    for name, isa, y, dx in outs[1:]:
        assert np.array_equal(y, outs[0][2]), (name, isa)
        assert np.array_equal(dx, outs[0][3]), (name, isa)


def _aligned_empty(shape, dtype, offset_bytes):
    """An uninitialized C-contiguous array whose data starts offset_bytes past a 64-byte boundary."""
    n = int(np.prod(shape)) * np.dtype(dtype).itemsize
    buf = np.empty(n + 128, np.uint8)
    start = (-buf.ctypes.data) % 64 + offset_bytes
    return buf[start:start + n].view(dtype).reshape(shape)


@pytest.mark.parametrize("dtype,shape", [(np.float32, (70001, 32)), (np.float64, (35001, 32)),
                                         # exactly 8 MiB per array: dx too runs a group of rows
                                         # per step (rows of at most 256 bytes, three arrays of
                                         # at most 24 MiB in all) with streaming stores
                                         (np.float32, (65536, 32)), (np.float64, (32768, 32))])
@pytest.mark.parametrize("offset", [0, 16])
def test_cols_streaming_stores_same_bits(dtype, shape, offset):
    """Channels-last outputs over 8 MiB with vector-aligned rows take the non-temporal-store path
    (an aligned output and C a multiple of the vector); a 16-byte offset takes ordinary stores.
    The output is passed to the kernels directly, so both alignments are exercised every run.
    These rows are narrow, so normalize runs its rows in groups (batchnorm_api.cpp's cols_mode),
    as dx does at 8 MiB per array: streaming stores inside the row groups."""
    if not rc.available_isas():
        pytest.skip("native CPU backend not built")
    from regcore._backend import native_backend
    from regcore._backends import numpy_backend
    N, C = shape
    x, gamma, beta, dy = _data(shape, -1, dtype, seed=4)
    with rc.use_backend("numpy"):
        y0, saved = rc.batch_norm(x, gamma, beta, axis=-1, activation="relu")
        red = rc.batch_norm_backward_reduce(dy, x, saved)
        dx0 = rc.batch_norm_backward_apply(dy, x, gamma, saved, red)[0]
    k = (saved.mhi, saved.mlo, saved.scale, saved.shift)
    gk = rc._norm_stats.grad_coefficients(saved.rstd, gamma, red, saved.count, saved.batch_stats, np.dtype(dtype))[:3]
    ref = np.empty_like(dx0)
    numpy_backend.bn_grad_apply(dy, x, ref, N, C, 1, *k, *gk, True)
    assert np.array_equal(ref, dx0)
    for isa in rc.available_isas():
        rc.set_isa(isa)
        y = _aligned_empty(shape, dtype, offset)
        native_backend("cpu").bn_normalize(x, y, N, C, 1, *k, True)
        assert np.array_equal(y, y0), isa
        dx = _aligned_empty(shape, dtype, offset)
        native_backend("cpu").bn_grad_apply(dy, x, dx, N, C, 1, *k, *gk, True)
        assert np.array_equal(dx, dx0), isa
    rc.set_isa(rc.available_isas()[-1])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,axis", [((9, 37), 1), ((5, 1100), 1), ((3, 4, 5, 70), -1)])
@pytest.mark.parametrize("activation", [None, "relu"])
def test_cols_sums_same_bits_on_every_isa(dtype, shape, axis, activation):
    """Channels-last / 2-D statistics and backward sums accumulate each channel in row order, so
    they are the same bits on every ISA level (whatever lanes, blocks or halves the kernels use)."""
    if not rc.available_isas():
        pytest.skip("native CPU backend not built")
    x, gamma, beta, dy = _data(shape, axis, dtype, seed=31)
    got = []
    before = rc.active_isa()
    try:
        for isa in rc.available_isas():
            rc.set_isa(isa)
            stats = rc.batch_norm_stats(x, axis=axis)
            y, saved = rc.batch_norm(x, gamma, beta, axis=axis, activation=activation)
            got.append((stats, saved.mean, saved.var, rc.batch_norm_backward_reduce(dy, x, saved)))
    finally:
        rc.set_isa(before)
    for g in got[1:]:
        for a, b in zip(g, got[0]):
            assert np.array_equal(a, b)
