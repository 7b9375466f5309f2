"""regcore.preprocess: float64 oracles and scikit-learn parity, chunked fits equal to one fit,
stability at large means, whitening properties, bad input leaving the statistics unchanged."""
from __future__ import annotations

import numpy as np
import pytest

import regcore as rc
from regcore import preprocess as pp

from _preprocess_data import chunks, correlated, same_state
from _preprocess_data import state as _state


# ------------------------------------------------------------------ standardization

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_standard_scaler_matches_oracle_and_sklearn(backend, dtype):
    sk = pytest.importorskip("sklearn.preprocessing")
    X = correlated(dtype=dtype)
    Xv = correlated(n=50, seed=1, dtype=dtype)
    s = pp.StandardScaler().fit(X)
    X64 = X.astype(np.float64)
    mean, std = X64.mean(0), X64.std(0)
    tol = 1e-12 if dtype == np.float64 else 1e-6
    np.testing.assert_allclose(s.mean_, mean, rtol=tol, atol=tol)
    np.testing.assert_allclose(s.var_, std ** 2, rtol=tol)
    out = s.transform(Xv)
    assert out.dtype == dtype
    np.testing.assert_allclose(out, (Xv.astype(np.float64) - mean) / std, rtol=tol * 10, atol=tol * 10)
    ref = sk.StandardScaler().fit(X64)
    np.testing.assert_allclose(s.transform(Xv.astype(np.float64)), ref.transform(Xv.astype(np.float64)),
                               rtol=1e-6 if dtype == np.float32 else 1e-12, atol=1e-6)
    np.testing.assert_allclose(s.inverse_transform(s.transform(X64)), X64, rtol=1e-12, atol=1e-12)


def test_mean_subtraction_and_constant_feature():
    X = correlated()
    X[:, 2] = 5.0
    m = pp.MeanSubtraction().fit(X)
    np.testing.assert_allclose(m.transform(X), X - X.mean(0), atol=1e-12)
    s = pp.StandardScaler().fit(X)
    assert s.scale_[2] == 1.0                      # constant feature: centered only (sklearn's rule)
    np.testing.assert_array_equal(s.transform(X)[:, 2], 0.0)
    assert pp.StandardScaler(with_mean=False).fit(X).transform(X)[0, 0] == pytest.approx(X[0, 0] / X[:, 0].std())


@pytest.mark.parametrize("sizes", [[500], [1] * 3 + [497], [100, 250, 150], [499, 1]])
def test_chunked_fit_equals_whole_fit(sizes):
    X = correlated(mean=50.0)
    whole = [pp.StandardScaler().fit(X), pp.PCA(whiten=True, eps=0).fit(X), pp.ZCA(eps=0).fit(X)]
    parts = [pp.StandardScaler(), pp.PCA(whiten=True, eps=0), pp.ZCA(eps=0)]
    for c in chunks(X, sizes):
        for p in parts:
            p.partial_fit(c)
    Xv = correlated(n=40, seed=3, mean=50.0)
    for w, p in zip(whole, parts):
        assert p.n_samples_seen_ == 500
        np.testing.assert_allclose(p.mean_, w.mean_, rtol=1e-14, atol=1e-12)
        np.testing.assert_allclose(p.var_, w.var_, rtol=1e-12)
        np.testing.assert_allclose(p.transform(Xv), w.transform(Xv), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(parts[1].covariance_, whole[1].covariance_, rtol=1e-12, atol=1e-10)


def test_large_mean_is_stable():
    """A feature with mean 1e8 and std 1: E[x^2] - E[x]^2 in float64 loses every digit (1e16 has
    an ulp of 2); the shifted moments and the centered co-moments do not."""
    rng = np.random.default_rng(5)
    X = np.column_stack([rng.normal(1e8, 1.0, 4000), rng.normal(-3e7, 2.0, 4000), rng.normal(0, 1, 4000)])
    naive = (X ** 2).mean(0) - X.mean(0) ** 2
    exact = X.var(0)                                  # NumPy's two-pass float64 oracle
    assert abs(naive[0] - exact[0]) > 0.1              # the trap is real
    s = pp.StandardScaler()
    for c in np.array_split(X, 7):
        s.partial_fit(c)
    np.testing.assert_allclose(s.var_, exact, rtol=1e-7)
    z = s.transform(X)
    np.testing.assert_allclose(z.std(0), 1.0, rtol=1e-7)
    z = pp.ZCA(eps=0).fit(X).transform(X)
    np.testing.assert_allclose(np.cov(z.T), np.eye(3), atol=1e-6)
    pca = pp.PCA(eps=0)
    for c in np.array_split(X, 5):
        pca.partial_fit(c)
    np.testing.assert_allclose(np.sort(pca.explained_variance_), np.sort(np.linalg.eigvalsh(np.cov(X.T))),
                               rtol=1e-6)


def test_float32_large_mean():
    rng = np.random.default_rng(6)
    X = rng.normal(1e4, 1.0, (3000, 2)).astype(np.float32)
    s = pp.StandardScaler().fit(X)
    np.testing.assert_allclose(s.var_, X.astype(np.float64).var(0), rtol=1e-9)


# ------------------------------------------------------------------ PCA and whitening

def _same_up_to_sign(a, b, **tol):
    signs = np.sign(np.sum(a * b, axis=0))
    np.testing.assert_allclose(a * signs, b, **tol)


@pytest.mark.parametrize("n_components", [None, 3, 1])
@pytest.mark.parametrize("whiten", [False, True])
def test_pca_matches_sklearn(n_components, whiten):
    skd = pytest.importorskip("sklearn.decomposition")
    X, Xv = correlated(n=400, f=7), correlated(n=30, f=7, seed=9)
    ours = pp.PCA(n_components, whiten=whiten, eps=0).fit(X)
    ref = skd.PCA(n_components, whiten=whiten, svd_solver="full").fit(X)
    np.testing.assert_allclose(ours.explained_variance_, ref.explained_variance_, rtol=1e-10)
    np.testing.assert_allclose(ours.explained_variance_ratio_, ref.explained_variance_ratio_, rtol=1e-10)
    _same_up_to_sign(ours.components_.T, ref.components_.T, rtol=1e-8, atol=1e-10)
    _same_up_to_sign(ours.transform(Xv), ref.transform(Xv), rtol=1e-8, atol=1e-9)
    if n_components is None:
        np.testing.assert_allclose(ours.inverse_transform(ours.transform(Xv)), Xv, rtol=1e-10, atol=1e-9)


def test_pca_oracle_and_whitening_eps():
    X = correlated(n=300, f=4)
    pca = pp.PCA(whiten=True, eps=0.5).fit(X)
    cov = np.cov(X.T)
    lam, vec = np.linalg.eigh(cov)
    lam, vec = lam[::-1], vec[:, ::-1]
    z = (X - X.mean(0)) @ vec / np.sqrt(lam + 0.5)            # cs231n: Xrot / sqrt(S + eps)
    _same_up_to_sign(pca.transform(X), z, rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(pca.transform(X).var(0, ddof=1), lam / (lam + 0.5), rtol=1e-9)
    w = pp.PCA(whiten=True, eps=0).fit(X).transform(X)
    np.testing.assert_allclose(np.cov(w.T), np.eye(4), atol=1e-10)


def test_zca_identity_covariance_and_symmetric():
    X, Xv = correlated(n=600, f=5), correlated(n=20, f=5, seed=4)
    zca = pp.ZCA(eps=0).fit(X)
    W = zca.whitening_matrix_
    np.testing.assert_allclose(W, W.T, atol=1e-12)
    z = zca.transform(X)
    np.testing.assert_allclose(np.cov(z.T), np.eye(5), atol=1e-10)
    # oracle: W = C^(-1/2)
    lam, vec = np.linalg.eigh(np.cov(X.T))
    np.testing.assert_allclose(W, vec @ np.diag(lam ** -0.5) @ vec.T, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(zca.transform(Xv), (Xv - X.mean(0)) @ W, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(zca.inverse_transform(zca.transform(Xv)), Xv, rtol=1e-10, atol=1e-9)
    # ZCA stays closer to the input than PCA whitening (the reason to prefer it for images)
    p = pp.PCA(whiten=True, eps=0).fit(X).transform(X)
    s = pp.StandardScaler().fit(X).transform(X)
    assert np.mean((z - s) ** 2) < np.mean((p - s) ** 2)


def test_train_statistics_only():
    X, Xv = correlated(n=200), correlated(n=200, seed=2, mean=10.0)
    s = pp.StandardScaler().fit(X)
    np.testing.assert_allclose(s.transform(Xv), (Xv - X.mean(0)) / X.std(0), atol=1e-12)
    assert abs(s.transform(Xv).mean()) > 1.0                  # the validation split is NOT re-centered


def test_integer_and_torch_input():
    X = np.arange(30).reshape(10, 3)
    s = pp.StandardScaler().fit(X)
    assert s.transform(X).dtype == np.float64
    torch = pytest.importorskip("torch")
    t = torch.tensor(correlated(n=50, f=3))
    np.testing.assert_allclose(pp.StandardScaler().fit(t).mean_, t.numpy().mean(0), rtol=1e-12)


# ------------------------------------------------------------------ bad input

@pytest.mark.parametrize("cls", [pp.StandardScaler, pp.MeanSubtraction, lambda: pp.PCA(2, whiten=True), pp.ZCA])
def test_bad_input_changes_nothing(cls):
    obj = cls()
    with pytest.raises(pp.NotFittedError, match="fit"):
        obj.transform(np.ones((2, 3)))
    with pytest.raises(ValueError, match="not fitted"):
        obj.mean_
    obj.fit(correlated(n=50, f=3))
    before = _state(obj)
    bad = [
        (np.ones(3), ValueError, "X"),                          # 1-D
        (np.ones((2, 3, 1)), ValueError, "X"),                  # 3-D
        (np.ones((4, 2)), ValueError, "X"),                     # other feature count
        (np.ones((0, 3)), ValueError, "X"),                     # no rows
        (np.array([[1.0, np.nan, 2.0]]), ValueError, "X"),      # NaN
        (np.array([[1.0, np.inf, 2.0]]), ValueError, "X"),
        # finite, but the squared deviations overflow: NaN transforms, eigh's unnamed LinAlgError
        (np.array([[1e200, 1.0, 2.0], [-1e200, 3.0, 4.0]]), ValueError, "X"),
        (np.ones((2, 3), dtype=complex), TypeError, "X"),
        (np.ones((2, 3), dtype=bool), TypeError, "X"),
        ("abc", TypeError, "X"),
    ]
    for X, exc, name in bad:
        for method in ("partial_fit", "fit"):
            if method == "fit" and X.__class__ is np.ndarray and X.ndim == 2 and X.shape == (4, 2) \
                    and X.dtype == np.float64:
                continue                                         # fit restarts: another feature count is fine
            with pytest.raises(exc, match=f"^{name}"):
                getattr(obj, method)(X)
            same_state(_state(obj), before)
    with pytest.raises(ValueError, match="^X"):
        obj.transform(np.ones((2, 4)))


def test_bad_hyper_parameters():
    with pytest.raises(ValueError, match="^n_components"):
        pp.PCA(0)
    with pytest.raises(TypeError, match="^n_components"):
        pp.PCA(2.5)
    with pytest.raises(ValueError, match="^eps"):
        pp.PCA(eps=-1)
    with pytest.raises(ValueError, match="^eps"):
        pp.ZCA(eps=float("nan"))
    with pytest.raises(TypeError, match="^whiten"):
        pp.PCA(whiten="yes")
    with pytest.raises(TypeError, match="^with_std"):
        pp.StandardScaler(with_std=None)
    pca = pp.PCA(5)
    with pytest.raises(ValueError, match="^n_components"):
        pca.fit(np.ones((10, 3)))
    assert pca.n_features_in_ is None and pca.n_samples_seen_ == 0
    pca = pp.PCA(3).fit(correlated(n=20, f=3))
    before = _state(pca)
    pca.n_components = 4                                           # changed after fitting
    with pytest.raises(ValueError, match="^n_components"):
        pca.partial_fit(correlated(n=20, f=3))
    same_state(_state(pca), before)
