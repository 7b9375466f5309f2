"""Operator kernels that check each argument signature once, not on every call.

regcore's array API checks every argument of every call (about ten array inspections for a
batch-norm forward), which on small tensors costs several times what the kernels do. For an
operator kernel whose tensors are all on the CPU, whether those checks pass is decided by:

* each tensor argument's shape, dtype and strides (its dtype, rank, sizes, C-contiguity; its
  place is the CPU by construction);
* the scalar arguments (the schema fixes their types; their values are in the key, or for a
  scalar that changes from call to call, such as batch norm's cumulative-average factor, the
  outcome of its check: ``classes``, position -> function of the value);
* whether two arguments that must not share memory do (``overlap``: pairs of positions).

``fast_kernel(checked, plan)`` is a kernel that runs ``checked`` (the operator's kernel on the
checked array API, tensors in and out: it raises the array API's errors) for a signature it has
not seen pass. For a signature that passed it keeps ``plan(*views)``: the trusted computation
of that signature (the array API's trusted entry points, same computation minus the checks),
with everything that depends only on the signature (output sizes, thresholds, scales) worked
out once; later calls of the signature run ``run(*views)`` on NumPy views of the tensors. So a
bad call is refused exactly as before, before anything is written, and a good one pays the
checks once. A plan reads only what the key holds: the shapes, dtypes and key scalars of its
views, never their data or a ``classes`` scalar (which differ between calls of one signature).
Calls with a tensor off the CPU (CUDA: its checks are device views that this cache does not
model) always take the checked path.

bfloat16 tensors, which NumPy cannot view, are viewed as int16 and seen as ml_dtypes' bfloat16
(the same memory; the array API's own view of a bfloat16 tensor), and the plans' bfloat16
outputs go back the same way (``as_tensor``): without it every bfloat16 call took the checked
path (a LayerNorm fwd+bwd of 64K elements cost 3x the float32 one).
"""
from __future__ import annotations

import numpy as np
import torch

from .. import _dtypes
from .._torch_views import numpy_view, pinnable, unpinned_view

_SEEN_MAX = 4096   # distinct signatures remembered per operator before the memory starts over
_Tensor = torch.Tensor
_BF16 = torch.bfloat16
_I16 = torch.int16
_from_numpy = torch.from_numpy


def as_tensor(a):
    """A NumPy array (or None) as a torch tensor of the same memory: ml_dtypes' bfloat16 through
    an int16 view (torch.from_numpy knows no ml_dtypes array)."""
    if a is None:
        return None
    if a.dtype.kind != "V":   # (ml_dtypes' bfloat16 is NumPy kind "V"; NumPy's floats "f")
        return _from_numpy(a)
    return _from_numpy(a.view(np.int16)).view(_BF16)


def bf16_view(t):
    """A bfloat16 tensor as a NumPy bfloat16 view (None: off the CPU, or no ml_dtypes here, where
    the checked path says what to install)."""
    bf = _dtypes.bfloat16()
    if bf is None or not t.is_cpu:
        return None
    try:
        i16 = (t.data if t.requires_grad else t).view(_I16)
        return (i16.numpy() if pinnable(t) else unpinned_view(i16)).view(bf)
    except (RuntimeError, TypeError):
        return None


def _views_and_signature(args, overlap, classes):
    """(NumPy views of the arguments, their signature), or None when the call is not cached (a
    tensor off the CPU, a tensor list, a tensor NumPy cannot view). The signature is read from
    the views: shape, dtype and byte strides say what the tensor's sizes, dtype and strides do,
    for less than reading them from the tensor."""
    views, key = [], []
    pos = -1
    for a in args:
        pos += 1
        if isinstance(a, _Tensor):
            if a.dtype is _BF16:   # (tested first: numpy()'s refusal, an exception, cost 7 us a tensor)
                v = bf16_view(a)
                if v is None:
                    return None
            else:
                try:   # (off the CPU, numpy() raises. Operator kernels run with grad mode off (_library.py,
                    # and an autograd formula's forward), where numpy() views a tensor that requires grad as
                    # it is: no .data alias to make, which cost a third more than the view itself)
                    v = numpy_view(a)   # (a parameter's storage left resizable: _torch_views.py)
                except (RuntimeError, TypeError):   # e.g. a negative view: the checked path names it
                    return None
            views.append(v)
            key += (v.shape, v.dtype, v.strides)
        elif a.__class__ is list or a.__class__ is tuple:
            return None   # tensor lists (the optimizer) are not cached
        else:
            views.append(a)
            key.append(classes[pos](a) if pos in classes else a)
    for i, j in overlap:
        a, b = args[i], args[j]
        if a is not None and b is not None:
            sa, sb = a.data_ptr(), b.data_ptr()
            key.append(sa < sb + b.numel() * b.element_size() and sb < sa + a.numel() * a.element_size())
    return views, tuple(key)


def probability(value) -> bool:
    """The outcome of the array API's check of a probability (momentum, p): finite, in [0, 1]."""
    return 0.0 <= value <= 1.0


def fast_kernel(checked, plan, *, overlap=(), classes=None):
    """A kernel: ``checked(*args)`` until the argument signature has passed once, then that
    signature's ``plan(*views)`` run on NumPy views of the arguments (see the module doc)."""
    plans = {}
    classes = classes or {}

    def kernel(*args):
        found = _views_and_signature(args, overlap, classes)
        if found is not None:
            run = plans.get(found[1])
            if run is not None:
                return run(*found[0])
        out = checked(*args)
        if found is not None:
            if len(plans) >= _SEEN_MAX:
                plans.clear()
            plans[found[1]] = plan(*found[0])
        return out

    kernel.__name__ = getattr(checked, "__name__", "kernel")
    kernel.__doc__ = checked.__doc__
    return kernel
