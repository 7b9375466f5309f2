"""Early stopping: stop training when a monitored value has stopped improving, and optionally
put back the weights of the best step.

Works with any training loop: the caller passes the monitored value (a number, or a mapping of
metrics that holds ``monitor``) once per evaluation, and, to keep the best weights, the weights
themselves: a mapping of NumPy arrays or tensors (restored in place; ``model.state_dict()`` works,
its tensors share the parameters' storage), or any object with ``state_dict()`` /
``load_state_dict()`` (a ``torch.nn.Module``, a regcore.torch model, an optimizer...). Nothing here
imports torch: a tensor is recognized by its ``detach``/``clone`` methods.

Rule (Keras' and Lightning's): a value v improves on the best b when

    mode="min":  v < b - min_delta          mode="max":  v > b + min_delta

``wait`` counts the evaluations since the last improvement; training should stop once
``wait > patience`` (patience=0: stop at the first evaluation that does not improve).

NaN (and, with ``check_finite=True``, the default, also +-inf): a non-finite value is never an
improvement. With ``check_finite=True`` it stops training at once (a diverged run does not come
back; the best weights are restored if asked); with ``check_finite=False`` it counts as one more
evaluation without improvement (+-inf are then compared as numbers).
"""
from __future__ import annotations

import copy
import math
import numbers
from collections.abc import Mapping

import numpy as np

from . import _validate
from ._errors import type_error, value_error

__all__ = ["EarlyStopping"]


def _snapshot(value):
    """An independent copy of one state entry (a tensor stays a tensor on its device)."""
    if _is_tensor(value):                                         # torch.Tensor, without importing torch
        return value.detach().clone()
    if isinstance(value, np.ndarray):
        return value.copy()
    return copy.deepcopy(value)


def _is_tensor(value) -> bool:
    return hasattr(value, "detach") and hasattr(value, "clone") and hasattr(value, "copy_")


def _kind(weights):
    """'state_dict' for objects with state_dict/load_state_dict, 'mapping' for a dict of arrays."""
    if hasattr(weights, "state_dict") and hasattr(weights, "load_state_dict"):
        return "state_dict"
    if isinstance(weights, Mapping):
        for k, v in weights.items():
            if not (isinstance(v, np.ndarray) or _is_tensor(v)):
                raise type_error(f"weights[{k!r}]", "a NumPy array or a tensor (restored in place)", type(v).__name__)
        return "mapping"
    raise type_error("weights", "a mapping of NumPy arrays or an object with state_dict() and load_state_dict()",
                     type(weights).__name__)


class EarlyStopping:
    """Stop when ``monitor`` has not improved for more than ``patience`` evaluations.

    Parameters
    ----------
    monitor : str
        Name of the monitored metric, looked up when ``step`` is given a mapping of metrics.
    mode : "min" or "max"
        Whether smaller ("min", a loss) or larger ("max", an accuracy) is better.
    patience : int >= 0
        Evaluations without improvement tolerated before stopping.
    min_delta : float >= 0
        Smallest change that counts as an improvement.
    restore_best_weights : bool
        Keep a copy of the weights at each improvement and load it back when stopping.
    check_finite : bool
        Stop at once on a NaN/inf value (True), or count it as no improvement (False).

    Usage::

        stopper = EarlyStopping("val_loss", patience=5, restore_best_weights=True)
        for epoch in range(100):
            train_one_epoch(model)
            if stopper.step(evaluate(model), model):    # copies / restores model.state_dict()
                break
    """

    def __init__(self, monitor: str = "val_loss", mode: str = "min", patience: int = 10, min_delta: float = 0.0,
                 restore_best_weights: bool = False, check_finite: bool = True):
        if not isinstance(monitor, str):
            raise type_error("monitor", "a metric name (str)", monitor)
        self.monitor = monitor
        self.mode = _validate.choice("mode", mode, ("min", "max"))
        self.patience = _validate.integer("patience", patience, lo=0)
        self.min_delta = _validate.nonnegative("min_delta", min_delta)
        for name, flag in (("restore_best_weights", restore_best_weights), ("check_finite", check_finite)):
            if not isinstance(flag, (bool, np.bool_)):
                raise type_error(name, "a bool", flag)
        self.restore_best_weights = bool(restore_best_weights)
        self.check_finite = bool(check_finite)
        self.reset()

    def reset(self) -> None:
        """Forget every value and weight seen (start a new run)."""
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_step = None          # index (0-based) of the best evaluation
        self.best_weights = None       # copy of the weights at best_step (restore_best_weights)
        self.wait = 0                  # evaluations since the last improvement
        self.num_steps = 0             # evaluations seen
        self.stopped = False
        self.stopped_step = None       # index of the evaluation that triggered the stop
        self.history = []              # every monitored value, in order

    # ------------------------------------------------------------------ checks

    def _value(self, value) -> float:
        if isinstance(value, Mapping):
            if self.monitor not in value:
                raise value_error("value", f"a mapping with the monitored key {self.monitor!r}",
                                  f"keys {sorted(map(str, value))}")
            name, value = f"value[{self.monitor!r}]", value[self.monitor]
        else:
            name = "value"
        if not isinstance(value, numbers.Real) and hasattr(value, "item"):
            numel = getattr(value, "numel", None)
            size = numel() if callable(numel) else getattr(value, "size", None)
            if size == 1:
                value = value.item()     # a one-element NumPy array or tensor
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
            raise type_error(name, "a real number (or a one-element array)", value)
        try:
            return float(value)
        except OverflowError:   # an integer beyond float64 (10**400)
            raise value_error(name, "a number within float64's range", value) from None

    def improves(self, value: float) -> bool:
        """Whether ``value`` would count as an improvement on the best so far (no state change)."""
        v = self._value(value)
        if math.isnan(v) or (self.check_finite and math.isinf(v)):
            return False
        if self.mode == "min":
            return v < self.best - self.min_delta
        return v > self.best + self.min_delta

    # ------------------------------------------------------------------ the step

    def step(self, value, weights=None) -> bool:
        """Record one evaluation; return True when training should stop.

        ``value``: the monitored number, or a mapping of metrics holding ``monitor``.
        ``weights``: optional; a mapping of NumPy arrays or an object with state_dict() /
        load_state_dict(). With ``restore_best_weights``, a copy is kept at each improvement and
        loaded back into ``weights`` when this call decides to stop.

        A bad argument raises TypeError/ValueError naming it, before any state changes. Calling
        again after a stop raises RuntimeError (call ``reset()`` to start over).
        """
        if self.stopped:
            raise RuntimeError("EarlyStopping.step: training already stopped at evaluation "
                               f"{self.stopped_step}; call reset() to start a new run")
        v = self._value(value)
        kind = None if weights is None else _kind(weights)
        better = self.improves(v)
        diverged = self.check_finite and not math.isfinite(v)
        snapshot = None
        if better and self.restore_best_weights and kind is not None:
            snapshot = self._copy(weights, kind)
        stop = diverged or (not better and self.wait + 1 > self.patience)
        if stop and self.restore_best_weights and kind is not None and self.best_weights is not None:
            self._load(weights, kind, self.best_weights)   # checks every entry before writing any
        # commit: nothing above changed the state
        self.history.append(v)
        if better:
            self.best, self.best_step, self.wait = v, self.num_steps, 0
            if snapshot is not None:
                self.best_weights = snapshot
        else:
            self.wait += 1
        if stop:
            self.stopped, self.stopped_step = True, self.num_steps
        self.num_steps += 1
        return stop

    __call__ = step

    @property
    def should_stop(self) -> bool:
        return self.stopped

    # ------------------------------------------------------------------ weights

    @staticmethod
    def _copy(weights, kind):
        state = weights.state_dict() if kind == "state_dict" else weights
        return {k: _snapshot(v) for k, v in state.items()}

    @staticmethod
    def _load(weights, kind, best):
        if kind == "state_dict":
            weights.load_state_dict(best)
            return
        if set(weights) != set(best):
            raise value_error("weights", f"the keys of the saved best weights {sorted(map(str, best))}",
                              f"keys {sorted(map(str, weights))}")
        for k, arr in weights.items():
            writeable = _is_tensor(arr) or arr.flags.writeable
            if tuple(arr.shape) != tuple(best[k].shape) or not writeable or _is_tensor(arr) != _is_tensor(best[k]):
                got = f"{'' if writeable else 'a read-only '}{type(arr).__name__} of shape {tuple(arr.shape)}"
                raise value_error(f"weights[{k!r}]", f"a writeable {type(best[k]).__name__} of shape "
                                  f"{tuple(best[k].shape)}", got)
        for k, arr in weights.items():
            if _is_tensor(arr):
                arr.detach().copy_(best[k])       # same storage; a parameter that requires grad too
            else:
                arr[...] = best[k]

    def restore(self, weights) -> None:
        """Load the best weights kept so far into ``weights`` (e.g. after the last epoch when no
        stop happened). Needs ``restore_best_weights=True`` and at least one improvement seen
        with weights given."""
        kind = _kind(weights)
        if self.best_weights is None:
            raise RuntimeError("EarlyStopping.restore: no best weights kept (restore_best_weights=True and "
                               "weights passed to step() are needed)")
        self._load(weights, kind, self.best_weights)

    def __repr__(self) -> str:
        return (f"EarlyStopping(monitor={self.monitor!r}, mode={self.mode!r}, patience={self.patience}, "
                f"min_delta={self.min_delta}, restore_best_weights={self.restore_best_weights}, "
                f"best={self.best}, best_step={self.best_step}, wait={self.wait}, stopped={self.stopped})")
