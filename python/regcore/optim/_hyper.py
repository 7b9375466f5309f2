"""Validated SGD hyper-parameters and the coefficients every backend multiplies by.

The derived coefficients (1 - dampening, lr*l1, 1 - lr*decoupled_weight_decay) are computed here
once, in float64; each backend rounds them once to the parameter's dtype. Doing this in one
place is what lets NumPy, scalar C++, AVX2, AVX-512 and CUDA agree bit for bit.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .. import _validate
from .._errors import type_error, value_error

# Must match csrc/core/sgd_params.h (SgdFlags).
MAXIMIZE = 1 << 0
WEIGHT_DECAY = 1 << 1
L1_SUBGRAD = 1 << 2
MOMENTUM = 1 << 3
NESTEROV = 1 << 4
DECOUPLED = 1 << 5
L1_PROX = 1 << 6
STOCHASTIC = 1 << 7   # set per call by _step (stochastic_rounding=True), never by make_hyper

L1_MODES = ("proximal", "subgradient")

# The hyper-parameters a step (and an optimizer parameter group) takes, with their defaults.
DEFAULTS = dict(
    lr=0.1,
    momentum=0.9,
    dampening=0.0,
    nesterov=False,
    weight_decay=0.0,
    decoupled_weight_decay=0.0,
    l1=0.0,
    l1_mode="proximal",
    max_norm=None,
    max_norm_axis=0,
    maximize=False,
)


@dataclass(frozen=True)
class SgdHyper:
    lr: float
    momentum: float
    damp_keep: float
    wd: float
    decay_keep: float
    l1: float
    l1_thr: float
    flags: int
    max_norm: float  # 0.0 when off
    max_norm_axis: int

    @property
    def uses_momentum(self) -> bool:
        return bool(self.flags & MOMENTUM)


def _flag(name: str, value) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise type_error(name, "True or False", value)
    return bool(value)


def make_hyper(*, lr, momentum, dampening, nesterov, weight_decay, decoupled_weight_decay, l1,
               l1_mode, max_norm, max_norm_axis, maximize, zero_lr=False) -> SgdHyper:
    """Validate every hyper-parameter (TypeError/ValueError naming it) and derive coefficients.

    ``zero_lr=True`` admits lr = 0 (torch.optim.SGD's rule, which regcore.torch's SGD keeps:
    torch's schedulers reach 0, e.g. a warmup that starts from it); the step then updates the
    momentum buffer and leaves the weights where they are, max-norm aside."""
    lr = _validate.nonnegative("lr", lr) if zero_lr else _validate.positive("lr", lr)
    momentum = _validate.real("momentum", momentum)
    if not 0.0 <= momentum < 1.0:
        raise value_error("momentum", "a value in [0, 1)", momentum)
    dampening = _validate.real("dampening", dampening)
    if not 0.0 <= dampening <= 1.0:
        raise value_error("dampening", "a value in [0, 1]", dampening)
    nesterov = _flag("nesterov", nesterov)
    if nesterov and (momentum == 0.0 or dampening != 0.0):
        raise value_error("nesterov", "momentum > 0 and dampening = 0 with nesterov=True",
                          f"momentum={momentum}, dampening={dampening}")
    wd = _validate.nonnegative("weight_decay", weight_decay)
    dwd = _validate.nonnegative("decoupled_weight_decay", decoupled_weight_decay)
    if lr * dwd > 1.0:
        raise value_error("decoupled_weight_decay", f"lr * decoupled_weight_decay <= 1 (lr={lr})", decoupled_weight_decay)
    l1 = _validate.nonnegative("l1", l1)
    l1_mode = _validate.choice("l1_mode", l1_mode, L1_MODES)
    if max_norm is not None:
        max_norm = _validate.positive("max_norm", max_norm)
    max_norm_axis = _validate.integer("max_norm_axis", max_norm_axis)
    maximize = _flag("maximize", maximize)

    flags = 0
    if maximize:
        flags |= MAXIMIZE
    if wd != 0.0:
        flags |= WEIGHT_DECAY
    if l1 != 0.0:
        flags |= L1_PROX if l1_mode == "proximal" else L1_SUBGRAD
    if momentum != 0.0:
        flags |= MOMENTUM
    if nesterov:
        flags |= NESTEROV
    if dwd != 0.0:
        flags |= DECOUPLED
    l1_thr = lr * l1
    if not math.isfinite(l1_thr):
        raise value_error("l1", f"lr * l1 finite (lr={lr})", l1)
    return SgdHyper(lr=lr, momentum=momentum, damp_keep=1.0 - dampening, wd=wd,
                    decay_keep=1.0 - lr * dwd, l1=l1, l1_thr=l1_thr, flags=flags,
                    max_norm=0.0 if max_norm is None else max_norm, max_norm_axis=max_norm_axis)


def max_norm_geometry(shape: tuple, hyper: SgdHyper, name: str) -> tuple:
    """(outer, rows, inner) of the neuron axis for max-norm; (0, 0, 0) when max-norm is off."""
    if hyper.max_norm == 0.0:
        return (0, 0, 0)
    ndim = len(shape)
    axis = hyper.max_norm_axis
    if not -ndim <= axis < ndim:
        raise value_error("max_norm_axis", f"an axis of {name} (ndim {ndim})", axis)
    axis %= ndim
    return (math.prod(shape[:axis]), shape[axis], math.prod(shape[axis + 1:]))
