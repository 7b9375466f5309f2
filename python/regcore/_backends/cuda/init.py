"""Native CUDA weight-init kernels (sparse selection and orthogonal run on the host: init.py)."""
from __future__ import annotations

from ..._native import cuda as _ext

__all__ = ["init_trunc_normal"]


def init_trunc_normal(out, seed, offset, p_lo, p_span, mean, scale, lo, hi):
    _ext.init_trunc_normal(out, seed, offset, float(p_lo), float(p_span), float(mean), float(scale),
                           float(lo), float(hi))
