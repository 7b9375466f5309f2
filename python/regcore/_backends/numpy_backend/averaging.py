"""Weight averaging in NumPy, operation for operation csrc/core/average.h.

The weight is rounded once to the array's dtype and the mode is decided on that rounded value;
each operation is one NumPy ufunc in the array's dtype (no fused multiply-add), so the results
are bit-identical to the native backends.
"""
from __future__ import annotations

import numpy as np

__all__ = ["average_multi"]


def _update(a, p, w64):
    t = a.dtype.type
    w = t(w64)
    if w == 0:          # keep: nothing read or written
        return
    if w == 1:          # copy: exactly the parameter
        np.copyto(a, p)
        return
    with np.errstate(all="ignore"):   # NaN/inf data: NaN where the formula says, no warning
        d = p - a
        if w < t(0.5):
            a[...] = a + w * d
        else:           # 1 - w is exact for w in [1/2, 1] (Sterbenz)
            a[...] = p - (t(1) - w) * d


def average_multi(avgs, params, w):
    for a, p in zip(avgs, params):
        _update(a, p, w)
