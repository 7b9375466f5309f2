"""Dropout family in NumPy, following docs/dropout.md: the same keep words, bit order and
per-element formulas as csrc/core/dropout.h: masks, y and dx are bit-identical with the native
backends (the activations repeat core/dropout_act.h operation for operation, _dropout_act.py)."""
from __future__ import annotations

import numpy as np

from . import _half
from ._dropout_act import activation
from ._philox import CHUNK_BLOCKS, stream_words


def keep_mask(n: int, seed: int, offset: int, t: int, drop_all: bool) -> np.ndarray:
    """Flat bool mask of n elements: word i%4 of block offset + i//4 compared with t."""
    if drop_all:
        return np.zeros(n, dtype=bool)
    if t == 0:
        return np.ones(n, dtype=bool)
    nblocks = (n + 3) // 4
    out = np.empty(nblocks * 4, dtype=bool)
    tt = np.uint32(t)
    for start in range(0, nblocks, CHUNK_BLOCKS):
        count = min(CHUNK_BLOCKS, nblocks - start)
        w = np.stack(stream_words(seed, offset + start, count), axis=1).reshape(-1)
        out[4 * start: 4 * (start + count)] = w >= tt
    return out[:n]


def _pack_bits(keep: np.ndarray, bits: np.ndarray) -> None:
    """Element i -> bit i%8 of byte i//8 of the little-endian uint32 words; pad bits zero."""
    packed = np.packbits(keep, bitorder="little")
    view = bits.reshape(-1).view(np.uint8)
    view[:] = 0
    view[: packed.size] = packed


def _mask_from(n, bits, bytes_, seed, offset, t, drop_all):
    if bits is not None:
        return np.unpackbits(bits.reshape(-1).view(np.uint8), bitorder="little")[:n].astype(bool)
    if bytes_ is not None:
        return bytes_.reshape(-1)[:n] != 0
    return keep_mask(n, seed, offset, t, drop_all)


def _store_mask(keep, bits, bytes_):
    if bits is not None:
        _pack_bits(keep, bits)
    if bytes_ is not None:
        bytes_.reshape(-1)[:] = keep


def _scaled(a, keep, scale):
    with np.errstate(invalid="ignore", over="ignore"):  # inf * 0 at p = 1 lands in dropped slots
        return np.where(keep, a * scale, a.dtype.type(0))


def dropout_forward(x, y, bits, bytes_, seed, offset, t, drop_all, scale):
    n = x.size
    keep = keep_mask(n, seed, offset, t, drop_all)
    _store_mask(keep, bits, bytes_)
    # 16-bit data: the product in float32, rounded once as it is stored (core/half.h)
    _half.store(y.reshape(-1), _scaled(_half.load(x.reshape(-1)), keep, scale))


def dropout_backward(dy, dx, bits, bytes_, seed, offset, t, drop_all, scale):
    keep = _mask_from(dy.size, bits, bytes_, seed, offset, t, drop_all)
    _half.store(dx.reshape(-1), _scaled(_half.load(dy.reshape(-1)), keep, scale))


def bias_act_dropout_forward(x, bias, residual, y, bits, bytes_, act, seed, offset, t, drop_all, scale):
    n = x.size
    keep = keep_mask(n, seed, offset, t, drop_all)
    _store_mask(keep, bits, bytes_)
    # 16-bit data: float32 math, y rounded once as stored
    f, _ = activation(act, _half.load(x) + _half.load(bias))
    v = _scaled(f.reshape(-1), keep, scale)
    if residual is not None:
        v = v + _half.load(residual).reshape(-1)
    _half.store(y.reshape(-1), v)


def bias_act_dropout_backward(dy, x, bias, bits, bytes_, dx, dbias, act, seed, offset, t, drop_all, scale):
    keep = _mask_from(x.size, bits, bytes_, seed, offset, t, drop_all)
    xf = _half.load(x)
    _, d = activation(act, xf + _half.load(bias))
    g = np.where(keep, (_half.load(dy).reshape(-1) * scale) * d.reshape(-1), xf.dtype.type(0))
    _half.store(dx.reshape(-1), g)
    g = _half.load(dx.reshape(-1))      # dbias sums the stored (rounded) dx values
    cols = bias.size
    if cols:
        sums = g.reshape(-1, cols).sum(axis=0, dtype=np.float64)
        if _half.is_half(dbias):
            from ... import _dtypes   # float64 -> 16 bits rounded once
            d16 = _dtypes.F16 if dbias.dtype == np.float16 else _dtypes.require_bfloat16()
            dbias[:] = _dtypes.round_array(d16, sums).view(dbias.dtype)
        else:
            dbias[:] = sums.astype(x.dtype)


def gaussian_noise(x, y, seed, offset, mean, std, multiplicative):
    """The draws of random.normal(mean, std) (same transform, same stream), combined with x."""
    from .random import random_normal
    if _half.is_half(y):   # the float32 draws combined in float32, rounded once as stored
        z = np.empty(y.shape, np.float32)
        random_normal(z, seed, offset, mean, std)
        xf = _half.load(x)
        _half.store(y, xf * z if multiplicative else xf + z)
        return
    random_normal(y, seed, offset, mean, std)
    if multiplicative:
        np.multiply(x, y, out=y)
    else:
        np.add(x, y, out=y)


__all__ = ["dropout_forward", "dropout_backward", "bias_act_dropout_forward",
           "bias_act_dropout_backward", "gaussian_noise"]
