"""CUDA batch-norm kernels against the numpy backend on CuPy / PyTorch CUDA arrays: statistics
close (float64 sums in another order), normalize and dx bit-identical for the same coefficients
(the same core formulas, no FMA), every reduction deterministic run to run."""
from __future__ import annotations

import numpy as np
import pytest

import regcore as rc
from regcore import _arrays, _native

cupy = None
try:
    import cupy  # type: ignore
except Exception:
    cupy = None


def _cuda_libs():
    libs = []
    if cupy is not None:
        try:
            if cupy.cuda.runtime.getDeviceCount() > 0:
                libs.append("cupy")
        except Exception:
            pass
    try:
        import torch

        if torch.cuda.is_available():
            libs.append("torch")
    except Exception:
        pass
    return libs


LIBS = _cuda_libs() if _native.cuda is not None and _native.cuda.devices() else []
pytestmark = [pytest.mark.cuda, pytest.mark.skipif(not LIBS, reason="no CUDA device, CUDA build or CUDA array library")]


def _dev(lib, a):
    if lib == "cupy":
        return cupy.asarray(a)
    import torch

    return torch.from_numpy(np.ascontiguousarray(a)).cuda()


def _host(lib, x):
    return cupy.asnumpy(x) if lib == "cupy" else x.cpu().numpy()


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
    from regcore._backends import cuda as cu, numpy_backend as nb

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
def test_public_stats_on_device_and_clear_refusal(lib):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((8, 6, 5, 7)).astype(np.float32)
    xd = _dev(lib, x)
    st = rc.batch_norm_stats(xd)
    with rc.use_backend("numpy"):
        want = rc.batch_norm_stats(x)
    np.testing.assert_allclose(_host(lib, st), want, rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="x"):
        rc.batch_norm(xd)
