"""NumPy views of torch CPU tensors that leave parameters' storage resizable.

``Tensor.numpy()`` marks the tensor's storage non-resizable for good (so that no resize can free
memory under the array). FSDP (torch.distributed.fsdp: ``fully_shard`` and
FullyShardedDataParallel) frees each layer's gathered parameters after use by resizing their
storage to 0 bytes, so once a regcore operator had read such a parameter through ``.numpy()``
the next reshard failed ("Trying to resize storage that is not resizable"). Parameters, and
views of one (FullyShardedDataParallel's per-layer views of its flat parameter), are viewed
through ``__array_interface__`` instead, which marks nothing; the view keeps the tensor alive.
Other tensors keep ``.numpy()``, about 1 us a tensor cheaper.

Only torch's own argument checks are skipped on the unpinned path, never a refusal: tensors it
cannot view as they are (negative or conjugate bits, an empty tensor, a dtype NumPy lacks) take
``.numpy()``, which refuses them as before.
"""
from __future__ import annotations

import numpy as np


class _Memory:
    """What NumPy reads a view from; holds the tensor for as long as the view lives."""

    __slots__ = ("__array_interface__", "_tensor")


_typestr = None   # torch dtype -> NumPy type string: the dtypes regcore's kernels read
_parameter = _tensor = None


def _init():
    global _typestr, _parameter, _tensor
    import torch

    _parameter, _tensor = torch.nn.Parameter, torch.Tensor
    _typestr = {torch.float16: "<f2", torch.float32: "<f4", torch.float64: "<f8", torch.int16: "<i2",
                torch.int32: "<i4", torch.int64: "<i8", torch.uint8: "|u1", torch.bool: "|b1"}


def pinnable(t) -> bool:
    """Whether t may be viewed with ``.numpy()``: not a parameter nor a view of one. (Ask of the
    tensor itself, not of its ``detach()`` or ``.data``, which are plain tensors.)"""
    if _parameter is None:
        _init()
    # (type tests: isinstance(t, Parameter) runs Parameter's metaclass __instancecheck__ in Python)
    cls = t.__class__
    if cls is not _tensor and issubclass(cls, _parameter):
        return False
    base = t._base
    return base is None or not issubclass(base.__class__, _parameter)


def unpinned_view(t):
    """t's memory as a NumPy array, its storage left resizable; raises what ``t.numpy()`` raises.
    (A contiguous tensor's strides are left to NumPy: building them cost as much as the rest.)"""
    if _typestr is None:
        _init()
    typestr = _typestr.get(t.dtype)
    ptr = t.data_ptr()
    if typestr is None or ptr == 0 or t.is_neg() or not t.is_cpu:   # (0: an empty tensor's)
        return t.numpy()
    memory = _Memory()
    memory._tensor = t
    memory.__array_interface__ = {
        "data": (ptr, False), "shape": t.shape, "typestr": typestr, "version": 3,
        "strides": None if t.is_contiguous() else tuple(s * t.element_size() for s in t.stride())}
    return np.asarray(memory)


def numpy_view(t):
    """``t.numpy()`` (the same memory, the same errors), without pinning a parameter's storage."""
    return t.numpy() if pinnable(t) else unpinned_view(t)
