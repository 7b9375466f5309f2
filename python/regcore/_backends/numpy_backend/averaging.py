"""Weight averaging in NumPy, operation for operation csrc/core/average.h.

The weight is rounded once to the arithmetic type of the average's dtype (compute_t: float64 for
float64, float32 for every narrower float) and the mode is decided on that rounded value; each
operation is one NumPy ufunc in the arithmetic type (no fused multiply-add) and the result is
rounded once to the storage dtype, so the results are bit-identical to the native backends.
A float32 average of a 16-bit parameter (the one pair of unequal dtypes the Python layer lets
through) reads the parameter widened exactly and stores the float32 result as it is.
"""
from __future__ import annotations

import numpy as np

from . import _half

__all__ = ["average_multi"]


def _update(a, p, w64):
    c = _half.compute_dtype(a)
    t = c.type
    w = t(w64)
    if w == 0:          # keep: nothing read or written
        return
    if w == 1:          # copy: exactly the parameter, bit for bit (widened exactly into a float32 average)
        if a.dtype == p.dtype:
            np.copyto(a, p)
        else:
            _half.store(a, _half.load(p))
        return
    ac, pc = _half.load(a), _half.load(p)   # 16-bit data (bfloat16 as uint16) decoded to float32
    with np.errstate(all="ignore"):   # NaN/inf data: NaN where the formula says, no warning
        d = pc - ac
        if w < t(0.5):
            r = ac + w * d
        else:           # 1 - w is exact for w in [1/2, 1] (Sterbenz)
            r = pc - (t(1) - w) * d
    _half.store(a, r)   # one rounding to the storage dtype (none when it is the arithmetic type)


def average_multi(avgs, params, w):
    for a, p in zip(avgs, params):
        _update(a, p, w)
