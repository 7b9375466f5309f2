"""Validation of scalar hyper-parameters, shared by every family. Nothing here touches arrays."""
from __future__ import annotations

import functools
import math
import numbers
import operator

import numpy as np

from . import _dtypes
from ._errors import type_error, value_error


def real(name: str, value, *, finite: bool = True) -> float:
    """A real number (bool refused); NaN always refused, infinities unless finite=False."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise type_error(name, "a real number", value)
    try:
        v = float(value)
    except OverflowError:   # an integer beyond float64 (e.g. 10**400): a bad value, not a crash
        raise value_error(name, "a number within float64's range", value) from None
    if math.isnan(v):
        raise value_error(name, "a number, not NaN", value)
    if finite and math.isinf(v):
        raise value_error(name, "a finite number", value)
    return v


@functools.lru_cache(maxsize=None)
def _largest(d: np.dtype) -> float:
    return float(_dtypes.finfo(d).max)


def representable(name: str, value: float, dtype) -> float:
    """value (already checked real) must not overflow to +-inf when stored in dtype (float32:
    |value| <= 3.4e38): std=1e300 for a float32 output is refused, not turned into inf."""
    d = np.dtype(dtype)
    top = _largest(d)   # (finfo costs more than the rest of a small random draw)
    if math.isfinite(value) and abs(value) > top:
        raise value_error(name, f"a value representable in {d} (|value| <= {top:.4g})", value)
    return value


def nonnegative(name: str, value) -> float:
    v = real(name, value)
    if v < 0:
        raise value_error(name, "a value >= 0", value)
    return v


def positive(name: str, value) -> float:
    v = real(name, value)
    if v <= 0:
        raise value_error(name, "a value > 0", value)
    return v


def probability(name: str, value) -> float:
    v = real(name, value)
    if not 0.0 <= v <= 1.0:
        raise value_error(name, "a probability in [0, 1]", value)
    return v


def integer(name: str, value, *, lo: int | None = None, hi: int | None = None) -> int:
    """An integer (Python or NumPy; bool and floats refused) within [lo, hi]."""
    if isinstance(value, (bool, np.bool_)):
        raise type_error(name, "an integer", value)
    try:
        v = operator.index(value)
    except TypeError:
        raise type_error(name, "an integer", value) from None
    if lo is not None and v < lo:
        raise value_error(name, f"an integer >= {lo}", value)
    if hi is not None and v > hi:
        raise value_error(name, f"an integer <= {hi}", value)
    return v


def choice(name: str, value, options) -> str:
    if not isinstance(value, str) or value not in options:
        raise value_error(name, "one of " + ", ".join(repr(o) for o in options), value)
    return value


def float_dtype(name: str, dtype, *, half: bool = False) -> np.dtype:
    """float32 or float64 (also bfloat16 and float16 where ``half``: families whose kernels take
    16-bit data), given as anything np.dtype accepts (or a framework dtype's name: "torch.bfloat16").
    None is refused: np.dtype(None) is float64, and a silent float64 default would double the
    memory of a caller who meant "the default" (float32 here). bfloat16 needs ml_dtypes."""
    allowed = _dtypes.all_floats() if half else _dtypes.WIDE
    # A NumPy dtype or scalar type it takes: no text built (str() of a dtype costs ~10 us, several
    # times a small draw's kernel). Everything else takes the full path below.
    if isinstance(dtype, np.dtype) or (isinstance(dtype, type) and issubclass(dtype, np.generic)):
        d = np.dtype(dtype)
        if d in allowed:
            return d
    expected = " or ".join(str(d) for d in allowed)
    if dtype is None:
        raise type_error(name, f"{expected} (omit the argument for the float32 default)", None)
    text = str(dtype).rsplit(".", 1)[-1] if str(dtype).startswith(("torch.", "cupy.", "ml_dtypes.")) else None
    if text == "bfloat16" or (isinstance(dtype, str) and dtype == "bfloat16"):
        if not half:
            raise type_error(name, expected, dtype)
        if _dtypes.bfloat16() is None:
            raise TypeError(f"{name}: {_dtypes.INSTALL_ML_DTYPES}")
        return _dtypes.require_bfloat16()
    try:
        d = np.dtype(dtype)
    except TypeError:
        d = np.dtype(text) if text is not None else None
        if d is None:
            raise type_error(name, expected, dtype) from None
    if d not in allowed:
        raise type_error(name, expected + _dtypes.hint_for(d), dtype)
    return d


def shape(name: str, value) -> tuple:
    if isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_)):
        value = (value,)
    try:
        dims = tuple(integer(f"{name}[{i}]", d, lo=0) for i, d in enumerate(value))
    except TypeError:
        raise type_error(name, "a tuple of non-negative integers", value) from None
    if math.prod(dims) > _MAX_ELEMENTS:   # else NumPy's own unnamed "Maximum allowed dimension exceeded"
        raise value_error(name, f"at most {_MAX_ELEMENTS} elements", value)
    return dims


# the most elements of an 8-byte dtype whose byte size still fits NumPy's signed index type
_MAX_ELEMENTS = np.iinfo(np.intp).max // 8
