"""regcore.preprocess on PyTorch CPU tensors: the same statistics and transforms as NumPy input,
torch tensors out (type, device, dtype), chunked fits, scikit-learn parity, mixed libraries,
autograd through transform, a DataLoader collate, and bad input refused with nothing changed.

What is bit-identical and why: the per-feature moments run the same native kernel on the same
memory (a torch CPU tensor is viewed as NumPy) and are merged by the same NumPy code, so mean_ and
var_ (M2 / n, one IEEE division) match NumPy bit for bit, chunked or not, and so does mean
subtraction (one IEEE subtraction per element). Everything after a square root, a matrix product
or an eigendecomposition runs in torch (its float64 sqrt is not always correctly rounded, its
BLAS/LAPACK is MKL where NumPy's is OpenBLAS): those agree within a few float64 ulps (scale_,
standardized values: rtol 1e-15) or, through the eigensolver, within 1e-10 (well-separated
spectra, components compared with their sign rule applied on both sides).
"""
from __future__ import annotations

import numpy as np
import pytest

from regcore import preprocess as pp

from _preprocess_data import chunks, correlated, same_state, state

torch = pytest.importorskip("torch")

CLASSES = {"StandardScaler": pp.StandardScaler, "MeanSubtraction": pp.MeanSubtraction,
           "PCA": lambda: pp.PCA(3, whiten=True, eps=1e-3), "ZCA": lambda: pp.ZCA(eps=1e-3)}
TORCH_DTYPES = {np.float32: torch.float32, np.float64: torch.float64}


def _t(a):
    return torch.from_numpy(np.ascontiguousarray(a))


def _np(t):
    assert isinstance(t, torch.Tensor), type(t)
    return t.detach().numpy()


def _check_out(out, like_dtype):
    assert isinstance(out, torch.Tensor) and out.device.type == "cpu" and out.dtype == like_dtype


# ------------------------------------------------------------------ same answers as NumPy

@pytest.mark.parametrize("name", CLASSES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_statistics_and_transforms_match_numpy(name, dtype):
    X, Xv = correlated(dtype=dtype), correlated(n=40, seed=1, dtype=dtype)
    ref = CLASSES[name]().fit(X)
    ours = CLASSES[name]().fit(_t(X))
    assert (ours.n_samples_seen_, ours.n_features_in_) == (ref.n_samples_seen_, ref.n_features_in_)
    for attr in ("mean_", "var_"):
        v = getattr(ours, attr)
        _check_out(v, torch.float64)                      # the fitted state: float64, where the data was
        np.testing.assert_array_equal(_np(v), getattr(ref, attr))   # the same kernel and merge: same bits
    out = ours.transform(_t(Xv))
    _check_out(out, TORCH_DTYPES[dtype])
    back = ours.inverse_transform(out)
    _check_out(back, TORCH_DTYPES[dtype])
    if name == "MeanSubtraction":
        np.testing.assert_array_equal(_np(out), ref.transform(Xv))
        np.testing.assert_array_equal(_np(back), ref.inverse_transform(ref.transform(Xv)))
    elif name == "StandardScaler":
        np.testing.assert_allclose(_np(ours.scale_), ref.scale_, rtol=1e-15)
        np.testing.assert_allclose(_np(out), ref.transform(Xv), rtol=1e-15 if dtype == np.float64 else 1e-7)
    else:
        np.testing.assert_allclose(_np(ours.covariance_), ref.covariance_, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(_np(ours.explained_variance_), ref.explained_variance_, rtol=1e-10)
        np.testing.assert_allclose(_np(ours.components_), ref.components_, rtol=1e-9, atol=1e-10)
        tol = 1e-9 if dtype == np.float64 else 1e-5
        np.testing.assert_allclose(_np(out), ref.transform(Xv), rtol=tol, atol=tol)
        np.testing.assert_allclose(_np(back), ref.inverse_transform(ref.transform(Xv)), rtol=tol, atol=tol * 10)


def test_integer_tensor_gives_float64_and_layouts_do_not_matter():
    X = np.arange(60).reshape(20, 3) % 7
    s = pp.StandardScaler().fit(_t(X))
    np.testing.assert_array_equal(_np(s.mean_), pp.StandardScaler().fit(X).mean_)
    _check_out(s.transform(_t(X)), torch.float64)          # other real dtypes give float64, as NumPy
    half = _t(correlated(n=30, f=3)).to(torch.bfloat16)     # 16-bit floats: exact in float64, float64 out
    h = pp.StandardScaler().fit(half)
    np.testing.assert_array_equal(_np(h.mean_), pp.StandardScaler().fit(half.double().numpy()).mean_)
    _check_out(h.transform(half), torch.float64)
    Xf = correlated(f=4)
    strided = _t(Xf.T.copy()).T                            # a transposed view: read through a copy
    assert not strided.is_contiguous()
    np.testing.assert_array_equal(_np(pp.PCA().fit(strided).mean_), pp.PCA().fit(Xf).mean_)
    np.testing.assert_array_equal(_np(s.transform(_t(X.T.copy()).T)), _np(s.transform(_t(X))))


@pytest.mark.parametrize("sizes", [[500], [1] * 3 + [497], [100, 250, 150], [499, 1]])
def test_chunked_partial_fit_equals_one_fit(sizes):
    X = correlated(mean=50.0)
    Xv = _t(correlated(n=40, seed=3, mean=50.0))
    whole = [pp.StandardScaler().fit(_t(X)), pp.PCA(whiten=True, eps=0).fit(_t(X)), pp.ZCA(eps=0).fit(_t(X))]
    parts = [pp.StandardScaler(), pp.PCA(whiten=True, eps=0), pp.ZCA(eps=0)]
    numpy_parts = [pp.StandardScaler(), pp.PCA(whiten=True, eps=0), pp.ZCA(eps=0)]
    for c in chunks(X, sizes):
        for p, q in zip(parts, numpy_parts):
            p.partial_fit(_t(c))
            q.partial_fit(c)
    for w, p, q in zip(whole, parts, numpy_parts):
        assert p.n_samples_seen_ == 500
        np.testing.assert_allclose(_np(p.mean_), _np(w.mean_), rtol=1e-14, atol=1e-12)
        np.testing.assert_allclose(_np(p.var_), _np(w.var_), rtol=1e-12)
        np.testing.assert_allclose(_np(p.transform(Xv)), _np(w.transform(Xv)), rtol=1e-9, atol=1e-9)
        np.testing.assert_array_equal(_np(p.mean_), q.mean_)       # chunk by chunk too: NumPy's bits
        np.testing.assert_array_equal(_np(p.var_), q.var_)
    np.testing.assert_allclose(_np(parts[1].covariance_), _np(whole[1].covariance_), rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(_np(parts[2].covariance_), numpy_parts[2].covariance_, rtol=1e-12, atol=1e-10)


def test_large_mean_is_stable_on_torch():
    rng = np.random.default_rng(5)
    X = np.column_stack([rng.normal(1e8, 1.0, 4000), rng.normal(-3e7, 2.0, 4000), rng.normal(0, 1, 4000)])
    s, z = pp.StandardScaler(), pp.ZCA(eps=0)
    for c in np.array_split(X, 7):
        s.partial_fit(_t(c))
        z.partial_fit(_t(c))
    np.testing.assert_allclose(_np(s.var_), X.var(0), rtol=1e-7)
    np.testing.assert_allclose(np.cov(_np(z.transform(_t(X))).T), np.eye(3), atol=1e-6)


@pytest.mark.parametrize("n_components", [None, 3, 1])
@pytest.mark.parametrize("whiten", [False, True])
def test_pca_matches_sklearn_on_torch(n_components, whiten):
    skd = pytest.importorskip("sklearn.decomposition")
    X, Xv = correlated(n=400, f=7), correlated(n=30, f=7, seed=9)
    ours = pp.PCA(n_components, whiten=whiten, eps=0).fit(_t(X))
    ref = skd.PCA(n_components, whiten=whiten, svd_solver="full").fit(X)
    np.testing.assert_allclose(_np(ours.explained_variance_), ref.explained_variance_, rtol=1e-10)
    np.testing.assert_allclose(_np(ours.explained_variance_ratio_), ref.explained_variance_ratio_, rtol=1e-10)
    signs = np.sign(np.sum(_np(ours.components_) * ref.components_, axis=1))
    np.testing.assert_allclose(_np(ours.components_) * signs[:, None], ref.components_, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(_np(ours.transform(_t(Xv))) * signs, ref.transform(Xv), rtol=1e-8, atol=1e-9)


def test_standard_scaler_matches_sklearn_on_torch():
    sk = pytest.importorskip("sklearn.preprocessing")
    X, Xv = correlated(dtype=np.float32), correlated(n=50, seed=1, dtype=np.float32)
    ref = sk.StandardScaler().fit(X.astype(np.float64))
    ours = pp.StandardScaler().fit(_t(X))
    np.testing.assert_allclose(_np(ours.transform(_t(Xv))), ref.transform(Xv.astype(np.float64)), rtol=1e-6, atol=1e-6)


# ------------------------------------------------------------------ mixed libraries, autograd, loops

@pytest.mark.parametrize("name", CLASSES)
def test_transform_moves_the_fitted_coefficients_to_the_input(name):
    """Fitted on one library, applied to another: the float64 coefficients are moved to the
    input's library once (cached) and the output is the input's type, with the same values."""
    X, Xv = correlated(), correlated(n=40, seed=1, dtype=np.float32)
    on_numpy, on_torch = CLASSES[name]().fit(X), CLASSES[name]().fit(_t(X))
    a = on_numpy.transform(_t(Xv))
    _check_out(a, torch.float32)
    np.testing.assert_array_equal(_np(a), on_numpy.transform(Xv))     # the same coefficients, the same IEEE ops
    b = on_torch.transform(Xv)
    assert isinstance(b, np.ndarray) and b.dtype == np.float32
    np.testing.assert_array_equal(b, _np(on_torch.transform(_t(Xv))))
    cached = dict(on_numpy._cache)                       # a second call moves and derives nothing
    on_numpy.transform(_t(Xv))
    assert on_numpy._cache.keys() == cached.keys() and all(on_numpy._cache[k] is v for k, v in cached.items())
    assert isinstance(on_numpy.mean_, np.ndarray) and isinstance(on_torch.mean_, torch.Tensor)


def test_transform_is_differentiable_and_fit_reads_detached():
    X = correlated(n=100, f=4)
    leaf = _t(X).requires_grad_(True)
    s = pp.StandardScaler().fit(leaf)                       # statistics are constants: read detached
    assert not s.mean_.requires_grad
    np.testing.assert_array_equal(_np(s.mean_), pp.StandardScaler().fit(X).mean_)
    y = s.transform(leaf)
    assert y.requires_grad
    y.sum().backward()
    np.testing.assert_allclose(leaf.grad.numpy(), np.broadcast_to(1.0 / X.std(0), X.shape), rtol=1e-12)
    zca, v = pp.ZCA(eps=0).fit(X), _t(X[:5]).requires_grad_(True)
    (zca.transform(v) ** 2).sum().backward()
    W = zca.whitening_matrix_
    np.testing.assert_allclose(v.grad.numpy(), 2 * ((X[:5] - X.mean(0)) @ W) @ W.T, rtol=1e-9)


def test_one_line_in_a_dataloader_and_a_forward():
    from torch.utils.data import DataLoader, TensorDataset

    X = correlated(n=64, f=5, dtype=np.float32)
    scaler = pp.StandardScaler().fit(X)                    # fitted once on the training split (NumPy here)
    loader = DataLoader(TensorDataset(_t(X)), batch_size=16,
                        collate_fn=lambda rows: scaler.transform(torch.stack([r[0] for r in rows])))
    got = torch.cat(list(loader))
    _check_out(got, torch.float32)
    np.testing.assert_array_equal(got.numpy(), scaler.transform(X))

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(5, 1)

        def forward(self, x):
            return self.fc(scaler.transform(x))

    net = Net()
    net(_t(X)).sum().backward()
    assert net.fc.weight.grad is not None
    np.testing.assert_allclose(net.fc.weight.grad.numpy()[0], scaler.transform(X).sum(0), rtol=1e-5, atol=1e-4)


# ------------------------------------------------------------------ bad input

@pytest.mark.parametrize("name", CLASSES)
def test_bad_torch_input_changes_nothing(name):
    obj = CLASSES[name]()
    with pytest.raises(pp.NotFittedError, match="fit"):
        obj.transform(torch.ones(2, 3))
    obj.fit(_t(correlated(n=50, f=3)))
    before = state(obj)
    nan = torch.ones(2, 3, dtype=torch.float64)
    nan[1, 1] = float("nan")
    inf = torch.ones(2, 3)
    inf[0, 2] = float("inf")
    bad = [
        (torch.ones(3), ValueError),                        # 1-D
        (torch.ones(2, 3, 1), ValueError),                  # 3-D
        (torch.ones(4, 2), ValueError),                     # another feature count (partial_fit)
        (torch.ones(0, 3), ValueError),                     # no rows
        (torch.ones(2, 0), ValueError),                     # no columns
        (nan, ValueError),
        (inf, ValueError),
        (torch.ones(2, 3, dtype=torch.complex64), TypeError),
        (torch.ones(2, 3, dtype=torch.bool), TypeError),
        (np.ones((2, 3)), TypeError),                       # another library than the fitted data's
    ]
    for X, exc in bad:
        for method in ("partial_fit", "fit"):
            if method == "fit" and (tuple(X.shape) == (4, 2) or isinstance(X, np.ndarray)):
                continue                                     # fit starts over: allowed
            with pytest.raises(exc, match="^X: "):
                getattr(obj, method)(X)
            same_state(state(obj), before)
    with pytest.raises(ValueError, match="^X: "):
        obj.transform(torch.ones(2, 4))
    with pytest.raises(ValueError, match="^X: "):
        obj.transform(nan)
    same_state(state(obj), before)


def test_partial_fit_wording_for_another_library_and_device():
    s = pp.StandardScaler().fit(correlated(n=20, f=3))
    before = state(s)
    with pytest.raises(TypeError, match=r"^X: expected a numpy array on cpu, where the statistics .* got 'a torch array on cpu'"):
        s.partial_fit(_t(correlated(n=5, f=3)))
    same_state(state(s), before)
    t = pp.StandardScaler().fit(_t(correlated(n=20, f=3)))
    # the fitted data's place as if it were on a GPU: a CPU chunk is another device
    t._place = t._place.__class__(t._place.lib, "cuda:0", t._place.xp)
    before = state(t)
    with pytest.raises(ValueError, match=r"^X: expected a torch array on cuda:0, .* got 'a torch array on cpu'"):
        t.partial_fit(_t(correlated(n=5, f=3)))
    same_state(state(t), before)


def test_a_numpy_fit_followed_by_torch_fit_starts_over():
    s = pp.StandardScaler().fit(correlated(n=20, f=3))
    X = correlated(n=30, f=4, seed=2)
    s.fit(_t(X))
    assert s.n_samples_seen_ == 30 and isinstance(s.mean_, torch.Tensor)
    np.testing.assert_array_equal(_np(s.mean_), pp.StandardScaler().fit(X).mean_)


def test_output_is_never_the_input():
    X = _t(correlated(n=10, f=3))
    for obj in (pp.StandardScaler(with_mean=False, with_std=False).fit(X), pp.MeanSubtraction().fit(X)):
        out = obj.transform(X)
        assert out is not X and out.data_ptr() != X.data_ptr()
        out += 1.0                                            # the caller may write into it
    np.testing.assert_array_equal(X.numpy(), correlated(n=10, f=3))


@pytest.mark.parametrize("name", CLASSES)
@pytest.mark.parametrize("lib", ["numpy", "torch"])
def test_pickle_and_deepcopy_keep_the_fit(name, lib):
    import copy
    import pickle

    X, Xv = correlated(n=60, f=4), correlated(n=7, f=4, seed=3)
    fitted = CLASSES[name]().fit(X if lib == "numpy" else _t(X))
    expect = _np(fitted.transform(_t(Xv)))
    for other in (pickle.loads(pickle.dumps(fitted)), copy.deepcopy(fitted)):
        assert other._place.key == fitted._place.key and type(other.mean_) is type(fitted.mean_)
        np.testing.assert_array_equal(_np(other.transform(_t(Xv))), expect)
        other.partial_fit(X if lib == "numpy" else _t(X))      # still where the statistics live
        assert other.n_samples_seen_ == 120 and fitted.n_samples_seen_ == 60
    unfitted = pickle.loads(pickle.dumps(CLASSES[name]()))
    with pytest.raises(pp.NotFittedError):
        unfitted.transform(Xv)
