"""Weight-init kernels in NumPy, operation for operation as csrc/core/init_transforms.h and
csrc/cpu/init_api.cpp (docs/random.md, "trunc_normal" and "sparse")."""
from __future__ import annotations

import numpy as np

from . import _constants as K
from . import _half
from . import _transforms as T
from ._philox import generate

f64 = np.float64


def init_trunc_normal(out, seed, offset, p_lo, p_span, mean, scale, lo, hi):
    if _half.is_half(out):   # the float32 sample (bounds already 16-bit values), rounded as stored
        tmp = np.empty(out.shape, np.float32)
        init_trunc_normal(tmp, seed, offset, p_lo, p_span, mean, scale, lo, hi)
        _half.store(out, tmp)
        return
    t = out.dtype.type
    lo, hi = t(lo), t(hi)
    p_lo, p_span, mean, scale = f64(p_lo), f64(p_span), f64(mean), f64(scale)

    def sample(w0, w1):
        p = p_lo + p_span * T.uniform53(w0, w1)
        p = T.vmin(T.vmax(p, K.P_MIN), K.P_MAX)
        x = (mean + scale * T.ndtri_as241(p)).astype(out.dtype)
        return T.vmin(T.vmax(x, lo), hi)

    generate(out, seed, offset, 2, lambda w: [sample(w[0], w[1]), sample(w[2], w[3])])


def init_sparse_keep(w, keys, k):
    """In each row of the 2-D w, zero all but the k smallest (key, column) pairs."""
    rows, fan_in = w.shape
    if rows == 0 or fan_in == 0 or k >= fan_in:
        return
    if k == 0:
        w[...] = 0
        return
    comp = (keys.reshape(rows, fan_in).astype(np.uint64) << np.uint64(32)) | np.arange(fan_in, dtype=np.uint64)
    kth = np.partition(comp, k - 1, axis=1)[:, k - 1:k]
    w[comp > kth] = 0
