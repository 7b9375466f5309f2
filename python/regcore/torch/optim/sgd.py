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

bfloat16 / float16 parameters (docs/sgd.md, "16-bit parameters"): float32 arithmetic and a
float32 ``momentum_buffer`` (torch.optim.SGD keeps it in the parameter's dtype; a state_dict
from torch is converted when loaded). Keyword-only extras: ``master_weights=True`` keeps
``state[p]["master_param"]``, a float32 copy the steps update (p is then its nearest rounding);
``stochastic_rounding=True`` rounds each update stochastically with words from ``generator``
(a regcore.Generator; regcore's default one when None).
"""
from __future__ import annotations

import torch

from ...generator import Generator, blocks_for, resolve
from ...optim._atomic import signals_deferred
from ...optim._hyper import make_hyper
from .. import _checks, _ops_sgd
from ._dtensor import check_param, dtensor_class, local

_HALF = (torch.bfloat16, torch.float16)

__all__ = ["SGD"]

REGCORE_DEFAULTS = dict(l1=0.0, l1_mode="proximal", decoupled_weight_decay=0.0, max_norm=None, max_norm_axis=0)


def _hyper(group, where=""):
    """regcore's validation of a group's hyper-parameters (ValueError/TypeError naming one)."""
    try:
        return make_hyper(lr=float(group["lr"]), momentum=group["momentum"], dampening=group["dampening"],
                          nesterov=group["nesterov"], weight_decay=group["weight_decay"],
                          decoupled_weight_decay=group["decoupled_weight_decay"], l1=group["l1"],
                          l1_mode=group["l1_mode"], max_norm=group["max_norm"],
                          max_norm_axis=group["max_norm_axis"], maximize=group["maximize"],
                          zero_lr=True)
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


_GENERATOR_STATE = "generator_state"


def _state_initializing(group, calls):
    """Whether this group's step is one that must move no weight: lr = 0 and every gradient zero.
    torch.distributed.checkpoint's get/set_optimizer_state_dict make an optimizer's state that way
    (zero gradients, lr set to 0, step(), lr restored) on the premise that such a step leaves the
    parameters alone. Such a step neither max-norm-clips (which it does at lr = 0 otherwise: a
    model that only had its optimizer state saved or loaded was clipped, a fresh model's rows, or
    loaded ones by a few ulps) nor draws stochastic-rounding words (the parameters do not change,
    so the words decide nothing; drawn, they made a run that saved a checkpoint round differently
    from one that did not)."""
    if float(group["lr"]) != 0.0:
        return False
    return all(not bool(g.any()) for entry in calls.values() for g in entry[1])


class SGD(torch.optim.Optimizer):
    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *,
                 maximize=False, foreach=None, differentiable=False, fused=None, l1=0.0, l1_mode="proximal",
                 decoupled_weight_decay=0.0, max_norm=None, max_norm_axis=0, master_weights=False,
                 stochastic_rounding=False, generator=None):
        for name, v in (("master_weights", master_weights), ("stochastic_rounding", stochastic_rounding)):
            if not isinstance(v, bool):
                raise TypeError(f"{name}: expected True or False, got {v!r}")
        if master_weights and stochastic_rounding:
            raise ValueError("stochastic_rounding: expected False with master_weights=True (the 16-bit parameters "
                             "are their float32 master rounded to nearest even), got True")
        self.master_weights, self.stochastic_rounding = master_weights, stochastic_rounding
        self.generator = resolve(generator) if stochastic_rounding else None
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
        super().add_param_group(param_group)   # (fills in the defaults regcore's checks need)
        group = self.param_groups[-1]
        try:
            _hyper(group, f"param_groups[{len(self.param_groups) - 1}]: ")
            for p in group["params"]:
                _checks.float_tensor(p, "params", half=True)
                check_param(p, group, "params")
                _order(local(p, p, "params"))
        except (TypeError, ValueError):
            # a refused group is not kept (torch refuses its own before appending): kept, it
            # failed every later step() of an optimizer the caller had caught the error from
            self.param_groups.pop()
            raise

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

    def state_dict(self):
        """torch's state_dict, plus the stochastic-rounding generator's state (``generator_state``,
        with ``stochastic_rounding=True``): a run resumed from a checkpoint draws the rounding
        words the uninterrupted run would have. torch.optim.SGD ignores the extra key."""
        state = super().state_dict()
        if self.generator is not None:
            state[_GENERATOR_STATE] = self.generator.state
        return state

    def load_state_dict(self, state_dict):
        """torch's load_state_dict; regcore keys a state_dict lacks (one saved by
        torch.optim.SGD) keep this optimizer's current values. A saved stochastic-rounding
        generator state continues in this optimizer's generator (in place: whoever else holds it
        draws from there too)."""
        current = [{k: g[k] for k in REGCORE_DEFAULTS} for g in self.param_groups]
        saved = state_dict["param_groups"]
        generator_state = state_dict.get(_GENERATOR_STATE)
        if generator_state is not None and self.generator is not None:
            Generator.from_state(generator_state)   # (refused here, before anything is loaded)
        super().load_state_dict(state_dict)
        if generator_state is not None and self.generator is not None:
            self.generator.set_state(generator_state)
        for g, kept, loaded in zip(self.param_groups, current, saved):
            for k, v in kept.items():
                if k not in loaded:
                    g[k] = v
        for i, g in enumerate(self.param_groups):
            _hyper(g, f"param_groups[{i}]: ")
        # 16-bit parameters keep float32 state (buffer, master), which torch's load_state_dict has
        # just cast to the parameter's dtype: take it again from the state_dict, exactly (a buffer
        # saved by torch.optim.SGD in the 16-bit dtype widens exactly).
        params = [p for g in self.param_groups for p in g["params"]]
        ids = [i for g in saved for i in g["params"]]
        for p, i in zip(params, ids):
            if p.dtype not in _HALF or p not in self.state:
                continue
            entry = state_dict["state"].get(i, {})
            for key in ("momentum_buffer", "master_param"):
                if entry.get(key) is not None:
                    self.state[p][key] = entry[key].to(device=p.device, dtype=torch.float32, copy=True)

    def _calls(self, group, new_buffers):
        """The fused calls of one group: {(device, neuron axis, has master): [params, grads, buffers,
        fresh, masters]}. Buffers (and masters) started here are listed in new_buffers and enter the state
        only once every group has been checked."""
        calls = {}
        momentum = group["momentum"] != 0
        # DTensor parameters (FSDP2): their state stays DTensors (what distributed checkpoints save);
        # the step runs on the local shards (_dtensor.py). (None: no DTensor exists.)
        dtensor = dtensor_class()
        for p in group["params"]:
            g = p.grad
            if g is None:
                continue
            if g.is_sparse or g.layout != torch.strided:
                raise RuntimeError("SGD (regcore) does not support sparse gradients; use torch.optim.SGD or "
                                   "torch.optim.SparseAdam for parameters with sparse gradients (e.g. "
                                   "nn.Embedding(sparse=True))")
            _checks.float_tensor(g, "grad", half=True)
            _checks.same_dtype(g, p, "grad", "its parameter")
            _checks.same_device(g, p, "grad", "its parameter")
            sharding = dtensor is not None and (isinstance(p, dtensor) or isinstance(g, dtensor))
            if sharding:
                check_param(p, group, "params")
                g = local(g, p, "grad")
            buf, fresh = None, False
            if momentum:
                buf = self.state.get(p, {}).get("momentum_buffer")   # .get: no state entry made yet
                if buf is None:
                    # 16-bit parameters: a float32 buffer (their arithmetic type)
                    dt = torch.float32 if p.dtype in _HALF else p.dtype
                    buf, fresh = torch.empty_like(p, dtype=dt, memory_format=torch.preserve_format), True
                    new_buffers.append((p, "momentum_buffer", buf))
                buf = local(buf, p, "momentum_buffer") if sharding else buf
            master = None
            if self.master_weights and p.dtype in _HALF:
                master = self.state.get(p, {}).get("master_param")
                if master is None:
                    master = p.detach().to(torch.float32, memory_format=torch.preserve_format)
                    new_buffers.append((p, "master_param", master))
                master = local(master, p, "master_param") if sharding else master
            p = local(p, p, "params") if sharding else p
            order = _order(p)
            axis = group["max_norm_axis"]
            if order is not None:   # update the contiguous permutation of p (and of grad, buffer)
                axis = order.index(axis % p.dim()) if group["max_norm"] is not None and p.dim() else axis
                p, g = p.permute(order), g.permute(order).contiguous()
                buf = None if buf is None else buf.permute(order)
                master = None if master is None else master.permute(order)
            # tensors with a master and tensors without one go to separate calls
            entry = calls.setdefault((p.device, axis, master is not None), [[], [], [], [], []])
            entry[0].append(p)
            entry[1].append(g.contiguous())
            if momentum:
                entry[2].append(buf)
                entry[3].append(fresh)
            entry[4].append(master)
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
        for p, key, buf in new_buffers:
            self.state[p][key] = buf
        with signals_deferred():   # Ctrl-C between two groups' calls is raised after the last one
            for group, calls in plans:
                max_norm, rounding = group["max_norm"], self.stochastic_rounding
                if (max_norm is not None or rounding) and _state_initializing(group, calls):
                    max_norm, rounding = None, False
                for (_device, axis, _with_master), (params, grads, bufs, fresh, masters) in calls.items():
                    args = (float(group["lr"]), float(group["momentum"]), float(group["dampening"]),
                            bool(group["nesterov"]), float(group["weight_decay"]),
                            float(group["decoupled_weight_decay"]), float(group["l1"]), group["l1_mode"],
                            0.0 if max_norm is None else float(max_norm), int(axis), bool(group["maximize"]))
                    sr = rounding and any(p.dtype in _HALF for p in params)
                    if not sr and all(m is None for m in masters):
                        _ops_sgd.sgd_step_(params, grads, bufs, fresh, *args)
                        continue
                    seed = offset = 0
                    if sr:   # this call's words: the 16-bit tensors' blocks, in list order
                        blocks = sum(blocks_for(p.numel(), 4) for p in params if p.dtype in _HALF)
                        seed, offset = self.generator.seed, self.generator.reserve(blocks)
                    ms = [m for m in masters if m is not None]   # all or none (see _calls)
                    _ops_sgd.sgd_step_half_(params, grads, bufs, fresh, ms, *args, sr,
                                            seed - 2**64 if seed >= 2**63 else seed,
                                            offset - 2**64 if offset >= 2**63 else offset)
        return loss
