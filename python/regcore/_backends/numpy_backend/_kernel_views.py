"""ml_dtypes' bfloat16 arrays taken as the kernels' uint16 views, at the backend's entry.

The kernels here read bfloat16 data from the uint16 view the checked array API hands every
backend (regcore/_dtypes.py, ``kernel_view``; _half.py decodes it). The trusted entry points
that regcore.torch's cached plans call pass their NumPy views as they are, and a bfloat16
tensor's view is an ml_dtypes bfloat16 array (torch/_fastpath.py), which the native backends
take as well (csrc/bindings/array_args.h). Reaching a kernel here, such an array is a float
dtype the kernels do not model: a KeyError in the activations' constant tables, or bfloat16
arithmetic in ml_dtypes with a rounding at every step instead of float32 rounded once (other
bits than every other backend, from a signature's second call on). One wrapper around every
kernel the backend exports makes both kinds of view the same data.
"""
from __future__ import annotations

import functools

import numpy as np

from ... import _dtypes

_U16 = np.dtype(np.uint16)


def _kernel_view(a):
    """a, with every ml_dtypes bfloat16 array in it (itself, or an item of a list or tuple of
    arrays, as the multi-tensor kernels take) as its uint16 view of the same memory."""
    if isinstance(a, np.ndarray):
        return a.view(_U16) if a.dtype.kind == "V" and _dtypes.is_bf16(a.dtype) else a
    if a.__class__ is list or a.__class__ is tuple:
        return a.__class__(_kernel_view(v) for v in a)
    return a


def taking_bfloat16_arrays(kernel):
    """kernel, called with ml_dtypes bfloat16 arrays handed over as uint16 views."""

    @functools.wraps(kernel)
    def call(*args, **kwargs):
        return kernel(*[_kernel_view(a) for a in args], **{k: _kernel_view(v) for k, v in kwargs.items()})
    return call
