"""Functional forms of regcore's modules, with torch.nn.functional's names and argument order;
regcore's extras are keyword-only.

Everything that could fail is checked before any state changes: a generator is drawn from only
once the call is known to be valid, running statistics are written only after the operator
succeeded. Random calls that read no random bits (p = 0, eval mode, std = 0) return the input
itself and leave every generator alone.
"""
from __future__ import annotations

import math

import torch

from .. import _autograd, _checks, _ops_dropout, _ops_norm, _rng  # noqa: F401
from . import _layout
from ._channel_functional import (alpha_dropout, dropout1d, dropout2d, dropout3d,  # noqa: F401
                                  feature_alpha_dropout)

__all__ = ["dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout",
           "gaussian_noise", "bias_act_dropout", "batch_norm", "layer_norm", "group_norm",
           "instance_norm"]

MODES = ("inverted", "vanilla")
MASKS = ("bits", "none")
ACTIVATIONS = ("identity", "relu", "gelu", "gelu_tanh", "tanh", "sigmoid")


def _draw(t, generator, blocks):
    _rng.check_not_capturing(t)
    return _rng.draw(generator, blocks)


def _mask_draw(x, p, generator):
    """(seed, offset) of a dropout mask over x: a real draw only when the mask depends on it."""
    if 0.0 < p < 1.0:
        return _draw(x, generator, _rng.blocks_for(x.numel()))
    return _rng.no_draw()


def dropout(input, p=0.5, training=True, inplace=False, *, mode="inverted", mask="bits", generator=None):
    """torch.nn.functional.dropout on regcore's kernel: the keep rule of docs/dropout.md, masks
    kept as 1 bit per element (``mask="bits"``) or redrawn in the backward (``"none"``).
    ``mode="vanilla"`` keeps values unscaled (scale by 1 - p at inference)."""
    p = _checks.probability(p)
    _checks.choice(mode, "mode", MODES)
    _checks.choice(mask, "mask", MASKS)
    if not training or p == 0.0:
        return input
    _checks.float_tensor(input, "input", half=True)
    if inplace and input.is_leaf and input.requires_grad and torch.is_grad_enabled():
        raise RuntimeError("input: a leaf tensor that requires grad cannot be dropped out in place "
                           "(inplace=True); use inplace=False, or run under torch.no_grad()")
    vanilla = mode == "vanilla"
    so = _mask_draw(input, p, generator)
    # (not under vmap and the other torch.func transforms: their fallback cannot run an in-place operator)
    if (inplace and input.is_contiguous() and not (torch.is_grad_enabled() and input.requires_grad)
            and not _autograd._functorch_active()):
        _ops_dropout.dropout_(input, so, p, vanilla)
        return input
    y, _ = _autograd.call(_ops_dropout.dropout, input.contiguous(), so, p, vanilla, mask == "bits")
    if inplace:   # autograd is recording (or x is strided): the result goes back into x
        return input.copy_(y)
    return _layout.kept(y, _layout.format_of(input))


def gaussian_noise(input, std, training=True, *, mode="additive", generator=None):
    """additive: input + N(0, std^2); multiplicative (Gaussian dropout): input * N(1, std^2),
    the draws of regcore.random.normal for the same (seed, offset)."""
    std = _checks.nonnegative(std, "std")
    _checks.choice(mode, "mode", ("additive", "multiplicative"))
    if not training or std == 0.0:
        return input
    _checks.float_tensor(input, "input", half=True)
    so = _draw(input, generator, _rng.blocks_for(input.numel(), input.element_size()))
    y = _autograd.call(_ops_dropout.gaussian_noise, input.contiguous(), so, std, mode == "multiplicative")
    return _layout.kept(y, _layout.format_of(input))


def bias_act_dropout(input, bias, activation="relu", p=0.1, training=True, *, residual=None, mask="bits",
                     generator=None):
    """dropout(act(input + bias)) [+ residual] in one pass, bias along the last axis. In eval
    mode (or p = 0) it is act(input + bias) [+ residual], without touching a generator."""
    p = _checks.probability(p)
    _checks.choice(activation, "activation", ACTIVATIONS)
    _checks.choice(mask, "mask", MASKS)
    _checks.float_tensor(input, "input", half=True)
    _checks.float_tensor(bias, "bias", half=True)
    _checks.same_device(bias, input, "bias")
    _checks.same_dtype(bias, input, "bias")
    if input.dim() < 1 or bias.shape != input.shape[-1:]:
        raise ValueError(f"bias: expected shape ({input.shape[-1] if input.dim() else '?'},) (the last axis of "
                         f"input), got {tuple(bias.shape)}")
    if residual is not None:
        _checks.float_tensor(residual, "residual", half=True)
        _checks.same_device(residual, input, "residual")
        _checks.same_dtype(residual, input, "residual")
        if residual.shape != input.shape:
            raise ValueError(f"residual: expected shape {tuple(input.shape)} (input's), got {tuple(residual.shape)}")
        residual = residual.contiguous()
    if not training:
        p = 0.0
    so = _mask_draw(input, p, generator)
    # p = 0 keeps no mask (there is none to keep): its words, sized by the batch, made torch.export
    # with a dynamic batch refuse an eval-mode model (size-1 guards on the word count)
    y, _ = _autograd.call(_ops_dropout.bias_act_dropout, input.contiguous(), bias.contiguous(), residual, so,
                          activation, p, mask == "bits" and p > 0.0)
    return _layout.kept(y, _layout.format_of(input))


# ------------------------------------------------------------------ normalization

def _channels_view(x):
    """(view, axis, restore): x as the kernels take it. Channels-first contiguous -> axis 1;
    a channels_last / channels_last_3d tensor -> its (N, *spatial, C) contiguous permutation with
    axis -1, and the result permuted back (so y keeps x's memory format, as torch's modules do)."""
    if x.is_contiguous():
        return x, 1, None
    if x.dim() in (4, 5):
        fmt = torch.channels_last if x.dim() == 4 else torch.channels_last_3d
        if x.is_contiguous(memory_format=fmt):
            perm = (0, *range(2, x.dim()), 1)
            inverse = (0, x.dim() - 1, *range(1, x.dim() - 1))
            return x.permute(perm), -1, inverse
    return x.contiguous(), 1, None


def _restore(y, inverse):
    return y if inverse is None else y.permute(inverse)


_TORCH_NAMES = {"x": "input", "gamma": "weight", "beta": "bias"}


def _call(op, *args):
    """Run a normalization operator; the array API's checks (which run before anything is
    written) name the array API's arguments, reported here under torch's names."""
    try:
        return _autograd.call(op, *args)
    except (TypeError, ValueError) as exc:
        name, sep, rest = str(exc).partition(": ")
        if sep and name in _TORCH_NAMES:
            raise type(exc)(f"{_TORCH_NAMES[name]}: {rest}") from None
        raise


def _on_device(input, **tensors):
    """Every given tensor on input's device: the dispatcher picks one kernel for all of them (a
    meta tensor among CPU tensors would route the call to the fake kernel), so this is checked
    here, by name, before the call."""
    cpu = input.is_cpu   # CPU input: no device objects built (a few us a call)
    for name, t in tensors.items():
        if t is not None and (not t.is_cpu if cpu else t.device != input.device):
            raise ValueError(f"{name}: expected a tensor on {input.device} like input, got one on {t.device}")


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """torch.nn.functional.batch_norm on regcore's kernels (float64 statistics, biased variance
    to normalize, unbiased for the running variance; docs/batchnorm.md). Without running
    statistics the batch's own are used in both modes."""
    _checks.float_tensor(input, "input", half=True)
    if input.dim() < 2:
        raise ValueError(f"input: expected at least 2 dimensions (N, C, ...), got {input.dim()}")
    _on_device(input, running_mean=running_mean, running_var=running_var, weight=weight, bias=bias)
    if input.numel() == 0:   # torch's rule: an empty batch gives an empty result, statistics untouched
        return input.clone()
    training = bool(training) or running_mean is None
    x, axis, inverse = _channels_view(input)
    y, _, _, new_mean, new_var = _call(_ops_norm.batch_norm, x, _contig(weight), _contig(bias), _contig(running_mean),
                                       _contig(running_var), training, float(momentum), float(eps), axis)
    if training and running_mean is not None:
        running_mean.copy_(new_mean)
        running_var.copy_(new_var)
    return _restore(y, inverse)


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """torch.nn.functional.layer_norm on regcore's kernels."""
    _checks.float_tensor(input, "input", half=True)
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    k = len(shape)
    if k == 0 or input.dim() < k or tuple(input.shape[input.dim() - k:]) != shape:
        raise ValueError(f"normalized_shape: expected the trailing dimensions of input {tuple(input.shape)}, "
                         f"got {shape}")
    _on_device(input, weight=weight, bias=bias)
    y, _, _ = _call(_ops_norm.layer_norm, input.contiguous(), _contig(weight), _contig(bias), k, float(eps))
    return y


def _contig(t):
    """t as the kernels take it. Parameters and buffers are usually contiguous, but not always:
    ``load_state_dict(..., assign=True)`` installs the state_dict's tensors themselves, which may
    be strided views (of a fused or interleaved checkpoint tensor), and torch's modules take them.
    A contiguous copy of a parameter stays on the autograd graph (its gradient flows back into the
    strided one); new running statistics are copied back into the buffers themselves."""
    return None if t is None else t.contiguous()


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """torch.nn.functional.group_norm on regcore's kernels."""
    _checks.float_tensor(input, "input", half=True)
    if input.dim() < 2:
        raise ValueError(f"input: expected at least 2 dimensions (N, C, ...), got {input.dim()}")
    C = input.shape[1]
    if not isinstance(num_groups, int) or isinstance(num_groups, bool) or num_groups < 1 or C % num_groups:
        raise ValueError(f"num_groups: expected a divisor of the {C} channels, got {num_groups!r}")
    _on_device(input, weight=weight, bias=bias)
    y, _, _ = _call(_ops_norm.group_norm, input.contiguous(), num_groups, _contig(weight), _contig(bias), float(eps))
    return _layout.kept(y, _layout.format_of(input))


def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None, use_input_stats=True,
                  momentum=0.1, eps=1e-5):
    """torch.nn.functional.instance_norm on regcore's kernels."""
    _checks.float_tensor(input, "input", half=True)
    if input.dim() < 3:
        raise ValueError(f"input: expected (N, C, *spatial) with at least one spatial dimension, got {input.dim()} "
                         "dimensions")
    _on_device(input, running_mean=running_mean, running_var=running_var, weight=weight, bias=bias)
    if not use_input_stats and running_mean is None:
        raise ValueError("running_mean: expected running statistics when use_input_stats=False")
    if use_input_stats and math.prod(input.shape[2:]) <= 1 and input.numel():
        raise ValueError(f"input: expected more than 1 spatial element when using input statistics, got input size "
                         f"{tuple(input.shape)}")
    y, _, _, new_mean, new_var = _call(_ops_norm.instance_norm, input.contiguous(), _contig(weight), _contig(bias),
                                       _contig(running_mean), _contig(running_var), bool(use_input_stats),
                                       float(momentum), float(eps))
    if use_input_stats and running_mean is not None:
        running_mean.copy_(new_mean)
        running_var.copy_(new_var)
    return y
