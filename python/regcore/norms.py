"""Layer, group and instance normalization on the batch-norm machinery (docs/norms.md).

No reduction code of their own: every statistic is ``bn_moments`` on a view where each
normalized set is one "channel" of a (1, R, L) array, and

* group / instance norm normalize and differentiate with the batch-norm kernels on the
  (1, N*C, S) view, with per-(n, c) coefficient arrays of length N*C (the statistics of (n, g)
  combined with the affine of c);
* layer norm's affine is per ELEMENT of the normalized shape, so it has three kernels of its own
  (normalize, row + column reductions, dx) on the (R, L) view.

The O(N*C) / O(R) glue is float64 arithmetic written once against the Array API namespace of the
data (as the batch-norm glue in _norm_stats.py): NumPy for CPU data, the caller's own library
(CuPy, PyTorch) on the device for CUDA data, so nothing is copied to the host.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import _arrays, _dtypes, _validate
from ._backend import backend_for, cpu_array_backend
from ._errors import type_error, value_error
from ._norm_stats import (DATA_DTYPES, F64, cast, check_backward_arrays, check_gamma_given_as_in_forward,
                          check_param_dtype, group_rows, host_or_library, layer_coefficients, layer_grad_coefficients,
                          shared_param_dtype, split_mean, spread, xp_of)
from .batchnorm import _kernel_args, _momentum, _place_like, _running, _training

__all__ = [
    "layer_norm", "layer_norm_backward", "group_norm", "group_norm_backward",
    "instance_norm", "instance_norm_backward", "layer_norm_saved", "group_norm_saved", "instance_norm_saved",
    "NormSaved",
]


@dataclass
class NormSaved:
    """What a layer/group/instance-norm forward leaves for its backward.

    ``view``: (R, L) for layer norm, (N, C, G, S) for group and instance norm. mean/var/rstd are
    float64 per normalized set (R rows, or N*G groups; per channel in instance-norm inference);
    mhi, mlo, (rstd_t or scale, shift) are the forward kernel's exact coefficients. Every array
    lives where x lives (NumPy for CPU data, x's library on its CUDA device).
    """

    kind: str              # "layer_norm", "group_norm" or "instance_norm"
    shape: tuple
    dtype: np.dtype
    view: tuple
    mean: np.ndarray
    var: np.ndarray        # biased
    rstd: np.ndarray
    eps: float
    batch_stats: bool      # statistics of x itself (the gradient flows through them)
    has_gamma: bool
    has_beta: bool
    mhi: np.ndarray
    mlo: np.ndarray
    coef: tuple            # layer: (rstd_t, gamma_t, beta_t, normalized shape); group: (scale, shift) per (n, c)
    place: tuple           # (device, device_id) of x: the backward checks it
    param_dtype: np.dtype | None = None   # dtype of gamma / beta (dgamma, dbeta); None: x's


# ------------------------------------------------------------------ validation helpers

def _param(value, name, x_ref, shape):
    if value is None:
        return None
    ref = _arrays.inspect(value, name, dtypes=DATA_DTYPES)
    check_param_dtype(ref, name, x_ref)
    if ref.shape != tuple(shape):
        raise value_error(name, f"shape {tuple(shape)}", f"shape {ref.shape}")
    if not ref.same_place(x_ref):
        raise value_error(name, f"an array on {x_ref.device}:{x_ref.device_id} like x",
                          f"{ref.device}:{ref.device_id}")
    return ref


def _trailing_axes(axes, ndim) -> int:
    """The number k of trailing axes that ``axes`` names (an int or a sequence of ints that must
    be exactly the last k axes, in any sign convention)."""
    items = [axes] if not isinstance(axes, (tuple, list)) else list(axes)
    if not items:
        raise value_error("axes", "at least one axis", axes)
    norm = []
    for a in items:
        v = _validate.integer("axes", a)
        if not -ndim <= v < ndim:
            raise value_error("axes", f"axes in [-{ndim}, {ndim})", axes)
        norm.append(v % ndim)
    k = len(norm)
    if sorted(norm) != list(range(ndim - k, ndim)) or len(set(norm)) != k:
        raise value_error("axes", f"the trailing axes of a {ndim}-d array (e.g. -1 or (-2, -1))", axes)
    return k


def _check_saved(saved, kind, dy, x):
    if not isinstance(saved, NormSaved) or saved.kind != kind:
        raise type_error("saved", f"the saved state returned by {kind}", type(saved).__name__)
    return check_backward_arrays(saved, dy, x)


def _param_dtype(x_ref, gamma_ref, beta_ref):
    """The one dtype of gamma and beta (checked: x's, or float32 for 16-bit x); x's without them."""
    return shared_param_dtype(x_ref, ("gamma", gamma_ref), ("beta", beta_ref))


def _compute_values(ref, dtype):
    """A parameter's values in ``dtype`` (the compute type), as the glue computes on them: no
    copy when the parameter already is of that dtype."""
    a = host_or_library(ref)
    return a if ref.dtype == dtype else cast(a, dtype)


def _check_gamma(gamma, saved, x_ref, shape):
    check_gamma_given_as_in_forward(gamma, saved)
    return _param(gamma, "gamma", x_ref, shape)


# ------------------------------------------------------------------ arrays where x lives

def _filled(x_ref, shape, value, dtype):
    """A new array of ``value`` where x lives, in the form the glue computes on (NumPy for CPU
    data, x's library for CUDA data)."""
    if x_ref.device == "cpu":
        return np.full(shape, value, dtype)
    arr, _ = _arrays.empty_like_place(x_ref.obj, tuple(shape), dtype)
    arr[...] = value
    return arr


def _result(x_ref, shape, dtype):
    """(array for the caller, its compute form, what the kernel writes) for a kernel output."""
    arr, r = _arrays.empty_like_place(x_ref.obj, tuple(shape), dtype)
    return arr, host_or_library(r), r.target


def _flat(v, n):
    return xp_of(v).reshape(v, (n,))


def _moments(ref, R, L):
    """(mean, M2) float64 of each of the R contiguous rows of length L (the (1, R, L) view)."""
    if L == 0 or R == 0:
        z = _filled(ref, (R,), 0.0, F64)
        return z, z
    _, out, target = _result(ref, (3, R), F64)
    backend_for(ref).bn_moments(ref.target, 1, R, L, target)
    return out[1, ...], out[2, ...]


# ------------------------------------------------------------------ layer norm

def layer_norm(x, gamma=None, beta=None, *, axes=-1, eps=1e-5):
    """Layer normalization over the trailing ``axes`` (an int or a tuple of the last k axes).

    ``gamma``/``beta``: optional, of the normalized shape ``x.shape[-k:]`` (per element, as
    PyTorch's elementwise_affine). Statistics per row of the (R, L) view, biased variance.
    Returns (y, saved). Reads x twice (statistics, normalize), writes y once.
    """
    ref = _arrays.inspect(x, "x", dtypes=DATA_DTYPES)
    if ref.ndim < 1:
        raise value_error("x", "an array with at least 1 dimension", f"shape {ref.shape}")
    k = _trailing_axes(axes, ref.ndim)
    nshape = ref.shape[ref.ndim - k:]
    gamma_ref = _param(gamma, "gamma", ref, nshape)
    beta_ref = _param(beta, "beta", ref, nshape)
    _param_dtype(ref, gamma_ref, beta_ref)
    eps = _validate.positive("eps", eps)
    return _layer_norm(ref, nshape, gamma_ref, beta_ref, eps)


def _layer_norm(ref, nshape, gamma_ref, beta_ref, eps):
    """layer_norm on checked arguments."""
    R, L = _layer_view(ref, nshape)
    mean, m2 = _moments(ref, R, L)
    saved = _layer_saved(ref, nshape, mean, m2 / L if L else m2, gamma_ref, beta_ref, eps)
    rstd_t, g, b, _ = saved.coef
    y, y_ref = _arrays.empty_like_place(ref.obj, ref.shape, ref.dtype)
    if ref.size:
        backend_for(ref).ln_normalize(ref.target, y_ref.target, R, L,
                                      *_kernel_args(ref, saved.mhi, saved.mlo, rstd_t, g, b))
    return y, saved


def _layer_view(ref, nshape):
    """(R, L): rows of the normalized shape and their length."""
    L = math.prod(nshape)
    return (ref.size // L if L else math.prod(ref.shape[:ref.ndim - len(nshape)])), L


def _layer_saved(ref, nshape, mean, var, gamma_ref, beta_ref, eps):
    """The layer-norm state for per-row (mean, biased var): the normalize kernel's coefficients
    (shared by the forward and layer_norm_saved)."""
    T = ref.dtype
    CT = _dtypes.compute(T)   # the coefficients' dtype (float32 for 16-bit data), gamma/beta included
    R, L = _layer_view(ref, nshape)
    rstd, mhi, mlo, rstd_t = layer_coefficients(mean, var, eps, CT)
    # No affine: None, and every backend's kernels use 1 and 0 (nothing of the normalized size,
    # which is the input's size for one row, is allocated).
    g = None if gamma_ref is None else _flat(_compute_values(gamma_ref, CT), L)
    b = None if beta_ref is None else _flat(_compute_values(beta_ref, CT), L)
    return NormSaved("layer_norm", ref.shape, T, (R, L), mean, var, rstd, eps, True,
                     gamma_ref is not None, beta_ref is not None, mhi, mlo, (rstd_t, g, b, nshape),
                     (ref.device, ref.device_id), _param_dtype(ref, gamma_ref, beta_ref))


def _set_stats(ref, mean, var, n):
    """Checked (mean, var) float64 vectors of n normalized sets, as the glue computes on them."""
    out = []
    for value, name in ((mean, "mean"), (var, "var")):
        r = _arrays.inspect(value, name, dtypes=(F64,))
        if not r.same_place(ref):
            raise value_error(name, f"an array on {ref.device}:{ref.device_id} like x", f"{r.device}:{r.device_id}")
        if r.shape != (n,):
            raise value_error(name, f"shape ({n},) float64 (one value per normalized set)", f"shape {r.shape}")
        out.append(host_or_library(r))
    return out


def layer_norm_saved(x, mean, var, gamma=None, beta=None, *, axes=-1, eps=1e-5):
    """The ``saved`` state of a layer_norm forward, rebuilt from its per-row ``mean`` and biased
    ``var`` (float64, shape (R,): ``saved.mean`` / ``saved.var``) without running it again, for
    callers that carry only arrays from forward to backward (regcore.torch). Same coefficients,
    so the backward gives the same bits as with the original state."""
    ref = _arrays.inspect(x, "x", dtypes=DATA_DTYPES)
    if ref.ndim < 1:
        raise value_error("x", "an array with at least 1 dimension", f"shape {ref.shape}")
    nshape = ref.shape[ref.ndim - _trailing_axes(axes, ref.ndim):]
    gamma_ref = _param(gamma, "gamma", ref, nshape)
    beta_ref = _param(beta, "beta", ref, nshape)
    _param_dtype(ref, gamma_ref, beta_ref)
    eps = _validate.positive("eps", eps)
    mean, var = _set_stats(ref, mean, var, _layer_view(ref, nshape)[0])
    return _layer_saved(ref, nshape, mean, var, gamma_ref, beta_ref, eps)


def layer_norm_backward(dy, x, gamma, saved):
    """Gradients of layer_norm: (dx, dgamma, dbeta), dgamma/dbeta None without gamma/beta.

    The reductions read dy and x for the per-row sums and the per-element dgamma/dbeta sums (one
    pass on the CPU, one per kind of sum on CUDA); the apply pass reads them again and writes dx.
    """
    dy_ref, x_ref = _check_saved(saved, "layer_norm", dy, x)
    _check_gamma(gamma, saved, x_ref, saved.coef[3])
    return _layer_backward(dy_ref, x_ref, saved)


def _layer_backward(dy_ref, x_ref, saved):
    """layer_norm_backward on checked arguments."""
    R, L = saved.view
    gshape = saved.coef[3]
    T = saved.dtype
    CT = _dtypes.compute(T)
    P = saved.param_dtype or T
    rstd_t, g, b, _ = saved.coef
    dx, dx_ref = _arrays.empty_like_place(x_ref.obj, saved.shape, T)
    if x_ref.size:
        be = backend_for(x_ref)
        _, row, row_t = _result(x_ref, (R, 2), F64)
        _, col, col_t = _result(x_ref, (2, L), F64)
        be.ln_grad_reduce(dy_ref.target, x_ref.target, R, L, *_kernel_args(x_ref, saved.mhi, saved.mlo, rstd_t, g, b),
                          row_t, col_t)
        kb, kc = layer_grad_coefficients(saved.rstd, row, L, CT)
        be.ln_grad_apply(dy_ref.target, x_ref.target, dx_ref.target, R, L,
                         *_kernel_args(x_ref, saved.mhi, saved.mlo, rstd_t, g, b, kb, kc))
    else:
        col = _filled(x_ref, (2, L), 0.0, F64)
    xp = xp_of(col)
    dgamma = _place_like(x_ref, xp.reshape(col[0, :], gshape), P) if saved.has_gamma else None
    dbeta = _place_like(x_ref, xp.reshape(col[1, :], gshape), P) if saved.has_beta else None
    return dx, dgamma, dbeta


# ------------------------------------------------------------------ group / instance norm

def _grouped_forward(kind, ref, G, gamma_ref, beta_ref, eps, stats=None):
    """Shared by group and instance norm. ``stats``: per-channel (mean, var) to normalize with
    (instance-norm inference with running statistics) instead of the statistics of x."""
    N, C = ref.shape[0], ref.shape[1]
    S = math.prod(ref.shape[2:])
    if stats is None:
        M = (C // G if G else 0) * S
        mean, m2 = _moments(ref, N * G, M)
        saved = _grouped_saved(kind, ref, G, mean, m2 / M if M else m2, gamma_ref, beta_ref, eps, True)
    else:
        saved = _grouped_saved(kind, ref, G, *stats, gamma_ref, beta_ref, eps, False)
    scale, shift = saved.coef
    y, y_ref = _arrays.empty_like_place(ref.obj, ref.shape, ref.dtype)
    if ref.size:
        backend_for(ref).bn_normalize(ref.target, y_ref.target, 1, N * C, S,
                                      *_kernel_args(ref, saved.mhi, saved.mlo, scale, shift), False)
    return y, saved


def _grouped_saved(kind, ref, G, mean, var, gamma_ref, beta_ref, eps, batch_stats):
    """The group/instance-norm state for (mean, biased var) per (n, g) (batch_stats) or per
    channel (running statistics): per-(n, c) coefficients of the normalize kernel (shared by the
    forward and the *_saved rebuilds)."""
    T = ref.dtype
    CT = _dtypes.compute(T)   # the coefficients' dtype (float32 for 16-bit data)
    N, C = ref.shape[0], ref.shape[1]
    S = math.prod(ref.shape[2:])
    rstd = 1.0 / xp_of(var).sqrt(var + eps)
    mean_nc = group_rows(mean, N, C, G, batch_stats)
    rstd_nc = group_rows(rstd, N, C, G, batch_stats)
    xp = xp_of(rstd_nc)
    g = _filled(ref, (C,), 1.0, F64) if gamma_ref is None else cast(host_or_library(gamma_ref), F64)
    mhi, mlo = split_mean(mean_nc, CT)
    scale = cast(xp.reshape(xp.reshape(g, (1, C)) * xp.reshape(rstd_nc, (N, C)), (N * C,)), CT)
    beta = _filled(ref, (C,), 0.0, CT) if beta_ref is None else _compute_values(beta_ref, CT)
    shift = spread(beta, (1, C), (N, C))
    return NormSaved(kind, ref.shape, T, (N, C, G, S), mean, var, rstd, eps, batch_stats,
                     gamma_ref is not None, beta_ref is not None, mhi, mlo, (scale, shift),
                     (ref.device, ref.device_id), _param_dtype(ref, gamma_ref, beta_ref))


def group_norm_saved(x, groups, mean, var, gamma=None, beta=None, *, eps=1e-5):
    """The ``saved`` state of a group_norm forward, rebuilt from its per-(sample, group) ``mean``
    and biased ``var`` (float64, shape (N*groups,): ``saved.mean`` / ``saved.var``) without
    running it again (see layer_norm_saved)."""
    ref, G, gamma_ref, beta_ref, eps = _group_args(x, groups, gamma, beta, eps)
    mean, var = _set_stats(ref, mean, var, ref.shape[0] * G)
    return _grouped_saved("group_norm", ref, G, mean, var, gamma_ref, beta_ref, eps, True)


def instance_norm_saved(x, mean, var, gamma=None, beta=None, *, eps=1e-5, batch_stats=True):
    """The ``saved`` state of an instance_norm forward, rebuilt without running it again:
    ``batch_stats=True``: the per-(sample, channel) statistics of x (shape (N*C,), as
    ``saved.mean`` / ``saved.var``); False: the running statistics it normalized with in
    inference (shape (C,), float64)."""
    ref = _nc_input(x)
    N, C = ref.shape[0], ref.shape[1]
    gamma_ref = _param(gamma, "gamma", ref, (C,))
    beta_ref = _param(beta, "beta", ref, (C,))
    _param_dtype(ref, gamma_ref, beta_ref)
    eps = _validate.positive("eps", eps)
    if not isinstance(batch_stats, (bool, np.bool_)):
        raise type_error("batch_stats", "a bool", batch_stats)
    mean, var = _set_stats(ref, mean, var, N * C if batch_stats else C)
    return _grouped_saved("instance_norm", ref, C, mean, var, gamma_ref, beta_ref, eps, bool(batch_stats))


def _grouped_backward(kind, dy, x, gamma, saved):
    dy_ref, x_ref = _check_saved(saved, kind, dy, x)
    return _grouped_backward_on(dy_ref, x_ref, _check_gamma(gamma, saved, x_ref, (saved.view[1],)), saved)


def _grouped_backward_on(dy_ref, x_ref, gamma_ref, saved):
    """group / instance norm backward on checked arguments."""
    N, C, G, S = saved.view
    T = saved.dtype
    P = saved.param_dtype or T
    scale, shift = saved.coef
    dx, dx_ref = _arrays.empty_like_place(x_ref.obj, saved.shape, T)
    if not x_ref.size:
        zero = _filled(x_ref, (C,), 0.0, F64)
        return (dx, _place_like(x_ref, zero, P) if saved.has_gamma else None,
                _place_like(x_ref, zero, P) if saved.has_beta else None)
    be = backend_for(x_ref)
    _, red, red_t = _result(x_ref, (2, N * C), F64)
    be.bn_grad_reduce(dy_ref.target, x_ref.target, 1, N * C, S, *_kernel_args(x_ref, saved.mhi, saved.mlo, scale, shift),
                      False, red_t)
    g = None if gamma_ref is None else host_or_library(gamma_ref)
    ka, kb, kc, dgamma, dbeta = be.gn_grad_coefficients(saved.rstd, g, red, N, C, G, (C // G) * S, saved.batch_stats,
                                                        T)
    be.bn_grad_apply(dy_ref.target, x_ref.target, dx_ref.target, 1, N * C, S,
                     *_kernel_args(x_ref, saved.mhi, saved.mlo, scale, shift, ka, kb, kc), False)
    return (dx, _place_like(x_ref, dgamma, P) if saved.has_gamma else None,
            _place_like(x_ref, dbeta, P) if saved.has_beta else None)


def _nc_input(x):
    ref = _arrays.inspect(x, "x", dtypes=DATA_DTYPES)
    if ref.ndim < 2:
        raise value_error("x", "an array (N, C, *spatial) with at least 2 dimensions", f"shape {ref.shape}")
    return ref


def _group_args(x, groups, gamma, beta, eps):
    """(x's ref, G, gamma's ref, beta's ref, eps) of a group-norm call, checked."""
    ref = _nc_input(x)
    C = ref.shape[1]
    G = _groups(groups, C)
    gamma_ref, beta_ref = _param(gamma, "gamma", ref, (C,)), _param(beta, "beta", ref, (C,))
    _param_dtype(ref, gamma_ref, beta_ref)
    return ref, G, gamma_ref, beta_ref, _validate.positive("eps", eps)


def _groups(groups, C) -> int:
    G = _validate.integer("groups", groups, lo=1)
    if C % G:
        raise value_error("groups", f"a divisor of the {C} channels", groups)
    return G


def group_norm(x, groups, gamma=None, beta=None, *, eps=1e-5):
    """Group normalization of x (N, C, *spatial): statistics per (sample, group of C/groups
    channels), per-channel ``gamma``/``beta`` of shape (C,). Returns (y, saved)."""
    return _grouped_forward("group_norm", *_group_args(x, groups, gamma, beta, eps))


def group_norm_backward(dy, x, gamma, saved):
    """Gradients of group_norm: (dx, dgamma, dbeta), dgamma/dbeta None without gamma/beta."""
    return _grouped_backward("group_norm", dy, x, gamma, saved)


def instance_norm(x, gamma=None, beta=None, running_mean=None, running_var=None, training=True, *,
                  momentum=0.1, eps=1e-5, num_batches_tracked=None):
    """Instance normalization of x (N, C, *spatial): statistics per (sample, channel).

    As PyTorch's default (track_running_stats=False), no running statistics are needed: without
    them, the statistics of x are used in training and inference alike. With running statistics
    (track_running_stats=True): training normalizes with the statistics of x and updates
    ``running = (1 - f) * running + f * mean over samples`` of the per-instance mean and unbiased
    variance (f = momentum, or 1/(num_batches_tracked + 1) when momentum is None); inference
    normalizes with the running statistics. Returns (y, saved).
    """
    ref = _nc_input(x)
    C = ref.shape[1]
    S = math.prod(ref.shape[2:])
    training = _training(training)
    gamma_ref = _param(gamma, "gamma", ref, (C,))
    beta_ref = _param(beta, "beta", ref, (C,))
    rm, rv = _running(running_mean, running_var, ref, C, read=((gamma_ref, "gamma"), (beta_ref, "beta")))
    shared_param_dtype(ref, ("gamma", gamma_ref), ("beta", beta_ref), ("running_mean", rm), ("running_var", rv))
    eps = _validate.positive("eps", eps)
    factor = _momentum(momentum, num_batches_tracked, training and rm is not None)
    if (training or rm is None) and S <= 1 and ref.size:
        raise value_error("x", "more than one spatial element per instance when using its statistics",
                          f"shape {ref.shape}")
    return _instance_norm(ref, gamma_ref, beta_ref, rm, rv, training, eps, factor, num_batches_tracked)


def _instance_norm(ref, gamma_ref, beta_ref, rm, rv, training, eps, factor, num_batches_tracked):
    """instance_norm on checked arguments."""
    N, C = ref.shape[0], ref.shape[1]
    S = math.prod(ref.shape[2:])
    if not training and rm is not None:
        stats = (cast(host_or_library(rm), F64), cast(host_or_library(rv), F64))
        return _grouped_forward("instance_norm", ref, C, gamma_ref, beta_ref, eps, stats)
    y, saved = _grouped_forward("instance_norm", ref, C, gamma_ref, beta_ref, eps)
    # After the kernel (failures leave them untouched); an empty x has no statistics to average in.
    if rm is not None and training:
        if factor is None:
            factor = 1.0 / (num_batches_tracked + 1)
        _instance_running_update(backend_for(ref), ref.shape, saved.mean, saved.var, host_or_library(rm),
                                 host_or_library(rv), factor, rm.dtype)
    return y, saved


def _instance_running_update(be, shape, mean, var, rm, rv, factor, dtype):
    """Average the per-instance (mean, unbiased var) over the samples into the running
    statistics (arrays to compute on, of ``dtype``), unless x is empty."""
    N, C = shape[0], shape[1]
    S = math.prod(shape[2:])
    if N > 0 and S > 0:
        xp = xp_of(mean)
        bmean = xp.mean(xp.reshape(mean, (N, C)), axis=0)
        bvar = xp.mean(xp.reshape(var, (N, C)) * (S / (S - 1)), axis=0)
        be.bn_running_update(rm, bmean, factor, dtype)
        be.bn_running_update(rv, bvar, factor, dtype)


def instance_norm_backward(dy, x, gamma, saved):
    """Gradients of instance_norm: (dx, dgamma, dbeta); with running statistics in inference the
    statistics are constants (dx = gamma * rstd * dy)."""
    return _grouped_backward("instance_norm", dy, x, gamma, saved)


# ------------------------------------------------------------------ trusted entry points
#
# As in batchnorm.py: the same computation as the checked functions for NumPy views of
# arguments whose signature (shape, dtype, strides, scalars) the checked functions have
# accepted (regcore.torch remembers which), minus the checks. Not part of the public API.

def layer_norm_trusted(x, gamma, beta, normalized_ndim, eps, y, mean, var):
    """layer_norm(x, gamma, beta, axes=(-normalized_ndim, ..., -1), eps=eps) in one backend
    call (``ln_forward``) into the caller's y and (R,) float64 mean, var: the same bits."""
    R, L = _trusted_rows(x, normalized_ndim)
    cpu_array_backend().ln_forward(x, y, R, L, gamma, beta, eps, mean, var)


def layer_norm_backward_trusted(dy, x, gamma, beta, mean, var, normalized_ndim, eps, dx, dgamma, dbeta):
    """layer_norm_backward(dy, x, gamma, layer_norm_saved(x, mean, var, gamma, beta, ...)) in
    one backend call (``ln_backward``) into the caller's dx and dgamma / dbeta (None: not
    wanted; of the parameters' dtype)."""
    R, L = _trusted_rows(x, normalized_ndim)
    cpu_array_backend().ln_backward(dy, x, dx, R, L, gamma, beta, mean, var, eps, dgamma, dbeta)


def _trusted_rows(x, k):
    """(R, L) of the layer-norm view of x over its last k axes (_layer_view, for a NumPy view)."""
    L = math.prod(x.shape[x.ndim - k:])
    return (x.size // L if L else math.prod(x.shape[:x.ndim - k])), L


def group_norm_trusted(x, groups, gamma, beta, eps, y, mean, var):
    """group_norm(x, groups, gamma, beta, eps=eps) in one backend call (``gn_forward``) into the
    caller's y and (N*groups,) float64 mean, var: the same bits."""
    be = cpu_array_backend()
    be.gn_forward(x, y, x.shape[0], x.shape[1], groups, math.prod(x.shape[2:]), gamma, beta, eps, mean, var)


def instance_norm_trusted(x, gamma, beta, running_mean, running_var, momentum, eps, y, mean, var):
    """instance_norm(x, gamma, beta, running_mean, running_var, training=True,
    momentum=momentum, eps=eps) with a float momentum: the statistics of x, normalized in one
    backend call (``gn_forward`` with a group per channel) into the caller's y and (N*C,) mean,
    var, then the running statistics (None: none) updated in place. The same bits."""
    be = cpu_array_backend()
    be.gn_forward(x, y, x.shape[0], x.shape[1], x.shape[1], math.prod(x.shape[2:]), gamma, beta, eps, mean, var)
    if running_mean is not None:
        dtype = _dtypes.require_bfloat16() if running_mean.dtype == np.uint16 else running_mean.dtype
        _instance_running_update(be, x.shape, mean, var, running_mean, running_var, momentum, dtype)


def instance_norm_inference_trusted(x, gamma, beta, running_mean, running_var, *, eps):
    """instance_norm(x, gamma, beta, running_mean, running_var, training=False, eps=eps): the
    running statistics normalize (the phase-by-phase path)."""
    t = _arrays.trusted_or_none
    return _instance_norm(_arrays.trusted(x), t(gamma), t(beta), t(running_mean), t(running_var), False, eps,
                          None, None)


def instance_norm_inference_into(x, gamma, beta, running_mean, running_var, eps, y, mean, var):
    """instance_norm(x, gamma, beta, running_mean, running_var, training=False, eps=eps) into the
    caller's y and (C,) float64 mean, var (``saved.mean`` / ``saved.var``: the running statistics
    it normalized with): one native call (``in_forward_running``) on the native CPU backend, the
    phase-by-phase path on the numpy backend. The same bits."""
    be = backend_for(_arrays.trusted(x))
    try:
        one_call = be.in_forward_running
    except AttributeError:   # the checked path takes bfloat16 as such, not as its uint16 kernel view
        typed = [None if a is None else (a.view(_dtypes.require_bfloat16()) if a.dtype == np.uint16 else a)
                 for a in (x, gamma, beta, running_mean, running_var)]
        y_ref, saved = instance_norm_inference_trusted(*typed, eps=eps)
        # (y is the uint16 view from the checked path, ml_dtypes' bfloat16 from a cached plan: bits, not values)
        np.copyto(_dtypes.kernel_view(y), _dtypes.kernel_view(np.asarray(y_ref)))
        mean[...], var[...] = saved.mean, saved.var
        return
    one_call(x, y, x.shape[0], x.shape[1], math.prod(x.shape[2:]), gamma, beta, running_mean, running_var, eps, mean,
             var)


def group_norm_backward_trusted(dy, x, gamma, beta, mean, var, groups, eps, batch_stats, dx, dgamma, dbeta):
    """group_norm_backward / instance_norm_backward (groups = C) of the state that
    group_norm_saved / instance_norm_saved would rebuild, in one backend call (``gn_backward``)
    into the caller's dx and dgamma / dbeta (None: not wanted; of the parameters' dtype): the
    same bits."""
    be = cpu_array_backend()
    be.gn_backward(dy, x, dx, x.shape[0], x.shape[1], groups, math.prod(x.shape[2:]), gamma, beta, mean, var, eps,
                   batch_stats, dgamma, dbeta)
