"""Functional channel (spatial) dropout and alpha dropout, with torch.nn.functional's names,
argument order and defaults (alpha_dropout and feature_alpha_dropout default to
``training=False``, as torch's do); regcore's extras are keyword-only. Re-exported by
``regcore.torch.nn.functional``.

Which dimensions are channels follows torch: dropout1d takes (N, C, L) or unbatched (C, L);
dropout2d takes (N, C, H, W), and a 3-D input as (N, C, L) (torch's historical behaviour, with
its warning); dropout3d takes (N, C, D, H, W) or unbatched (C, D, H, W); feature_alpha_dropout
takes (N, C, *). An input in torch's channels_last / channels_last_3d memory format is dropped
in that layout (no copy) and the result keeps the format.

As everywhere in regcore.torch: eval mode and p = 0 return the input itself and leave every
generator alone; p = 1 gives +0 everywhere (torch multiplies by 0, so its -0 / NaN at
negative / non-finite inputs differ); nothing is drawn before the call is known to be valid.
"""
from __future__ import annotations

import warnings

import torch

from .. import _autograd, _checks, _ops_channel_dropout, _rng
from . import _layout

__all__ = ["dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout"]

MASKS = ("bits", "none")


def _options(p, mask):
    p = _checks.probability(p)
    _checks.choice(mask, "mask", MASKS)
    return p


def _memory_layout(x):
    """(tensor the kernel reads, channels_last, how to give the result x's logical shape)."""
    if x.dim() in (4, 5) and not x.is_contiguous():
        fmt = torch.channels_last if x.dim() == 4 else torch.channels_last_3d
        if x.is_contiguous(memory_format=fmt):
            d = x.dim()
            inverse = (0, d - 1, *range(1, d - 1))
            return x.permute(0, *range(2, d), 1), True, lambda y: y.permute(inverse)
    return x.contiguous(), False, lambda y: y


def _draw(x, p, decisions, generator):
    if 0.0 < p < 1.0:
        _rng.check_not_capturing(x)
        return _rng.draw(generator, _rng.blocks_for(decisions))
    return _rng.no_draw()


def _channels(input, p, inplace, mask, generator, alpha):
    """Channel dropout (alpha=False) or feature alpha dropout of an (N, C, *) tensor."""
    if input.dim() < 2:
        raise ValueError(f"input: expected a tensor with at least 2 dimensions (N, C, *), got shape "
                         f"{tuple(input.shape)}")
    x, channels_last, back = _memory_layout(input)
    so = _draw(input, p, input.shape[0] * input.shape[1], generator)
    y, _ = _autograd.call(_ops_channel_dropout.channel_dropout, x, so, p, False, alpha, channels_last, mask == "bits")
    y = back(y)
    return input.copy_(y) if inplace else y


def _check_input(input, inplace):
    _checks.float_tensor(input, "input", half=True)
    if inplace and input.is_leaf and input.requires_grad and torch.is_grad_enabled():
        raise RuntimeError("input: a leaf tensor that requires grad cannot be dropped out in place "
                           "(inplace=True); use inplace=False, or run under torch.no_grad()")


def _batch_of_one(input, batched_dim, p, inplace, mask, generator):
    """torch's no-batch-dim rule: an input that is not batched_dim-D gets a batch of 1."""
    if input.dim() == batched_dim:
        return _channels(input, p, inplace, mask, generator, False)
    y = _channels(input.unsqueeze(0), p, False, mask, generator, False).squeeze(0)
    return input.copy_(y) if inplace else y


def dropout1d(input, p=0.5, training=True, inplace=False, *, mask="bits", generator=None):
    """torch.nn.functional.dropout1d on regcore's kernel: (N, C, L) or (C, L)."""
    p = _options(p, mask)
    if input.dim() not in (2, 3):
        raise ValueError(f"input: dropout1d expects a 2-D (C, L) or 3-D (N, C, L) tensor, got shape "
                         f"{tuple(input.shape)}")
    if not training or p == 0.0:
        return input
    _check_input(input, inplace)
    return _batch_of_one(input, 3, p, inplace, mask, generator)


def dropout2d(input, p=0.5, training=True, inplace=False, *, mask="bits", generator=None):
    """torch.nn.functional.dropout2d on regcore's kernel: (N, C, H, W); other ranks as torch
    treats them (with torch's warnings), at least 2 dimensions."""
    p = _options(p, mask)
    if input.dim() < 2:
        raise ValueError(f"input: expected a tensor with at least 2 dimensions (N, C, *), got shape "
                         f"{tuple(input.shape)}")
    if input.dim() not in (3, 4):
        _warn(f"dropout2d: Received a {input.dim()}-D input to dropout2d; dropout2d exists to "
              "provide channel-wise dropout on 3D or 4D inputs")
    if input.dim() == 3:
        _warn("dropout2d: Received a 3D input to dropout2d and assuming that channel-wise 1D dropout "
              "behavior is desired - input is interpreted as shape (N, C, L)")
    if not training or p == 0.0:
        return input
    _check_input(input, inplace)
    return _channels(input, p, inplace, mask, generator, False)


def dropout3d(input, p=0.5, training=True, inplace=False, *, mask="bits", generator=None):
    """torch.nn.functional.dropout3d on regcore's kernel: (N, C, D, H, W) or (C, D, H, W); other
    ranks as torch treats them (a batch of 1 is added to anything but 5-D), with its warning."""
    p = _options(p, mask)
    if input.dim() < 1:
        raise ValueError(f"input: expected a tensor with at least 1 dimension, got shape {tuple(input.shape)}")
    if input.dim() not in (4, 5):
        _warn(f"dropout3d: Received a {input.dim()}-D input to dropout3d; dropout3d exists to "
              "provide channel-wise dropout on 4D or 5D inputs")
    if not training or p == 0.0:
        return input
    _check_input(input, inplace)
    return _batch_of_one(input, 5, p, inplace, mask, generator)


def alpha_dropout(input, p=0.5, training=False, inplace=False, *, mask="bits", generator=None):
    """torch.nn.functional.alpha_dropout on regcore's kernel (note torch's default
    training=False): kept elements a*x + b, dropped ones a*alpha' + b."""
    p = _options(p, mask)
    if not training or p == 0.0:
        return input
    _check_input(input, inplace)
    so = _draw(input, p, input.numel(), generator)
    y, _ = _autograd.call(_ops_channel_dropout.alpha_dropout, input.contiguous(), so, p, mask == "bits")
    return input.copy_(y) if inplace else _layout.kept(y, _layout.format_of(input))


def feature_alpha_dropout(input, p=0.5, training=False, inplace=False, *, mask="bits", generator=None):
    """torch.nn.functional.feature_alpha_dropout on regcore's kernel: one decision per
    (sample, channel) of an (N, C, *) tensor (note torch's default training=False)."""
    p = _options(p, mask)
    if input.dim() < 2:
        raise ValueError(f"input: expected a tensor with at least 2 dimensions (N, C, *), got shape "
                         f"{tuple(input.shape)}")
    if not training or p == 0.0:
        return input
    _check_input(input, inplace)
    return _channels(input, p, inplace, mask, generator, True)


def _warn(message):
    """torch's warning for an unusual rank, in eager mode: under torch.compile a call of
    warnings.warn breaks the graph (fullgraph=True: it raises), and the compiled graph would not
    warn on its later calls anyway."""
    if not torch.compiler.is_compiling():
        warnings.warn(message, stacklevel=3)
