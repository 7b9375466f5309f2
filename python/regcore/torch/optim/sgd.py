"""``SGD``: torch.optim.SGD's signature, defaults, state layout and behaviour, run as one fused
regcore step per (parameter group, device) — every tensor of the group in one multi-tensor call
(float32 and float64 together) — with regcore's penalties as keyword-only extras:

* ``l1`` with ``l1_mode="proximal"`` (soft threshold after the step: exact zeros) or
  ``"subgradient"`` (l1 * sign(w) added to the gradient, what ``loss + l1 * |w|.sum()`` gives);
* ``decoupled_weight_decay`` (SGDW: w *= 1 - lr * wd, independent of the gradient);
* ``max_norm`` / ``max_norm_axis``: each neuron's weight vector clipped to norm <= max_norm.

``state[p]["momentum_buffer"]`` is torch's, so state_dicts load both ways between this and
torch.optim.SGD (regcore's extra group keys ride along; a state_dict from torch keeps this
optimizer's values for them). Works with torch.amp.GradScaler: ``scaler.step(opt)`` unscales
the gradients first (penalties and max-norm see true gradients) and skips the step when they
hold inf/NaN. docs/torch.md and docs/sgd.md have the math.
"""
from __future__ import annotations

import torch

from ...optim._atomic import signals_deferred
from ...optim._hyper import make_hyper
from .. import _checks, _ops_sgd

__all__ = ["SGD"]

REGCORE_DEFAULTS = dict(l1=0.0, l1_mode="proximal", decoupled_weight_decay=0.0, max_norm=None, max_norm_axis=0)


def _hyper(group, where=""):
    """regcore's validation of a group's hyper-parameters (ValueError/TypeError naming one)."""
    try:
        return make_hyper(lr=float(group["lr"]), momentum=group["momentum"], dampening=group["dampening"],
                          nesterov=group["nesterov"], weight_decay=group["weight_decay"],
                          decoupled_weight_decay=group["decoupled_weight_decay"], l1=group["l1"],
                          l1_mode=group["l1_mode"], max_norm=group["max_norm"],
                          max_norm_axis=group["max_norm_axis"], maximize=group["maximize"])
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{where}{exc}") from None


def _order(p):
    """The axis order in which p is C-contiguous (identity for ordinary parameters; (0, 2, 3, 1)
    for a channels_last weight), or None when p is not a permutation of a dense block."""
    if p.is_contiguous():
        return None
    order = sorted(range(p.dim()), key=lambda d: (-p.stride(d), d))
    if not p.permute(order).is_contiguous():
        raise ValueError("params: regcore updates parameters in place and needs each to be a dense block "
                         f"(any axis order); got a tensor with strides {p.stride()}")
    return tuple(order)


class SGD(torch.optim.Optimizer):
    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *,
                 maximize=False, foreach=None, differentiable=False, fused=None, l1=0.0, l1_mode="proximal",
                 decoupled_weight_decay=0.0, max_norm=None, max_norm_axis=0):
        if differentiable:
            raise ValueError("differentiable: regcore's fused step is not differentiable; use torch.optim.SGD "
                             "for differentiable optimization")
        if isinstance(lr, torch.Tensor) and lr.numel() != 1:
            raise ValueError("lr: a tensor learning rate must have one element")
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay, nesterov=nesterov,
                        maximize=maximize, foreach=foreach, differentiable=False, fused=fused, l1=l1,
                        l1_mode=l1_mode, decoupled_weight_decay=decoupled_weight_decay, max_norm=max_norm,
                        max_norm_axis=max_norm_axis)
        _hyper(defaults)
        super().__init__(params, defaults)

    def add_param_group(self, param_group):
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        _hyper(group, f"param_groups[{len(self.param_groups) - 1}]: ")
        for p in group["params"]:
            _checks.float_tensor(p, "params")
            _order(p)

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("nesterov", False)
            group.setdefault("maximize", False)
            group.setdefault("foreach", None)
            group.setdefault("differentiable", False)
            group.setdefault("fused", None)
            for k, v in REGCORE_DEFAULTS.items():
                group.setdefault(k, self.defaults.get(k, v))

    def load_state_dict(self, state_dict):
        """torch's load_state_dict; regcore keys a state_dict lacks (one saved by
        torch.optim.SGD) keep this optimizer's current values."""
        current = [{k: g[k] for k in REGCORE_DEFAULTS} for g in self.param_groups]
        saved = state_dict["param_groups"]
        super().load_state_dict(state_dict)
        for g, kept, loaded in zip(self.param_groups, current, saved):
            for k, v in kept.items():
                if k not in loaded:
                    g[k] = v
        for i, g in enumerate(self.param_groups):
            _hyper(g, f"param_groups[{i}]: ")

    def _calls(self, group, new_buffers):
        """The fused calls of one group: {(device, neuron axis): [params, grads, buffers, fresh]}.
        Buffers started here are listed in new_buffers and enter the state only once every group
        has been checked."""
        calls = {}
        momentum = group["momentum"] != 0
        for p in group["params"]:
            g = p.grad
            if g is None:
                continue
            if g.is_sparse or g.layout != torch.strided:
                raise RuntimeError("SGD (regcore) does not support sparse gradients; use torch.optim.SGD or "
                                   "torch.optim.SparseAdam for parameters with sparse gradients (e.g. "
                                   "nn.Embedding(sparse=True))")
            _checks.float_tensor(g, "grad")
            _checks.same_dtype(g, p, "grad", "its parameter")
            _checks.same_device(g, p, "grad", "its parameter")
            order = _order(p)
            buf, fresh = None, False
            if momentum:
                buf = self.state.get(p, {}).get("momentum_buffer")   # .get: no state entry made yet
                if buf is None:
                    buf, fresh = torch.empty_like(p, memory_format=torch.preserve_format), True
                    new_buffers.append((p, buf))
            axis = group["max_norm_axis"]
            if order is not None:   # update the contiguous permutation of p (and of grad, buffer)
                axis = order.index(axis % p.dim()) if group["max_norm"] is not None and p.dim() else axis
                p, g = p.permute(order), g.permute(order).contiguous()
                buf = None if buf is None else buf.permute(order)
            entry = calls.setdefault((p.device, axis), [[], [], [], []])
            entry[0].append(p)
            entry[1].append(g.contiguous())
            if momentum:
                entry[2].append(buf)
                entry[3].append(fresh)
        return calls

    @torch.no_grad()
    def step(self, closure=None):
        """One step over every parameter with a gradient (p.grad); returns closure's loss."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        plans, new_buffers = [], []
        for gi, group in enumerate(self.param_groups):   # everything checked before anything is written
            _hyper(group, f"param_groups[{gi}]: ")
            plans.append((group, self._calls(group, new_buffers)))
        for p, buf in new_buffers:
            self.state[p]["momentum_buffer"] = buf
        with signals_deferred():   # Ctrl-C between two groups' calls is raised after the last one
            for group, calls in plans:
                for (_device, axis), (params, grads, bufs, fresh) in calls.items():
                    max_norm = group["max_norm"]
                    _ops_sgd.sgd_step_(params, grads, bufs, fresh, float(group["lr"]), float(group["momentum"]),
                                       float(group["dampening"]), bool(group["nesterov"]),
                                       float(group["weight_decay"]), float(group["decoupled_weight_decay"]),
                                       float(group["l1"]), group["l1_mode"],
                                       0.0 if max_norm is None else float(max_norm), int(axis),
                                       bool(group["maximize"]))
        return loss
