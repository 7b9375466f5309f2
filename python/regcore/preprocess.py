"""Data preprocessing with statistics of the training split only: mean subtraction,
standardization, PCA (optionally reducing the dimension), PCA whitening and ZCA whitening.

    scaler = rc.preprocess.StandardScaler().fit(X_train)      # or partial_fit chunk by chunk
    X_train, X_val = scaler.transform(X_train), scaler.transform(X_val)

Every class fits on (n_samples, n_features) data and transforms any split with the same
features. ``partial_fit`` folds one chunk into the statistics, so a data set larger than memory is
fitted chunk by chunk with the same result as one ``fit`` (up to float64 rounding of the sums).

Statistics (docs/preprocess.md has the math):

* per feature (count, mean, M2 = sum (x - mean)^2): regcore's native one-pass moments
  (``batch_norm_stats`` with the features as channels-last channels: shifted float64 sums, no
  E[x^2] - E[x]^2), merged across chunks with Chan's update (``merge_stats``);
* the co-moment matrix C = sum (x - mean)(x - mean)^T for PCA/ZCA: each chunk is centered on its own
  mean (in float64) and multiplied by BLAS (Xc^T Xc), and chunks are merged with the matrix form of
  Chan's update, C = C_a + C_b + d d^T n_a n_b / n with d = mean_b - mean_a. Centering before the
  product is what keeps a feature with mean 1e8 and standard deviation 1 exact.

Bad input (not 2-D, another feature count than the fitted one, NaN/inf, no rows, transform before
fit, n_components > n_features) raises TypeError/ValueError naming the argument, before any
statistic changes.
"""
from __future__ import annotations

import numpy as np

from . import _validate
from ._errors import type_error, value_error
from .batchnorm import batch_norm_stats, merge_stats

__all__ = ["NotFittedError", "StandardScaler", "MeanSubtraction", "PCA", "ZCA"]

F64 = np.dtype(np.float64)
_NATIVE = (np.dtype(np.float32), F64)


class NotFittedError(ValueError, AttributeError):
    """transform (or a fitted attribute) used before fit / partial_fit (as scikit-learn's)."""


def _as_2d(X, name="X"):
    """X as a C-contiguous float32/float64 NumPy array of shape (n, F), n >= 1, finite values.
    Integers and other real dtypes become float64; complex, bool, object data are refused."""
    if isinstance(X, np.ma.MaskedArray):   # np.asarray would drop the mask and fit the masked values
        raise type_error(name, "a plain array (pass X.filled(value) or X.compressed() rows)", "numpy.ma.MaskedArray")
    if isinstance(X, np.ndarray):
        a = X
    else:
        try:
            a = np.asarray(X)
        except Exception as exc:   # ragged lists, objects NumPy cannot read
            raise type_error(name, "a 2-D array of real numbers", type(X).__name__) from exc
    if a.dtype.kind not in "fiu":            # bool ("b"), complex, object, strings refused
        raise type_error(name, "a 2-D array of real numbers (float, int)", f"dtype {a.dtype}")
    if a.ndim != 2:
        raise value_error(name, "a 2-D array (n_samples, n_features)", f"shape {a.shape}")
    if a.shape[1] == 0:
        raise value_error(name, "at least one feature (column)", f"shape {a.shape}")
    if a.dtype not in _NATIVE:
        a = a.astype(F64)
    a = np.ascontiguousarray(a)
    if not np.isfinite(a).all():
        raise value_error(name, "finite values (no NaN or inf)", "non-finite values")
    return a


def _out_dtype(a):
    return a.dtype if a.dtype in _NATIVE else F64


class _Fitted:
    """Shared bookkeeping: feature count, samples seen, fitted-or-not, the chunk checks."""

    _needs_comoments = False

    def _reset(self):
        self.n_features_in_ = None
        self.n_samples_seen_ = 0
        self._stats = None          # (3, F) float64: count, mean, M2 per feature
        self._com = None            # (F, F) float64 co-moment matrix (PCA/ZCA)
        self._cache = None          # derived quantities, recomputed after each partial_fit

    def _check_fit_chunk(self, X, fresh=False):
        """A training chunk: 2-D, finite, >= 1 row, and (partial_fit) the fitted feature count."""
        a = _as_2d(X)
        if a.shape[0] == 0:
            raise value_error("X", "at least one sample (row)", f"shape {a.shape}")
        if not fresh and self.n_features_in_ is not None and a.shape[1] != self.n_features_in_:
            raise value_error("X", f"{self.n_features_in_} features (as in the data fitted so far)",
                              f"shape {a.shape}")
        self._check_features(a.shape[1])
        return a

    def _check_features(self, n_features):
        """Subclass hook: refuse a fit whose feature count clashes with a hyper-parameter."""

    def _check_transform(self, X, method="transform"):
        if self.n_features_in_ is None:
            raise NotFittedError(f"{type(self).__name__}.{method}: not fitted yet; call fit or partial_fit "
                                 "on the training data first")
        name = "Z" if method == "inverse_transform" and isinstance(self, _Eigen) else "X"
        a = _as_2d(X, name)
        if a.shape[1] != self._n_in(method):
            raise value_error(name, f"{self._n_in(method)} features (as fitted)", f"shape {a.shape}")
        return a

    def _n_in(self, method):
        return self.n_features_in_

    def fit(self, X, y=None):
        """Forget previous statistics and fit on X (the training split). Returns self."""
        a = self._check_fit_chunk(X, fresh=True)   # checked before the old statistics are dropped
        self._reset()
        self._fold(a)
        return self

    def partial_fit(self, X, y=None):
        """Fold one chunk of training data into the statistics. Returns self."""
        a = self._check_fit_chunk(X)
        self._fold(a)
        return self

    def fit_transform(self, X, y=None):
        return self.fit(X).transform(X)

    def _fold(self, a):
        """Merge a checked chunk's statistics into the state (computed first, assigned last)."""
        st = batch_norm_stats(a, axis=-1)                 # native one pass: (count, mean, M2) per feature
        com = None
        if self._needs_comoments:
            xc = a.astype(F64) - st[1]                     # centered on the chunk's own mean
            com = xc.T @ xc
        if self._stats is None:
            new_stats, new_com = st, com
        else:
            new_stats, new_com = merge_stats([self._stats, st]), None
            if com is not None:
                n_a, n_b = self._stats[0, 0], st[0, 0]
                d = st[1] - self._stats[1]
                new_com = self._com + com + np.outer(d, d) * (n_a * n_b / (n_a + n_b))
        self._stats = new_stats
        self._com = new_com
        self.n_features_in_ = a.shape[1]
        self.n_samples_seen_ = int(new_stats[0, 0])
        self._cache = None

    # fitted statistics, as scikit-learn names them
    def _fitted(self, attr):
        if self.n_features_in_ is None:
            raise NotFittedError(f"{type(self).__name__}.{attr}: not fitted yet")

    @property
    def mean_(self):
        self._fitted("mean_")
        return self._stats[1].copy()

    @property
    def var_(self):
        """Per-feature variance with denominator n (scikit-learn's StandardScaler.var_)."""
        self._fitted("var_")
        return self._stats[2] / self._stats[0]


def _check_eps(eps):
    return _validate.nonnegative("eps", eps)


class StandardScaler(_Fitted):
    """Standardization: (x - mean) / std per feature (std with denominator n, as scikit-learn's;
    a feature of zero variance is only centered: its scale is 1). ``with_mean=False`` skips the
    centering, ``with_std=False`` the scaling (that is :class:`MeanSubtraction`)."""

    def __init__(self, *, with_mean: bool = True, with_std: bool = True):
        for name, flag in (("with_mean", with_mean), ("with_std", with_std)):
            if not isinstance(flag, (bool, np.bool_)):
                raise type_error(name, "a bool", flag)
        self.with_mean, self.with_std = bool(with_mean), bool(with_std)
        self._reset()

    @property
    def scale_(self):
        self._fitted("scale_")
        if not self.with_std:
            return None
        s = np.sqrt(self.var_)
        s[s == 0] = 1.0                  # scikit-learn's rule for constant features
        return s

    def transform(self, X):
        """Standardize X (any split) with the training statistics; keeps float32 as float32."""
        a = self._check_transform(X)
        z = a.astype(F64)
        if self.with_mean:
            z -= self._stats[1]
        if self.with_std:
            z /= self.scale_
        return z.astype(_out_dtype(a), copy=False)

    def inverse_transform(self, X):
        a = self._check_transform(X, "inverse_transform")
        z = a.astype(F64)
        if self.with_std:
            z *= self.scale_
        if self.with_mean:
            z += self._stats[1]
        return z.astype(_out_dtype(a), copy=False)


class MeanSubtraction(StandardScaler):
    """Mean subtraction (cs231n's ``X -= np.mean(X, axis=0)``) with the training mean."""

    def __init__(self):
        super().__init__(with_mean=True, with_std=False)


class _Eigen(_Fitted):
    """PCA and ZCA: eigen-decomposition of the covariance C / (n - 1), cached after each fit."""

    _needs_comoments = True

    def _eigen(self):
        if self._cache is None:
            self._fitted("components_")
            n = self._stats[0, 0]
            cov = self._com / max(n - 1.0, 1.0)          # scikit-learn's explained_variance_ denominator
            lam, vec = np.linalg.eigh(cov)               # ascending
            lam, vec = lam[::-1].copy(), vec[:, ::-1].T.copy()    # rows = components, descending variance
            np.maximum(lam, 0.0, out=lam)                # rounding can leave -1e-17 for a null direction
            # deterministic signs: the largest-magnitude entry of each component is positive
            idx = np.argmax(np.abs(vec), axis=1)
            vec *= np.sign(vec[np.arange(vec.shape[0]), idx])[:, None]
            self._cache = (lam, vec)
        return self._cache

    @property
    def covariance_(self):
        """Training covariance matrix (denominator n - 1)."""
        self._fitted("covariance_")
        return self._com / max(self._stats[0, 0] - 1.0, 1.0)


class PCA(_Eigen):
    """Principal component analysis fitted on the training data: x -> (x - mean) U_k^T, the
    projection on the k leading eigenvectors of the covariance (``n_components=k``; None keeps
    all features, a rotation). ``whiten=True`` divides each projected coordinate by
    sqrt(variance + eps) (PCA whitening: unit variance, decorrelated). ``eps`` >= 0 is in the units
    of the variance (data units squared) and keeps near-zero directions from being blown up into
    noise (cs231n: 1e-5); eps=0 gives scikit-learn's ``PCA(whiten=True)``."""

    def __init__(self, n_components=None, *, whiten: bool = False, eps: float = 1e-5):
        if n_components is not None:
            n_components = _validate.integer("n_components", n_components, lo=1)
        if not isinstance(whiten, (bool, np.bool_)):
            raise type_error("whiten", "a bool", whiten)
        self.n_components = n_components
        self.whiten = bool(whiten)
        self.eps = _check_eps(eps)
        self._reset()

    def _check_features(self, n_features):
        if self.n_components is not None and self.n_components > n_features:
            raise value_error("n_components", f"at most n_features = {n_features}", self.n_components)

    @property
    def n_components_(self):
        self._fitted("n_components_")
        return self.n_features_in_ if self.n_components is None else self.n_components

    @property
    def components_(self):
        """(n_components, n_features): unit eigenvectors, by decreasing variance."""
        return self._eigen()[1][: self.n_components_].copy()

    @property
    def explained_variance_(self):
        return self._eigen()[0][: self.n_components_].copy()

    @property
    def explained_variance_ratio_(self):
        lam = self._eigen()[0]
        total = lam.sum()
        return (lam[: self.n_components_] / total) if total > 0 else np.zeros(self.n_components_)

    def _n_in(self, method):
        return self.n_components_ if method == "inverse_transform" else self.n_features_in_

    def transform(self, X):
        a = self._check_transform(X)
        lam, vec = self._eigen()
        k = self.n_components_
        z = (a.astype(F64) - self._stats[1]) @ vec[:k].T
        if self.whiten:
            with np.errstate(divide="ignore", invalid="ignore"):   # eps=0 and a null direction: inf, as sklearn
                z /= np.sqrt(lam[:k] + self.eps)
        return z.astype(_out_dtype(a), copy=False)

    def inverse_transform(self, Z):
        """Back to the feature space (exact when n_components is None)."""
        a = self._check_transform(Z, "inverse_transform")
        lam, vec = self._eigen()
        k = self.n_components_
        z = a.astype(F64)
        if self.whiten:
            z = z * np.sqrt(lam[:k] + self.eps)
        return (z @ vec[:k] + self._stats[1]).astype(_out_dtype(a), copy=False)


class ZCA(_Eigen):
    """ZCA (Mahalanobis) whitening fitted on the training data: x -> (x - mean) W with the
    symmetric W = U diag(1 / sqrt(lambda + eps)) U^T. The output has identity covariance on the
    training data (eps = 0) and stays as close as possible to the input (no rotation into the
    eigenbasis: whitened images still look like images). ``eps`` >= 0, in data units squared,
    regularizes the small eigenvalues (default 1e-5; 0.1 is common for pixel data in [0, 1])."""

    def __init__(self, *, eps: float = 1e-5):
        self.eps = _check_eps(eps)
        self._reset()

    @property
    def components_(self):
        return self._eigen()[1].copy()

    @property
    def explained_variance_(self):
        return self._eigen()[0].copy()

    @property
    def whitening_matrix_(self):
        """The symmetric (n_features, n_features) W of z = (x - mean) W."""
        lam, vec = self._eigen()
        with np.errstate(divide="ignore"):
            return (vec.T / np.sqrt(lam + self.eps)) @ vec

    def transform(self, X):
        a = self._check_transform(X)
        z = (a.astype(F64) - self._stats[1]) @ self.whitening_matrix_
        return z.astype(_out_dtype(a), copy=False)

    def inverse_transform(self, Z):
        a = self._check_transform(Z, "inverse_transform")
        lam, vec = self._eigen()
        colour = (vec.T * np.sqrt(lam + self.eps)) @ vec
        return (a.astype(F64) @ colour + self._stats[1]).astype(_out_dtype(a), copy=False)

