"""Weight averaging for PyTorch models on regcore's fused update, mirroring torch.optim.swa_utils.

* ``AveragedModel(model, device=None, avg_fn=None, multi_avg_fn=None, use_buffers=False)``: torch's
  class (same constructor, forward, state_dict keys, ``n_averaged``); with no averaging function,
  or with this module's ``get_ema_multi_avg_fn(decay)`` / ``get_swa_multi_avg_fn()``, every float
  tensor is averaged by ONE fused multi-tensor call per device (``torch.ops.regcore.swa_update_`` /
  ``ema_update_``); a custom ``avg_fn`` / ``multi_avg_fn`` runs exactly as in torch.
* ``update_bn(loader, model, device=None)``: torch's, which recomputes the running statistics of
  every ``_BatchNorm`` module, regcore.torch.nn's included (they subclass torch's).
* ``SWALR``: torch's scheduler, re-exported.
* ``EMA(model, decay=0.999)``: an exponential moving average of a live model in one line of a
  training loop: ``ema.update()`` after each optimizer step, ``with ema.average_parameters():``
  to evaluate with the averaged weights (swapped in and back), ``state_dict`` /
  ``load_state_dict`` for checkpoints.
* ``dtype=torch.float32`` (``AveragedModel`` and ``EMA``): the averages of a bfloat16/float16
  model's tensors are kept in float32 (mixed-precision training's float32 EMA weights), still one
  fused call: the 16-bit values are widened exactly and blended in float32, with no rounding to
  16 bits. ``dtype=None`` (the default) keeps every average in its tensor's dtype.

Tensors regcore has no kernel for (dtypes not in regcore.torch's float list; integer buffers such
as ``num_batches_tracked`` with EMA) are averaged by torch's own rule, as torch.optim.swa_utils
does; with SWA an integer buffer takes the model's value (torch's SWA function raises on them).
docs/averaging.md has the formula and its rounding.
"""
from __future__ import annotations

import contextlib
import itertools

import torch
from torch.optim import swa_utils as _torch_swa
from torch.optim.swa_utils import SWALR, get_ema_avg_fn, get_swa_avg_fn, update_bn  # noqa: F401

from ... import _dtypes
from ...averaging import ema_weight, swa_weight
from .. import _checks, _ops_average
from .sgd import _order

__all__ = ["AveragedModel", "EMA", "SWALR", "update_bn", "get_ema_multi_avg_fn", "get_swa_multi_avg_fn",
           "get_ema_avg_fn", "get_swa_avg_fn"]


def _fusable(t) -> bool:
    """A tensor regcore's kernel averages: float32/float64, or bfloat16/float16 (averaged in their
    own dtype; bfloat16 CPU tensors need ml_dtypes, without it torch's rule averages them)."""
    if t.layout != torch.strided or t.device.type not in ("cpu", "cuda"):
        return False
    if t.dtype == torch.bfloat16 and t.device.type == "cpu":
        return _dtypes.bfloat16() is not None
    return t.dtype in _checks.FLOAT_DTYPES or t.dtype == torch.float16 or t.dtype == torch.bfloat16


_HALF = (torch.bfloat16, torch.float16)


def _avg_dtype_arg(dtype):
    """The ``dtype`` option: None (averages in their tensors' dtypes) or torch.float32 (float32
    averages of 16-bit tensors)."""
    if dtype is not None and dtype != torch.float32:
        raise TypeError(f"dtype: expected None or torch.float32 (float32 averages of 16-bit tensors), got {dtype!r}")
    return dtype


def _average_dtype(t, dtype):
    """The dtype t's average is kept in: float32 for a 16-bit t under dtype=torch.float32."""
    return torch.float32 if dtype is not None and t.dtype in _HALF else t.dtype


def _pair_dtypes_ok(a, c) -> bool:
    """The average's dtype is the tensor's, or float32 for a 16-bit tensor (regcore's wider pair)."""
    return a.dtype == c.dtype or (a.dtype == torch.float32 and c.dtype in _HALF)


def _check_pairs(avgs, currents, name="model"):
    """Averages and the tensors averaged into them line up (count, shape, dtype: the same, or a
    float32 average of a 16-bit tensor): checked before anything is written, since torch's copy_
    would broadcast or cast silently."""
    if len(avgs) != len(currents):
        raise ValueError(f"{name}: expected {len(avgs)} tensors to average (the averaged model's), got {len(currents)}")
    for i, (a, c) in enumerate(zip(avgs, currents)):
        if a.shape != c.shape:
            raise ValueError(f"{name}: tensor {i}: expected shape {tuple(a.shape)}, got {tuple(c.shape)}")
        if not _pair_dtypes_ok(a, c):
            raise TypeError(f"{name}: tensor {i}: expected dtype {a.dtype}, got {c.dtype}")


def _fused_groups(avgs, currents):
    """The pairs regcore updates, as contiguous views grouped by device ({device: (avgs, params)}),
    and the remaining pairs (for torch's rule). A non-contiguous average (channels_last) is updated
    through its contiguous permutation; its parameter is brought to the same order (a copy only
    when their layouts differ)."""
    groups, rest = {}, []
    for a, c in zip(avgs, currents):
        if not (_fusable(a) and _fusable(c)):
            rest.append((a, c))
            continue
        c = c.to(a.device)
        order = _order(a)
        if order is not None:
            a, c = a.permute(order), c.permute(order)
        g = groups.setdefault(a.device, ([], []))
        g[0].append(a)
        g[1].append(c.contiguous())
    return groups, rest


def _torch_rule(multi_fn, rest, num_averaged):
    """torch's multi-tensor function on the pairs regcore leaves out, one call per (device, dtype)
    as torch groups them."""
    groups = {}
    for a, c in rest:
        g = groups.setdefault((a.device, a.dtype), ([], []))
        g[0].append(a)
        g[1].append(c.to(a.device, a.dtype))   # a 16-bit tensor under a float32 average: widened
    for (device, _), (a, c) in groups.items():
        n = num_averaged.to(device) if isinstance(num_averaged, torch.Tensor) else num_averaged
        multi_fn(a, c, n)


def get_ema_multi_avg_fn(decay=0.999):
    """torch.optim.swa_utils.get_ema_multi_avg_fn on regcore's fused update:
    ``ema <- decay * ema + (1 - decay) * param`` for every tensor of the lists."""
    ema_weight(decay)   # ValueError/TypeError naming decay
    decay = float(decay)
    torch_fn = _torch_swa.get_ema_multi_avg_fn(decay)

    @torch.no_grad()
    def ema_update(ema_param_list, current_param_list, num_averaged=None):
        groups, rest = _fused_groups(ema_param_list, current_param_list)
        for a, c in groups.values():
            _ops_average.ema_update_(a, c, decay)
        _torch_rule(torch_fn, rest, num_averaged)

    ema_update.regcore_fused = True
    return ema_update


def get_swa_multi_avg_fn():
    """torch.optim.swa_utils.get_swa_multi_avg_fn on regcore's fused update: with
    ``num_averaged`` models already averaged, ``avg <- avg + (param - avg) / (num_averaged + 1)``."""
    torch_fn = _torch_swa.get_swa_multi_avg_fn()

    @torch.no_grad()
    def swa_update(averaged_param_list, current_param_list, num_averaged):
        n = int(num_averaged)
        swa_weight(n)   # ValueError naming n_averaged when negative
        groups, rest = _fused_groups(averaged_param_list, current_param_list)
        for a, c in groups.values():
            _ops_average.swa_update_(a, c, n)
        # torch's rule for other float/complex dtypes; integer tensors (counters such as
        # num_batches_tracked, where torch's own function raises) take the model's value.
        counters = [(a, c) for a, c in rest if not (torch.is_floating_point(a) or torch.is_complex(a))]
        for a, c in counters:
            a.copy_(c)
        _torch_rule(torch_fn, [(a, c) for a, c in rest if torch.is_floating_point(a) or torch.is_complex(a)],
                    num_averaged)

    swa_update.regcore_fused = True
    return swa_update


class AveragedModel(_torch_swa.AveragedModel):
    """torch.optim.swa_utils.AveragedModel whose default (SWA) and EMA updates are one fused
    regcore call per device over every averaged tensor.

    ``dtype=torch.float32``: the averaged copy keeps the bfloat16/float16 parameters and buffers
    of ``model`` in float32 (the averages of a 16-bit model without 16-bit rounding); its forward
    then runs in float32. ``dtype=None`` (default): torch's behaviour, every tensor in its dtype.
    """

    def __init__(self, model, device=None, avg_fn=None, multi_avg_fn=None, use_buffers=False, *, dtype=None):
        dtype = _avg_dtype_arg(dtype)
        super().__init__(model, device=device, avg_fn=avg_fn, multi_avg_fn=multi_avg_fn, use_buffers=use_buffers)
        if dtype is not None:
            with torch.no_grad():
                for t in itertools.chain(self.module.parameters(), self.module.buffers()):
                    if t.dtype in _HALF:
                        t.data = t.data.to(dtype)

    def _averaged_and_current(self, model):
        if self.use_buffers:
            return (list(itertools.chain(self.module.parameters(), self.module.buffers())),
                    list(itertools.chain(model.parameters(), model.buffers())))
        return list(self.parameters()), list(model.parameters())

    @torch.no_grad()
    def update_parameters(self, model):
        fn = self.multi_avg_fn
        custom = (fn is None and self.avg_fn is not None) or (fn is not None and not getattr(fn, "regcore_fused", False))
        if custom:
            return super().update_parameters(model)   # the caller's own averaging function, torch's loop
        mine, theirs = self._averaged_and_current(model)
        avgs = [p.detach() for p in mine]
        currents = [p.detach() for p in theirs]
        _check_pairs(avgs, currents)
        if not self.use_buffers:
            _check_pairs(list(self.module.buffers()), list(model.buffers()))
        if int(self.n_averaged) == 0:
            for a, c in zip(avgs, currents):
                a.copy_(c.to(a.device))
        else:
            (fn or _DEFAULT_SWA)(avgs, currents, self.n_averaged)
        if not self.use_buffers:   # buffers follow the source model (torch's behaviour)
            for b_swa, b_model in zip(self.module.buffers(), model.buffers()):
                b_swa.detach().copy_(b_model.detach().to(b_swa.device))
        self.n_averaged += 1


_DEFAULT_SWA = get_swa_multi_avg_fn()


class EMA:
    """An exponential moving average of ``model``'s parameters (and float buffers with
    ``use_buffers=True``), kept beside the model::

        ema = EMA(model, decay=0.999)
        for x, y in loader:
            ...; opt.step()
            ema.update()                   # one fused call over every tensor
        with ema.average_parameters():     # the averaged weights, swapped in and back
            evaluate(model)

    The average starts as a copy of the model's current tensors; each ``update()`` does
    ``avg <- decay * avg + (1 - decay) * param``. Without ``use_buffers`` the model's buffers
    (batch-norm running statistics) are left alone. ``num_updates`` counts the updates.
    ``dtype=torch.float32`` keeps the averages of bfloat16/float16 tensors in float32 (widened
    exactly at the start, blended in float32, never rounded to 16 bits); ``average_parameters``
    and ``copy_to`` round them to the model's dtype (nearest even) as they write them.
    """

    def __init__(self, model, decay=0.999, *, use_buffers=False, dtype=None):
        if not isinstance(model, torch.nn.Module):
            raise TypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
        ema_weight(decay)
        if not isinstance(use_buffers, bool):
            raise TypeError(f"use_buffers: expected True or False, got {use_buffers!r}")
        self.dtype = _avg_dtype_arg(dtype)
        self.model = model
        self.decay = float(decay)
        self.use_buffers = use_buffers
        self._update = get_ema_multi_avg_fn(self.decay)
        with torch.no_grad():
            self.shadow = [t.detach().to(dtype=_average_dtype(t, self.dtype), memory_format=torch.preserve_format,
                                         copy=True) for t in self._tracked()]
        self.num_updates = 0

    def _tracked(self, model=None):
        model = self.model if model is None else model
        tensors = list(model.parameters())
        if self.use_buffers:
            tensors += [b for b in model.buffers() if torch.is_floating_point(b)]
        return tensors

    def _current(self, model=None):
        current = [t.detach() for t in self._tracked(model)]
        _check_pairs(self.shadow, current)
        return current

    @torch.no_grad()
    def update(self):
        """Fold the model's current tensors into the average (one fused call per device)."""
        self._update(self.shadow, self._current(), self.num_updates)
        self.num_updates += 1

    @torch.no_grad()
    def copy_to(self, model=None):
        """Write the averaged tensors into ``model`` (default: the tracked model) for good."""
        for t, s in zip(self._current(model), self.shadow):
            t.copy_(s)

    @contextlib.contextmanager
    def average_parameters(self):
        """Inside the block the model holds the averaged tensors; on exit (exceptions included)
        its own tensors are put back, bit for bit."""
        current = self._current()
        with torch.no_grad():
            backup = [t.clone(memory_format=torch.preserve_format) for t in current]
            for t, s in zip(current, self.shadow):
                t.copy_(s)
        try:
            yield self.model
        finally:
            with torch.no_grad():
                for t, b in zip(current, backup):
                    t.copy_(b)

    def __getstate__(self):
        # the update function is a closure over decay (a local function pickle cannot name):
        # rebuilt on unpickling, so torch.save(ema) and multiprocessing work
        state = self.__dict__.copy()
        del state["_update"]
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._update = get_ema_multi_avg_fn(self.decay)

    def state_dict(self):
        return {"decay": self.decay, "num_updates": self.num_updates, "use_buffers": self.use_buffers,
                "shadow": [s for s in self.shadow]}

    @torch.no_grad()
    def load_state_dict(self, state_dict):
        """Restore an average saved by ``state_dict`` (checked completely before anything changes)."""
        if not isinstance(state_dict, dict) or "shadow" not in state_dict:
            raise TypeError("state_dict: expected a dict saved by EMA.state_dict()")
        ema_weight(state_dict.get("decay", self.decay))
        shadow = list(state_dict["shadow"])
        if len(shadow) != len(self.shadow):
            raise ValueError(f"state_dict: expected {len(self.shadow)} averaged tensors, got {len(shadow)}")
        for i, (mine, theirs) in enumerate(zip(self.shadow, shadow)):
            if not isinstance(theirs, torch.Tensor) or theirs.shape != mine.shape:
                raise ValueError(f"state_dict: averaged tensor {i}: expected shape {tuple(mine.shape)}")
        num = state_dict.get("num_updates", 0)
        if isinstance(num, bool) or not isinstance(num, int) or num < 0:
            raise ValueError(f"state_dict: num_updates: expected an integer >= 0, got {num!r}")
        for mine, theirs in zip(self.shadow, shadow):
            mine.copy_(theirs)
        self.decay = float(state_dict.get("decay", self.decay))
        self._update = get_ema_multi_avg_fn(self.decay)
        self.num_updates = num
