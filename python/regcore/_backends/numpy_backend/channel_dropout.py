"""Channel (spatial) dropout and alpha dropout in NumPy, following csrc/core/channel_dropout.h:
the same decisions (dropout's keep rule over the N*C (sample, channel) pairs, or over the
elements for alpha dropout), the same keep-word bit order and the same per-element formula (16-bit data in float32, rounded once
as it is stored), so masks and outputs are bit-identical with the native backends."""
from __future__ import annotations

import numpy as np

from . import _half
from .dropout import _mask_from, _pack_bits, keep_mask


def _masked_affine(x, keep, scale, shift, dropped, affine):
    """keep ? x * s [+ b] : (affine ? d : +0), one multiply and one add in x's arithmetic type
    (never fused; float32 for 16-bit data, whose values are loaded first)."""
    x = _half.load(x)
    t = x.dtype.type
    with np.errstate(invalid="ignore", over="ignore"):
        v = x * t(scale)
        if affine:
            v = v + t(shift)
    return np.where(keep, v, t(dropped) if affine else t(0))


def channel_dropout(x, y, keep_in, keep_out, batch, channels, spatial, channels_last, seed, offset,
                    t, drop_all, scale, shift, dropped, affine):
    decisions = batch * channels
    if keep_in is not None:
        keep = _mask_from(decisions, keep_in, None, seed, offset, t, drop_all)
    else:
        keep = keep_mask(decisions, seed, offset, t, drop_all)
        if keep_out is not None:
            _pack_bits(keep, keep_out)
    k = keep.reshape(batch, channels)
    if channels_last:
        shape, k = (batch, spatial, channels), k[:, None, :]
    else:
        shape, k = (batch, channels, spatial), k[:, :, None]
    _half.store(y.reshape(shape), _masked_affine(x.reshape(shape), k, scale, shift, dropped, affine))


def alpha_dropout_forward(x, y, bits, seed, offset, t, drop_all, scale, shift, dropped):
    keep = keep_mask(x.size, seed, offset, t, drop_all)
    if bits is not None:
        _pack_bits(keep, bits)
    _half.store(y.reshape(-1), _masked_affine(x.reshape(-1), keep, scale, shift, dropped, True))


__all__ = ["channel_dropout", "alpha_dropout_forward"]
