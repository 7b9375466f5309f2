"""Random fills in NumPy, following docs/random.md word for word."""
from __future__ import annotations

import numpy as np

from . import _half, _transforms as T
from ._philox import generate


def _f32_draw(out, fill):
    """A 16-bit out (float16, or bfloat16 as uint16) is the float32 draw rounded as it is stored."""
    tmp = np.empty(out.shape, np.float32)
    fill(tmp)
    _half.store(out, tmp)


def random_bits(out, seed, offset):
    generate(out, seed, offset, 4, lambda w: list(w))


def random_uniform(out, seed, offset, lo, span, hi):
    if _half.is_half(out):
        return _f32_draw(out, lambda t: random_uniform(t, seed, offset, lo, span, hi))
    if out.dtype == np.float32:
        generate(out, seed, offset, 4, lambda w: [T.vmin(lo + span * T.uniform24(x), hi) for x in w])
    else:
        generate(out, seed, offset, 2, lambda w: [T.vmin(lo + span * T.uniform53(w[0], w[1]), hi),
                                                  T.vmin(lo + span * T.uniform53(w[2], w[3]), hi)])


def random_normal(out, seed, offset, mean, std):
    if _half.is_half(out):
        return _f32_draw(out, lambda t: random_normal(t, seed, offset, mean, std))
    if out.dtype == np.float32:
        def tr(w):
            z0, z1 = T.box_muller_f32(w[0], w[1])
            z2, z3 = T.box_muller_f32(w[2], w[3])
            return [mean + std * z for z in (z0, z1, z2, z3)]
        generate(out, seed, offset, 4, tr)
    else:
        def tr(w):
            z0, z1 = T.box_muller_f64(*w)
            return [mean + std * z0, mean + std * z1]
        generate(out, seed, offset, 2, tr)
