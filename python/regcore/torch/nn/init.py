"""torch.nn.init's functions on regcore's samplers (docs/init.md): same names, signatures and
laws, in place under no_grad on CPU and CUDA tensors, values from regcore's stream (the same
on CPU and GPU for the same generator state).

``generator``: a ``regcore.Generator`` is drawn from directly (the same values as
``regcore.init``); ``None`` draws one 63-bit seed from torch's default generator per call (so
``torch.manual_seed`` reproduces the weights, as with torch.nn.init); a ``torch.Generator``
likewise gives one seed per call, drawn from it. Values are regcore's, not torch's: the laws
match, the samples do not.

A tensor regcore cannot write in place (channels_last weights, other strides) is filled through
a contiguous temporary in its logical order, so the values do not depend on the layout.
"""
from __future__ import annotations

import math

import torch

from ... import Generator
from ... import init as _init
from .. import _rng

__all__ = ["calculate_gain", "uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_", "eye_",
           "dirac_", "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "orthogonal_",
           "sparse_"]

calculate_gain = _init.calculate_gain
eye_ = torch.nn.init.eye_          # deterministic: nothing of regcore's to add
dirac_ = torch.nn.init.dirac_


def _generator(generator) -> Generator:
    if isinstance(generator, Generator):
        return generator
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError("generator: expected a regcore.Generator, a torch.Generator or None, got "
                        f"{type(generator).__name__}")
    return Generator(_rng.torch_bits(generator))


def _fill(tensor, sampler, *args, random=True, generator=None, **kwargs):
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"tensor: expected a torch.Tensor, got {type(tensor).__name__}")
    if random:
        kwargs["generator"] = _generator(generator)
    with torch.no_grad():
        target = tensor if tensor.is_contiguous() else torch.empty(tensor.shape, dtype=tensor.dtype,
                                                                   device=tensor.device)
        sampler(target, *args, **kwargs)
        if target is not tensor:
            tensor.copy_(target)
        else:
            torch.autograd.graph.increment_version(tensor)   # written through a view autograd cannot see
    return tensor


def uniform_(tensor, a=0.0, b=1.0, generator=None):
    return _fill(tensor, _init.uniform_, a, b, generator=generator)


def normal_(tensor, mean=0.0, std=1.0, generator=None):
    return _fill(tensor, _init.normal_, mean, std, generator=generator)


def trunc_normal_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0, generator=None):
    """N(mean, std^2) restricted to [a, b] by inverse-CDF sampling (std: the parent's, as torch)."""
    return _fill(tensor, _init.trunc_normal_, mean, std, a, b, generator=generator)


def constant_(tensor, val):
    return _fill(tensor, _init.constant_, val, random=False)


def ones_(tensor):
    return _fill(tensor, _init.ones_, random=False)


def zeros_(tensor):
    return _fill(tensor, _init.zeros_, random=False)


def xavier_uniform_(tensor, gain=1.0, generator=None):
    return _fill(tensor, _init.xavier_uniform_, gain, generator=generator)


def xavier_normal_(tensor, gain=1.0, generator=None):
    return _fill(tensor, _init.xavier_normal_, gain, generator=generator)


def kaiming_uniform_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    return _fill(tensor, _init.kaiming_uniform_, a, mode, nonlinearity, generator=generator)


def kaiming_normal_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    return _fill(tensor, _init.kaiming_normal_, a, mode, nonlinearity, generator=generator)


def orthogonal_(tensor, gain=1, generator=None):
    return _fill(tensor, _init.orthogonal_, gain, generator=generator)


def sparse_(tensor, sparsity, std=0.01, generator=None):
    """torch's law: a 2-D tensor whose every COLUMN has ceil(sparsity * rows) zeros, the other
    entries N(0, std^2). regcore.init.sparse_ keeps exactly k entries per row; applied to the
    transposed (cols, rows) matrix with k = rows - ceil(sparsity * rows) it is torch's law."""
    if not isinstance(tensor, torch.Tensor) or tensor.dim() != 2:
        raise ValueError("tensor: expected a 2-D tensor (torch.nn.init.sparse_'s rule)")
    rows, cols = tensor.shape
    keep = rows - int(math.ceil(sparsity * rows))
    with torch.no_grad():
        t = torch.empty((cols, rows), dtype=tensor.dtype, device=tensor.device)
        _init.sparse_(t, keep, std, generator=_generator(generator))
        tensor.copy_(t.T)
    return tensor
