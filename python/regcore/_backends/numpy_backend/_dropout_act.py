"""The activations of bias_act_dropout, operation for operation as csrc/core/dropout_act.h and
the activation_fd template of csrc/core/dropout.h (same constants, same order, same rounding:
every step is one IEEE operation in the array's dtype), so the numpy backend's y and dx are
bit-identical with the native backends. Read the C++ header for the why of each step."""
from __future__ import annotations

import numpy as np

from . import _transforms as T
from ._constants import F32, F64

_EXP = {
    np.dtype(np.float32): dict(INV_LN2=float.fromhex("0x1.715476p+0"), MAGIC=float.fromhex("0x1.8p+23"),
                               MAGIC_BITS=0x4B400000, BIAS_I=127, LO=-110.0, HI=89.0, SPLIT=64.0,
                               MANT_BITS=23, SIGN_MASK=0x80000000, CLAMP=14.8, HALF_MASK=0xFFFFF000,
                               U=np.uint32, BITS=32, C=F32,
                               TAIL=(1.0 / 5040.0, 1.0 / 720.0, 1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0)),
    np.dtype(np.float64): dict(INV_LN2=float.fromhex("0x1.71547652b82fep+0"), MAGIC=float.fromhex("0x1.8p+52"),
                               MAGIC_BITS=0x4338000000000000, BIAS_I=1023, LO=-750.0, HI=710.0, SPLIT=512.0,
                               MANT_BITS=52, SIGN_MASK=0x8000000000000000, CLAMP=38.7,
                               HALF_MASK=0xFFFFFFFFF8000000, U=np.uint64, BITS=64, C=F64,
                               TAIL=(1.0 / 6227020800.0, 1.0 / 479001600.0, 1.0 / 39916800.0,
                                     1.0 / 3628800.0, 1.0 / 362880.0, 1.0 / 40320.0, 1.0 / 5040.0,
                                     1.0 / 720.0, 1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0)),
}

# Cephes ndtr.c erf/erfc coefficients, highest power first (Q, S, U monic: leading 1 implied).
_T = (9.60497373987051638749E0, 9.00260197203842689217E1, 2.23200534594684319226E3,
      7.00332514112805075473E3, 5.55923013010394962768E4)
_U = (3.35617141647503099647E1, 5.21357949780152679795E2, 4.59432382970980127987E3,
      2.26290000613890934246E4, 4.92673942608635921086E4)
_P = (2.46196981473530512524E-10, 5.64189564831068821977E-1, 7.46321056442269912687E0,
      4.86371970985681366614E1, 1.96520832956077098242E2, 5.26445194995477358631E2,
      9.34528527171957607540E2, 1.02755188689515710272E3, 5.57535335369399327526E2)
_Q = (1.32281951154744992508E1, 8.67072140885989742329E1, 3.54937778887819891062E2,
      9.75708501743205489753E2, 1.82390916687909736289E3, 2.24633760818710981792E3,
      1.65666309194161350182E3, 5.57535340817727675546E2)
_R = (5.64189583547755073984E-1, 1.27536670759978104416E0, 5.01905042251180477414E0,
      6.16021097993053585195E0, 7.40974269950448939160E0, 2.97886665372100240670E0)
_S = (2.26052863220117276590E0, 9.39603524938001434673E0, 1.20489539808096656605E1,
      1.70814450747565897222E1, 9.60896809063285878198E0, 3.36907645100081516050E0)


def _horner(x, coefs, monic):
    t = x.dtype.type
    a = x + t(coefs[0]) if monic else np.full_like(x, t(coefs[0]))
    for c in coefs[1:]:
        a = a * x + t(c)
    return a


def _exp_parts(x, x_lo):
    k = _EXP[x.dtype]
    t, U = x.dtype.type, k["U"]
    x = T.vmin(T.vmax(x, t(k["LO"])), t(k["HI"]))
    magic = t(k["MAGIC"])
    kf = (x * t(k["INV_LN2"]) + magic) - magic
    r = (x - kf * k["C"]["LN2_HI"]) + (x_lo - kf * k["C"]["LN2_LO"])
    pos = x > t(0)
    s = np.where(pos, t(k["SPLIT"]), t(-k["SPLIT"]))
    e = ((kf - s) + magic).view(U) + U((k["BIAS_I"] - k["MAGIC_BITS"]) % (1 << k["BITS"]))
    a = (e << U(k["MANT_BITS"])).view(x.dtype)
    q = np.full_like(r, t(k["TAIL"][0]))
    for c in k["TAIL"][1:]:
        q = t(c) + r * q
    q = t(0.5) + r * q
    p = r + (r * r) * q
    b = np.where(pos, t(2.0 ** k["SPLIT"]), t(2.0 ** -k["SPLIT"]))
    return p, a, b


def _exp_from(p, a, b):
    return ((p.dtype.type(1) + p) * a) * b


def _expm1_from(p, a, b):
    return ((a * p) * b) + ((a * b) - p.dtype.type(1))


def _abs(x):
    k = _EXP[x.dtype]
    return (x.view(k["U"]) & k["U"](k["SIGN_MASK"] - 1)).view(x.dtype)


def _with_sign_of(mag, x):
    U = _EXP[x.dtype]["U"]
    return (mag.view(U) | (x.view(U) & U(_EXP[x.dtype]["SIGN_MASK"]))).view(x.dtype)


def _exp(x):
    return _exp_from(*_exp_parts(x, np.zeros_like(x)))


def _sigmoid(z):
    t = z.dtype.type
    u = _exp(_abs(z) * t(-1))
    r = t(1) / (t(1) + u)
    ur = u * r
    return np.where(t(0) > z, ur, r), ur * r


def _tanh(z):
    t = z.dtype.type
    p, a, b = _exp_parts(_abs(z) * t(-2), np.zeros_like(z))
    m = _expm1_from(p, a, b)
    u = _exp_from(p, a, b)
    f = _with_sign_of((m * t(-1)) / (t(2) + m), z)
    up = t(1) + u
    return f, (t(4) * u) / (up * up)


def _normal_cdf_pdf(z):
    k = _EXP[z.dtype]
    t, U = z.dtype.type, k["U"]
    zc = T.vmin(T.vmax(z, t(-k["CLAMP"])), t(k["CLAMP"]))
    zh = (zc.view(U) & U(k["HALF_MASK"])).view(z.dtype)
    hi = (zh * zh) * t(-0.5)
    lo = ((zc - zh) * (zc + zh)) * t(-0.5)
    g = _exp_from(*_exp_parts(hi, lo))
    pdf = g * t(0.39894228040143267794)
    x = _abs(zc) * t(0.70710678118654752440)
    xx = x * x
    half = (t(1) - (x * _horner(xx, _T, False)) / _horner(xx, _U, True)) * t(0.5)
    mid = x > t(1)
    if mid.any():
        far = x > t(8)
        rat = _horner(x, _P, False) / _horner(x, _Q, True)
        if far.any():
            rat = np.where(far, _horner(x, _R, False) / _horner(x, _S, True), rat)
        half = np.where(mid, (g * rat) * t(0.5), half)
    return np.where(zc > t(0), t(1) - half, half), pdf


def activation(act: int, z: np.ndarray):
    """(f(z), f'(z)) in z's dtype: activation_fd of csrc/core/dropout.h."""
    t = z.dtype.type
    z = np.asarray(z)
    with np.errstate(all="ignore"):
        if act == 1:   # PyTorch's relu: NaN and -0 pass; f' = 0 where z <= 0, 1 elsewhere (NaN too)
            return np.where(z < t(0), t(0), z), np.where(z <= t(0), t(0), t(1))
        if act == 2:
            cdf, pdf = _normal_cdf_pdf(z)
            return z * cdf, cdf + z * pdf
        if act == 3:
            c, k = t(0.79788456080286535588), t(0.044715)
            z2 = z * z
            u = c * (z + k * z2 * z)
            s, sd = _sigmoid(t(2) * u)
            return z * s, s + z * (t(2) * sd) * (c * (t(1) + t(3) * k * z2))
        if act == 4:
            return _tanh(z)
        if act == 5:
            return _sigmoid(z)
        return z, np.ones_like(z)


__all__ = ["activation"]
