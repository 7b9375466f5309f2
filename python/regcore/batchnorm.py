"""Batch normalization: fused forward/backward, and the split phases behind them.

The fused calls are the split phases composed, nothing else::

    batch_norm          = batch_norm_stats -> batch_norm_apply        (training)
                        = running statistics -> normalize             (inference: one pass)
    batch_norm_backward = batch_norm_backward_reduce -> batch_norm_backward_apply

so a distributed caller inserts its all-gather (of the (3, C) statistics) and all-reduce (of the
(2, C) gradient sums) between the phases and gets the single-process result. docs/batchnorm.md
has the math, the layouts and the recipes for MPI and torch.distributed.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from . import _arrays, _validate
from ._backend import backend_for, cpu_array_backend
from ._errors import type_error, value_error
from ._norm_stats import (DATA_DTYPES, F64, BatchNormSaved, bn_view, cast, check_backward_arrays,
                          check_gamma_given_as_in_forward, check_param, checked_bn_view, host_or_library, in_namespace,
                          merge_parts, shared_param_dtype, xp_of)

__all__ = [
    "batch_norm", "batch_norm_backward", "batch_norm_stats", "merge_stats", "batch_norm_apply",
    "batch_norm_backward_reduce", "batch_norm_backward_apply", "batch_norm_saved", "BatchNormSaved",
]

_F64_ONLY = (F64,)


# ------------------------------------------------------------------ validation helpers

def _optional_param(value, name, x_ref, C, *, writeable=False):
    if value is None:
        return None
    ref = _arrays.inspect(value, name, writeable=writeable, dtypes=DATA_DTYPES)
    check_param(ref, name, x_ref, C)
    return ref


def _running(running_mean, running_var, x_ref, C, read=()):
    """The running statistics (updated in place), refused when they share memory with each
    other or with an input the same call reads (``read``: (ArrayRef or None, name) pairs)."""
    rm = _optional_param(running_mean, "running_mean", x_ref, C, writeable=True)
    rv = _optional_param(running_var, "running_var", x_ref, C, writeable=True)
    if (rm is None) != (rv is None):
        missing = "running_var" if rv is None else "running_mean"
        raise value_error(missing, "an array when the other running statistic is given", None)
    _arrays.refuse_overlap((rm, "running_mean"), (rv, "running_var"), read=((x_ref, "x"),) + tuple(read))
    return rm, rv


def _activation(activation):
    if activation is None:
        return None
    return _validate.choice("activation", activation, ("relu",))


def _momentum(momentum, num_batches_tracked, updating):
    """The running-average factor: momentum, or 1/(num_batches_tracked + 1) for momentum=None."""
    if momentum is not None:
        m = _validate.probability("momentum", momentum)
        if num_batches_tracked is not None:
            _validate.integer("num_batches_tracked", num_batches_tracked, lo=0)
        return m
    if num_batches_tracked is None:
        if updating:
            raise value_error("num_batches_tracked",
                              "the number of batches already averaged when momentum=None", None)
        return None
    return 1.0 / (_validate.integer("num_batches_tracked", num_batches_tracked, lo=0) + 1)


def _training(training):
    if not isinstance(training, (bool, np.bool_)):
        raise type_error("training", "a bool", training)
    return bool(training)


def _stats_array(stats, name, C, x_ref):
    ref = _arrays.inspect(stats, name, dtypes=_F64_ONLY)
    _arrays.same_place(x_ref, ref, name)
    if ref.shape != (3, C):
        raise value_error(name, f"a (3, {C}) float64 array of (count, mean, M2) rows", f"shape {ref.shape}")
    return ref


def _kernel_args(ref, *arrays):
    """Per-channel coefficient arrays as the backend of ``ref`` takes them: the NumPy arrays
    themselves on the CPU, device views of the caller's arrays on CUDA (no copy either way)."""
    if ref.device == "cpu":
        return arrays
    return tuple(None if a is None else _arrays.inspect(a, "coefficients", dtypes=None).target for a in arrays)


def _place_like(x_ref, values, dtype):
    """A new array of ``values`` cast to ``dtype``, in x's library and on x's device."""
    if x_ref.device == "cpu":
        out, r = _arrays.empty_like_place(x_ref.obj, tuple(values.shape), dtype)
        # 16-bit: rounded once (cast), then stored as the bits the kernel view holds
        r.target[...] = cast(values, dtype).view(r.target.dtype) if r.target.dtype != np.dtype(dtype) else values
        return out
    return in_namespace(cast(values, dtype), xp_of(x_ref.obj))


def _all(xp, cond) -> bool:
    """A whole-vector check reduced on the vector's device: one scalar comes back."""
    if isinstance(cond, np.ndarray):   # the method skips np.all's dispatch layers (~1 us a call)
        return bool(cond.all())
    return bool(xp.all(cond))


# ------------------------------------------------------------------ statistics

def batch_norm_stats(x, axis=1):
    """Per-channel (count, mean, M2) of x as a (3, C) float64 array (M2 = sum (x - mean)^2).

    One read of x. Combine the statistics of several parts (ranks) with :func:`merge_stats`.
    """
    ref = _arrays.inspect(x, "x", dtypes=DATA_DTYPES)
    N, C, S, _ = bn_view(ref.shape, axis)
    return _stats(ref, x, (N, C, S))


def _stats(ref, like, view):
    """The statistics pass on a checked x; the (3, C) result is made by ``like``'s library."""
    N, C, S = view
    out, out_ref = _arrays.empty_like_place(like, (3, C), F64)
    backend_for(ref).bn_moments(ref.target, N, C, S, out_ref.target)
    return out


def merge_stats(stats):
    """Merge per-part statistics with Chan's parallel update (counts may differ between parts).

    ``stats``: a sequence of (3, C) float64 arrays, or one stacked (P, 3, C) array (e.g. what an
    all-gather returns). Parts are merged in order, so every rank that merges the same gathered
    stack gets the same bits.
    """
    if isinstance(stats, (list, tuple)) or (isinstance(stats, Sequence) and not hasattr(stats, "shape")):
        if len(stats) == 0:
            raise value_error("stats", "at least one (3, C) statistics array", "an empty sequence")
        refs = [_arrays.inspect(s, f"stats[{i}]", dtypes=_F64_ONLY) for i, s in enumerate(stats)]
        C = refs[0].shape[-1] if refs[0].ndim == 2 else -1
        for i, r in enumerate(refs):
            if r.ndim != 2 or r.shape[0] != 3 or r.shape[1] != C:
                raise value_error(f"stats[{i}]", f"a (3, {C if C >= 0 else 'C'}) float64 array",
                                  f"shape {r.shape}")
            _arrays.same_place(refs[0], r, f"stats[{i}]")
        like = refs[0]
        arrays = [host_or_library(r) for r in refs]
        stack = xp_of(arrays[0]).stack(arrays)
    else:
        like = _arrays.inspect(stats, "stats", dtypes=_F64_ONLY)
        stack = host_or_library(like)
        if like.ndim == 2 and like.shape[0] == 3:
            stack = stack[None, ...]
        elif not (like.ndim == 3 and like.shape[1] == 3 and like.shape[0] >= 1):
            raise value_error("stats", "a (3, C) or (P, 3, C) float64 array", f"shape {like.shape}")
    xp = xp_of(stack)
    # mean and M2 may be NaN/inf (a part whose data held NaN or inf: the merged channel is NaN,
    # as a single process would give); counts must be finite and >= 0, M2 never negative.
    if not _all(xp, (stack[:, 0, ...] >= 0) & ~(stack[:, 2, ...] < 0) & xp.isfinite(stack[:, 0, ...])):
        raise value_error("stats", "statistics with a finite count >= 0 and M2 >= 0 (NaN allowed)",
                          "other values")
    return _place_like(like, merge_parts(stack), F64)


# ------------------------------------------------------------------ forward

def _saved_state(ref, view, axis, mean, var, count, gamma_ref, beta_ref, eps, activation, batch_stats):
    """The state a forward that normalizes x with (mean, var) leaves: the per-channel
    coefficients of the normalize kernel. One function for the forward and for
    ``batch_norm_saved``, so a rebuilt state holds the forward's very bits."""
    g = None if gamma_ref is None else host_or_library(gamma_ref)
    b = None if beta_ref is None else host_or_library(beta_ref)
    rstd, mhi, mlo, scale, shift = backend_for(ref).bn_coefficients(mean, var, g, b, eps, ref.dtype)
    pdt = gamma_ref.dtype if gamma_ref is not None else beta_ref.dtype if beta_ref is not None else ref.dtype
    return BatchNormSaved(ref.shape, ref.dtype, axis, view, mean, var, rstd, float(count), eps,
                          batch_stats, activation, g is not None, b is not None, mhi, mlo, scale, shift,
                          (ref.device, ref.device_id), pdt)


def _normalize(ref, view, axis, mean, var, count, gamma_ref, beta_ref, eps, activation, batch_stats):
    """The one normalize pass shared by training and inference: y and the saved state."""
    N, C, S = view
    saved = _saved_state(ref, view, axis, mean, var, count, gamma_ref, beta_ref, eps, activation, batch_stats)
    y, y_ref = _arrays.empty_like_place(ref.obj, ref.shape, ref.dtype)
    backend_for(ref).bn_normalize(ref.target, y_ref.target, N, C, S,
                                  *_kernel_args(ref, saved.mhi, saved.mlo, saved.scale, saved.shift),
                                  activation == "relu")
    return y, saved


def batch_norm_saved(x, mean, var, gamma=None, beta=None, *, count=None, eps=1e-5, axis=1, activation=None,
                     batch_stats=True):
    """The ``saved`` state of a forward that normalized x with per-channel ``mean`` and biased
    ``var`` (float64, shape (C,): ``saved.mean`` / ``saved.var`` of that forward), rebuilt
    without running it again: for callers that can carry only arrays from forward to backward
    (regcore.torch's operators). The coefficients are computed exactly as the forward computed
    them, so the backward gives the same bits as with the original state.

    ``count``: values per channel behind the statistics (default N*S of x; all ranks' total for
    merged statistics). ``batch_stats``: True when mean/var were the batch's own statistics (the
    gradient flows through them), False for running statistics (inference)."""
    ref = _arrays.inspect(x, "x", dtypes=DATA_DTYPES)
    N, C, S, ax = bn_view(ref.shape, axis)
    m_ref = _stat_vector(mean, "mean", ref, C)
    v_ref = _stat_vector(var, "var", ref, C)
    gamma_ref = _optional_param(gamma, "gamma", ref, C)
    beta_ref = _optional_param(beta, "beta", ref, C)
    shared_param_dtype(ref, ("gamma", gamma_ref), ("beta", beta_ref))
    eps = _validate.positive("eps", eps)
    activation = _activation(activation)
    count = float(N * S) if count is None else _validate.positive("count", count)
    if not isinstance(batch_stats, (bool, np.bool_)):
        raise type_error("batch_stats", "a bool", batch_stats)
    return _saved_state(ref, (N, C, S), ax, host_or_library(m_ref), host_or_library(v_ref), count, gamma_ref,
                        beta_ref, eps, activation, bool(batch_stats))


def _stat_vector(value, name, x_ref, C):
    ref = _arrays.inspect(value, name, dtypes=_F64_ONLY)
    _arrays.same_place(x_ref, ref, name)
    if ref.shape != (C,):
        raise value_error(name, f"shape ({C},) float64 (one value per channel)", f"shape {ref.shape}")
    return ref


def batch_norm_apply(x, stats, gamma=None, beta=None, running_mean=None, running_var=None, *,
                     momentum=0.1, eps=1e-5, axis=1, activation=None, num_batches_tracked=None):
    """Normalize x with (merged) batch statistics and update the running statistics.

    ``stats``: (3, C) float64 (count, mean, M2), normally ``merge_stats`` of every rank's
    ``batch_norm_stats``. Normalization uses the biased variance M2/count; the running variance
    takes the unbiased M2/(count - 1):
    ``running = (1 - f) * running + f * batch`` with f = momentum, or f = 1/(num_batches_tracked+1)
    when momentum is None (the cumulative average; pass the batches already averaged).
    Returns (y, saved). One read and one write of x.
    """
    ref = _arrays.inspect(x, "x", dtypes=DATA_DTYPES)
    N, C, S, ax = bn_view(ref.shape, axis)
    st = _stats_array(stats, "stats", C, ref)
    gamma_ref = _optional_param(gamma, "gamma", ref, C)
    beta_ref = _optional_param(beta, "beta", ref, C)
    rm, rv = _running(running_mean, running_var, ref, C, read=((st, "stats"), (gamma_ref, "gamma"), (beta_ref, "beta")))
    shared_param_dtype(ref, ("gamma", gamma_ref), ("beta", beta_ref), ("running_mean", rm), ("running_var", rv))
    eps = _validate.positive("eps", eps)
    activation = _activation(activation)
    factor = _momentum(momentum, num_batches_tracked, rm is not None)
    return _apply(ref, (N, C, S), ax, host_or_library(st), gamma_ref, beta_ref, rm, rv, eps, activation,
                  factor, num_batches_tracked)


def _apply(ref, view, ax, st_a, gamma_ref, beta_ref, rm, rv, eps, activation, factor, num_batches_tracked,
           own_stats=False):
    """batch_norm_apply on checked arguments (the fused forward calls it directly, with
    ``own_stats``: statistics it just computed, a fresh array with one count and M2 >= 0 by
    construction, so neither copied nor checked for those)."""
    N, C, S = view
    xp = xp_of(st_a)
    st64 = st_a if own_stats else cast(st_a, F64, xp)   # the saved state never aliases the caller's stats
    count, mean, m2 = st64[0, ...], st64[1, ...], st64[2, ...]
    # A NaN or inf in x makes that channel's mean/M2 NaN or inf: the channel's outputs and
    # running statistics come out NaN, the other channels are unaffected (PyTorch's behaviour).
    # Only what no data can produce is refused: an unequal or non-finite count, a negative M2.
    if not own_stats and C > 0 and not _all(xp, xp.isfinite(count) & (count == count[0]) & ~(m2 < 0)):
        raise value_error("stats", "(count, mean, M2) rows with one finite count for every channel and "
                          "M2 >= 0 (NaN allowed)", "other values")
    n = float(count[0]) if C > 0 else float(N * S)
    if C > 0 and n <= 1:  # C == 0: nothing to normalize, empty results
        # the count comes from the stats the caller passed (batch_norm_apply), or from x
        raise value_error("x" if own_stats else "stats",
                          "more than one value per channel when training (batch statistics)",
                          f"{n:g} values per channel")
    var = m2 / n
    y, saved = _normalize(ref, view, ax, mean, var, n, gamma_ref, beta_ref, eps, activation, True)
    if rm is not None:  # after the kernel: a failure above leaves the running statistics untouched
        if factor is None:
            factor = 1.0 / (num_batches_tracked + 1)
        be = backend_for(ref)
        be.bn_running_update(host_or_library(rm), mean, factor, rm.dtype)
        be.bn_running_update(host_or_library(rv), m2 / (n - 1), factor, rv.dtype)   # the unbiased batch variance
    return y, saved


def batch_norm(x, gamma=None, beta=None, running_mean=None, running_var=None, training=True, *,
               momentum=0.1, eps=1e-5, axis=1, activation=None, num_batches_tracked=None):
    """Batch normalization of x over every axis but the channel axis (1, or -1: channels-last).

    Training (or no running statistics): batch statistics, running statistics updated when given
    (``batch_norm_stats`` then ``batch_norm_apply``: one read for the statistics, one read and
    one write to normalize). Inference with running statistics: one read and one write.
    ``activation="relu"`` fuses PyTorch's relu (0 where y < 0; NaN passes). Returns (y, saved) for :func:`batch_norm_backward`.
    """
    ref = _arrays.inspect(x, "x", dtypes=DATA_DTYPES)
    N, C, S, ax = bn_view(ref.shape, axis)
    training = _training(training)
    gamma_ref = _optional_param(gamma, "gamma", ref, C)
    beta_ref = _optional_param(beta, "beta", ref, C)
    rm, rv = _running(running_mean, running_var, ref, C, read=((gamma_ref, "gamma"), (beta_ref, "beta")))
    shared_param_dtype(ref, ("gamma", gamma_ref), ("beta", beta_ref), ("running_mean", rm), ("running_var", rv))
    eps_v = _validate.positive("eps", eps)
    activation = _activation(activation)
    factor = _momentum(momentum, num_batches_tracked, training and rm is not None)
    if (training or rm is None) and C > 0 and N * S <= 1:
        raise value_error("x", "more than one value per channel when training (batch statistics)",
                          f"shape {ref.shape}")
    return _batch_norm(ref, (N, C, S), ax, training, gamma_ref, beta_ref, rm, rv, eps_v, activation, factor,
                       num_batches_tracked)


def _batch_norm(ref, view, ax, training, gamma_ref, beta_ref, rm, rv, eps, activation, factor, num_batches_tracked):
    """batch_norm on checked arguments."""
    if training or rm is None:
        # batch_norm_stats -> batch_norm_apply on the arguments checked above (checked once)
        stats = _stats(ref, host_or_library(ref), view)
        if not training:
            rm = rv = None
        return _apply(ref, view, ax, stats, gamma_ref, beta_ref, rm, rv, eps, activation, factor,
                      num_batches_tracked, own_stats=True)
    mean = cast(host_or_library(rm), F64)
    var = cast(host_or_library(rv), F64)
    return _normalize(ref, view, ax, mean, var, float("nan"), gamma_ref, beta_ref, eps, activation, False)


# ------------------------------------------------------------------ backward

def _check_saved(saved, dy, x, gamma, *, check_gamma=True):
    if not isinstance(saved, BatchNormSaved):
        raise type_error("saved", "the saved state returned by batch_norm / batch_norm_apply",
                         type(saved).__name__)
    dy_ref, x_ref = check_backward_arrays(saved, dy, x)
    if not check_gamma:
        return dy_ref, x_ref, None
    check_gamma_given_as_in_forward(gamma, saved)
    return dy_ref, x_ref, _optional_param(gamma, "gamma", x_ref, saved.view[1])


def _red_array(red, C, x_ref, name="red_total"):
    ref = _arrays.inspect(red, name, dtypes=_F64_ONLY)
    _arrays.same_place(x_ref, ref, name)
    if ref.shape != (2, C):
        raise value_error(name, f"a (2, {C}) float64 array of (sum dy, sum dy*(x-mean)) rows",
                          f"shape {ref.shape}")
    return ref


def batch_norm_backward_reduce(dy, x, saved):
    """Per-channel sums (sum dy', sum dy' * (x - mean)) as a (2, C) float64 array, where dy' is
    dy masked by the fused ReLU. Sum (all-reduce) these over ranks before the apply phase.
    One read of dy and x."""
    dy_ref, x_ref, _ = _check_saved(saved, dy, x, None, check_gamma=False)
    return _reduce(dy_ref, x_ref, saved)[0]


def _reduce(dy_ref, x_ref, saved):
    """batch_norm_backward_reduce on checked arguments: (the sums in x's library, the same sums
    as the glue computes on them: a NumPy view for CPU data, whatever library x came from)."""
    N, C, S = saved.view
    out, out_ref = _arrays.empty_like_place(x_ref.obj, (2, C), F64)
    backend_for(x_ref).bn_grad_reduce(dy_ref.target, x_ref.target, N, C, S,
                                      *_kernel_args(x_ref, saved.mhi, saved.mlo, saved.scale, saved.shift),
                                      saved.relu, out_ref.target)
    return out, host_or_library(out_ref)


def batch_norm_backward_apply(dy, x, gamma, saved, red_total, *, red_local=None):
    """dx from the all-reduced sums; also dgamma, dbeta (None without gamma / beta).

    dgamma and dbeta are the global gradients (from ``red_total``), unless ``red_local`` (this
    rank's own sums, before the all-reduce) is given: then they are this rank's share, the
    gradient of its own outputs' loss, which is what an autograd framework's backward returns
    and what data-parallel training then averages over ranks.

    Returns (dx, dgamma, dbeta). One read of dy and x, one write of dx.
    """
    dy_ref, x_ref, gamma_ref = _check_saved(saved, dy, x, gamma)
    red = _red_array(red_total, saved.view[1], x_ref)
    local = None
    if red_local is not None:
        local = host_or_library(_red_array(red_local, saved.view[1], x_ref, "red_local"))
    return _grad_apply(dy_ref, x_ref, gamma_ref, saved, host_or_library(red), local)


def _grad_apply(dy_ref, x_ref, gamma_ref, saved, red_a, local_a=None):
    """batch_norm_backward_apply on checked arguments (red_a: the sums as an array to compute on;
    local_a: the rank's own sums for dgamma / dbeta, or None)."""
    N, C, S = saved.view
    # No finiteness check: a NaN or inf in dy or x makes that channel's sums NaN/inf, and the
    # channel's dx, dgamma, dbeta come out NaN, as in PyTorch (the other channels are unaffected).
    g = None if gamma_ref is None else host_or_library(gamma_ref)
    T = saved.dtype
    be = backend_for(x_ref)
    ka, kb, kc, dgamma64, dbeta64 = be.bn_grad_coefficients(saved.rstd, g, red_a, saved.count, saved.batch_stats, T)
    if local_a is not None:
        _, _, _, dgamma64, dbeta64 = be.bn_grad_coefficients(saved.rstd, g, local_a, saved.count, saved.batch_stats, T)
    dx, dx_ref = _arrays.empty_like_place(x_ref.obj, saved.shape, T)
    be.bn_grad_apply(dy_ref.target, x_ref.target, dx_ref.target, N, C, S,
                     *_kernel_args(x_ref, saved.mhi, saved.mlo, saved.scale, saved.shift, ka, kb, kc), saved.relu)
    P = saved.param_dtype or T   # the parameters' own dtype (float32 for mixed 16-bit)
    dgamma = _place_like(x_ref, dgamma64, P) if saved.has_gamma else None
    dbeta = _place_like(x_ref, dbeta64, P) if saved.has_beta else None
    return dx, dgamma, dbeta


def batch_norm_backward(dy, x, gamma, saved):
    """Gradients of batch_norm: (dx, dgamma, dbeta); dgamma/dbeta are None when the forward had
    no gamma/beta. The fused ReLU's mask is recomputed from x. Reads dy and x twice, writes dx."""
    dy_ref, x_ref, gamma_ref = _check_saved(saved, dy, x, gamma)   # checked once for both phases
    _, red = _reduce(dy_ref, x_ref, saved)
    return _grad_apply(dy_ref, x_ref, gamma_ref, saved, red)


# ------------------------------------------------------------------ trusted entry points
#
# The checked functions above inspect every argument (about ten array inspections per call),
# which costs more than the kernels for small batches. A caller that calls them once per
# argument signature and remembers which signatures passed (regcore.torch keys them by shape,
# dtype, strides and scalars: nothing else decides whether these checks pass) may call the
# trusted twins below with NumPy views of the same kind of arguments: the same computation minus
# the checks, as ONE backend call per pass (bn_forward / bn_backward: on the native CPU backend
# the passes and per-channel arithmetic above composed in C++, csrc/cpu/batchnorm_step.h; on the
# numpy backend its own functions composed the same way), into outputs the caller allocated.
# Not part of the public API.

def batch_norm_trusted(x, gamma, beta, running_mean, running_var, batch_stats, factor, eps, axis, y, mean, var):
    """batch_norm(x, gamma, beta, running_mean, running_var, training, momentum=factor, eps=eps,
    axis=axis) in one backend call (``bn_forward``) for NumPy views of arguments batch_norm has
    accepted: y and the (C,) float64 statistics it normalized with (``saved.mean``,
    ``saved.var``) are written into the caller's arrays; ``batch_stats`` (training, or no
    running statistics) updates the running statistics in place when given (pass None for
    none), otherwise they are the statistics. The same bits as batch_norm."""
    N, C, S = checked_bn_view(x.shape, axis)
    cpu_array_backend().bn_forward(x, y, N, C, S, gamma, beta, running_mean, running_var, eps, batch_stats, factor,
                                   False, mean, var)


def batch_norm_backward_trusted(dy, x, gamma, beta, mean, var, count, eps, axis, batch_stats, dx, dgamma, dbeta):
    """batch_norm_backward(dy, x, gamma, batch_norm_saved(x, mean, var, gamma, beta, count=count,
    eps=eps, axis=axis, batch_stats=batch_stats)) in one backend call (``bn_backward``) for NumPy
    views of arguments those two functions have accepted, into the caller's dx and dgamma /
    dbeta (None: not wanted; of the parameters' dtype). ``count`` None: N*S of x."""
    N, C, S = checked_bn_view(x.shape, axis)
    count = float(N * S) if count is None else count
    cpu_array_backend().bn_backward(dy, x, dx, N, C, S, gamma, beta, mean, var, eps, count, batch_stats, False,
                                    dgamma, dbeta)
