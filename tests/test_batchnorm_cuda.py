"""CUDA batch-norm kernels against the numpy backend on CuPy / PyTorch CUDA arrays: statistics
close (float64 sums in another order), normalize and dx bit-identical for the same coefficients
(the same core formulas, no FMA), every reduction deterministic run to run."""
from __future__ import annotations

import numpy as np
import pytest

import regcore as rc
from regcore import _arrays

from _cuda_libs import LIBS, SKIP_WITHOUT_GPU
from _cuda_libs import to_device as _dev
from _cuda_libs import to_host as _host

pytestmark = SKIP_WITHOUT_GPU


def _view(x):
    return _arrays.inspect(x, "x", writeable=True, dtypes=None).target


# (N, C, S) views: rows layouts (S > 1, one piece and several pieces per channel), cols layouts
# (S == 1: 2-D and channels-last, C below, at and above a warp, rows over several pieces).
VIEWS = [(4, 5, 37 * 9), (3, 2, 40000), (300, 77, 1), (1000, 32, 1), (70, 3, 1), (2, 1, 5)]


def _coefs(rng, C, dtype):
    return [rng.standard_normal(C).astype(dtype) for _ in range(7)]


@pytest.mark.parametrize("lib", LIBS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("N,C,S", VIEWS)
@pytest.mark.parametrize("relu", [False, True])
def test_kernels_match_numpy(lib, dtype, N, C, S, relu):
    from regcore._backend import native_backend
    from regcore._backends import numpy_backend as nb

    cu = native_backend("cuda")

    rng = np.random.default_rng(N * 1000 + C + S)
    x = (rng.standard_normal(N * C * S) * 2 + 1e3).astype(dtype)
    dy = rng.standard_normal(N * C * S).astype(dtype)
    mhi, mlo, scale, shift, ka, kb, kc = _coefs(rng, C, dtype)
    mhi = (mhi + 1e3).astype(dtype)

    want = np.empty((3, C))
    nb.bn_moments(x, N, C, S, want)
    xd = _dev(lib, x)
    got = _dev(lib, np.zeros((3, C)))
    cu.bn_moments(_view(xd), N, C, S, _view(got))
    g1 = _host(lib, got)
    np.testing.assert_array_equal(g1[0], want[0])
    np.testing.assert_allclose(g1[1], want[1], rtol=1e-14, atol=0)
    np.testing.assert_allclose(g1[2], want[2], rtol=1e-10, atol=0)
    cu.bn_moments(_view(xd), N, C, S, _view(got))
    assert np.array_equal(_host(lib, got), g1)  # deterministic

    dv = {k: _dev(lib, v) for k, v in dict(mhi=mhi, mlo=mlo, scale=scale, shift=shift, ka=ka, kb=kb, kc=kc).items()}
    cv = {k: _view(v) for k, v in dv.items()}
    y_want = np.empty_like(x)
    nb.bn_normalize(x, y_want, N, C, S, mhi, mlo, scale, shift, relu)
    yd = _dev(lib, np.zeros_like(x))
    cu.bn_normalize(_view(xd), _view(yd), N, C, S, cv["mhi"], cv["mlo"], cv["scale"], cv["shift"], relu)
    np.testing.assert_array_equal(_host(lib, yd), y_want)

    dyd = _dev(lib, dy)
    r_want = np.empty((2, C))
    nb.bn_grad_reduce(dy, x, N, C, S, mhi, mlo, scale, shift, relu, r_want)
    rd = _dev(lib, np.zeros((2, C)))
    cu.bn_grad_reduce(_view(dyd), _view(xd), N, C, S, cv["mhi"], cv["mlo"], cv["scale"], cv["shift"], relu, _view(rd))
    r1 = _host(lib, rd)
    np.testing.assert_allclose(r1, r_want, rtol=1e-12, atol=1e-9 * N * S)
    cu.bn_grad_reduce(_view(dyd), _view(xd), N, C, S, cv["mhi"], cv["mlo"], cv["scale"], cv["shift"], relu, _view(rd))
    assert np.array_equal(_host(lib, rd), r1)

    dx_want = np.empty_like(x)
    nb.bn_grad_apply(dy, x, dx_want, N, C, S, mhi, mlo, scale, shift, ka, kb, kc, relu)
    dxd = _dev(lib, np.zeros_like(x))
    cu.bn_grad_apply(_view(dyd), _view(xd), _view(dxd), N, C, S, cv["mhi"], cv["mlo"], cv["scale"], cv["shift"],
                     cv["ka"], cv["kb"], cv["kc"], relu)
    np.testing.assert_array_equal(_host(lib, dxd), dx_want)


@pytest.mark.parametrize("lib", LIBS)
def test_public_stats_on_device(lib):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((8, 6, 5, 7)).astype(np.float32)
    xd = _dev(lib, x)
    st = rc.batch_norm_stats(xd)
    with rc.use_backend("numpy"):
        want = rc.batch_norm_stats(x)
    np.testing.assert_allclose(_host(lib, st), want, rtol=1e-12, atol=1e-12)


PUBLIC = [((8, 6, 5, 7), 1), ((300, 77), 1), ((6, 5, 9, 33), -1), ((3, 2, 40000), 1)]


@pytest.mark.parametrize("lib", LIBS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,axis", PUBLIC)
@pytest.mark.parametrize("relu", [False, True])
def test_public_calls_on_device_match_numpy(lib, dtype, shape, axis, relu):
    """Every public call on device arrays against the numpy backend: the per-channel glue is the
    same formula in the caller's namespace, so with the same statistics / sums the outputs and the
    running statistics are the same bits; the fused calls differ only through the statistics'
    summation order. Running statistics stay device arrays, updated in place."""
    act = "relu" if relu else None
    rng = np.random.default_rng(len(shape) * 100 + shape[-1])
    C = shape[axis % len(shape)]
    x = (rng.standard_normal(shape) * 2 + 50).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    g, b = (rng.standard_normal(C) + 1).astype(dtype), rng.standard_normal(C).astype(dtype)
    rm, rv = rng.standard_normal(C).astype(dtype), (rng.random(C) + 0.5).astype(dtype)
    xd, dyd, gd, bd = (_dev(lib, a) for a in (x, dy, g, b))
    tol = dict(rtol=0, atol=1e-4) if dtype == np.float32 else dict(rtol=0, atol=1e-10)

    with rc.use_backend("numpy"):
        rm_n, rv_n = rm.copy(), rv.copy()
        parts = [rc.batch_norm_stats(x[: shape[0] // 2], axis=axis), rc.batch_norm_stats(x[shape[0] // 2:], axis=axis)]
        total = rc.merge_stats(parts)
        y_n, s_n = rc.batch_norm_apply(x, total, g, b, rm_n, rv_n, momentum=0.3, axis=axis, activation=act)
        red_n = rc.batch_norm_backward_reduce(dy, x, s_n)
        dx_n, dg_n, db_n = rc.batch_norm_backward_apply(dy, x, g, s_n, red_n)
        yi_n, _ = rc.batch_norm(x, g, b, rm_n, rv_n, training=False, axis=axis, activation=act)

    # merge on the device: the same formula on the same inputs
    total_d = rc.merge_stats([_dev(lib, p) for p in parts])
    np.testing.assert_array_equal(_host(lib, total_d), total)
    rm_d, rv_d = _dev(lib, rm), _dev(lib, rv)
    y_d, s_d = rc.batch_norm_apply(xd, total_d, gd, bd, rm_d, rv_d, momentum=0.3, axis=axis, activation=act)
    assert type(y_d) is type(xd)
    np.testing.assert_array_equal(_host(lib, y_d), y_n)
    np.testing.assert_array_equal(_host(lib, rm_d), rm_n)      # updated in place, on the device
    np.testing.assert_array_equal(_host(lib, rv_d), rv_n)
    red_d = rc.batch_norm_backward_reduce(dyd, xd, s_d)
    np.testing.assert_allclose(_host(lib, red_d), red_n, rtol=1e-12, atol=1e-9 * x.size)
    dx_d, dg_d, db_d = rc.batch_norm_backward_apply(dyd, xd, gd, s_d, _dev(lib, red_n))
    np.testing.assert_array_equal(_host(lib, dx_d), dx_n)
    np.testing.assert_array_equal(_host(lib, dg_d), dg_n)
    np.testing.assert_array_equal(_host(lib, db_d), db_n)
    yi_d, _ = rc.batch_norm(xd, gd, bd, rm_d, rv_d, training=False, axis=axis, activation=act)
    np.testing.assert_array_equal(_host(lib, yi_d), yi_n)

    # the fused calls: statistics summed in another order, so close rather than equal
    with rc.use_backend("numpy"):
        rm_n, rv_n = rm.copy(), rv.copy()
        yf_n, sf_n = rc.batch_norm(x, g, b, rm_n, rv_n, axis=axis, activation=act)
        dxf_n, dgf_n, dbf_n = rc.batch_norm_backward(dy, x, g, sf_n)
    rm_d, rv_d = _dev(lib, rm), _dev(lib, rv)
    yf_d, sf_d = rc.batch_norm(xd, gd, bd, rm_d, rv_d, axis=axis, activation=act)
    dxf_d, dgf_d, dbf_d = rc.batch_norm_backward(dyd, xd, gd, sf_d)
    np.testing.assert_allclose(_host(lib, yf_d), yf_n, **tol)
    np.testing.assert_allclose(_host(lib, dxf_d), dxf_n, **tol)
    np.testing.assert_allclose(_host(lib, rm_d), rm_n, rtol=1e-6 if dtype == np.float32 else 1e-12)
    np.testing.assert_allclose(_host(lib, rv_d), rv_n, rtol=1e-5 if dtype == np.float32 else 1e-12)
    np.testing.assert_allclose(_host(lib, dgf_d), dgf_n, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(_host(lib, dbf_d), dbf_n, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("lib", LIBS)
def test_public_device_mismatch_refused_nothing_written(lib):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((4, 3, 5)).astype(np.float32)
    xd = _dev(lib, x)
    rm_host, rv_d = np.zeros(3, np.float32), _dev(lib, np.ones(3, np.float32))
    with pytest.raises(ValueError, match="running_mean"):
        rc.batch_norm(xd, None, None, rm_host, rv_d)
    assert np.all(rm_host == 0) and np.all(_host(lib, rv_d) == 1)
    with pytest.raises(ValueError, match="stats"):
        rc.batch_norm_apply(xd, rc.batch_norm_stats(x))          # statistics on the host
    _, saved_host = rc.batch_norm(x)
    with pytest.raises(ValueError, match="x"):
        rc.batch_norm_backward(xd, xd, None, saved_host)         # saved state of a CPU forward
