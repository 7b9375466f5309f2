"""Device views of CUDA arrays, with the stream handshake of the DLPack protocol.

regcore launches its kernels on the current stream of the array's own library when it knows
it (PyTorch, CuPy), else on the legacy default stream. That stream is passed to ``__dlpack__``,
so the producer orders its pending work before ours; later work the caller queues on the same
stream is ordered after ours.
"""
from __future__ import annotations

from .._native import cuda as _ext

_LEGACY_DEFAULT = 1


def current_stream(x) -> int:
    mod = type(x).__module__.split(".", 1)[0]
    try:
        if mod == "torch":
            import torch

            s = torch.cuda.current_stream(x.device).cuda_stream
            return int(s) or _LEGACY_DEFAULT
        if mod == "cupy":
            import cupy

            with cupy.cuda.Device(x.device.id):
                s = cupy.cuda.get_current_stream().ptr
            return int(s) or _LEGACY_DEFAULT
    except Exception:  # an unusual build of the library: fall back to the protocol default
        pass
    return _LEGACY_DEFAULT


def device_view(x, name: str):
    stream = current_stream(x)
    if hasattr(x, "__dlpack__"):
        try:
            capsule = x.__dlpack__(stream=stream, max_version=(1, 0))
        except TypeError:  # producer predates DLPack 1.0 (no max_version keyword)
            capsule = x.__dlpack__(stream=stream)
        return _ext.view_from_dlpack(capsule, name, stream)
    return _ext.view_from_cai(dict(x.__cuda_array_interface__), name, stream)
