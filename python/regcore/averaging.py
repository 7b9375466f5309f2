"""Weight averaging: the fused multi-tensor running-average update behind EMA and SWA.

``ema_update_(averages, params, decay)`` and ``swa_update_(averages, params, n_averaged)`` update
every average in place, all tensors in one parallel region (CPU) or a few launches (CUDA):

    avg <- avg + w * (param - avg)      EMA: w = 1 - decay;  SWA: w = 1 / (n_averaged + 1)

w is computed here in float64 and rounded once to each average's arithmetic type; the kernels use the
two-sided form of csrc/core/average.h (decay = 1 leaves the averages bit-unchanged, w = 1 copies
the parameters exactly). Everything is validated before anything is written: a failure raises
TypeError/ValueError naming the argument and leaves every average as it was. docs/averaging.md
has the formula, its rounding and the PyTorch helpers built on it.
"""
from __future__ import annotations

import numpy as np

from . import _arrays, _dtypes, _native, _validate
from ._backend import backend_for, cpu_backend_name, native_backend
from ._errors import type_error, value_error
from .optim._step import _as_list

__all__ = ["ema_update_", "swa_update_"]

_F32, _F64, _F16 = np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.float16)
_ALL = _dtypes.all_floats()   # float32, float64, float16 and (where ml_dtypes is installed) bfloat16


def ema_weight(decay) -> float:
    """The blend weight 1 - decay of an EMA step (decay a real number in [0, 1])."""
    decay = _validate.real("decay", decay)
    if not 0.0 <= decay <= 1.0:
        raise value_error("decay", "a value in [0, 1]", decay)
    return 1.0 - decay


def swa_weight(n_averaged) -> float:
    """The blend weight 1 / (n_averaged + 1) of an SWA step (n_averaged an integer >= 0: how many
    models the averages already hold)."""
    n = _validate.integer("n_averaged", n_averaged, lo=0, hi=2**63 - 1)   # int64, as torch's counter
    return 1.0 / (n + 1)


def _fast_numpy(avgs, params):
    """The common case, checked cheaply (plain C-contiguous NumPy arrays on the native CPU
    backend, no shared bytes): the arrays to pass, or None to take the full checks, which name
    what is wrong (as optim._step's fast path)."""
    if _native.cpu is None or cpu_backend_name() != "cpu":
        return None
    nd = np.ndarray
    for a, p in zip(avgs, params):
        if type(a) is not nd or type(p) is not nd:
            return None
        dt = a.dtype
        if (dt != _F32 and dt != _F64) or p.shape != a.shape:
            return None
        if p.dtype != dt and not (dt == _F32 and p.dtype == _F16):   # the float32-average pair of float16
            return None
        if not (a.flags.c_contiguous and a.flags.writeable and p.flags.c_contiguous):
            return None
    if not _native.cpu.sgd_disjoint(avgs + params):
        return None
    return native_backend("cpu")


def _torch_cpu_views(avgs, params):
    """NumPy views of plain dense CPU torch tensors (``Tensor.numpy()``, no copy), for the fast
    path; None when any entry is something else (the full checks then name it). The PyTorch
    layer's calls (EMA, AveragedModel) pass such tensors, and the general intake costs ~10 us a
    tensor: more than the update of a small model."""
    tensor = _arrays._torch_tensor_type()
    if tensor is None:
        return None
    views = ([], [])
    try:
        for out, xs in zip(views, (avgs, params)):
            for x in xs:
                if not isinstance(x, tensor):
                    return None
                out.append(x.numpy())   # raises for CUDA and meta tensors and ones requiring grad
    except (TypeError, RuntimeError):   # those, a dtype NumPy lacks, a conjugate view, ...
        return None
    return views


# The (average, parameter) dtype pairs the kernels take besides equal dtypes: float32 averages of
# 16-bit parameters (the mixed-precision EMA; the parameter widened exactly, the average kept in
# float32). The same list as csrc/core/average.h's REGCORE_AVG_WIDE_PAIRS.
_WIDE_PAIRS = (("float32", "bfloat16"), ("float32", "float16"))


def _pair_ok(adt, pdt) -> bool:
    return adt == pdt or (str(adt), str(pdt)) in _WIDE_PAIRS


def _dtype_mismatch(an, adt, pn, pdt) -> TypeError:
    """A pair the kernels do not take, named both ways (with the wider pairs' parameter dtypes
    when the average's dtype has some)."""
    wide = [p for a, p in _WIDE_PAIRS if a == str(adt)]
    extra = "".join(f" or {p}" for p in wide)
    return type_error(pn, f"the dtype of {an} ({adt}){extra}", f"dtype {pdt}")


def _checked(avgs, params):
    """Every pair inspected (dtype, shape, device, layout, writeability, aliasing): the backend
    and the kernel-ready targets. Raises before anything is written."""
    arefs, prefs = [], []
    for i, (a, p) in enumerate(zip(avgs, params)):
        an, pn = f"averages[{i}]", f"params[{i}]"
        ar = _arrays.inspect(a, an, writeable=True, dtypes=_ALL)
        pr = _arrays.inspect(p, pn, dtypes=_ALL)
        if not _pair_ok(ar.dtype, pr.dtype):
            raise _dtype_mismatch(an, ar.dtype, pn, pr.dtype)
        _arrays.same_place(ar, pr, pn)
        if pr.shape != ar.shape:
            raise value_error(pn, f"the shape of {an} {ar.shape}", pr.shape)
        if arefs and not arefs[0].same_place(ar):
            raise value_error(an, f"an array on {arefs[0].device}:{arefs[0].device_id} like averages[0]",
                              f"{ar.device}:{ar.device_id}")
        arefs.append(ar)
        prefs.append(pr)
    _arrays.refuse_overlap(*[(r, f"averages[{i}]") for i, r in enumerate(arefs)],
                           read=[(r, f"params[{i}]") for i, r in enumerate(prefs)])
    return backend_for(arefs[0], "averages[0]"), [r.target for r in arefs], [r.target for r in prefs]


def average_update_(averages, params, weight: float) -> None:
    """avg <- avg + weight * (param - avg) for every pair (weight a float64 in [0, 1], already
    validated by the caller's public form)."""
    avgs = _as_list("averages", averages)
    ps = _as_list("params", params)
    if len(ps) != len(avgs):
        raise value_error("params", f"{len(avgs)} arrays (one per average)", len(ps))
    if not avgs:
        return
    backend = _fast_numpy(avgs, ps)
    if backend is None:
        views = _torch_cpu_views(avgs, ps)
        if views is not None and (backend := _fast_numpy(*views)) is not None:
            avgs, ps = views
        else:
            backend, avgs, ps = _checked(avgs, ps)
    if weight == 0.0:   # decay = 1: nothing to write (checked all the same)
        return
    backend.average_multi(avgs, ps, weight)


def ema_update_(averages, params, decay) -> None:
    """Exponential moving average, in place: ``avg <- decay * avg + (1 - decay) * param`` for
    every (average, parameter) pair of the two lists, in one fused pass.

    ``decay`` in [0, 1]: 1 keeps the averages bit for bit, 0 copies the parameters exactly.
    Averages and parameters must match in shape and device, and in dtype (float32, float64,
    bfloat16 or float16; lists may mix them), except that a float32 average may hold a bfloat16
    or float16 parameter's average (the parameter widened exactly, the blend and the average in
    float32). No average may share memory with another array of the call.
    """
    average_update_(averages, params, ema_weight(decay))


def swa_update_(averages, params, n_averaged) -> None:
    """Stochastic weight averaging's equal-weight running mean, in place: with ``n_averaged``
    models already in the averages, ``avg <- avg + (param - avg) / (n_averaged + 1)``.

    ``n_averaged = 0`` copies the parameters exactly (the first model of the average). Same
    array rules as :func:`ema_update_`.
    """
    average_update_(averages, params, swa_weight(n_averaged))
