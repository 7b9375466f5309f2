"""``torch.ops.regcore.sgd_step_``: one fused multi-tensor penalized SGD step (parameters and
momentum buffers updated in place: declared mutated), the array API's ``sgd_step_multi_``."""
from __future__ import annotations

import torch

from ..generator import Generator
from ..optim import sgd_step_multi_
from ._fastpath import bf16_view
from ._library import define_inplace


_NUMPY_DTYPES = (torch.float32, torch.float64, torch.float16)


def _numpy_views(tensors):
    """CPU float tensors as NumPy views of the same memory (bfloat16: ml_dtypes' view,
    _fastpath.py), or the tensors themselves when any is not one. The array API checks a list of
    plain NumPy arrays in one cheap pass (optim/_step.py, _fast_numpy_plan: attribute reads and
    one native overlap test), tensors one ArrayRef at a time: 20 parameters of 1,000 elements
    stepped in 730 us against torch's 130 us, almost all of it those checks."""
    views = []
    for t in tensors:
        if t.dtype is torch.bfloat16:
            v = bf16_view(t)
            if v is None:
                return tensors
        elif t.dtype not in _NUMPY_DTYPES or not t.is_cpu:
            return tensors
        else:
            try:   # (.data: a parameter's detached alias)
                v = t.data.numpy() if t.requires_grad else t.numpy()
            except (RuntimeError, TypeError):   # e.g. a lazily negated view: the array API names it
                return tensors
        views.append(v)
    return views


def _impl(params, grads, momentum_buffers, fresh, lr, momentum, dampening, nesterov, weight_decay,
          decoupled_weight_decay, l1, l1_mode, max_norm, max_norm_axis, maximize):
    params, grads, momentum_buffers = _numpy_views(params), _numpy_views(grads), _numpy_views(momentum_buffers)
    sgd_step_multi_(params, grads, momentum_buffers if momentum != 0.0 else None, lr=lr, momentum=momentum,
                    dampening=dampening, nesterov=nesterov, weight_decay=weight_decay,
                    decoupled_weight_decay=decoupled_weight_decay, l1=l1, l1_mode=l1_mode,
                    max_norm=max_norm if max_norm > 0.0 else None, max_norm_axis=max_norm_axis,
                    maximize=maximize, fresh_buffers=fresh if momentum != 0.0 else False, _zero_lr=True)


sgd_step_ = define_inplace(
    "sgd_step_(Tensor(a!)[] params, Tensor[] grads, Tensor(b!)[] momentum_buffers, bool[] fresh, float lr, "
    "float momentum, float dampening, bool nesterov, float weight_decay, float decoupled_weight_decay, float l1, "
    "str l1_mode, float max_norm, int max_norm_axis, bool maximize) -> ()",
    _impl, lambda *args: None, mutates=("params", "momentum_buffers"))


def _impl_half(params, grads, momentum_buffers, fresh, masters, lr, momentum, dampening, nesterov, weight_decay,
               decoupled_weight_decay, l1, l1_mode, max_norm, max_norm_axis, maximize, stochastic_rounding,
               seed, offset):
    # The caller reserved the generator's blocks (seed, offset): the op itself holds no generator.
    # (signed 64-bit in the schema: the unsigned values come back modulo 2^64)
    gen = Generator.from_state({"seed": seed % 2**64, "offset": offset % 2**64}) if stochastic_rounding else None
    sgd_step_multi_(params, grads, momentum_buffers if momentum != 0.0 else None, lr=lr, momentum=momentum,
                    dampening=dampening, nesterov=nesterov, weight_decay=weight_decay,
                    decoupled_weight_decay=decoupled_weight_decay, l1=l1, l1_mode=l1_mode,
                    max_norm=max_norm if max_norm > 0.0 else None, max_norm_axis=max_norm_axis,
                    maximize=maximize, fresh_buffers=fresh if momentum != 0.0 else False, _zero_lr=True,
                    master_params=list(masters) if masters else None, stochastic_rounding=stochastic_rounding,
                    generator=gen)


# The 16-bit options: float32 masters (empty list: none) and stochastic rounding from counter
# blocks [offset, ...) of seed's stream (docs/sgd.md).
sgd_step_half_ = define_inplace(
    "sgd_step_half_(Tensor(a!)[] params, Tensor[] grads, Tensor(b!)[] momentum_buffers, bool[] fresh, "
    "Tensor(c!)[] masters, float lr, float momentum, float dampening, bool nesterov, float weight_decay, "
    "float decoupled_weight_decay, float l1, str l1_mode, float max_norm, int max_norm_axis, bool maximize, "
    "bool stochastic_rounding, int seed, int offset) -> ()",
    _impl_half, lambda *args: None, mutates=("params", "momentum_buffers", "masters"))
