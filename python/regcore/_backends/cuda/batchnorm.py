"""Native CUDA batch-normalization passes (csrc/cuda/batchnorm_api.h) on device views.

Every argument, the per-channel coefficient arrays included, is a device view on x's device.
"""
from __future__ import annotations

from ..._native import cuda as _ext

__all__ = ["bn_moments", "bn_normalize", "bn_grad_reduce", "bn_grad_apply"]


def bn_moments(x, N, C, S, out):
    _ext.bn_moments(x, N, C, S, out)


def bn_normalize(x, y, N, C, S, mhi, mlo, scale, shift, relu):
    _ext.bn_normalize(x, y, N, C, S, mhi, mlo, scale, shift, bool(relu))


def bn_grad_reduce(dy, x, N, C, S, mhi, mlo, scale, shift, relu, out):
    _ext.bn_grad_reduce(dy, x, N, C, S, mhi, mlo, scale, shift, bool(relu), out)


def bn_grad_apply(dy, x, dx, N, C, S, mhi, mlo, scale, shift, ka, kb, kc, relu):
    _ext.bn_grad_apply(dy, x, dx, N, C, S, mhi, mlo, scale, shift, ka, kb, kc, bool(relu))
