"""``regcore.optim.SGD``: parameter groups over the fused penalized step.

Each group runs as one multi-tensor step (one parallel region / one launch). ``step(grads)``
validates every group before any parameter is written. ``state_dict()`` holds copies of the
momentum buffers and every group's hyper-parameters; ``load_state_dict`` restores them exactly,
so a resumed run continues bit for bit.
"""
from __future__ import annotations


import numpy as np

from .. import _arrays, _dtypes
from .._errors import type_error, value_error
from ..generator import resolve
from ._hyper import DEFAULTS, make_hyper, max_norm_geometry
from ._atomic import signals_deferred
from ._step import Half, _as_list, make_plan

__all__ = ["SGD"]

_GROUP_KEYS = frozenset(DEFAULTS) | {"params", "param_names"}


def _is_half_array(x) -> bool:
    dt = getattr(x, "dtype", None)
    try:
        return _dtypes.is_half(np.dtype(dt))
    except TypeError:   # a library's dtype object NumPy does not know (e.g. torch.bfloat16)
        return "float16" in str(dt)


def _float32_copy(x):
    if isinstance(x, np.ndarray):
        return x.astype(np.float32)
    xp = _arrays.namespace_of(x)
    return xp.astype(x, xp.float32, copy=True)


def _copy_array(x):
    if isinstance(x, np.ndarray):
        return x.copy()
    xp = _arrays.namespace_of(x)
    return xp.asarray(x, copy=True)


class SGD:
    """SGD with momentum, Nesterov, coupled/decoupled weight decay, L1, elastic net, max-norm.

    ``params``: a list of arrays, or a list of dicts ``{"params": [...], **overrides}`` (see
    ``split_decay_groups``). Keyword arguments are the defaults of every group; the names and
    meanings are those of ``regcore.sgd_step_`` (docs/sgd.md).

    bfloat16 / float16 parameters (docs/sgd.md, "16-bit parameters"): ``master_weights=True``
    keeps a float32 copy of each 16-bit parameter that the steps update (the parameter is then
    that copy rounded to nearest even); ``stochastic_rounding=True`` rounds each 16-bit
    parameter's update stochastically with words from ``generator`` (regcore's default generator
    when None). Both apply to the 16-bit parameters only; float32/float64 ones step as usual.
    """

    def __init__(self, params, *, master_weights=False, stochastic_rounding=False, generator=None, **defaults):
        unknown = set(defaults) - set(DEFAULTS)
        if unknown:
            first = sorted(unknown)[0]
            raise TypeError(f"{first}: unknown hyper-parameter(s) {sorted(unknown)} of SGD (expected some of "
                            f"{sorted(DEFAULTS)})")
        self.defaults = {**DEFAULTS, **defaults}
        make_hyper(**self.defaults)
        params = _as_list("params", params)
        if params and all(isinstance(g, dict) for g in params):
            groups = params
        elif any(isinstance(g, dict) for g in params):
            raise type_error("params", "a list of arrays or a list of group dicts, not a mix", "a mix")
        else:
            groups = [{"params": params}]
        self.param_groups = []
        for gi, g in enumerate(groups):
            bad = set(g) - _GROUP_KEYS
            if bad:
                raise value_error(f"param_groups[{gi}]", f"keys among {sorted(_GROUP_KEYS)}", sorted(bad))
            if "params" not in g:
                raise value_error(f"param_groups[{gi}]", "a 'params' entry", sorted(g))
            group = {**self.defaults, **{k: v for k, v in g.items() if k != "params"}}
            group["params"] = _as_list(f"param_groups[{gi}]['params']", g["params"])
            hyper = self._hyper(group, gi)
            for k, p in enumerate(group["params"]):
                max_norm_geometry(tuple(getattr(p, "shape", ())), hyper, f"param_groups[{gi}]['params'][{k}]")
            self.param_groups.append(group)
        flat = [p for g in self.param_groups for p in g["params"]]
        if len({id(p) for p in flat}) != len(flat):
            raise value_error("params", "each parameter in one group only", "a parameter listed twice")
        self._buffers = [None] * len(flat)  # momentum buffer per parameter, in group order
        for name, v in (("master_weights", master_weights), ("stochastic_rounding", stochastic_rounding)):
            if not isinstance(v, (bool, np.bool_)):
                raise type_error(name, "True or False", v)
        if master_weights and stochastic_rounding:
            raise value_error("stochastic_rounding", "False with master_weights=True (the 16-bit parameters are "
                              "their float32 master rounded to nearest even)", True)
        self.stochastic_rounding = bool(stochastic_rounding)
        self.generator = resolve(generator) if stochastic_rounding else None
        # float32 master per 16-bit parameter (None for the others, or without master_weights)
        self._masters = [_float32_copy(p) if master_weights and _is_half_array(p) else None for p in flat]
        self.master_weights = bool(master_weights)
        self.step_count = 0

    @staticmethod
    def _hyper(group, gi):
        try:
            return make_hyper(**{k: group[k] for k in DEFAULTS})
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"param_groups[{gi}]: {exc}") from None

    def _index_ranges(self):
        start = 0
        for g in self.param_groups:
            yield start, start + len(g["params"])
            start += len(g["params"])

    def step(self, grads):
        """One step. ``grads``: one array (or None to skip the parameter) per parameter, in the
        order of the groups' parameters."""
        grads = _as_list("grads", grads)
        n = sum(len(g["params"]) for g in self.param_groups)
        if len(grads) != n:
            raise value_error("grads", f"{n} gradients (one per parameter, None to skip)", len(grads))
        plans = []
        for gi, (group, (lo, hi)) in enumerate(zip(self.param_groups, self._index_ranges())):
            hyper = self._hyper(group, gi)
            idx = [i for i in range(lo, hi) if grads[i] is not None]
            masters = [self._masters[i] for i in idx] if self.master_weights else None
            half = Half(masters, self.stochastic_rounding, self.generator, ("masters", "stochastic_rounding"))
            half.strict = False   # the optimizer rounds its 16-bit parameters only
            plan = make_plan([group["params"][i - lo] for i in idx], [grads[i] for i in idx],
                             [self._buffers[i] for i in idx], hyper, ("params", "grads", "momentum_bufs", idx),
                             half=half)
            plans.append((idx, plan))
        # Every group is valid: now write, all groups or none as far as Ctrl-C is concerned
        # (optim/_atomic.py): an interrupt is raised once the step and step_count are complete.
        with signals_deferred():
            for idx, plan in plans:
                for i, b in zip(idx, plan.run()):
                    self._buffers[i] = b
            self.step_count += 1

    def state_dict(self) -> dict:
        """Copies of the momentum buffers and the groups' hyper-parameters (torch layout:
        parameters are named by their index in group order)."""
        state = {i: {"momentum_buffer": _copy_array(b)} for i, b in enumerate(self._buffers) if b is not None}
        for i, m in enumerate(self._masters):
            if m is not None:
                state.setdefault(i, {})["master_param"] = _copy_array(m)
        groups = []
        for g, (lo, hi) in zip(self.param_groups, self._index_ranges()):
            entry = {k: g[k] for k in DEFAULTS}
            entry["params"] = list(range(lo, hi))
            if "param_names" in g:
                entry["param_names"] = list(g["param_names"])
            groups.append(entry)
        return {"state": state, "param_groups": groups, "step_count": self.step_count}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore hyper-parameters and momentum buffers (validated in full before any change)."""
        if not isinstance(state_dict, dict) or "state" not in state_dict or "param_groups" not in state_dict:
            raise type_error("state_dict", "a dict from SGD.state_dict()", type(state_dict).__name__)
        groups = state_dict["param_groups"]
        if not isinstance(groups, list) or len(groups) != len(self.param_groups):
            raise value_error("state_dict['param_groups']", f"{len(self.param_groups)} groups",
                              len(groups) if isinstance(groups, list) else groups)
        new_groups = []
        for gi, (g, saved, (lo, hi)) in enumerate(zip(self.param_groups, groups, self._index_ranges())):
            if list(saved.get("params", [])) != list(range(lo, hi)):
                raise value_error(f"state_dict['param_groups'][{gi}]['params']", list(range(lo, hi)), saved.get("params"))
            ng = {**g, **{k: saved[k] for k in DEFAULTS if k in saved}}
            self._hyper(ng, gi)
            new_groups.append(ng)
        flat = [p for g in self.param_groups for p in g["params"]]
        state = state_dict["state"]
        new_bufs = [None] * len(flat)
        new_masters = list(self._masters)
        for key, entry in state.items():
            i = int(key)
            if not 0 <= i < len(flat):
                raise value_error("state_dict['state']", f"parameter indices in [0, {len(flat)})", key)
            master = entry.get("master_param") if isinstance(entry, dict) else None
            if master is not None and self._masters[i] is not None:
                name = f"state_dict['state'][{key}]['master_param']"
                pr = _arrays.inspect(flat[i], f"params[{i}]", dtypes=_dtypes.all_floats())
                mr = _arrays.inspect(master, name, dtypes=(_dtypes.F32,))
                if mr.shape != pr.shape:
                    raise value_error(name, f"shape {pr.shape}", mr.shape)
                new_masters[i] = _copy_array(master)
            buf = entry.get("momentum_buffer") if isinstance(entry, dict) else None
            if buf is None:
                continue
            name = f"state_dict['state'][{key}]['momentum_buffer']"
            pr = _arrays.inspect(flat[i], f"params[{i}]", dtypes=_dtypes.all_floats())
            br = _arrays.inspect(buf, name, dtypes=(_dtypes.compute(pr.dtype),))
            if br.shape != pr.shape:
                raise value_error(name, f"shape {pr.shape}", br.shape)
            _arrays.same_place(pr, br, name)
            new_bufs[i] = buf
        self.param_groups = new_groups
        self._buffers = [None if b is None else _copy_array(b) for b in new_bufs]
        self._masters = new_masters
        self.step_count = int(state_dict.get("step_count", 0))

    def __repr__(self) -> str:
        lines = [f"SGD ({len(self.param_groups)} group(s), step {self.step_count})"]
        for gi, g in enumerate(self.param_groups):
            hp = ", ".join(f"{k}={g[k]!r}" for k in DEFAULTS)
            lines.append(f"  group {gi}: {len(g['params'])} tensor(s); {hp}")
        return "\n".join(lines)


