"""Independent float64 references for channel (spatial) dropout and alpha dropout.

Decisions come from the test's own Philox (_dropout_oracle.keep): decision n*C + c is stream
element n*C + c. The alpha-dropout constants are written here from the paper / PyTorch's
formulas, not taken from regcore."""
from __future__ import annotations

import math

import numpy as np

from _dropout_oracle import TWO32, keep, scale, threshold

ALPHA_LAMBDA = 1.0507009873554804934193349852946 * 1.6732632423543772848170429916717  # SELU lambda * alpha


def channel_axes(shape, layout):
    """(N, C, S) of a shape in a layout."""
    n = shape[0]
    if layout == "channels_first":
        return n, shape[1], math.prod(shape[2:])
    return n, shape[-1], math.prod(shape[1:-1])


def channel_keep(shape, layout, seed, offset, p):
    """Bool array broadcastable to shape: decision (n, c) on every spatial element."""
    n, c, _ = channel_axes(shape, layout)
    k = keep(seed, offset, n * c, p).reshape(n, c)
    ones = (1,) * (len(shape) - 2)
    if layout == "channels_first":
        return k.reshape((n, c) + ones), k
    return k.reshape((n,) + ones + (c,)), k


def channel_dropout(x, seed, offset, p, layout, mode="inverted"):
    kb, k = channel_keep(x.shape, layout, seed, offset, p)
    s = scale(p, mode, x.dtype)
    return np.where(kb, x.astype(np.float64) * s, 0.0), k


def alpha_coefficients(p, dtype):
    """(a, b, d) as the dtype's values (float): a = ((1-p)(1 + p alpha'^2))^-1/2, b = -a alpha' p,
    d = a alpha' + b with each of the two terms rounded to the dtype first (PyTorch's order)."""
    t = np.dtype(dtype).type
    if threshold(p) == TWO32:
        return 0.0, 0.0, 0.0
    al = ALPHA_LAMBDA
    a = 1.0 / math.sqrt((al * al * p + 1.0) * (1.0 - p))
    b = al * a * p
    d = float(t(float(t(-(al * a))) + float(t(b))))
    return float(t(a)), float(t(b)), d


def affine(x, kb, p):
    """keep ? fl(fl(x a) + b) : d, the roundings of the dtype emulated in float64 (a product of
    two float32 values is exact in float64, and rounding a float64 sum of two float32 values to
    float32 is the correctly rounded float32 sum)."""
    t = x.dtype.type
    a, b, d = alpha_coefficients(p, x.dtype)
    prod = (x.astype(np.float64) * a).astype(x.dtype).astype(np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        kept = (prod + b).astype(x.dtype).astype(np.float64)
    return np.where(kb, kept, d), t(a)
