"""regcore.preprocess on CuPy / PyTorch CUDA arrays: fitted on the device (regcore's CUDA moments
kernel, the library's BLAS and eigh), state and outputs on the device, the same answers as NumPy
within float64 rounding (the CUDA kernel sums in another order: statistics within 1e-12
relative; the eigensolver: 1e-9), chunked fits, moves between host and device, and the refusals
of another device or library in partial_fit."""
from __future__ import annotations

import numpy as np
import pytest

from regcore import preprocess as pp

from _cuda_libs import LIBS, SKIP_WITHOUT_GPU
from _cuda_libs import to_device as _dev
from _cuda_libs import to_host as _host
from _preprocess_data import chunks, correlated, same_state, state

pytestmark = SKIP_WITHOUT_GPU

CLASSES = {"StandardScaler": pp.StandardScaler, "MeanSubtraction": pp.MeanSubtraction,
           "PCA": lambda: pp.PCA(3, whiten=True, eps=1e-3), "ZCA": lambda: pp.ZCA(eps=1e-3)}


def _on_device(lib, a, dtype):
    assert type(a).__module__.partition(".")[0] == lib
    if lib == "torch":
        assert a.device.type == "cuda" and a.dtype == getattr(__import__("torch"), np.dtype(dtype).name)
    else:
        assert a.dtype == dtype


@pytest.mark.parametrize("lib", LIBS)
@pytest.mark.parametrize("name", CLASSES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_device_fit_and_transform_match_numpy(lib, name, dtype):
    X, Xv = correlated(dtype=dtype), correlated(n=40, seed=1, dtype=dtype)
    ref = CLASSES[name]().fit(X)
    ours = CLASSES[name]()
    for c in chunks(X, [200, 1, 299]):
        ours.partial_fit(_dev(lib, c))
    _on_device(lib, ours.mean_, np.float64)
    np.testing.assert_allclose(_host(lib, ours.mean_), ref.mean_, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(_host(lib, ours.var_), ref.var_, rtol=1e-12)
    out = ours.transform(_dev(lib, Xv))
    _on_device(lib, out, dtype)
    tol = 1e-9 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(_host(lib, out), ref.transform(Xv), rtol=tol, atol=tol)
    back = ours.inverse_transform(out)
    _on_device(lib, back, dtype)
    np.testing.assert_allclose(_host(lib, back), ref.inverse_transform(ref.transform(Xv)), rtol=tol, atol=tol * 10)
    # fitted on the device, applied to host data (and the other way round): moved coefficients
    host_out = ours.transform(Xv)
    assert isinstance(host_out, np.ndarray) and host_out.dtype == dtype
    np.testing.assert_allclose(host_out, _host(lib, out), rtol=tol, atol=tol)
    dev_out = ref.transform(_dev(lib, Xv))
    _on_device(lib, dev_out, dtype)
    np.testing.assert_allclose(_host(lib, dev_out), ref.transform(Xv), rtol=tol, atol=tol)


@pytest.mark.parametrize("lib", LIBS)
def test_bad_device_input_changes_nothing(lib):
    obj = pp.PCA(2).fit(_dev(lib, correlated(n=50, f=3)))
    before = state(obj)
    bad = np.ones((2, 3))
    bad[0, 1] = np.nan
    with pytest.raises(ValueError, match="^X: "):
        obj.partial_fit(_dev(lib, bad))
    with pytest.raises(TypeError, match="^X: "):            # host data into device statistics
        obj.partial_fit(correlated(n=5, f=3))
    if lib == "torch":
        import torch

        with pytest.raises(ValueError, match="^X: .*on cuda"):   # the same library on another device
            obj.partial_fit(torch.from_numpy(correlated(n=5, f=3)))
    same_state(state(obj), before)
