"""Parameter groups: which tensors are penalized."""
from __future__ import annotations

from .._errors import type_error

# Tensors whose name contains one of these (case-insensitive), and every tensor with fewer
# than two dimensions (biases, the scale and shift of normalization layers), are not decayed:
# penalizing a bias or a norm layer's gain only biases the model, it does not limit capacity.
NO_DECAY_KEYWORDS = ("bias", "norm")

# What a no-decay group switches off: every penalty and the max-norm constraint.
NO_DECAY_OVERRIDES = dict(weight_decay=0.0, decoupled_weight_decay=0.0, l1=0.0, max_norm=None)


def split_decay_groups(named_params, no_decay_keywords=NO_DECAY_KEYWORDS) -> list:
    """Split ``(name, array)`` pairs (a dict or an iterable of pairs) into optimizer groups.

    Returns ``[{"params": [...], "param_names": [...]}, {"params": [...], "param_names": [...],
    **NO_DECAY_OVERRIDES}]``: weights first (they take the optimizer's penalties), then biases
    and normalization parameters (no penalty, no max-norm). Empty groups are left out.
    """
    items = named_params.items() if isinstance(named_params, dict) else named_params
    if isinstance(items, (str, bytes)) or not hasattr(items, "__iter__"):
        raise type_error("named_params", "a dict or an iterable of (name, array) pairs", type(named_params).__name__)
    decay = {"params": [], "param_names": []}
    no_decay = {"params": [], "param_names": [], **NO_DECAY_OVERRIDES}
    for i, pair in enumerate(items):
        try:
            name, p = pair
        except (TypeError, ValueError):
            raise type_error(f"named_params[{i}]", "a (name, array) pair", pair) from None
        if not isinstance(name, str):
            raise type_error(f"named_params[{i}]", "a str name", name)
        ndim = len(getattr(p, "shape", ()))
        lowered = name.lower()
        skip = ndim < 2 or any(k in lowered for k in no_decay_keywords)
        group = no_decay if skip else decay
        group["params"].append(p)
        group["param_names"].append(name)
    return [g for g in (decay, no_decay) if g["params"]]
