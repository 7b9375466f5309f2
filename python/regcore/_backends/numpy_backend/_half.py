"""The 16-bit formats <-> float32, step for step as csrc/core/half.h (integer operations and one
float32 addition), so the NumPy backend stores the same bits as every native one.

16-bit data arrives here as float16 arrays, and bfloat16 as a uint16 view (regcore/_dtypes.py;
an ml_dtypes bfloat16 array is turned into that view at the backend's entry, _kernel_views.py).
``load(a)`` gives float32 values, ``store(dst, f32)`` rounds into dst.
"""
from __future__ import annotations

import numpy as np

_U32 = np.uint32


def bf16_to_f32(h: np.ndarray) -> np.ndarray:
    u = h.astype(_U32) << _U32(16)
    u |= np.where((u & _U32(0x7FFFFFFF)) > _U32(0x7F800000), _U32(0x00400000), _U32(0))  # quiet NaN
    return u.view(np.float32)


def f32_to_bf16(f: np.ndarray) -> np.ndarray:
    u = np.ascontiguousarray(f, dtype=np.float32).view(_U32)
    r = (u + _U32(0x7FFF) + ((u >> _U32(16)) & _U32(1))) >> _U32(16)   # ties to even (wraps like C)
    nan = (u & _U32(0x7FFFFFFF)) > _U32(0x7F800000)
    r = np.where(nan, (u >> _U32(16)) | _U32(0x40), r)
    return r.astype(np.uint16)


def f16_to_f32(h: np.ndarray) -> np.ndarray:
    h = h.view(np.uint16).astype(_U32)
    sign = (h & _U32(0x8000)) << _U32(16)
    e = (h >> _U32(10)) & _U32(0x1F)
    m = h & _U32(0x3FF)
    special = sign | _U32(0x7F800000) | (m << _U32(13)) | np.where(m != 0, _U32(0x00400000), _U32(0))
    sub = sign | (m.astype(np.float32) * np.float32(2.0 ** -24)).view(_U32)
    normal = sign | ((e + _U32(112)) << _U32(23)) | (m << _U32(13))
    u = np.where(e == 0x1F, special, np.where(e == 0, sub, normal))
    return u.astype(_U32).view(np.float32)


def f32_to_f16(f: np.ndarray) -> np.ndarray:
    u = np.ascontiguousarray(f, dtype=np.float32).view(_U32)
    sign = (u >> _U32(16)) & _U32(0x8000)
    a = u & _U32(0x7FFFFFFF)
    nan = _U32(0x7E00) | ((a >> _U32(13)) & _U32(0x3FF))
    with np.errstate(all="ignore"):   # NaN lanes are computed too, then replaced
        sub = (a.view(np.float32) + np.float32(0.5)).view(_U32) - _U32(0x3F000000)
        normal = (a + _U32(0xC8000FFF) + ((a >> _U32(13)) & _U32(1))) >> _U32(13)
    o = np.where(a > 0x7F800000, nan,
                 np.where(a >= 0x47800000, _U32(0x7C00),
                          np.where(a < 0x38800000, sub, normal)))
    return (o | sign).astype(np.uint16).view(np.float16)


def is_half(a: np.ndarray) -> bool:
    """Whether a holds 16-bit data (float16, or bfloat16 as its uint16 view)."""
    return a.dtype == np.float16 or a.dtype == np.uint16


def load(a: np.ndarray) -> np.ndarray:
    """Values of a in its compute type: float32 for the 16-bit formats, a itself otherwise."""
    if a.dtype == np.uint16:
        return bf16_to_f32(a)
    if a.dtype == np.float16:
        return f16_to_f32(a)
    return a


def round_to(dst_dtype: np.dtype, f: np.ndarray) -> np.ndarray:
    """float32 values f rounded to the 16-bit format of dst_dtype (uint16 = bfloat16)."""
    if dst_dtype == np.uint16:
        return f32_to_bf16(f)
    return f32_to_f16(f)


def store(dst: np.ndarray, f: np.ndarray) -> None:
    """dst[...] = f, rounded to dst's storage format when that is a 16-bit one."""
    if is_half(dst):
        dst[...] = round_to(dst.dtype, f).reshape(dst.shape)
    else:
        dst[...] = f


def compute_dtype(a: np.ndarray) -> np.dtype:
    return np.dtype(np.float32) if is_half(a) else a.dtype
