"""Words -> floats, operation for operation as csrc/core/float_math.h and random_transforms.h
(the same IEEE additions, multiplications, divisions and square roots in the same order, which
is why the native backends give the same bits)."""
from __future__ import annotations

import numpy as np

from . import _constants as K

f32, f64, u32, u64 = np.float32, np.float64, np.uint32, np.uint64


def vmin(a, b):
    """b < a ? b : a, as core/scalar_ops.h and the SIMD min instructions (operands swapped there)
    order it. np.minimum differs on the two zeros (it returns its second argument when they
    compare equal) and propagates NaN from either side, so it would break bit-identity."""
    return np.where(b < a, b, a)


def vmax(a, b):
    """b > a ? b : a (see vmin)."""
    return np.where(b > a, b, a)


def _horner(z, coefs):
    """c0 + z*(c1 + z*(c2 + ...)) evaluated from the highest coefficient down."""
    p = coefs[-2] + z * coefs[-1]
    for c in reversed(coefs[:-2]):
        p = c + z * p
    return p


def log_unit(u):
    """ln(u) for u in (0, 1] (see log_unit in float_math.h)."""
    if u.dtype == f32:
        ut, mant_bits, mant_mask, one_bits, bias, C, tail = u32, 23, 0x007FFFFF, 0x3F800000, f32(127), K.F32, K.ATANH_F32
    else:
        ut, mant_bits, mant_mask, one_bits, bias, C, tail = u64, 52, 0x000FFFFFFFFFFFFF, 0x3FF0000000000000, f64(1023), K.F64, K.ATANH_F64
    ft = u.dtype.type
    b = u.view(ut)
    e = (b >> ut(mant_bits)).astype(u.dtype) - bias
    m = ((b & ut(mant_mask)) | ut(one_bits)).view(u.dtype)
    big = m > C["SQRT2"]
    m = np.where(big, m * ft(0.5), m)
    e = np.where(big, e + ft(1), e)
    s = (m - ft(1)) / (m + ft(1))
    t = s + s
    z = s * s
    lnm = t + t * (z * _horner(z, tail))
    return e * C["LN2_HI"] + (lnm + e * C["LN2_LO"])


def sincos_quarter(a):
    z = a * a
    if a.dtype == f32:
        sc, cc = K.SIN_F32, K.COS_F32
    else:
        sc, cc = K.SIN_F64, K.COS_F64
    s = a + a * (z * _horner(z, sc))
    c = a.dtype.type(1) + z * _horner(z, cc)
    return s, c


def quadrant_rotate(c, s, q):
    """(cos, sin) of q*pi/2 + a; q in the bit type of c."""
    ut = u32 if c.dtype == f32 else u64
    shift = ut(30 if c.dtype == f32 else 62)
    cb, sb = c.view(ut), s.view(ut)
    swap = ut(0) - (q & ut(1))
    diff = (cb ^ sb) & swap
    cos_t = ((cb ^ diff) ^ (((q + ut(1)) & ut(2)) << shift)).view(c.dtype)
    sin_t = ((sb ^ diff) ^ ((q & ut(2)) << shift)).view(c.dtype)
    return cos_t, sin_t


def box_muller_f32(wa, wb):
    u1 = ((wa >> u32(8)) + u32(1)).astype(f32) * f32(2.0**-24)
    r = np.sqrt(log_unit(u1) * f32(-2))
    a = (((wb >> u32(6)) & u32(0xFFFFFF)).astype(f32) * f32(2.0**-24)) * K.F32["HALF_PI"]
    s, c = sincos_quarter(a)
    ct, st = quadrant_rotate(c, s, wb >> u32(30))
    return r * ct, r * st


def box_muller_f64(w0, w1, w2, w3):
    k = ((w0 >> u32(5)).astype(f64) * f64(2.0**26) + (w1 >> u32(6)).astype(f64)) + f64(1)
    r = np.sqrt(log_unit(k * f64(2.0**-53)) * f64(-2))
    f = ((w2 & u32(0x3FFFFFFF)).astype(f64) * f64(2.0**23) + (w3 >> u32(9)).astype(f64)) * f64(2.0**-53)
    a = f * K.F64["HALF_PI"]
    s, c = sincos_quarter(a)
    ct, st = quadrant_rotate(c, s, (w2 >> u32(30)).astype(u64))
    return r * ct, r * st


def uniform24(w):
    return (w >> u32(8)).astype(f32) * f32(2.0**-24)


def uniform53(wa, wb):
    return ((wa >> u32(5)).astype(f64) * f64(2.0**26) + (wb >> u32(6)).astype(f64)) * f64(2.0**-53)


# ---- init family

def _horner_desc(r, coefs):
    """sum c_i r^i (coefs constant term first) as ndtri_as241 writes it: ((c_n*r + c_n-1)*r + ...)."""
    p = coefs[-1] * np.ones_like(r)
    for c in reversed(coefs[:-1]):
        p = p * r + c
    return p


def ndtri_as241(p):
    """Phi^-1(p) for float64 p in [2^-1000, 1 - 2^-53] (see ndtri_as241 in float_math.h)."""
    one = f64(1)
    q = p - f64(0.5)
    qq = q * q
    r = K.AS241["SPLIT1_SQ"] - qq
    central = (q * _horner_desc(r, K.AS241_A)) / _horner_desc(r, [one] + K.AS241_B)
    t = vmin(p, one - p)
    s = np.sqrt(log_unit(t) * f64(-1))
    r = s - K.AS241["CONST2"]
    mid = _horner_desc(r, K.AS241_C) / _horner_desc(r, [one] + K.AS241_D)
    r = s - f64(5)
    far = _horner_desc(r, K.AS241_E) / _horner_desc(r, [one] + K.AS241_F)
    tail = np.where(s > f64(5), far, mid)
    tail = np.where(f64(0) > q, tail * f64(-1), tail)
    return np.where(qq > K.AS241["SPLIT1_SQ"], tail, central)
