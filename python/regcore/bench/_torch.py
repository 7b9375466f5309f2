"""PyTorch for the peers, only if it is installed: regcore never depends on it."""
from __future__ import annotations

import numpy as np

from ._spec import PeerUnavailable

_torch = None
_tried = False


def get():
    """The torch module, or None when it is not installed (or fails to import)."""
    global _torch, _tried
    if not _tried:
        _tried = True
        try:
            import torch  # noqa: PLC0415

            _torch = torch
        except Exception:  # noqa: BLE001 - any import failure means "no torch peer"
            _torch = None
    return _torch


def require():
    t = get()
    if t is None:
        raise PeerUnavailable("PyTorch is not installed")
    return t


def dtype(np_dtype):
    t = require()
    table = {np.dtype(np.float32): t.float32, np.dtype(np.float64): t.float64,
             np.dtype(np.float16): t.float16, np.dtype(np.int32): t.int32,
             np.dtype(np.int64): t.int64, np.dtype(np.uint8): t.uint8}
    if str(np_dtype) == "bfloat16":
        return t.bfloat16
    try:
        return table[np.dtype(np_dtype)]
    except KeyError:
        raise PeerUnavailable(f"no torch dtype for {np.dtype(np_dtype)}") from None


def cuda_available() -> bool:
    t = get()
    try:
        return bool(t is not None and t.cuda.is_available())
    except Exception:  # noqa: BLE001
        return False


def sync(device: str):
    """What a timer calls before reading the clock: torch CUDA work is asynchronous."""
    if device == "cuda":
        t = require()
        return t.cuda.synchronize
    return None


class threads:
    """torch.set_num_threads for the duration of a peer's timing."""

    def __init__(self, n: int):
        self.n = n
        self.saved = None

    def __enter__(self):
        t = get()
        if t is not None:
            self.saved = t.get_num_threads()
            t.set_num_threads(self.n)
        return self

    def __exit__(self, *exc):
        t = get()
        if t is not None and self.saved is not None:
            t.set_num_threads(self.saved)
