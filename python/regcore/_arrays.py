"""Where an array lives and how kernels reach it, without copying.

``inspect(x, name, ...)`` checks an array argument and returns an :class:`ArrayRef`:

* NumPy arrays and any CPU object NumPy can view without a copy (``__dlpack__`` on the CPU,
  e.g. a PyTorch CPU tensor) become a NumPy view in ``target``;
* objects exporting ``__dlpack__`` on a CUDA device (PyTorch, CuPy, JAX) or
  ``__cuda_array_interface__`` become a device view made by the CUDA module (pointer, shape,
  dtype, read-only flag, kept alive with the producer's capsule).

Outputs are allocated with the input's own array library (its Array API namespace), on its
device, so a CuPy array in gives a CuPy array out. Large CPU outputs (NumPy, and torch tensors
made with torch.from_numpy) lie in buffers that are reused once they die (_buffer_cache).
"""
from __future__ import annotations

import functools
import math
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import _buffer_cache, _dtypes, _native
from ._errors import NO_CUDA_BUILD, type_error, value_error
from ._torch_views import pinnable, unpinned_view

# DLPack device types (dlpack.h, DLDeviceType)
_DL_CPU, _DL_CUDA, _DL_CUDA_HOST, _DL_CUDA_MANAGED = 1, 2, 3, 13

FLOAT_DTYPES = _dtypes.WIDE   # the default: families whose kernels take 16-bit data pass _dtypes.all_floats()


@dataclass(frozen=True)
class ArrayRef:
    obj: Any            # what the caller passed
    device: str         # "cpu" or "cuda"
    device_id: int
    shape: tuple
    dtype: np.dtype
    target: Any         # np.ndarray view (cpu) or the CUDA module's DeviceView (cuda)
    writeable: bool

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def same_place(self, other: "ArrayRef") -> bool:
        return self.device == other.device and self.device_id == other.device_id


def _cuda_view(x, name: str):
    if _native.cuda is None:
        raise RuntimeError(NO_CUDA_BUILD.format(name=name))
    from ._backends.cuda_views import device_view

    return device_view(x, name)


_torch = None   # the torch module, once some caller has imported it (regcore never imports it)


def _torch_tensor_type():
    """torch.Tensor when torch is already imported, else None."""
    global _torch
    if _torch is None:
        _torch = sys.modules.get("torch")
        if _torch is None or not hasattr(_torch, "Tensor"):
            _torch = None
            return None
    return _torch.Tensor




def _grad_refusal(name: str) -> TypeError:
    return TypeError(
        f"{name}: got a PyTorch tensor that requires grad (e.g. an nn.Parameter), and regcore's "
        "array functions are not recorded by autograd: the gradient would silently stop here. "
        "Use regcore.torch (its modules and regcore.torch.nn.functional are differentiable), call "
        "this inside torch.no_grad(), or pass .detach() if no gradient should flow through this call.")


def _expected_dtypes(dtypes) -> str:
    return "an array of dtype " + " or ".join(_dtypes.names(dtypes))


def _torch_cpu_view(x, name: str, writeable: bool, dtypes):
    """A NumPy view of a torch CPU tensor without the DLPack round trip (x.numpy() shares the
    memory; ~1 us instead of ~15 us through __dlpack__), or None to take the general path (which
    names what is wrong: a conjugate/negative view, a sparse or quantized tensor, ...).

    A tensor that requires grad is accepted only where the call cannot be differentiated anyway:
    an in-place target (init, an optimizer step: torch itself updates parameters in place under
    no_grad) or while autograd is not recording; elsewhere it is refused with what to do."""
    pin = pinnable(x)   # (asked before detach(): a parameter's storage is not pinned, _torch_views.py)
    if x.requires_grad:
        if not writeable and _torch.is_grad_enabled():
            raise _grad_refusal(name)
        x = x.detach()
    try:
        if x.dtype == _torch.bfloat16:
            # NumPy has no bfloat16: the same memory as int16, seen as ml_dtypes' bfloat16
            bf = _dtypes.bfloat16()
            if bf is None:
                raise TypeError
            x = x.view(_torch.int16)
            return (x.numpy() if pin else unpinned_view(x)).view(bf)
        return x.numpy() if pin else unpinned_view(x)
    except TypeError:   # a dtype NumPy has no type for: name it
        if dtypes is None:
            return None
        hint = f" ({_dtypes.INSTALL_ML_DTYPES})" if x.dtype == _torch.bfloat16 else ""
        raise type_error(name, _expected_dtypes(dtypes) + hint, f"dtype {x.dtype}") from None
    except RuntimeError:
        return None


def _mark_written(x) -> None:
    """A tensor the call will write is marked modified for autograd (its version counter), as
    torch's own in-place ops mark it: the kernels write through a NumPy or DLPack view, which
    autograd cannot see, so a graph that had saved the tensor (y = w * a; init.constant_(a, 7);
    y.backward()) gave w the gradient of the new values instead of torch's "modified by an
    inplace operation" error. (Marked once the argument is accepted: a call refused later leaves
    the data as it was and only this counter moved.)"""
    global _increment_version
    if _increment_version is None:
        _increment_version = _torch.autograd.graph.increment_version
    _increment_version(x)


_increment_version = None


def _refuse_torch_views(x, name: str) -> None:
    """A tensor whose memory does not hold its values: a negative-bit view (torch._neg_view, what
    conjugate-view arithmetic leaves) stores the values before a pending negation, and DLPack
    exports that memory as it is, so the kernels read -x and write what the tensor shows negated.
    A sparse or otherwise non-strided tensor has no dense memory at all. (A conjugate view is
    complex, refused by its dtype.)"""
    if x.layout != _torch.strided:
        raise type_error(name, "a dense (strided) tensor (pass its .to_dense())", f"a tensor of layout {x.layout}")
    if x.is_neg():
        raise type_error(name, "a tensor whose memory holds its values (pass its .resolve_neg())",
                         "a negative-bit view")


def _device_text(x) -> str:
    """What a caller would call the place of an array DLPack cannot describe."""
    device = getattr(x, "device", None)
    return f"{type(x).__name__} on device {device}" if device is not None else type(x).__name__


def is_masked(x) -> bool:
    """x is a numpy.ma.MaskedArray. (Asked through sys.modules: ``np.ma`` imports numpy.ma on
    first use, 0.13 s that every first call of the array API paid; a masked array cannot exist
    before that import.)"""
    ma = sys.modules.get("numpy.ma")
    return ma is not None and isinstance(x, ma.MaskedArray)


def inspect(x, name: str, *, writeable: bool = False, dtypes=FLOAT_DTYPES) -> ArrayRef:
    """Check one array argument; refuse anything that would need a copy or a conversion."""
    tensor = None if isinstance(x, np.ndarray) else _torch_tensor_type()
    if tensor is not None and isinstance(x, tensor):
        _refuse_torch_views(x, name)
        if x.device.type == "cpu":
            view = _torch_cpu_view(x, name, writeable, dtypes)
            if view is not None:
                ref = _checked(x, name, view, "cpu", 0, writeable, dtypes)
                if writeable:
                    _mark_written(x)
                return ref
        elif x.requires_grad and not writeable and _torch.is_grad_enabled():
            raise _grad_refusal(name)
    if is_masked(x):
        # its mask would be ignored by the kernels (and read by NumPy's arithmetic): refused
        raise type_error(name, "a plain array (a MaskedArray's mask would be ignored: pass "
                         "x.filled(value) or x.data)", "numpy.ma.MaskedArray")
    if isinstance(x, np.ndarray):
        # a subclass (np.matrix, np.memmap, ...) is read as the plain array it views: np.matrix's
        # `*` is a matrix product and its reductions stay 2-D, so the NumPy backend's arithmetic
        # on it would fail or differ from the native kernels, which only see the memory
        view, device, dev_id = (x if type(x) is np.ndarray else x.view(np.ndarray)), "cpu", 0
    elif hasattr(x, "__dlpack_device__") and hasattr(x, "__dlpack__"):
        try:
            dev_type, dev_id = x.__dlpack_device__()
        except (ValueError, TypeError, RuntimeError, BufferError) as exc:   # torch's meta device: no memory
            raise type_error(name, "an array on the CPU or a CUDA device", _device_text(x)) from exc
        dev_type, dev_id = int(dev_type), int(dev_id)
        if dev_type in (_DL_CUDA, _DL_CUDA_MANAGED):
            view, device = _cuda_view(x, name), "cuda"
        elif dev_type in (_DL_CPU, _DL_CUDA_HOST):
            try:
                view = np.from_dlpack(x)
            except (BufferError, TypeError, RuntimeError) as exc:
                raise type_error(name, "an array NumPy can view without a copy", type(x).__name__) from exc
            device, dev_id = "cpu", 0
        else:
            raise type_error(name, "an array on the CPU or a CUDA device", f"DLPack device type {dev_type}")
    elif hasattr(x, "__cuda_array_interface__"):
        view, device, dev_id = _cuda_view(x, name), "cuda", None
    else:
        raise type_error(name, "an array (NumPy, or an object exporting __dlpack__)", type(x).__name__)
    ref = _checked(x, name, view, device, dev_id, writeable, dtypes)
    if writeable and tensor is not None and isinstance(x, tensor):
        _mark_written(x)
    return ref


def _checked(x, name, view, device, dev_id, writeable, dtypes) -> ArrayRef:
    """The ArrayRef of a view, after the dtype, layout and writeability checks."""
    if device == "cpu":
        shape, dtype = tuple(view.shape), view.dtype
        is_writeable = bool(view.flags.writeable)
        c_contig = bool(view.flags.c_contiguous)
    else:
        if view.dtype == "bfloat16":   # a device view names its dtype; NumPy knows this name only from ml_dtypes
            _dtypes.require_bfloat16()
        shape, dtype = tuple(view.shape), np.dtype(view.dtype)
        is_writeable = not view.readonly
        c_contig = view.c_contiguous
        dev_id = view.device_id

    if dtypes is not None and not _dtypes.accepts(dtype, dtypes):
        raise type_error(name, _expected_dtypes(dtypes) + _dtypes.hint_for(dtype), f"dtype {dtype}")
    if not c_contig:
        raise value_error(name, "a C-contiguous array", "an array with other strides")
    if writeable and not is_writeable:
        raise value_error(name, "a writeable array (it is updated in place)", "a read-only array")
    if device == "cpu":
        view = _dtypes.kernel_view(view)   # bfloat16 travels as uint16 (see _dtypes)
    return ArrayRef(x, device, int(dev_id or 0), shape, np.dtype(dtype), view, is_writeable)


def trusted(view: np.ndarray) -> ArrayRef:
    """The ArrayRef ``inspect`` would return for a C-contiguous, writeable NumPy float array,
    without checking: for the trusted entry points of the families (``*_trusted``), whose
    callers pass views of arguments whose exact signature (shape, dtype, strides) the checked
    function has already accepted."""
    return ArrayRef(view, "cpu", 0, view.shape, view.dtype, view, True)


def trusted_or_none(view):
    return None if view is None else trusted(view)


def same_place(ref: ArrayRef, other: ArrayRef, name: str) -> None:
    if not ref.same_place(other):
        raise value_error(name, f"an array on {ref.device}:{ref.device_id}", f"{other.device}:{other.device_id}")


def namespace_of(x):
    """The Array API namespace of an array (numpy for NumPy arrays)."""
    if isinstance(x, np.ndarray):
        return np
    import array_api_compat

    return array_api_compat.array_namespace(x)


# Large NumPy outputs start on a cache line. malloc hands out 16-byte aligned memory (a large
# block is an mmap whose first 16 bytes are the allocator's header), and the kernels' non-temporal
# stores need vector alignment: the channels-last batch-norm passes stream only when every row
# starts on a vector boundary, and an unaligned 25 MB output ran 40% slower through the API than
# the aligned buffers of the native benchmark.
_ALIGN = 64
_ALIGN_MIN_BYTES = _buffer_cache.MIN_BYTES


def _aligned_empty(shape: tuple, dtype: np.dtype) -> np.ndarray:
    dtype = np.dtype(dtype)
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes < _ALIGN_MIN_BYTES:
        return np.empty(shape, dtype=dtype)
    # memory the CPU module keeps mapped between outputs (_buffer_cache): 64-byte aligned (2 MiB
    # from 4 MiB on), and already faulted in when an earlier output of this size has died
    out = _buffer_cache.empty(shape, dtype)
    if out is not None:
        return out
    raw = np.empty(nbytes + _ALIGN, dtype=np.uint8)
    off = -raw.ctypes.data % _ALIGN
    return raw[off:off + nbytes].view(dtype).reshape(shape)


def allocator(shape: tuple, dtype: np.dtype):
    """A zero-argument function making _aligned_empty(shape, dtype), with the size test done
    once: for callers that allocate one signature's outputs on every call."""
    shape, dtype = tuple(shape), np.dtype(dtype)
    if math.prod(shape) * dtype.itemsize < _ALIGN_MIN_BYTES:
        return functools.partial(np.empty, shape, dtype)
    return functools.partial(_aligned_empty, shape, dtype)


def check_like(like) -> None:
    """A public ``like=`` argument: None, or an array regcore can allocate next to (named
    TypeError otherwise, before anything is allocated or drawn)."""
    if like is not None and not isinstance(like, np.ndarray):
        tensor = _torch_tensor_type()
        if tensor is not None and isinstance(like, tensor):
            # like names a library and a device, nothing is read from it: an nn.Parameter or a
            # negative-bit view is as good a `like` as any (inspect refuses those as data); an
            # empty tensor of its place keeps the checks of the device and of the build
            like = like.new_empty((0,))
        inspect(like, "like", dtypes=None)


def empty_like_place(like, shape: tuple, dtype: np.dtype):
    """An uninitialized array of shape/dtype, made by like's library on like's device (NumPy
    arrays of 1 MiB or more start on a 64-byte boundary).

    Returns (array, ArrayRef). ``like=None`` means NumPy on the CPU.
    """
    if like is None or isinstance(like, np.ndarray):
        out = _aligned_empty(tuple(shape), dtype)   # what inspect would find, without asking
        return out, ArrayRef(out, "cpu", 0, tuple(out.shape), out.dtype, _dtypes.kernel_view(out), True)
    tensor = _torch_tensor_type()
    if tensor is not None and isinstance(like, tensor) and like.device.type == "cpu":
        # NumPy's allocation wrapped as a torch tensor (zero copy): no array-namespace lookup
        # (~10 us a call for small outputs), and large outputs get NumPy's cache-line alignment
        # and huge-page advice: a fresh 64 MB torch.empty took 2.5x as long to fault in.
        view = _aligned_empty(tuple(shape), dtype)
        if _dtypes.is_bf16(view.dtype):   # torch.from_numpy knows no ml_dtypes array
            out = _torch.from_numpy(view.view(np.int16)).view(_torch.bfloat16)
        else:
            out = _torch.from_numpy(view)
        return out, ArrayRef(out, "cpu", 0, tuple(view.shape), view.dtype, _dtypes.kernel_view(view), True)
    else:
        import array_api_compat

        xp = array_api_compat.array_namespace(like)
        out = xp.empty(shape, dtype=getattr(xp, np.dtype(dtype).name), device=array_api_compat.device(like))
    return out, inspect(out, "out", writeable=True, dtypes=None)


# ------------------------------------------------------------------ aliasing

def byte_span(ref: ArrayRef):
    """(first byte address, byte length) of a checked array's memory. Every ArrayRef is
    C-contiguous (``_checked`` refuses other strides), so its bytes are exactly this one range:
    the interval test below is exact, not numpy.may_share_memory's conservative bound."""
    t = ref.target
    if ref.device == "cpu":
        start = int(t.__array_interface__["data"][0])
    else:
        start = int(t.ptr)
    return start, ref.size * ref.dtype.itemsize


def refuse_overlap(*named, read=(), allow=()) -> None:
    """Raise ValueError naming both arguments when an array the call writes (``named``:
    (ArrayRef or None, name) pairs, written or read-then-written) shares a byte with another
    written array or with one it only reads (``read``, same form; read arrays may overlap each
    other). Callers check before their first kernel call, so nothing is written on failure.

    ``allow``: pairs of names (a, b) that may be *exactly* the same array (same first byte,
    same shape): the documented in-place forms, whose kernels read element i of the input
    before writing element i of the output. Any partial overlap is refused even then.

    Sorted by start address and swept once, O(n log n), so an optimizer step over hundreds of
    tensors stays cheap. Two running maxima: the span reaching furthest among all (a written
    span must clear it) and among written ones (a read span must clear that)."""
    spans = []
    for group, written in ((named, True), (read, False)):
        for ref, name in group:
            if ref is None:
                continue
            start, length = byte_span(ref)
            if length > 0:
                spans.append(((ref.device, ref.device_id), start, start + length, written, name, ref.shape))
    if len(spans) < 2:
        return
    spans.sort(key=lambda s: (s[0], s[1]))
    allowed = {frozenset(p) for p in allow}
    far_any = far_written = None
    for s in spans:
        for far in ((far_any, far_written) if s[3] else (far_written,)):
            if far is None or far[0] != s[0] or s[1] >= far[2]:
                continue
            exact = s[1] == far[1] and s[2] == far[2] and s[5] == far[5]
            if exact and frozenset((far[4], s[4])) in allowed:
                continue
            a, b = far[4], s[4]
            raise ValueError(
                f"{a} and {b}: expected arrays that do not share memory (this call writes into "
                f"{a if far[3] else b}), got {'the same array' if exact else 'overlapping memory'}")
        if far_any is None or far_any[0] != s[0] or s[2] > far_any[2]:
            far_any = s
        if s[3] and (far_written is None or far_written[0] != s[0] or s[2] > far_written[2]):
            far_written = s
