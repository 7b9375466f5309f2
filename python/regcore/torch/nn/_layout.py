"""The memory format a result keeps. regcore's elementwise and group-norm kernels run on the
C-contiguous (NCHW) order of their input (masks follow the elements' logical order), but
torch's modules hand a channels_last input's format on to their output, and a model whose
layers run channels_last would otherwise get NCHW tensors back from these layers (and convert
at every next layer)."""
from __future__ import annotations

import torch

_FORMATS = {4: torch.channels_last, 5: torch.channels_last_3d}


def format_of(t):
    """channels_last / channels_last_3d when t is stored so (and not also C-contiguous), else None."""
    if t.is_contiguous():
        return None
    fmt = _FORMATS.get(t.dim())
    return fmt if fmt is not None and t.is_contiguous(memory_format=fmt) else None


def kept(y, fmt):
    """y in the memory format ``fmt`` (None: as it is)."""
    return y if fmt is None else y.contiguous(memory_format=fmt)
