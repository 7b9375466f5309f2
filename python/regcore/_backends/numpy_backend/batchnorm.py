"""Batch-normalization passes in NumPy over the (N, C, S) view (docs/batchnorm.md).

The element formulas are those of csrc/core/batchnorm.h evaluated in the data type, one rounding
per operation, so normalize and dx match the native kernels bit for bit for the same
coefficients; the statistics use float64 and a two-pass (mean, then centered squares).
"""
from __future__ import annotations

import numpy as np

__all__ = ["bn_moments", "bn_normalize", "bn_grad_reduce", "bn_grad_apply"]


def _chan(a):
    return a[None, :, None]


def bn_moments(x, N, C, S, out):
    xv = x.reshape(N, C, S).astype(np.float64)
    count = N * S
    out[0] = count
    if count == 0:
        out[1:] = 0.0
        return
    mean = xv.sum(axis=(0, 2)) / count
    out[1] = mean
    out[2] = np.square(xv - _chan(mean)).sum(axis=(0, 2))


def _center(x, N, C, S, mhi, mlo):
    return (x.reshape(N, C, S) - _chan(mhi)) - _chan(mlo)


def _masked_dy(dy, xc, N, C, S, scale, shift, relu):
    dyv = dy.reshape(N, C, S)
    if not relu:
        return dyv
    return np.where(xc * _chan(scale) + _chan(shift) > 0, dyv, dyv.dtype.type(0))


def bn_normalize(x, y, N, C, S, mhi, mlo, scale, shift, relu):
    z = _center(x, N, C, S, mhi, mlo) * _chan(scale) + _chan(shift)
    if relu:
        z = np.where(z > 0, z, z.dtype.type(0))
    y.reshape(N, C, S)[...] = z


def bn_grad_reduce(dy, x, N, C, S, mhi, mlo, scale, shift, relu, out):
    xc = _center(x, N, C, S, mhi, mlo)
    d = _masked_dy(dy, xc, N, C, S, scale, shift, relu).astype(np.float64)
    out[0] = d.sum(axis=(0, 2))
    out[1] = (d * xc.astype(np.float64)).sum(axis=(0, 2))


def bn_grad_apply(dy, x, dx, N, C, S, mhi, mlo, scale, shift, ka, kb, kc, relu):
    xc = _center(x, N, C, S, mhi, mlo)
    d = _masked_dy(dy, xc, N, C, S, scale, shift, relu)
    dx.reshape(N, C, S)[...] = (_chan(ka) * d + _chan(kb) * xc) + _chan(kc)
