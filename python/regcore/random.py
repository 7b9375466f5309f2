"""Random draws from the counter-based stream: bits, uniform, normal.

Each has an allocating form (``uniform(shape, ...)``) and an in-place form (``uniform_(x, ...)``).
Allocating forms take ``like=`` to allocate with another array's library on its device.
The stream layout is the public contract of docs/random.md.
"""
from __future__ import annotations

import numpy as np

from . import _arrays, _dtypes, _validate
from ._backend import backend_for
from ._errors import value_error
from .generator import blocks_for, resolve

__all__ = ["bits", "bits_", "uniform", "uniform_", "normal", "normal_"]

_U32 = (np.dtype(np.uint32),)


def _alloc(shape, dtype, like):
    shape = _validate.shape("shape", shape)
    _arrays.check_like(like)
    return _arrays.empty_like_place(like, shape, dtype)


def uniform_bounds(dtype: np.dtype, low, high, names=("low", "high")):
    """low and high as floats: real, finite and within dtype's range (their order unchecked)."""
    nlo, nhi = names
    return (_validate.representable(nlo, _validate.real(nlo, low), dtype),
            _validate.representable(nhi, _validate.real(nhi, high), dtype))


def uniform_params(dtype: np.dtype, low, high, names=("low", "high")):
    """(lo, span, hi) in the arithmetic's precision: lo + span*u, clamped to hi < high.
    ``names``: what the caller calls the bounds (init.uniform_ calls them a and b).

    A 16-bit dtype draws in float32 and rounds as it stores: its bounds are first rounded to the
    16-bit format, and hi is the largest 16-bit value below high, so the rounded draws stay in
    [low, high) too (rounding is monotonic and keeps 16-bit values unchanged)."""
    nlo, nhi = names
    low, high = uniform_bounds(dtype, low, high, names)
    c = _dtypes.compute(dtype).type
    lo, top = _dtypes.round_scalar(dtype, low), _dtypes.round_scalar(dtype, high)
    if not c(lo) < c(top):
        raise value_error(nhi, f"a value > {nlo}={low} in {dtype}", high)
    with np.errstate(over="ignore"):
        span = c(c(top) - c(lo))
    if not np.isfinite(span):
        raise value_error(nhi, f"{nhi} - {nlo} finite in {_dtypes.compute(dtype)}", high)
    hi = _dtypes.next_below(dtype, top)
    return c(lo), span, c(hi)


def normal_params(dtype: np.dtype, mean, std):
    mean = _validate.representable("mean", _validate.real("mean", mean), dtype)
    std = _validate.representable("std", _validate.nonnegative("std", std), dtype)
    c = _dtypes.compute(dtype).type
    return c(mean), c(std)


# --- bits

def bits_(out, *, generator=None):
    """Fill a uint32 array with raw stream words (element i = word i of the call's range)."""
    ref = _arrays.inspect(out, "out", writeable=True, dtypes=_U32)
    be = backend_for(ref, "out")
    g = resolve(generator)
    offset = g.reserve(blocks_for(ref.size, 4))
    be.random_bits(ref.target, g.seed, offset)
    return out


def bits(shape, *, generator=None, like=None):
    g = resolve(generator)
    out, _ = _alloc(shape, np.dtype(np.uint32), like)
    return bits_(out, generator=g)


# --- uniform

def uniform_(x, low=0.0, high=1.0, *, generator=None):
    """Fill x in place with U[low, high) (float32, float64, bfloat16 or float16)."""
    ref = _arrays.inspect(x, "x", writeable=True, dtypes=_dtypes.all_floats())
    lo, span, hi = uniform_params(ref.dtype, low, high)
    be = backend_for(ref)
    g = resolve(generator)
    offset = g.reserve(blocks_for(ref.size, ref.dtype.itemsize))
    be.random_uniform(ref.target, g.seed, offset, lo, span, hi)
    return x


def uniform(shape, low=0.0, high=1.0, *, dtype=np.float32, generator=None, like=None):
    dtype = _validate.float_dtype("dtype", dtype, half=True)
    uniform_params(dtype, low, high)  # validate before allocating
    g = resolve(generator)
    out, _ = _alloc(shape, dtype, like)
    return uniform_(out, low, high, generator=g)


# --- normal

def normal_(x, mean=0.0, std=1.0, *, generator=None):
    """Fill x in place with N(mean, std^2) (Box-Muller on the stream; docs/random.md)."""
    ref = _arrays.inspect(x, "x", writeable=True, dtypes=_dtypes.all_floats())
    m, s = normal_params(ref.dtype, mean, std)
    be = backend_for(ref)
    g = resolve(generator)
    offset = g.reserve(blocks_for(ref.size, ref.dtype.itemsize))
    be.random_normal(ref.target, g.seed, offset, m, s)
    return x


def normal(shape, mean=0.0, std=1.0, *, dtype=np.float32, generator=None, like=None):
    dtype = _validate.float_dtype("dtype", dtype, half=True)
    normal_params(dtype, mean, std)
    g = resolve(generator)
    out, _ = _alloc(shape, dtype, like)
    return normal_(out, mean, std, generator=g)
