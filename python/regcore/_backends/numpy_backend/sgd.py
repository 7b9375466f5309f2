"""Penalized SGD in NumPy, operation for operation the rule of csrc/core/sgd_rule.h.

Each coefficient is rounded once to the parameter's dtype and every operation is one NumPy
ufunc in that dtype (no fused multiply-add), so the results are bit-identical to the native
backends. Sums (max-norm row norms, penalty) follow the canonical 16-lane order of docs/sgd.md.
"""
from __future__ import annotations

import numpy as np

from ...optim import _hyper as H
from . import _half
from ._philox import generate

__all__ = ["sgd_step_multi", "penalty_sums"]

CHUNK = 1 << 16  # csrc/cpu/parallel.h kStreamChunk: the penalty's per-chunk partial sums


def _sign(w):
    one = w.dtype.type(1)
    return np.where(w > 0, one, np.where(w < 0, -one, w.dtype.type(0)))


def _step(w, g, b, first, h):
    t = w.dtype.type
    f = h.flags
    g = np.negative(g) if f & H.MAXIMIZE else g
    if f & H.L1_SUBGRAD:
        g = g + t(h.l1) * _sign(w)
    if f & H.WEIGHT_DECAY:
        g = g + t(h.wd) * w
    d, bnew = g, None
    if f & H.MOMENTUM:
        bnew = g.copy() if first else t(h.momentum) * b + t(h.damp_keep) * g
        d = g + t(h.momentum) * bnew if f & H.NESTEROV else bnew
    wn = w * t(h.decay_keep) if f & H.DECOUPLED else w
    wn = wn - t(h.lr) * d
    if f & H.L1_PROX:
        a = np.abs(wn) - t(h.l1_thr)
        wn = np.where(a > 0, np.copysign(a, wn), np.abs(a * t(0)))
    return wn, bnew


def _lanes(v2d):
    """Canonical lane sums of the rows of v2d (float64, shape (k, n)) -> shape (k, 16)."""
    k, n = v2d.shape
    m = -(-n // 16)
    pad = np.zeros((k, m * 16), dtype=np.float64)
    pad[:, :n] = v2d
    # (m, k, 16), C-contiguous: NumPy reduces the leading axis one slice after another.
    return np.ascontiguousarray(pad.reshape(k, m, 16).transpose(1, 0, 2)).sum(axis=0)


def _tree(lanes):
    t = lanes.copy()
    h = 8
    while h >= 1:
        t[..., :h] = t[..., :h] + t[..., h:2 * h]
        h //= 2
    return t[..., 0]


def _max_norm(w, geom, c):
    """Rescale the neurons of w (float32 / float64 values, or 16-bit storage) over the bound."""
    outer, rows, inner = geom
    if rows == 0 or w.size == 0:
        return
    if _half.is_half(w):
        vals = _half.load(w).copy()
        _max_norm(vals, geom, c)   # each product rounded to nearest even as it is stored
        _half.store(w, vals)
        return
    v = w.reshape(outer, rows, inner).astype(np.float64)
    sq = v * v
    # Lanes by position in each (outer, row) segment, segments of a row in outer order.
    seg = sq.transpose(1, 0, 2).reshape(rows * outer, inner)
    m = -(-inner // 16)
    pad = np.zeros((rows, outer, m * 16), dtype=np.float64)
    pad[:, :, :inner] = seg.reshape(rows, outer, inner)
    stacked = np.ascontiguousarray(pad.reshape(rows, outer * m, 16).transpose(1, 0, 2))
    sums = _tree(stacked.sum(axis=0))
    norm = np.sqrt(sums)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(norm > c, c / norm, 1.0)
    s = scale.astype(w.dtype).reshape(1, rows, 1)
    w3 = w.reshape(outer, rows, inner)
    w3[...] = w3 * s


_U32 = np.uint32


def stochastic_round(x, words, bf16: bool):
    """core/stochastic_round.h: float32 x -> the chosen 16-bit neighbour, as float32 values."""
    u = np.ascontiguousarray(x, np.float32).view(_U32)
    if bf16:
        y = ((u + (words >> _U32(16))) & _U32(0xFFFF0000)).view(np.float32)
    else:
        r13, keep = words >> _U32(19), _U32(0xFFFFE000)
        a = u & _U32(0x7FFFFFFF)
        ax = a.view(np.float32)
        tiny = np.float32(2.0 ** -14)
        with np.errstate(all="ignore"):
            normal = ((a + r13) & keep).view(np.float32)
            sub = (((ax + tiny).view(_U32) + r13) & keep).view(np.float32) - tiny
        y = np.where(ax >= tiny, normal, sub).astype(np.float32)
        y = (y.view(_U32) | (u & _U32(0x80000000))).view(np.float32)
    return np.where(np.isnan(x), x, y).astype(np.float32)


def _words(n, seed, offset):
    w = np.empty(n, _U32)
    generate(w, seed, offset, 4, lambda blk: list(blk))
    return w


def sgd_step_multi(ws, gs, bs, firsts, geoms, h, masters=None, sr_offsets=None, seed=0):
    masters = [None] * len(ws) if masters is None else masters
    for i, (w, g, b, first, geom) in enumerate(zip(ws, gs, bs, firsts, geoms)):
        m = masters[i]
        if not _half.is_half(w):
            wn, bnew = _step(w, g, b, first, h)
            w[...] = wn
            if bnew is not None:
                b[...] = bnew
            _max_norm(w, geom, h.max_norm)
            continue
        # 16-bit: float32 arithmetic on the loaded values (docs/sgd.md).
        wv = m if m is not None else _half.load(w).reshape(w.shape)
        wn, bnew = _step(wv, _half.load(g).reshape(g.shape), b, first, h)
        if bnew is not None:
            b[...] = bnew
        if m is not None:
            m[...] = wn
            _max_norm(m, geom, h.max_norm)
            _half.store(w, m)
            continue
        if h.flags & H.STOCHASTIC:
            words = _words(w.size, seed, sr_offsets[i]).reshape(w.shape)
            wn = stochastic_round(wn, words, w.dtype == np.uint16)
        _half.store(w, wn)
        _max_norm(w, geom, h.max_norm)


def penalty_sums(xs):
    s_abs, s_sq = 0.0, 0.0
    for x in xs:
        flat = x.reshape(-1)
        for b0 in range(0, flat.size, CHUNK):
            # 16-bit values decoded first: bfloat16 arrives as its uint16 bit patterns
            v = _half.load(flat[b0:b0 + CHUNK]).astype(np.float64).reshape(1, -1)
            s_abs = s_abs + float(_tree(_lanes(np.abs(v)))[0])
            s_sq = s_sq + float(_tree(_lanes(v * v))[0])
    return s_abs, s_sq
