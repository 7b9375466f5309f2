"""Batch-normalization passes in NumPy over the (N, C, S) view (docs/batchnorm.md).

The element formulas are those of csrc/core/batchnorm.h evaluated in the data type, one rounding
per operation, so normalize and dx match the native kernels bit for bit for the same
coefficients; the statistics use float64 and a two-pass (mean, then centered squares).

16-bit data (float16, bfloat16 as its uint16 view) is loaded to float32 exactly, computed in
float32 with the float32 coefficients, and rounded once as it is stored (_half.load / store), as
the native kernels do.
"""
from __future__ import annotations

import numpy as np

from ._half import load as _load
from ._half import store as _store

# The per-channel arithmetic between the passes: the Array API formulas themselves (the native
# CPU backend has their C++ twin, csrc/cpu/batchnorm_channels.h).
from ..._norm_stats import coefficients as bn_coefficients  # noqa: F401
from ..._norm_stats import grad_coefficients as bn_grad_coefficients  # noqa: F401
from ..._norm_stats import group_grad_coefficients as gn_grad_coefficients  # noqa: F401
from ..._norm_stats import running_update as bn_running_update  # noqa: F401
from ... import _dtypes
from ..._norm_stats import F64
from ..._norm_stats import cast as _cast
from ..._norm_stats import group_rows as _group_rows
from ..._norm_stats import layer_coefficients as _layer_coefficients
from ..._norm_stats import layer_grad_coefficients as _layer_grad_coefficients

__all__ = ["bn_moments", "bn_normalize", "bn_grad_reduce", "bn_grad_apply", "bn_coefficients",
           "bn_grad_coefficients", "bn_running_update", "gn_grad_coefficients"]


def _chan(a):
    return a[None, :, None]


def bn_moments(x, N, C, S, out):
    xv = _load(x).reshape(N, C, S).astype(np.float64)
    count = N * S
    out[0] = count
    if count == 0:
        out[1:] = 0.0
        return
    with np.errstate(invalid="ignore"):   # NaN/inf data: a NaN channel, as the native kernels give
        mean = xv.sum(axis=(0, 2)) / count
        out[1] = mean
        out[2] = np.square(xv - _chan(mean)).sum(axis=(0, 2))


def _center(x, N, C, S, mhi, mlo):
    with np.errstate(invalid="ignore"):   # NaN/inf data or statistics: NaN, no warning
        return (_load(x).reshape(N, C, S) - _chan(mhi)) - _chan(mlo)


def _masked_dy(dy, xc, N, C, S, scale, shift, relu):
    dyv = _load(dy).reshape(N, C, S)
    if not relu:
        return dyv
    return np.where(xc * _chan(scale) + _chan(shift) <= 0, dyv.dtype.type(0), dyv)


def bn_normalize(x, y, N, C, S, mhi, mlo, scale, shift, relu):
    z = _center(x, N, C, S, mhi, mlo) * _chan(scale) + _chan(shift)
    if relu:
        z = np.where(z < 0, z.dtype.type(0), z)
    _store(y.reshape(N, C, S), z)


def bn_grad_reduce(dy, x, N, C, S, mhi, mlo, scale, shift, relu, out):
    xc = _center(x, N, C, S, mhi, mlo)
    d = _masked_dy(dy, xc, N, C, S, scale, shift, relu).astype(np.float64)
    out[0] = d.sum(axis=(0, 2))
    out[1] = (d * xc.astype(np.float64)).sum(axis=(0, 2))


def bn_grad_apply(dy, x, dx, N, C, S, mhi, mlo, scale, shift, ka, kb, kc, relu):
    xc = _center(x, N, C, S, mhi, mlo)
    d = _masked_dy(dy, xc, N, C, S, scale, shift, relu)
    _store(dx.reshape(N, C, S), (_chan(ka) * d + _chan(kb) * xc) + _chan(kc))


# ------------------------------------------------------------------ layer norm, (R, L) view
# Per-row statistics (mhi, mlo, rstd) and a per-element affine (gamma, beta); the formulas of
# core/batchnorm.h (ln_normalize, ln_backward_dx) in the data type, one rounding per operation.
__all__ += ["ln_normalize", "ln_grad_reduce", "ln_grad_apply"]


def _row_center(x, R, L, mhi, mlo):
    return (_load(x).reshape(R, L) - mhi[:, None]) - mlo[:, None]


def _per_element(v, one):
    """gamma/beta of layer norm as a (1, L) row, or the scalar 1/0 the native kernels use for None."""
    return one if v is None else v[None]


def ln_normalize(x, y, R, L, mhi, mlo, rstd, gamma, beta):
    t = rstd.dtype.type   # the compute type (float32 for 16-bit data)
    _store(y.reshape(R, L), (_row_center(x, R, L, mhi, mlo) * rstd[:, None]) * _per_element(gamma, t(1))
           + _per_element(beta, t(0)))


def ln_grad_reduce(dy, x, R, L, mhi, mlo, rstd, gamma, beta, row_out, col_out):
    xc = _row_center(x, R, L, mhi, mlo)
    d = _load(dy).reshape(R, L)
    gd = (_per_element(gamma, rstd.dtype.type(1)) * d).astype(np.float64)
    row = row_out.reshape(R, 2)
    row[:, 0] = gd.sum(axis=1)
    row[:, 1] = (gd * xc.astype(np.float64)).sum(axis=1)
    d64 = d.astype(np.float64)
    col_out[0] = (d64 * (xc * rstd[:, None]).astype(np.float64)).sum(axis=0)
    col_out[1] = d64.sum(axis=0)


def ln_grad_apply(dy, x, dx, R, L, mhi, mlo, rstd, gamma, beta, kb, kc):
    xc = _row_center(x, R, L, mhi, mlo)
    ka = _per_element(gamma, rstd.dtype.type(1)) * rstd[:, None]
    _store(dx.reshape(R, L), (ka * _load(dy).reshape(R, L) + kb[:, None] * xc) + kc[:, None])


# ------------------------------------------------------------------ one call per pass
# The native CPU backend runs a whole normalization forward / backward in one call
# (csrc/cpu/batchnorm_step.h, layernorm_step.h, groupnorm_step.h: the trusted entry points of batchnorm.py and
# norms.py call it); here the same functions are this backend's passes and the per-channel
# formulas of _norm_stats composed in the same order. Outputs are the caller's.
__all__ += ["bn_forward", "bn_backward", "ln_forward", "ln_backward", "gn_forward", "gn_backward"]


def _data_dtype(a):
    """The dtype an array holds (bfloat16 arrives as its uint16 view)."""
    return _dtypes.require_bfloat16() if a.dtype == np.uint16 else a.dtype


def _put(out, values):
    """A float64 result rounded once into the caller's parameter-dtype array (as
    batchnorm._place_like stores it); nothing when the caller wants none."""
    if out is None:
        return
    flat = out.reshape(-1)
    if out.dtype == np.uint16:
        flat[...] = _cast(values, _dtypes.require_bfloat16()).view(np.uint16)
    else:
        flat[...] = values


def bn_forward(x, y, N, C, S, gamma, beta, running_mean, running_var, eps, batch_stats, factor, relu, mean, var):
    if not batch_stats:   # the running statistics are the statistics
        mean[...] = _cast(running_mean, F64)
        var[...] = _cast(running_var, F64)
    else:
        if C > 0 and N * S <= 1:
            raise ValueError("x: expected more than one value per channel when training (batch statistics)")
        st = np.empty((3, C), F64)
        bn_moments(x, N, C, S, st)
        n = float(st[0, 0]) if C > 0 else float(N * S)
        mean[...] = st[1]
        var[...] = st[2] / n
    _, mhi, mlo, scale, shift = bn_coefficients(mean, var, gamma, beta, eps, _data_dtype(x))
    bn_normalize(x, y, N, C, S, mhi, mlo, scale, shift, relu)
    if batch_stats and running_mean is not None:
        bn_running_update(running_mean, mean, factor, _data_dtype(running_mean))
        bn_running_update(running_var, st[2] / (n - 1), factor, _data_dtype(running_var))


def bn_backward(dy, x, dx, N, C, S, gamma, beta, mean, var, eps, count, batch_stats, relu, dgamma, dbeta):
    dt = _data_dtype(x)
    rstd, mhi, mlo, scale, shift = bn_coefficients(mean, var, gamma, beta, eps, dt)
    red = np.empty((2, C), F64)
    bn_grad_reduce(dy, x, N, C, S, mhi, mlo, scale, shift, relu, red)
    ka, kb, kc, dg, db = bn_grad_coefficients(rstd, gamma, red, count, batch_stats, dt)
    bn_grad_apply(dy, x, dx, N, C, S, mhi, mlo, scale, shift, ka, kb, kc, relu)
    _put(dgamma, dg)
    _put(dbeta, db)


def _ln_params(gamma, beta, L, ct):
    """gamma / beta as the kernels take them: L values of the compute type ``ct`` (or None)."""
    return [None if p is None else (p if p.dtype == ct else _cast(p, ct)).reshape(L) for p in (gamma, beta)]


def ln_forward(x, y, R, L, gamma, beta, eps, mean, var):
    if R == 0 or L == 0:
        mean[...] = 0.0
        var[...] = 0.0
        return
    st = np.empty((3, R), F64)
    bn_moments(x, 1, R, L, st)
    mean[...] = st[1]
    var[...] = st[2] / L
    ct = _dtypes.compute(_data_dtype(x))
    _, mhi, mlo, rstd_t = _layer_coefficients(mean, var, eps, ct)
    ln_normalize(x, y, R, L, mhi, mlo, rstd_t, *_ln_params(gamma, beta, L, ct))


def ln_backward(dy, x, dx, R, L, gamma, beta, mean, var, eps, dgamma, dbeta):
    col = np.zeros((2, L), F64)
    if R and L:
        ct = _dtypes.compute(_data_dtype(x))
        rstd, mhi, mlo, rstd_t = _layer_coefficients(mean, var, eps, ct)
        g, b = _ln_params(gamma, beta, L, ct)
        row = np.empty((R, 2), F64)
        ln_grad_reduce(dy, x, R, L, mhi, mlo, rstd_t, g, b, row, col)
        kb, kc = _layer_grad_coefficients(rstd, row, L, ct)
        ln_grad_apply(dy, x, dx, R, L, mhi, mlo, rstd_t, g, b, kb, kc)
    _put(dgamma, col[0])
    _put(dbeta, col[1])


def _gn_coefficients(x, N, C, G, gamma, beta, eps, mean, var, batch_stats):
    """norms._grouped_saved's normalize coefficients (rstd, mhi, mlo, scale, shift) per (n, c):
    each (n, c) takes its group's statistics (batch_stats; its channel's otherwise) and channel
    c's parameters."""
    tile = lambda p: None if p is None else np.tile(p, N)   # noqa: E731  (C values -> N*C)
    return bn_coefficients(_group_rows(mean, N, C, G, batch_stats), _group_rows(var, N, C, G, batch_stats),
                           tile(gamma), tile(beta), eps, _data_dtype(x))


def gn_forward(x, y, N, C, G, S, gamma, beta, eps, mean, var):
    Cg = C // G if G else 0   # G = C = 0: an instance norm of no channels
    M, NG = Cg * S, N * G
    if M == 0 or NG == 0:
        mean[...] = 0.0
        var[...] = 0.0
        return
    st = np.empty((3, NG), F64)
    bn_moments(x, 1, NG, M, st)
    mean[...] = st[1]
    var[...] = st[2] / M
    _, mhi, mlo, scale, shift = _gn_coefficients(x, N, C, G, gamma, beta, eps, mean, var, True)
    bn_normalize(x, y, 1, N * C, S, mhi, mlo, scale, shift, False)


def gn_backward(dy, x, dx, N, C, G, S, gamma, beta, mean, var, eps, batch_stats, dgamma, dbeta):
    dg = db = np.zeros(C, F64)   # an empty x: zero parameter gradients (norms._grouped_backward_on)
    if N * C * S:
        rstd_nc, mhi, mlo, scale, shift = _gn_coefficients(x, N, C, G, gamma, beta, eps, mean, var, batch_stats)
        red = np.empty((2, N * C), F64)
        bn_grad_reduce(dy, x, 1, N * C, S, mhi, mlo, scale, shift, False, red)
        # the statistics' rstd (norms._grouped_saved's): per (n, g) that of the group's first
        # channel (all of them have the same), per channel that of sample 0's
        rstd = rstd_nc.reshape(N, G, C // G)[:, :, 0].reshape(-1) if batch_stats else rstd_nc[:C]
        ka, kb, kc, dg, db = gn_grad_coefficients(rstd, gamma, red, N, C, G, (C // G) * S, batch_stats,
                                                  _data_dtype(x))
        bn_grad_apply(dy, x, dx, 1, N * C, S, mhi, mlo, scale, shift, ka, kb, kc, False)
    _put(dgamma, dg)
    _put(dbeta, db)
