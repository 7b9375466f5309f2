"""Native CPU batch-normalization passes (csrc/cpu/batchnorm_api.h)."""
from __future__ import annotations

from ..._native import cpu as _ext

__all__ = ["bn_moments", "bn_normalize", "bn_grad_reduce", "bn_grad_apply"]


def bn_moments(x, N, C, S, out):
    _ext.bn_moments(x, N, C, S, out)


def bn_normalize(x, y, N, C, S, mhi, mlo, scale, shift, relu):
    _ext.bn_normalize(x, y, N, C, S, mhi, mlo, scale, shift, bool(relu))


def bn_grad_reduce(dy, x, N, C, S, mhi, mlo, scale, shift, relu, out):
    _ext.bn_grad_reduce(dy, x, N, C, S, mhi, mlo, scale, shift, bool(relu), out)


def bn_grad_apply(dy, x, dx, N, C, S, mhi, mlo, scale, shift, ka, kb, kc, relu):
    _ext.bn_grad_apply(dy, x, dx, N, C, S, mhi, mlo, scale, shift, ka, kb, kc, bool(relu))


# Layer norm with a per-element affine over the (R, L) view (csrc/cpu/layernorm_api.h).
__all__ += ["ln_normalize", "ln_grad_reduce", "ln_grad_apply"]


def ln_normalize(x, y, R, L, mhi, mlo, rstd, gamma, beta):
    _ext.ln_normalize(x, y, R, L, mhi, mlo, rstd, gamma, beta)


def ln_grad_reduce(dy, x, R, L, mhi, mlo, rstd, gamma, beta, row_out, col_out):
    _ext.ln_grad_reduce(dy, x, R, L, mhi, mlo, rstd, gamma, beta, row_out, col_out)


def ln_grad_apply(dy, x, dx, R, L, mhi, mlo, rstd, gamma, beta, kb, kc):
    _ext.ln_grad_apply(dy, x, dx, R, L, mhi, mlo, rstd, gamma, beta, kb, kc)
