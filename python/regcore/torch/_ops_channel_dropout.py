"""Channel (spatial) and alpha dropout operators: ``torch.ops.regcore.channel_dropout``,
``channel_dropout_backward``, ``alpha_dropout``, ``alpha_dropout_backward``.

As for dropout (_ops_dropout.py): each forward takes its ``seed_offset`` (_rng.py) and returns
the 1-bit keep words it kept for the backward (int32 words with the uint32 bit layout; empty
for ``store_mask=False``, where the backward redraws the decisions). ``channel_dropout`` covers
Dropout1d/2d/3d (``alpha=False``) and FeatureAlphaDropout (``alpha=True``) in either layout:
``channels_last`` means x is (N, *spatial, C) in memory. The kernels call regcore's array API.
"""
from __future__ import annotations

import torch

from .. import AlphaDropoutMask, ChannelDropoutMask
from .. import alpha_dropout as _alpha_dropout
from .. import alpha_dropout_backward as _alpha_dropout_backward
from .. import channel_dropout as _channel_dropout
from .. import channel_dropout_backward as _channel_dropout_backward
from .. import feature_alpha_dropout as _feature_alpha_dropout
from ..channel_dropout import (alpha_dropout_backward_plan, alpha_dropout_plan, channel_dropout_backward_plan,
                               channel_dropout_plan)
from . import _checks
from ._fastpath import fast_kernel
from ._library import define
from ._ops_dropout import fake_words, masked_backward, masked_forward, masked_formulas
from ._rng import decode, positioned


def _layout(channels_last: bool) -> str:
    return "channels_last" if channels_last else "channels_first"


def _mode(vanilla: bool, alpha: bool) -> str:
    return "alpha" if alpha else ("vanilla" if vanilla else "inverted")


def _words(m, like):
    return like.new_empty((0,), dtype=torch.int32) if m.bits is None else m.bits.view(torch.int32)


def _decisions(x, channels_last):
    return x.shape[0] * (x.shape[-1] if channels_last else x.shape[1])


def _place(t, seed_offset, bits):
    seed, offset = decode(seed_offset)
    stored = bits.numel() > 0
    return dict(kind="bits" if stored else "none", shape=tuple(t.shape), dtype=_checks.numpy_dtype(t.dtype),
                device=t.device.type, device_id=t.device.index or 0, seed=seed, offset=offset,
                bits=bits.view(torch.uint32) if stored else None)


# ------------------------------------------------------------------ channel dropout

def _channel_impl(x, seed_offset, p, vanilla, alpha, channels_last, store_mask):
    kw = dict(layout=_layout(channels_last), generator=positioned(seed_offset), mask="bits" if store_mask else "none")
    if alpha:
        y, m = _feature_alpha_dropout(x, p, **kw)
    else:
        y, m = _channel_dropout(x, p, mode=_mode(vanilla, False), **kw)
    return y, _words(m, x)


# The trusted plans (_fastpath.py), as dropout's (_ops_dropout.py).

def _channel_plan(x, seed_offset, p, vanilla, alpha, channels_last, store_mask):
    return masked_forward(channel_dropout_plan(x.shape, x.dtype, p, _mode(vanilla, alpha), _layout(channels_last),
                                               "bits" if store_mask else "none"))


channel_dropout = define(
    "channel_dropout(Tensor x, Tensor seed_offset, float p, bool vanilla, bool alpha, bool channels_last, "
    "bool store_mask) -> (Tensor, Tensor)",
    fast_kernel(_channel_impl, _channel_plan),
    lambda x, so, p, vanilla, alpha, cl, store: (torch.empty_like(x), fake_words(_decisions(x, cl), store, x)))


def _channel_backward_impl(dy, bits, seed_offset, p, vanilla, alpha, channels_last):
    m = ChannelDropoutMask(p=p, mode=_mode(vanilla, alpha), layout=_layout(channels_last),
                           **_place(dy, seed_offset, bits))
    return _channel_dropout_backward(dy, m)


def _channel_backward_plan(dy, bits, seed_offset, p, vanilla, alpha, channels_last):
    return masked_backward(channel_dropout_backward_plan(dy.shape, dy.dtype, p, _mode(vanilla, alpha),
                                                         _layout(channels_last)))


channel_dropout_backward = define(
    "channel_dropout_backward(Tensor dy, Tensor bits, Tensor seed_offset, float p, bool vanilla, bool alpha, "
    "bool channels_last) -> Tensor",
    fast_kernel(_channel_backward_impl, _channel_backward_plan), lambda dy, bits, so, p, vanilla, alpha, cl: torch.empty_like(dy))


masked_formulas(channel_dropout, channel_dropout_backward, 4)   # (p, vanilla, alpha, channels_last)


# ------------------------------------------------------------------ alpha dropout (element-wise)

def _alpha_impl(x, seed_offset, p, store_mask):
    y, m = _alpha_dropout(x, p, generator=positioned(seed_offset), mask="bits" if store_mask else "none")
    return y, _words(m, x)


def _alpha_plan(x, seed_offset, p, store_mask):
    return masked_forward(alpha_dropout_plan(x.shape, x.dtype, p, "bits" if store_mask else "none"))


alpha_dropout = define(
    "alpha_dropout(Tensor x, Tensor seed_offset, float p, bool store_mask) -> (Tensor, Tensor)",
    fast_kernel(_alpha_impl, _alpha_plan), lambda x, so, p, store: (torch.empty_like(x), fake_words(x.numel(), store, x)))


def _alpha_backward_impl(dy, bits, seed_offset, p):
    return _alpha_dropout_backward(dy, AlphaDropoutMask(p=p, **_place(dy, seed_offset, bits)))


def _alpha_backward_plan(dy, bits, seed_offset, p):
    return masked_backward(alpha_dropout_backward_plan(dy.shape, dy.dtype, p))


alpha_dropout_backward = define(
    "alpha_dropout_backward(Tensor dy, Tensor bits, Tensor seed_offset, float p) -> Tensor",
    fast_kernel(_alpha_backward_impl, _alpha_backward_plan), lambda dy, bits, so, p: torch.empty_like(dy))


masked_formulas(alpha_dropout, alpha_dropout_backward, 1)   # (p,)
