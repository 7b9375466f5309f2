"""Per-channel glue of the normalization family: layouts, statistics merge, coefficients.

Everything here is O(C) work on small float64 vectors; the O(N*C*S) passes live in the backends.
The kernels see every layout as the (N, C, S) view (docs/batchnorm.md):

* channel-first (axis=1): N = shape[0], C = shape[1], S = prod(shape[2:]);
* channels-last (axis=-1): N = prod(shape[:-1]), C = shape[-1], S = 1.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import _validate
from ._errors import type_error, value_error

F64 = np.dtype(np.float64)


def bn_view(shape: tuple, axis) -> tuple:
    """(N, C, S, axis) of the (N, C, S) view for a batch-norm channel axis (1 or -1)."""
    ndim = len(shape)
    if ndim < 2:
        raise value_error("x", "an array with at least 2 dimensions (N, C, ...)", f"shape {shape}")
    a = _validate.integer("axis", axis)
    if not -ndim <= a < ndim:
        raise value_error("axis", f"an axis in [-{ndim}, {ndim})", axis)
    a %= ndim
    if a == 1:
        return shape[0], shape[1], math.prod(shape[2:]), 1
    if a == ndim - 1:
        return math.prod(shape[:-1]), shape[-1], 1, a
    raise value_error("axis", "1 (channel-first) or -1 (channels-last)", axis)


def chan_merge(n_a, mean_a, m2_a, n_b, mean_b, m2_b):
    """Chan et al.'s merge of (count, mean, M2), per channel, in the operation order of
    csrc/core/batchnorm.h (chan_merge). Counts may differ between the parts."""
    n = n_a + n_b
    with np.errstate(invalid="ignore", divide="ignore"):
        d = mean_b - mean_a
        fb = n_b / n
        mean = mean_a + d * fb
        m2 = (m2_a + m2_b) + (d * d) * (n_a * fb)
    mean = np.where(n_b == 0, mean_a, np.where(n_a == 0, mean_b, mean))
    m2 = np.where(n_b == 0, m2_a, np.where(n_a == 0, m2_b, m2))
    return n, mean, m2


def merge_parts(parts) -> np.ndarray:
    """Merge a (P, 3, C) float64 stack of (count, mean, M2) rows, in order p = 0, 1, ..."""
    n, mean, m2 = parts[0][0].copy(), parts[0][1].copy(), parts[0][2].copy()
    for p in range(1, parts.shape[0]):
        n, mean, m2 = chan_merge(n, mean, m2, parts[p][0], parts[p][1], parts[p][2])
    return np.stack([n, mean, m2])


def split_mean(mean: np.ndarray, dtype: np.dtype):
    """mean = mhi + mlo in the data type (core/batchnorm.h explains why two numbers)."""
    mhi = mean.astype(dtype)
    mlo = (mean - mhi.astype(F64)).astype(dtype)
    return mhi, mlo


@dataclass
class BatchNormSaved:
    """What the forward pass leaves for the backward pass (per rank in a distributed setting).

    mean, var (biased), rstd, count describe the statistics the forward normalized with (the
    merged statistics of all ranks, or the running statistics in inference); mhi, mlo, scale,
    shift are the exact coefficients of the forward kernel, so the backward recomputes the fused
    ReLU's mask bit for bit.
    """

    shape: tuple
    dtype: np.dtype
    axis: int
    view: tuple            # (N, C, S)
    mean: np.ndarray       # float64 (C,)
    var: np.ndarray        # float64 (C,), biased
    rstd: np.ndarray       # float64 (C,), 1/sqrt(var + eps)
    count: float           # values per channel behind mean/var (all ranks)
    eps: float
    batch_stats: bool      # normalized with batch statistics (gradient flows through them)
    activation: str | None
    has_gamma: bool
    has_beta: bool
    mhi: np.ndarray
    mlo: np.ndarray
    scale: np.ndarray
    shift: np.ndarray

    @property
    def relu(self) -> bool:
        return self.activation == "relu"


def coefficients(mean, var, gamma, beta, eps, dtype):
    """(rstd, mhi, mlo, scale, shift) for y = ((x - mhi) - mlo) * scale + shift."""
    rstd = 1.0 / np.sqrt(var + eps)
    g = np.ones_like(rstd) if gamma is None else gamma.astype(F64)
    mhi, mlo = split_mean(mean, dtype)
    scale = (g * rstd).astype(dtype)
    shift = np.zeros(mean.shape, dtype) if beta is None else np.array(beta, dtype=dtype, copy=True)
    return rstd, mhi, mlo, scale, shift


def grad_coefficients(saved: BatchNormSaved, gamma, red):
    """(ka, kb, kc, dgamma, dbeta) in float64 from the all-reduced (sum dy', sum dy'*xc)."""
    sdy, sdyx = red[0], red[1]
    g = np.ones_like(saved.rstd) if gamma is None else gamma.astype(F64)
    ka = g * saved.rstd
    if saved.batch_stats:
        m = saved.count
        kb = -ka * (saved.rstd * saved.rstd) * (sdyx / m)
        kc = -ka * (sdy / m)
    else:  # inference statistics are constants: dx = gamma * rstd * dy'
        kb = np.zeros_like(ka)
        kc = np.zeros_like(ka)
    return ka, kb, kc, sdyx * saved.rstd, sdy


def check_param(ref, name: str, x_ref, C: int):
    """gamma/beta/running stats: same dtype, place and length C as the channels of x."""
    if ref.dtype != x_ref.dtype:
        raise type_error(name, f"dtype {x_ref.dtype} (the dtype of x)", f"dtype {ref.dtype}")
    if ref.shape != (C,):
        raise value_error(name, f"shape ({C},) (one value per channel)", f"shape {ref.shape}")
    if not ref.same_place(x_ref):
        raise value_error(name, f"an array on {x_ref.device}:{x_ref.device_id} like x",
                          f"{ref.device}:{ref.device_id}")
