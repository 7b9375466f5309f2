"""Native CPU weight-init kernels."""
from __future__ import annotations

from ..._native import cpu as _ext

__all__ = ["init_trunc_normal", "init_sparse_keep"]


def init_trunc_normal(out, seed, offset, p_lo, p_span, mean, scale, lo, hi):
    _ext.init_trunc_normal(out, seed, offset, float(p_lo), float(p_span), float(mean), float(scale),
                           float(lo), float(hi))


def init_sparse_keep(w, keys, k):
    _ext.init_sparse_keep(w, keys, int(k))
