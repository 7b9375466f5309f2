"""Checks the PyTorch layer makes before anything changes state (a generator draw, a running
statistic, a parameter): the ones regcore's array API would make only after a draw, and the
ones that are about torch itself (dtypes it has and NumPy has not, sparse and meta tensors)."""
from __future__ import annotations

import torch

from .. import _dtypes, _native, _validate
from .._errors import NO_CUDA_BUILD

FLOAT_DTYPES = (torch.float32, torch.float64)
_STRIDED = torch.strided
_INF = float("inf")
_HALF = (torch.float16, torch.bfloat16)


def float_tensor(t, name: str, *, half: bool = False) -> None:
    """t is a dense float tensor on a device regcore can run on: float32/float64, and also
    bfloat16/float16 where ``half`` (the operators whose kernels take 16-bit data,
    docs/precision.md; bfloat16 tensors are viewed through ml_dtypes)."""
    if isinstance(t, torch.Tensor) and t.dtype in FLOAT_DTYPES and t.is_cpu and t.layout == _STRIDED:
        return   # the common case, in one test
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor, got {type(t).__name__}")
    dtype = t.dtype
    if dtype not in FLOAT_DTYPES:
        if dtype in _HALF and half:
            if dtype == torch.bfloat16 and t.device.type == "cpu" and _dtypes.bfloat16() is None:
                raise TypeError(f"{name}: {_dtypes.INSTALL_ML_DTYPES}")
        elif dtype in _HALF:
            raise TypeError(f"{name}: regcore.torch does not support {dtype} in this operator yet "
                            "(docs/precision.md lists the ones that take 16-bit data); use float32 or "
                            "float64, e.g. run this module outside autocast or call .float() on its input")
        else:
            kinds = "float32, float64, bfloat16 or float16" if half else "float32 or float64"
            raise TypeError(f"{name}: expected a {kinds} tensor, got {dtype}")
    if t.layout != _STRIDED:
        raise TypeError(f"{name}: expected a dense (strided) tensor, got layout {t.layout}")
    device = t.device.type
    if device == "cuda":
        if _native.cuda is None:
            raise RuntimeError(NO_CUDA_BUILD.format(name=name))
    elif device not in ("cpu", "meta"):
        raise ValueError(f"{name}: expected a CPU or CUDA tensor, got a tensor on {t.device}")


def numpy_dtype(dtype):
    """The NumPy dtype regcore's array API reports for a torch float dtype."""
    if dtype == torch.bfloat16:
        return _dtypes.require_bfloat16()
    return {torch.float32: _dtypes.F32, torch.float64: _dtypes.F64, torch.float16: _dtypes.F16}[dtype]


def same_device(t, ref, name: str, ref_name: str = "input") -> None:
    if t.device != ref.device:
        raise ValueError(f"{name}: expected a tensor on {ref.device} like {ref_name}, got one on {t.device}")


def same_dtype(t, ref, name: str, ref_name: str = "input") -> None:
    if t.dtype != ref.dtype:
        raise TypeError(f"{name}: expected dtype {ref.dtype} (the dtype of {ref_name}), got {t.dtype}")


# A Python float that passes is returned as it is (what _validate returns for it: float(value));
# anything else, NaN included, takes _validate's checks and errors.
#
# Under torch.compile(dynamic=True) (and automatic dynamic shapes once a float changed between
# calls) dynamo traces a module's p or std as a symbolic float, which is not a Python float:
# _validate's math.isnan broke the graph on it. A value that passes the comparison (NaN never
# does) is returned as it is there, and the comparison becomes a guard of the compiled graph;
# one that fails is made concrete for _validate's error.
_SYMBOLIC = (torch.SymFloat, torch.SymInt)
_compiling = torch.compiler.is_compiling


def probability(p, name: str = "p") -> float:
    if p.__class__ is float and 0.0 <= p <= 1.0:
        return p
    if _compiling() or isinstance(p, _SYMBOLIC):
        if 0.0 <= p <= 1.0:
            return p
        p = float(p)
    return _validate.probability(name, p)


def nonnegative(value, name: str) -> float:
    if value.__class__ is float and 0.0 <= value < _INF:
        return value
    if _compiling() or isinstance(value, _SYMBOLIC):
        if 0.0 <= value < _INF:
            return value
        value = float(value)
    return _validate.nonnegative(name, value)


def choice(value, name: str, options) -> str:
    if value.__class__ is str and value in options:   # (the common case: a module's setting, every call)
        return value
    return _validate.choice(name, value, options)
