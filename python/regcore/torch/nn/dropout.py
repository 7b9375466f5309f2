"""Random regularizers as modules: Dropout, GaussianNoise, DropConnectLinear, BiasActDropout.

Constructor arguments and defaults are torch's where torch has the module; regcore's extras are
keyword-only. ``generator``: None (draws tied to torch's default generator, so
``torch.manual_seed`` reproduces the masks), a ``regcore.Generator`` or a ``torch.Generator``.
It is not part of the state_dict (as torch's modules keep no generator). The forwards pass on
the generator's handle, resolved when it is assigned (_generator.py: what torch.compile needs).
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .. import _checks
from . import functional as F
from ._capture import NotScriptable, Proxy, traced_call
from ._generator import HoldsGenerator

__all__ = ["Dropout", "GaussianNoise", "DropConnectLinear", "BiasActDropout"]


class Dropout(HoldsGenerator, NotScriptable, nn.Dropout):
    """torch.nn.Dropout on regcore's kernel, with 1-bit masks by default.

    ``mask="bits"`` keeps 1 bit per element for the backward; ``"none"`` keeps nothing and
    redraws the mask from its (seed, offset). ``mode="vanilla"`` does not scale kept values
    (scale by 1 - p at inference with regcore.dropout_scale)."""

    def __init__(self, p=0.5, inplace=False, *, mask="bits", mode="inverted", generator=None):
        super().__init__(p, inplace)
        self.mask = _checks.choice(mask, "mask", F.MASKS)
        self.mode = _checks.choice(mode, "mode", F.MODES)
        self.generator = generator

    def forward(self, input):
        if input.__class__ is not Tensor and isinstance(input, Proxy):   # torch.fx tracing (_capture.py)
            return traced_call(self, input)
        return F.dropout(input, self.p, self.training, self.inplace, mode=self.mode, mask=self.mask,
                         generator=self._generator_handle)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, mask={self.mask!r}, mode={self.mode!r}"


class GaussianNoise(HoldsGenerator, NotScriptable, nn.Module):
    """Additive (x + N(0, std^2)) or multiplicative (Gaussian dropout: x * N(1, std^2)) noise in
    training; the input itself in eval mode. For Gaussian dropout matching a dropout rate p use
    ``std = sqrt(p / (1 - p))`` (``GaussianNoise.for_dropout_rate(p)``)."""

    def __init__(self, std=0.1, *, mode="additive", generator=None):
        super().__init__()
        self.std = _checks.nonnegative(std, "std")
        self.mode = _checks.choice(mode, "mode", ("additive", "multiplicative"))
        self.generator = generator

    @classmethod
    def for_dropout_rate(cls, p, *, generator=None):
        p = _checks.probability(p)
        if p >= 1.0:
            raise ValueError(f"p: expected a rate < 1 for Gaussian dropout, got {p}")
        return cls(math.sqrt(p / (1.0 - p)), mode="multiplicative", generator=generator)

    def forward(self, input):
        if input.__class__ is not Tensor and isinstance(input, Proxy):   # torch.fx tracing (_capture.py)
            return traced_call(self, input)
        return F.gaussian_noise(input, self.std, self.training, mode=self.mode, generator=self._generator_handle)

    def extra_repr(self) -> str:
        return f"std={self.std}, mode={self.mode!r}"


class DropConnectLinear(HoldsGenerator, NotScriptable, nn.Linear):
    """nn.Linear whose WEIGHTS are dropped in training (DropConnect, Wan et al. 2013): each call
    draws a mask over the weight matrix, kept weights scaled by 1/(1 - p) (inverted), so eval
    mode uses the weight as it is. Same parameters and state_dict as nn.Linear."""

    def __init__(self, in_features, out_features, bias=True, device=None, dtype=None, *, p=0.5, mask="bits",
                 generator=None):
        super().__init__(in_features, out_features, bias, device, dtype)
        self.p = _checks.probability(p)
        self.mask = _checks.choice(mask, "mask", F.MASKS)
        self.generator = generator

    def forward(self, input):
        if input.__class__ is not Tensor and isinstance(input, Proxy):   # torch.fx tracing (_capture.py)
            return traced_call(self, input)
        w = F.dropout(self.weight, self.p, self.training, mask=self.mask, generator=self._generator_handle)
        return nn.functional.linear(input, w, self.bias)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, p={self.p}, mask={self.mask!r}"


class BiasActDropout(HoldsGenerator, NotScriptable, nn.Module):
    """y = dropout(act(x + bias)) [+ residual] in one pass over x, for use after a bias-free
    nn.Linear (``nn.Linear(i, o, bias=False)``): the bias add, the activation and the dropout
    of a transformer MLP or a classifier head, with a 1-bit mask. ``forward(x, residual=None)``.
    Activations: identity, relu, gelu (exact), gelu_tanh, tanh, sigmoid. The bias starts at 0."""

    def __init__(self, num_features, activation="relu", p=0.1, *, mask="bits", generator=None, device=None,
                 dtype=None):
        super().__init__()
        self.num_features = int(num_features)
        self.activation = _checks.choice(activation, "activation", F.ACTIVATIONS)
        self.p = _checks.probability(p)
        self.mask = _checks.choice(mask, "mask", F.MASKS)
        self.generator = generator
        self.bias = nn.Parameter(torch.empty(self.num_features, device=device, dtype=dtype))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """The bias back to 0. torch's deferred initialization (a model built under
        ``torch.device("meta")``, then ``to_empty`` and each module's ``reset_parameters``) relies
        on it: without it the bias kept whatever memory to_empty handed it."""
        nn.init.zeros_(self.bias)

    def forward(self, input, residual=None):
        if input.__class__ is not Tensor and isinstance(input, Proxy):   # torch.fx tracing (_capture.py)
            return traced_call(self, input) if residual is None else traced_call(self, input, residual)
        return F.bias_act_dropout(input, self.bias, self.activation, self.p, self.training, residual=residual,
                                  mask=self.mask, generator=self._generator_handle)

    def extra_repr(self) -> str:
        return f"{self.num_features}, activation={self.activation!r}, p={self.p}, mask={self.mask!r}"
