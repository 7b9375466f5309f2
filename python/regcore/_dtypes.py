"""regcore's float dtypes on the Python side, and how 16-bit data reaches the kernels.

* float32, float64: NumPy's own.
* float16: NumPy's own; stored as IEEE binary16, computed in float32.
* bfloat16: ``ml_dtypes.bfloat16`` (an optional dependency: NumPy has no bfloat16). Computed in
  float32. Its arrays cannot travel through the buffer protocol or DLPack, so every backend is
  handed a uint16 view of the same memory (``kernel_view``); uint16 is no data dtype of any kernel,
  so the view names the format unambiguously. PyTorch's bfloat16 tensors need ml_dtypes too (their
  NumPy view is an ml_dtypes array).
"""
from __future__ import annotations

import importlib.util
import sys

import numpy as np

F32, F64, F16 = np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.float16)
WIDE = (F32, F64)

INSTALL_ML_DTYPES = "bfloat16 data needs the ml_dtypes package (pip install ml_dtypes, or regcore[bfloat16])"

_bf16 = None


def bfloat16() -> np.dtype | None:
    """ml_dtypes' bfloat16 dtype, or None when ml_dtypes is not installed."""
    global _bf16
    if _bf16 is None:
        try:
            import ml_dtypes
        except ImportError:
            return None
        _bf16 = np.dtype(ml_dtypes.bfloat16)
    return _bf16


def require_bfloat16() -> np.dtype:
    d = bfloat16()
    if d is None:
        raise TypeError(INSTALL_ML_DTYPES)
    return d


def is_bf16(d: np.dtype) -> bool:
    return d.kind == "V" and d.name == "bfloat16" or (_bf16 is not None and d == _bf16)


def is_half(d: np.dtype) -> bool:
    return d == F16 or is_bf16(d)


def _loaded_bfloat16() -> np.dtype | None:
    """bfloat16 when ml_dtypes has been imported (by the caller or by regcore), else None,
    without importing it: its import costs most of ``import regcore`` (0.7-1.0 s against ~0.2 s
    for the rest, measured with ml_dtypes 0.7), and no NumPy bfloat16 array can exist before it."""
    if _bf16 is None and "ml_dtypes" in sys.modules:
        return bfloat16()
    return _bf16


def all_floats() -> tuple:
    """Every float dtype regcore takes: float32, float64, float16, and bfloat16 once ml_dtypes is
    loaded. A tuple made before that (a module constant) still takes bfloat16 data through
    ``accepts``, which every dtype check uses."""
    bf = _loaded_bfloat16()
    return WIDE + ((F16,) if bf is None else (bf, F16))


def accepts(d: np.dtype, dtypes) -> bool:
    """d is one of dtypes, bfloat16 counting as accepted wherever float16 is (the two 16-bit
    formats are taken by the same families; see all_floats for why a set may lack bfloat16)."""
    return d in dtypes or (is_bf16(d) and F16 in dtypes)


def names(dtypes) -> list:
    """The dtype names a refusal lists: bfloat16 beside float16 where ml_dtypes is installed."""
    out = [str(d) for d in dtypes]
    if "float16" in out and "bfloat16" not in out and importlib.util.find_spec("ml_dtypes") is not None:
        out.insert(out.index("float16"), "bfloat16")
    return out


def compute(d: np.dtype) -> np.dtype:
    """The dtype arithmetic on d runs in (and scalar parameters are rounded to)."""
    return F32 if is_half(d) else d


def kernel_view(a: np.ndarray) -> np.ndarray:
    """What a backend is handed for a CPU array: bfloat16 as a uint16 view, others unchanged."""
    return a.view(np.uint16) if is_bf16(a.dtype) else a


def finfo(d: np.dtype):
    """np.finfo for every float dtype (ml_dtypes provides bfloat16's)."""
    if is_bf16(d):
        import ml_dtypes

        return ml_dtypes.finfo(d)
    return np.finfo(d)


def hint_for(got: np.dtype | None) -> str:
    """Extra words for a dtype refusal: what to install when 16-bit data was probably meant."""
    if bfloat16() is None and got is not None and np.dtype(got) in (np.dtype(np.uint16), np.dtype(np.int16)):
        return f" ({INSTALL_ML_DTYPES}; a uint16 array is not taken as bfloat16)"
    return ""


def round_scalar(d: np.dtype, value: float):
    """A Python float rounded once to dtype d (a NumPy scalar of d; nearest, ties to even). The
    16-bit formats go through float32 rounded to odd, whose sticky last bit makes the second
    rounding exact (as core/half.h's elem_store_f64), never a double rounding."""
    if not is_half(d):
        return d.type(value)
    from ._backends.numpy_backend import _half

    f = np.float32(value)
    if np.isfinite(f) and float(f) != value:
        u = int(np.array(f).view(np.uint32))
        if (float(f) > value) == (f > 0) and (u & 0x7FFFFFFF) != 0:
            u -= 1                                 # truncate toward zero
        f = np.array(u | 1, dtype=np.uint32).view(np.float32)[()]
    bits = _half.round_to(np.dtype(np.uint16) if is_bf16(d) else F16, np.array([f], np.float32))
    return bits.view(np.uint16).view(d)[0]


def next_below(d: np.dtype, v):
    """The largest value of dtype d below v (v a finite scalar of d)."""
    if not is_half(d):
        return np.nextafter(v, d.type(-np.inf))
    u = int(np.array(v, dtype=d).view(np.uint16))
    if u & 0x7FFF == 0:
        u = 0x8001                 # below +-0: the negative value of least magnitude
    elif u & 0x8000:
        u += 1                     # negative: one step away from zero
    else:
        u -= 1
    return np.array(u, dtype=np.uint16).view(d)[()]


def next_above(d: np.dtype, v):
    """The smallest value of dtype d above v."""
    return -next_below(d, -v)


def round_array(d: np.dtype, x: np.ndarray) -> np.ndarray:
    """A float64 array rounded once to dtype d (nearest, ties to even), as an array of d."""
    if not is_half(d):
        return x.astype(d)
    from ._backends.numpy_backend import _half

    x = np.asarray(x, np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        f = x.astype(np.float32)
        u = f.view(np.uint32).copy()
        inexact = np.isfinite(f) & (f.astype(np.float64) != x)
        away = (f.astype(np.float64) > x) == (f > 0)
        u = np.where(inexact & away & ((u & 0x7FFFFFFF) != 0), u - np.uint32(1), u)
        u = np.where(inexact, u | np.uint32(1), u).astype(np.uint32)   # float32 rounded to odd
    bits = _half.round_to(np.dtype(np.uint16) if is_bf16(d) else F16, u.view(np.float32))
    return bits.view(np.uint16).view(d).reshape(x.shape)
