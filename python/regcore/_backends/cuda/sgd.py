"""Native CUDA penalized SGD: multi-tensor launches (tables of tensor pointers in the kernel parameters)."""
from __future__ import annotations

from ..._native import cuda as _ext

__all__ = ["sgd_step_multi", "penalty_sums"]


def sgd_step_multi(ws, gs, bs, firsts, geoms, h):
    _ext.sgd_step_multi(ws, gs, bs, firsts, geoms, h.lr, h.momentum, h.damp_keep, h.wd,
                        h.decay_keep, h.l1, h.l1_thr, h.flags, h.max_norm)


def penalty_sums(xs):
    return _ext.penalty_sums(xs)
