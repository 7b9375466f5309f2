"""Layer, group and instance norm on CuPy / PyTorch CUDA arrays against the numpy backend: the
layer-norm kernels (normalize and dx bit-identical for the same coefficients, sums close and
deterministic), and every public call (the glue runs in the caller's library on the device)."""
from __future__ import annotations

import numpy as np
import pytest

import regcore as rc
from regcore import _arrays

from _cuda_libs import LIBS, SKIP_WITHOUT_GPU
from _cuda_libs import to_device as _dev
from _cuda_libs import to_host as _host
from _norm_calls import every_norm_call

pytestmark = SKIP_WITHOUT_GPU


def _view(x):
    return _arrays.inspect(x, "x", writeable=True, dtypes=None).target


# (R, L): rows over one and several pieces, L below / at / above a warp, L == 1, columns over
# several row pieces.
LN_VIEWS = [(4, 37), (3, 40000), (300, 77), (1000, 32), (70, 1), (2, 5)]


@pytest.mark.parametrize("lib", LIBS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("R,L", LN_VIEWS)
def test_layer_norm_kernels_match_numpy(lib, dtype, R, L):
    from regcore._backend import native_backend
    from regcore._backends import numpy_backend as nb

    cu = native_backend("cuda")
    rng = np.random.default_rng(R * 1000 + L)
    x = (rng.standard_normal(R * L) * 2 + 1e3).astype(dtype)
    dy = rng.standard_normal(R * L).astype(dtype)
    mhi = (rng.standard_normal(R) + 1e3).astype(dtype)
    mlo, rstd, kb, kc = (rng.standard_normal(R).astype(dtype) for _ in range(4))
    g, b = rng.standard_normal(L).astype(dtype), rng.standard_normal(L).astype(dtype)
    coefs = dict(mhi=mhi, mlo=mlo, rstd=rstd, g=g, b=b, kb=kb, kc=kc)
    dv = {k: _dev(lib, v) for k, v in coefs.items()}
    cv = {k: _view(v) for k, v in dv.items()}
    kargs = (cv["mhi"], cv["mlo"], cv["rstd"], cv["g"], cv["b"])
    xd, dyd = _dev(lib, x), _dev(lib, dy)

    y_want = np.empty_like(x)
    nb.ln_normalize(x, y_want, R, L, mhi, mlo, rstd, g, b)
    yd = _dev(lib, np.zeros_like(x))
    cu.ln_normalize(_view(xd), _view(yd), R, L, *kargs)
    np.testing.assert_array_equal(_host(lib, yd), y_want)

    row_w, col_w = np.empty((R, 2)), np.empty((2, L))
    nb.ln_grad_reduce(dy, x, R, L, mhi, mlo, rstd, g, b, row_w, col_w)
    rowd, cold = _dev(lib, np.zeros((R, 2))), _dev(lib, np.zeros((2, L)))
    cu.ln_grad_reduce(_view(dyd), _view(xd), R, L, *kargs, _view(rowd), _view(cold))
    r1, c1 = _host(lib, rowd), _host(lib, cold)
    np.testing.assert_allclose(r1, row_w, rtol=1e-12, atol=1e-9 * L)
    np.testing.assert_allclose(c1, col_w, rtol=1e-12, atol=1e-9 * R)
    cu.ln_grad_reduce(_view(dyd), _view(xd), R, L, *kargs, _view(rowd), _view(cold))
    assert np.array_equal(_host(lib, rowd), r1) and np.array_equal(_host(lib, cold), c1)   # deterministic

    dx_want = np.empty_like(x)
    nb.ln_grad_apply(dy, x, dx_want, R, L, mhi, mlo, rstd, g, b, kb, kc)
    dxd = _dev(lib, np.zeros_like(x))
    cu.ln_grad_apply(_view(dyd), _view(xd), _view(dxd), R, L, *kargs, cv["kb"], cv["kc"])
    np.testing.assert_array_equal(_host(lib, dxd), dx_want)


@pytest.mark.parametrize("lib", LIBS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(3, 6, 5, 7), (2, 4, 3000), (5, 2, 1, 9)])
def test_public_calls_on_device_match_numpy(lib, dtype, shape):
    """Outputs stay in the caller's library on its device (running statistics updated in place
    there) and match the numpy backend up to the order of the statistics' sums."""
    rng = np.random.default_rng(shape[-1])
    C, L = shape[1], shape[-1]
    x = (rng.standard_normal(shape) * 2 + 50).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    g, b = (rng.standard_normal(C) + 1).astype(dtype), rng.standard_normal(C).astype(dtype)
    lg, lb = (rng.standard_normal(L) + 1).astype(dtype), rng.standard_normal(L).astype(dtype)
    rm, rv = rng.standard_normal(C).astype(dtype), (rng.random(C) + 0.5).astype(dtype)
    with rc.use_backend("numpy"):
        want = every_norm_call(x, dy, g, b, lg, lb, rm.copy(), rv.copy())
    dev = [_dev(lib, a) for a in (x, dy, g, b, lg, lb, rm, rv)]
    got = every_norm_call(*dev)
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)
    for key, w in want.items():
        for gv, wv in zip(got[key], w):
            assert (gv is None) == (wv is None)
            if wv is None:
                continue
            assert type(gv) is type(dev[0]), key
            np.testing.assert_allclose(_host(lib, gv), wv, **tol, err_msg=key)
    # deterministic on the device: the same call twice gives the same bits
    y1, s1 = rc.layer_norm(dev[0], dev[4], dev[5])
    y2, s2 = rc.layer_norm(dev[0], dev[4], dev[5])
    assert np.array_equal(_host(lib, y1), _host(lib, y2))
    d1 = rc.layer_norm_backward(dev[1], dev[0], dev[4], s1)
    d2 = rc.layer_norm_backward(dev[1], dev[0], dev[4], s2)
    for a, c in zip(d1, d2):
        assert np.array_equal(_host(lib, a), _host(lib, c))


@pytest.mark.parametrize("lib", LIBS)
def test_device_mismatch_refused_nothing_written(lib):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((4, 6, 5)).astype(np.float32)
    xd = _dev(lib, x)
    with pytest.raises(ValueError, match="gamma"):
        rc.group_norm(xd, 3, np.ones(6, np.float32))
    rm_host, rv_d = np.zeros(6, np.float32), _dev(lib, np.ones(6, np.float32))
    with pytest.raises(ValueError, match="running_mean"):
        rc.instance_norm(xd, None, None, rm_host, rv_d)
    assert np.all(rm_host == 0) and np.all(_host(lib, rv_d) == 1)
    _, saved_host = rc.layer_norm(x)
    with pytest.raises(ValueError, match="x"):
        rc.layer_norm_backward(xd, xd, None, saved_host)      # saved state of a CPU forward
