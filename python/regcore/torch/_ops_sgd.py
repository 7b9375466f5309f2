"""``torch.ops.regcore.sgd_step_``: one fused multi-tensor penalized SGD step (parameters and
momentum buffers updated in place: declared mutated), the array API's ``sgd_step_multi_``."""
from __future__ import annotations

from ..optim import sgd_step_multi_
from ._library import define_inplace


def _impl(params, grads, momentum_buffers, fresh, lr, momentum, dampening, nesterov, weight_decay,
          decoupled_weight_decay, l1, l1_mode, max_norm, max_norm_axis, maximize):
    sgd_step_multi_(params, grads, momentum_buffers if momentum != 0.0 else None, lr=lr, momentum=momentum,
                    dampening=dampening, nesterov=nesterov, weight_decay=weight_decay,
                    decoupled_weight_decay=decoupled_weight_decay, l1=l1, l1_mode=l1_mode,
                    max_norm=max_norm if max_norm > 0.0 else None, max_norm_axis=max_norm_axis,
                    maximize=maximize, fresh_buffers=fresh if momentum != 0.0 else False)


sgd_step_ = define_inplace(
    "sgd_step_(Tensor(a!)[] params, Tensor[] grads, Tensor(b!)[] momentum_buffers, bool[] fresh, float lr, "
    "float momentum, float dampening, bool nesterov, float weight_decay, float decoupled_weight_decay, float l1, "
    "str l1_mode, float max_norm, int max_norm_axis, bool maximize) -> ()",
    _impl, lambda *args: None, mutates=("params", "momentum_buffers"))
