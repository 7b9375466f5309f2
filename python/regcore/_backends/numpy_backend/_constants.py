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

# ---- init family: AS241 (PPND16) coefficients of ndtri_as241, float64, constant term first;
# the denominators' leading 1.0 is implied. Wichura, Applied Statistics 37(3) 477-484 (1988).
AS241 = {
    "SPLIT1_SQ": np.float64(_h("0x1.71eb851eb851fp-3")),  # 0.425^2 = 0.180625
    "CONST2": np.float64(_h("0x1.999999999999ap+0")),     # 1.6
}
AS241_A = _f64("0x1.b18d91e9eef75p+1", "0x1.0a4888b1a436ep+7", "0x1.ece5d2213c0ccp+10",
               "0x1.ad1d8cd4ee71dp+13", "0x1.66c3e869b752ap+15", "0x1.06c1c55b78f2p+16",
               "0x1.052d26b2e45e4p+15", "0x1.39a296f7d925ep+11")
AS241_B = _f64("0x1.5281b386e1ab5p+5", "0x1.5797efdc8b3f7p+9", "0x1.512322e75c89fp+12",
               "0x1.4b772d5d65266p+14", "0x1.3317caa64f4bep+15", "0x1.c0e457cb1ae76p+14",
               "0x1.46a7eca984b69p+12")
AS241_C = _f64("0x1.6c665fde9526ap+0", "0x1.2857748cab19bp+2", "0x1.713f71462256ap+2",
               "0x1.d2ecb1a3d02c4p+1", "0x1.453cc085375b2p+0", "0x1.ef2abb9b85c37p-3",
               "0x1.744eb6c45ec67p-6", "0x1.9615ac0b7ace9p-11")
AS241_D = _f64("0x1.06cefbb46a449p+1", "0x1.ad278e6526633p+0", "0x1.61292f23385c9p-1",
               "0x1.2f5123394f04p-3", "0x1.f207a7eab17bfp-7", "0x1.1f18cbfdf2728p-11",
               "0x1.20d3f686439e4p-30")
AS241_E = _f64("0x1.aa1b1c13ee526p+2", "0x1.5daea6e875003p+2", "0x1.c8ea6461fa445p+0",
               "0x1.2fad9315255cfp-2", "0x1.b2b41193b4ee7p-6", "0x1.45c1908425345p-10",
               "0x1.c6ec6cc59e02ap-16", "0x1.afb74d693bf93p-23")
AS241_F = _f64("0x1.331d34fc7d77fp-1", "0x1.186eb183443fbp-3", "0x1.e76f93215462ap-7",
               "0x1.9c8bc979dc5d7p-11", "0x1.35c2c496374bfp-16", "0x1.31446f740b9ep-23",
               "0x1.269bff1f8c19p-49")
# trunc_normal's clamp of p (core/init_transforms.h)
P_MIN = np.float64(_h("0x1p-1000"))
P_MAX = np.float64(_h("0x1.fffffffffffffp-1"))
