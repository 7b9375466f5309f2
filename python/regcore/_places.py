"""Where an array lives (its library and device) and moving small float64 arrays between places.

For code written once against an Array API namespace (``xp``) that keeps state between calls, as
the preprocessing classes do: the state stays in the library and on the device of the data it was
computed from, and is moved to another place only on request (``moved``), never implicitly.
The namespaces are array-api-compat's (its NumPy namespace for NumPy arrays too), so the same
functions (``astype``, ``isdtype``, ``linalg.eigh``, ``flip`` with ``axis=``) exist everywhere.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Place:
    lib: str       # "numpy", "torch", "cupy", ...: the array type's top-level module
    device: Any    # array-api-compat's device object ("cpu" for NumPy, torch.device, cupy Device)
    xp: Any        # the array-api-compat namespace

    @property
    def key(self) -> tuple:
        return self.lib, str(self.device)

    def same(self, other: "Place") -> bool:
        return self.key == other.key

    def describe(self) -> str:
        return f"a {self.lib} array on {self.device}"


def is_array(x) -> bool:
    """An array of a library array-api-compat knows (NumPy, PyTorch, CuPy, JAX, ...)."""
    import array_api_compat

    return isinstance(x, np.ndarray) or array_api_compat.is_array_api_obj(x)


_NUMPY = None    # the Place of every NumPy array, made once (array_namespace costs ~8 us a call)


def place_of(a) -> Place:
    global _NUMPY
    import array_api_compat

    if type(a) is np.ndarray:
        if _NUMPY is None:
            _NUMPY = Place("numpy", "cpu", array_api_compat.array_namespace(a))
        return _NUMPY
    return Place(type(a).__module__.partition(".")[0], array_api_compat.device(a),
                 array_api_compat.array_namespace(a))


def is_real(a, xp) -> bool:
    """Real numbers (floating or integer of any width), not bool, complex or anything else."""
    if isinstance(a.dtype, np.dtype):      # NumPy and CuPy: the kind letter, as NumPy has always been read
        return a.dtype.kind in "fiu"
    try:
        return bool(xp.isdtype(a.dtype, ("real floating", "integral")))
    except (TypeError, ValueError):        # a dtype the namespace has no kind for
        return False


def contiguous(a, xp):
    """a itself when C-contiguous, else a C-contiguous copy (regcore's kernels read C order)."""
    if hasattr(a, "contiguous"):           # torch: the Array API has no layout functions
        return a.contiguous()
    return xp.ascontiguousarray(a)         # NumPy and CuPy (their compat namespaces re-export it)


def moved(a, dst: Place):
    """A float64 array ``a`` as an array of dst's library on dst's device: ``a`` itself when it
    is there already, the same library's copy to another device, or through host memory
    (zero-copy where both libraries can share it) between libraries."""
    import array_api_compat

    src = place_of(a)
    if src.same(dst):
        return a
    if src.lib == dst.lib:
        return array_api_compat.to_device(a, dst.device)
    host = a if isinstance(a, np.ndarray) else np.asarray(array_api_compat.to_device(a, "cpu"))
    if dst.lib == "numpy":
        return host
    return dst.xp.asarray(host, device=dst.device)
