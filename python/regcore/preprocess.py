"""Data preprocessing with statistics of the training split only: mean subtraction,
standardization, PCA (optionally reducing the dimension), PCA whitening and ZCA whitening.

    scaler = rc.preprocess.StandardScaler().fit(X_train)      # or partial_fit chunk by chunk
    X_train, X_val = scaler.transform(X_train), scaler.transform(X_val)

Every class fits on (n_samples, n_features) data and transforms any split with the same
features. ``partial_fit`` folds one chunk into the statistics, so a data set larger than memory is
fitted chunk by chunk with the same result as one ``fit`` (up to float64 rounding of the sums).

Any array regcore takes: NumPy, PyTorch (CPU or CUDA), CuPy. The math is written once against the
input's Array API namespace (array-api-compat), so it runs in the input's library on its device:

* the fitted state (per-feature moments, co-moment matrix, eigendecomposition) is float64 and stays
  where the data of the first ``fit`` / ``partial_fit`` lives; fitted attributes are arrays of that
  library on that device;
* ``partial_fit`` takes chunks of that library on that device only (TypeError naming X for another
  library, ValueError for another device); ``fit`` starts over anywhere;
* ``transform`` / ``inverse_transform`` take any supported array and return one of its library, on
  its device, in its dtype (float32 or float64; other real dtypes give float64): the float64
  coefficients are moved there once and cached until the next fit;
* a PyTorch input that requires grad is read detached by ``fit`` (statistics are constants) and
  differentiated through by ``transform`` (it is made of torch operations).

Statistics (docs/preprocess.md has the math):

* per feature (count, mean, M2 = sum (x - mean)^2): regcore's native one-pass moments
  (``batch_norm_stats`` with the features as channels-last channels: shifted float64 sums, no
  E[x^2] - E[x]^2; the CUDA kernel for device arrays), merged across chunks with Chan's update
  (``merge_stats``);
* the co-moment matrix C = sum (x - mean)(x - mean)^T for PCA/ZCA: each chunk is centered on its own
  mean (in float64) and multiplied by the input library's BLAS (Xc^T Xc), and chunks are merged with
  the matrix form of Chan's update, C = C_a + C_b + d d^T n_a n_b / n with d = mean_b - mean_a.
  Centering before the product is what keeps a feature with mean 1e8 and standard deviation 1
  exact. The eigendecomposition is the library's ``linalg.eigh`` in float64.

Bad input (not 2-D, another feature count than the fitted one, NaN/inf, a spread whose squares
overflow, no rows, transform before fit, n_components > n_features) raises TypeError/ValueError naming the argument, before any
statistic changes.
"""
from __future__ import annotations

import numpy as np

from . import _arrays, _places, _validate
from ._errors import type_error, value_error
from ._norm_stats import DATA_DTYPES as _KERNEL_DTYPES
from .batchnorm import batch_norm_stats, merge_stats

__all__ = ["NotFittedError", "StandardScaler", "MeanSubtraction", "PCA", "ZCA"]


class NotFittedError(ValueError, AttributeError):
    """transform (or a fitted attribute) used before fit / partial_fit (as scikit-learn's)."""


def _as_2d(X, name="X"):
    """(a, place): X as a C-contiguous float32/float64 array of its own library on its device,
    shape (n, F), F >= 1, finite values, and where it lives. Integers and other real dtypes become
    float64; complex, bool, object data are refused. Anything that is not an array of a library
    array-api-compat knows is read with np.asarray (lists, ...)."""
    if _arrays.is_masked(X):   # np.asarray would drop the mask and fit the masked values
        raise type_error(name, "a plain array (pass X.filled(value) or X.compressed() rows)", "numpy.ma.MaskedArray")
    if _places.is_array(X):
        a = X
    else:
        try:
            a = np.asarray(X)
        except Exception as exc:   # ragged lists, objects NumPy cannot read
            raise type_error(name, "a 2-D array of real numbers", type(X).__name__) from exc
    if getattr(a, "is_neg", None) is not None and a.is_neg():
        # torch's negative-bit view: its memory holds the values before a pending negation, and
        # the native statistics read memory (a fitted mean came out with the wrong sign)
        a = a.resolve_neg()
    place = _places.place_of(a)
    if getattr(a, "is_meta", False):          # torch's meta device: a shape without values to check or fit
        raise type_error(name, "an array with values (on the CPU or a CUDA device)", place.describe())
    xp = place.xp
    if not _places.is_real(a, xp):            # bool, complex, object, strings refused
        raise type_error(name, "a 2-D array of real numbers (float, int)", f"dtype {a.dtype}")
    if a.ndim != 2:
        raise value_error(name, "a 2-D array (n_samples, n_features)", f"shape {tuple(a.shape)}")
    if a.shape[1] == 0:
        raise value_error(name, "at least one feature (column)", f"shape {tuple(a.shape)}")
    if a.dtype != xp.float32 and a.dtype != xp.float64:
        a = xp.astype(a, xp.float64)
    a = _places.contiguous(a, xp)
    if not bool(xp.all(xp.isfinite(a))):      # reduced on a's device: one bool comes back
        raise value_error(name, "finite values (no NaN or inf)", "non-finite values")
    return a, place


def _float64(a, xp):
    """a in float64 (a itself when it is float64 already: every use below makes a new array)."""
    return xp.astype(a, xp.float64, copy=False)


def _result(z, a, xp):
    """z (float64) in the dtype of the checked input a, never a itself."""
    return xp.astype(z, a.dtype, copy=z is a)


def _copy(v, xp):
    return xp.asarray(v, copy=True)


class _Fitted:
    """Shared bookkeeping: feature count, samples seen, fitted-or-not, where the state lives, the
    chunk checks, and the per-place cache of what the transforms apply."""

    _needs_comoments = False

    def _reset(self):
        self.n_features_in_ = None
        self.n_samples_seen_ = 0
        self._place = None          # _places.Place of the fitted data: the state's library and device
        self._stats = None          # (3, F) float64: count, mean, M2 per feature
        self._com = None            # (F, F) float64 co-moment matrix (PCA/ZCA)
        self._cache = {}            # derived quantities, dropped after each partial_fit

    # pickle / copy.deepcopy: the Place holds a module and the cache device copies; both are
    # rebuilt from the state arrays, which pickle with their own library
    def __getstate__(self):
        return {k: v for k, v in self.__dict__.items() if k not in ("_place", "_cache")}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._place = None if self._stats is None else _places.place_of(self._stats)
        self._cache = {}

    def _check_fit_chunk(self, X, fresh=False):
        """A training chunk: 2-D, finite, >= 1 row, and (partial_fit) the fitted feature count,
        library and device."""
        a, place = _as_2d(X)
        if a.shape[0] == 0:
            raise value_error("X", "at least one sample (row)", f"shape {tuple(a.shape)}")
        if not fresh and self._place is not None and not place.same(self._place):
            where = (f"{self._place.describe()}, where the statistics fitted so far live (fit() starts "
                     "over on any library and device)")
            if place.lib != self._place.lib:
                raise type_error("X", where, place.describe())
            raise value_error("X", where, place.describe())
        if not fresh and self.n_features_in_ is not None and a.shape[1] != self.n_features_in_:
            raise value_error("X", f"{self.n_features_in_} features (as in the data fitted so far)",
                              f"shape {tuple(a.shape)}")
        self._check_features(a.shape[1])
        if getattr(a, "requires_grad", False):
            a = a.detach()                    # torch: statistics of the data are constants
        # regcore's kernels must reach it (e.g. a CUDA array needs a CUDA build): refused here,
        # under the caller's name, before anything changes
        _arrays.inspect(a, "X", dtypes=_KERNEL_DTYPES)
        return a, place

    def _check_features(self, n_features):
        """Subclass hook: refuse a fit whose feature count clashes with a hyper-parameter."""

    def _check_transform(self, X, method="transform"):
        if self.n_features_in_ is None:
            raise NotFittedError(f"{type(self).__name__}.{method}: not fitted yet; call fit or partial_fit "
                                 "on the training data first")
        name = "Z" if method == "inverse_transform" and isinstance(self, _Eigen) else "X"
        a, place = _as_2d(X, name)
        if a.shape[1] != self._n_in(method):
            raise value_error(name, f"{self._n_in(method)} features (as fitted)", f"shape {tuple(a.shape)}")
        return a, place

    def _n_in(self, method):
        return self.n_features_in_

    def fit(self, X, y=None):
        """Forget previous statistics and fit on X (the training split). Returns self."""
        self._fold(*self._check_fit_chunk(X, fresh=True), fresh=True)
        return self

    def partial_fit(self, X, y=None):
        """Fold one chunk of training data into the statistics. Returns self."""
        self._fold(*self._check_fit_chunk(X))
        return self

    def fit_transform(self, X, y=None):
        return self.fit(X).transform(X)

    def _fold(self, a, place, fresh=False):
        """Merge a checked chunk's statistics into the state (computed first, assigned last), in
        the chunk's library on its device."""
        xp = place.xp
        st = batch_norm_stats(a, axis=-1)                 # native one pass: (count, mean, M2) per feature
        com = None
        if self._needs_comoments:
            xc = xp.astype(a, xp.float64) - st[1]          # centered on the chunk's own mean
            com = xc.T @ xc
        n_a, n_b = (0 if fresh else self.n_samples_seen_), a.shape[0]
        if n_a == 0:
            new_stats, new_com = st, com
        else:
            new_stats, new_com = merge_stats([self._stats, st]), None
            if com is not None:
                d = st[1] - self._stats[1]
                new_com = self._com + com + (d[:, None] * d[None, :]) * (n_a * n_b / (n_a + n_b))
        # finite data whose squared deviations overflow float64 (spread beyond ~1e154) gave inf
        # statistics: NaN transforms, or eigh's unnamed "did not converge" for PCA/ZCA
        if not (bool(xp.all(xp.isfinite(new_stats))) and (new_com is None or bool(xp.all(xp.isfinite(new_com))))):
            raise value_error("X", "values whose squared deviations from the mean fit in float64 "
                              "(a spread below about 1e154)", "statistics that overflow to inf")
        self._stats = new_stats
        self._com = new_com
        self._place = place
        self.n_features_in_ = a.shape[1]
        self.n_samples_seen_ = n_a + n_b
        self._cache = {}

    def _coefficients(self, method, place):
        """The float64 arrays ``method`` applies, derived where the state lives (``_derive``) and
        moved to ``place`` once: a transform in a training loop moves nothing after its first call."""
        key = (method, place.key)
        if key not in self._cache:
            home = (method, self._place.key)
            if home not in self._cache:
                self._cache[home] = self._derive(method)
            self._cache[key] = tuple(None if c is None else _places.moved(c, place) for c in self._cache[home])
        return self._cache[key]

    # fitted statistics, as scikit-learn names them (arrays where the state lives)
    def _fitted(self, attr):
        if self.n_features_in_ is None:
            raise NotFittedError(f"{type(self).__name__}.{attr}: not fitted yet")

    @property
    def _xp(self):
        return self._place.xp

    @property
    def mean_(self):
        self._fitted("mean_")
        return _copy(self._stats[1], self._xp)

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
        xp = self._xp
        s = xp.sqrt(self.var_)
        return xp.where(s == 0, xp.ones_like(s), s)     # scikit-learn's rule for constant features

    def _derive(self, method):
        return (self._stats[1] if self.with_mean else None), self.scale_

    def transform(self, X):
        """Standardize X (any split) with the training statistics; keeps float32 as float32."""
        a, place = self._check_transform(X)
        mean, scale = self._coefficients("transform", place)
        z = _float64(a, place.xp)
        if mean is not None:
            z = z - mean
        if scale is not None:
            z = z / scale
        return _result(z, a, place.xp)

    def inverse_transform(self, X):
        a, place = self._check_transform(X, "inverse_transform")
        mean, scale = self._coefficients("transform", place)
        z = _float64(a, place.xp)
        if scale is not None:
            z = z * scale
        if mean is not None:
            z = z + mean
        return _result(z, a, place.xp)


class MeanSubtraction(StandardScaler):
    """Mean subtraction (cs231n's ``X -= np.mean(X, axis=0)``) with the training mean."""

    def __init__(self):
        super().__init__(with_mean=True, with_std=False)


class _Eigen(_Fitted):
    """PCA and ZCA: eigen-decomposition of the covariance C / (n - 1), cached after each fit."""

    _needs_comoments = True

    def _eigen(self):
        if "eigen" not in self._cache:
            self._fitted("components_")
            xp = self._xp
            lam, vec = xp.linalg.eigh(self.covariance_)            # ascending, in float64
            lam, vec = xp.flip(lam, axis=0), xp.flip(vec, axis=1).T    # rows = components, descending variance
            lam = xp.maximum(lam, xp.zeros_like(lam))              # rounding can leave -1e-17 for a null direction
            # deterministic signs: the largest-magnitude entry of each component is positive
            idx = xp.argmax(xp.abs(vec), axis=1)
            rows = xp.arange(vec.shape[0], device=self._place.device)
            vec = vec * xp.sign(vec[rows, idx])[:, None]
            self._cache["eigen"] = (lam, vec)
        return self._cache["eigen"]

    @property
    def covariance_(self):
        """Training covariance matrix (denominator n - 1)."""
        self._fitted("covariance_")
        return self._com / max(self.n_samples_seen_ - 1.0, 1.0)   # scikit-learn's explained_variance_ denominator


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
        return _copy(self._eigen()[1][: self.n_components_], self._xp)

    @property
    def explained_variance_(self):
        return _copy(self._eigen()[0][: self.n_components_], self._xp)

    @property
    def explained_variance_ratio_(self):
        xp, lam = self._xp, self._eigen()[0]
        total = xp.sum(lam)
        if bool(total > 0):
            return lam[: self.n_components_] / total
        return xp.zeros(self.n_components_, dtype=xp.float64, device=self._place.device)

    def _n_in(self, method):
        return self.n_components_ if method == "inverse_transform" else self.n_features_in_

    def _derive(self, method):
        lam, vec = self._eigen()
        k = self.n_components_
        std = self._xp.sqrt(lam[:k] + self.eps) if self.whiten else None
        basis = vec[:k].T if method == "transform" else vec[:k]
        return self._stats[1], basis, std

    def transform(self, X):
        a, place = self._check_transform(X)
        mean, basis, std = self._coefficients("transform", place)
        z = (_float64(a, place.xp) - mean) @ basis
        if std is not None:
            with np.errstate(divide="ignore", invalid="ignore"):   # eps=0 and a null direction: inf, as sklearn
                z = z / std
        return _result(z, a, place.xp)

    def inverse_transform(self, Z):
        """Back to the feature space (exact when n_components is None)."""
        a, place = self._check_transform(Z, "inverse_transform")
        mean, basis, std = self._coefficients("inverse_transform", place)
        z = _float64(a, place.xp)
        if std is not None:
            z = z * std
        return _result(z @ basis + mean, a, place.xp)


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
        return _copy(self._eigen()[1], self._xp)

    @property
    def explained_variance_(self):
        return _copy(self._eigen()[0], self._xp)

    def _matrix(self, whiten):
        """W = U diag(1 / sqrt(lambda + eps)) U^T, or its inverse U diag(sqrt(lambda + eps)) U^T."""
        lam, vec = self._eigen()
        std = self._xp.sqrt(lam + self.eps)
        with np.errstate(divide="ignore"):
            return ((vec.T / std) if whiten else (vec.T * std)) @ vec

    @property
    def whitening_matrix_(self):
        """The symmetric (n_features, n_features) W of z = (x - mean) W."""
        return self._matrix(whiten=True)

    def _derive(self, method):
        return self._stats[1], self._matrix(whiten=method == "transform")

    def transform(self, X):
        a, place = self._check_transform(X)
        mean, w = self._coefficients("transform", place)
        return _result((_float64(a, place.xp) - mean) @ w, a, place.xp)

    def inverse_transform(self, Z):
        a, place = self._check_transform(Z, "inverse_transform")
        mean, colour = self._coefficients("inverse_transform", place)
        return _result(_float64(a, place.xp) @ colour + mean, a, place.xp)
