"""Host-side math of the truncated normal (float64, no SciPy): the kernel parameters of
``init.trunc_normal_`` and the parent std that gives a requested result std.

Conventions (docs/init.md): ``std`` is the standard deviation of the PARENT normal N(mean, std^2)
before truncation to [a, b], as in PyTorch's ``trunc_normal_``; ``std_is="result"`` (or
:func:`parent_std`) solves for the parent std whose truncated distribution has the requested std.
"""
from __future__ import annotations

import math

import numpy as np

from . import _dtypes
from ._errors import value_error

_SQRT1_2 = math.sqrt(0.5)
_P_FLOOR = 2.0 ** -1000   # the kernel's smallest p (core/init_transforms.h)


def _phi_cdf(x: float) -> float:
    """Phi(x) with full relative precision in the lower tail (erfc, not 1 - erf)."""
    return 0.5 * math.erfc(-x * _SQRT1_2)


def kernel_params(dtype: np.dtype, mean: float, std: float, a: float, b: float):
    """(p_lo, p_span, mean, scale, lo, hi) for the trunc_normal kernel; a < b already checked."""
    lo, hi = inward_bounds(dtype, a, b)
    if std == 0.0:
        return 0.5, 0.0, mean, 0.0, lo, hi
    alpha, beta = (a - mean) / std, (b - mean) / std
    below, above = _phi_cdf(alpha), _phi_cdf(-beta)   # mass left of a, right of b
    if below > above:
        # Most of [a, b] lies above the mean: sample the mirror image [-beta, -alpha] in the
        # lower tail, where probabilities near 0 keep their relative precision, and negate.
        p_lo, p_hi, scale = above, _phi_cdf(-alpha), -std
    else:
        p_lo, p_hi, scale = below, _phi_cdf(beta), std
    p_span = p_hi - p_lo
    if not p_span > 0.0 or p_hi < _P_FLOOR:
        raise value_error("a", f"an interval [a, b] with probability mass under N({mean}, {std}^2) "
                          "resolvable in float64 (within about 37 std of the mean)", (a, b))
    return p_lo, p_span, mean, scale, lo, hi


def inward_bounds(dtype: np.dtype, a: float, b: float):
    """a and b rounded inward to the output precision, so a clamped result stays inside [a, b]."""
    d = np.dtype(dtype)
    with np.errstate(over="ignore"):
        lo, hi = _dtypes.round_scalar(d, a), _dtypes.round_scalar(d, b)
    if float(lo) < a:
        lo = _dtypes.next_above(d, lo)
    if float(hi) > b:
        hi = _dtypes.next_below(d, hi)
    if not float(lo) <= float(hi):
        raise value_error("b", f"an interval [a, b] that contains a {d} value", (a, b))
    return float(lo), float(hi)


# --- result std -> parent std

_GL_X, _GL_W = np.polynomial.legendre.leggauss(16)


def _standard_truncated_std(alpha: float, beta: float) -> float:
    """Std of N(0, 1) truncated to [alpha, beta], by Gauss-Legendre on panels of width <= 1/8
    (the density is scaled by its maximum on the interval, so far tails do not underflow)."""
    lo, hi = max(alpha, -40.0), min(beta, 40.0)
    if not hi > lo:
        return 0.0
    m = 0.0 if lo <= 0.0 <= hi else min(abs(lo), abs(hi))
    panels = max(1, math.ceil((hi - lo) * 8))
    edges = np.linspace(lo, hi, panels + 1)
    half = np.diff(edges)[:, None] / 2
    x = (edges[:-1, None] + half) + half * _GL_X[None, :]
    w = (half * _GL_W[None, :]) * np.exp(-(x * x - m * m) / 2)
    total = w.sum()
    mu = (w * x).sum() / total
    return math.sqrt(max((w * (x - mu) ** 2).sum() / total, 0.0))


def truncated_std(mean: float, std: float, a: float, b: float) -> float:
    """Std of N(mean, std^2) truncated to [a, b]."""
    if std == 0.0:
        return 0.0
    return std * _standard_truncated_std((a - mean) / std, (b - mean) / std)


def parent_std(result_std: float, mean: float, a: float, b: float) -> float:
    """The parent std whose truncation to [a, b] has standard deviation result_std."""
    if result_std == 0.0:
        return 0.0
    if math.isfinite(a) and math.isfinite(b) and not result_std < (b - a) / math.sqrt(12.0):
        raise value_error("std", f"a result std below (b - a)/sqrt(12) = {(b - a) / math.sqrt(12.0)!r} "
                          "(the std of the uniform distribution on [a, b], reached as the parent std "
                          "grows without bound)", result_std)
    lo, hi = result_std, result_std   # truncation only shrinks: parent >= result
    while truncated_std(mean, hi, a, b) < result_std:
        lo, hi = hi, hi * 2.0
        if hi > 1e300:
            raise value_error("std", "a result std reachable by some parent std", result_std)
    for _ in range(200):
        mid = math.sqrt(lo * hi) if lo > 0 else hi / 2
        if truncated_std(mean, mid, a, b) < result_std:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 4e-16 * hi:
            break
    return hi
