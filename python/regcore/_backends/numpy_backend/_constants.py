"""The float constants of csrc/core/float_math.h, as exact hex values (a test checks that the
two files list the same numbers in the same order)."""
from __future__ import annotations

import numpy as np

_h = float.fromhex


def _f32(*hexes):
    return [np.float32(_h(x)) for x in hexes]


def _f64(*hexes):
    return [np.float64(_h(x)) for x in hexes]


# fconst<float>: SQRT2, LN2_HI, LN2_LO, HALF_PI
F32 = dict(zip(("SQRT2", "LN2_HI", "LN2_LO", "HALF_PI"),
               _f32("0x1.6a09e6p+0", "0x1.62e4p-1", "0x1.7f7d1cp-20", "0x1.921fb6p+0")))
F64 = dict(zip(("SQRT2", "LN2_HI", "LN2_LO", "HALF_PI"),
               _f64("0x1.6a09e667f3bcdp+0", "0x1.62e42feep-1", "0x1.a39ef35793c76p-33",
                    "0x1.921fb54442d18p+0")))

# atanh tail 1/3, 1/5, ..., lowest order first
ATANH_F32 = _f32("0x1.555556p-2", "0x1.99999ap-3", "0x1.24924ap-3", "0x1.c71c72p-4")
ATANH_F64 = _f64("0x1.5555555555555p-2", "0x1.999999999999ap-3", "0x1.2492492492492p-3",
                 "0x1.c71c71c71c71cp-4", "0x1.745d1745d1746p-4", "0x1.3b13b13b13b14p-4",
                 "0x1.1111111111111p-4", "0x1.e1e1e1e1e1e1ep-5", "0x1.af286bca1af28p-5",
                 "0x1.8618618618618p-5")
# Taylor coefficients of sin (x^3, x^5, ...) and cos (x^2, x^4, ...), lowest order first
SIN_F32 = _f32("-0x1.555556p-3", "0x1.111112p-7", "-0x1.a01a02p-13", "0x1.71de3ap-19",
               "-0x1.ae6456p-26", "0x1.612462p-33")
COS_F32 = _f32("-0x1p-1", "0x1.555556p-5", "-0x1.6c16c2p-10", "0x1.a01a02p-16",
               "-0x1.27e4fcp-22", "0x1.1eed8ep-29", "-0x1.93974ap-37")
SIN_F64 = _f64("-0x1.5555555555555p-3", "0x1.1111111111111p-7", "-0x1.a01a01a01a01ap-13",
               "0x1.71de3a556c734p-19", "-0x1.ae64567f544e4p-26", "0x1.6124613a86d09p-33",
               "-0x1.ae7f3e733b81fp-41", "0x1.952c77030ad4ap-49", "-0x1.2f49b46814157p-57",
               "0x1.71b8ef6dcf572p-66")
COS_F64 = _f64("-0x1p-1", "0x1.5555555555555p-5", "-0x1.6c16c16c16c17p-10",
               "0x1.a01a01a01a01ap-16", "-0x1.27e4fb7789f5cp-22", "0x1.1eed8eff8d898p-29",
               "-0x1.93974a8c07c9dp-37", "0x1.ae7f3e733b81fp-45", "-0x1.6827863b97d97p-53",
               "0x1.e542ba4020225p-62", "-0x1.0ce396db7f853p-70")
