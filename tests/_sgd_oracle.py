"""Float64 NumPy oracle of penalized SGD for the tests: the textbook formulas of docs/sgd.md,
written independently of the numpy backend (no shared code, no op-for-op mimicry)."""
from __future__ import annotations

import numpy as np

OPTS = dict(lr=0.1, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0,
            decoupled_weight_decay=0.0, l1=0.0, l1_mode="proximal", max_norm=None,
            max_norm_axis=0, maximize=False)


# Option sets the SGD tests sweep (every flag on; and one combination per feature). The
# max-norm axes 0 and 1 fit 2-D parameters.
ALL_ON = dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01, decoupled_weight_decay=0.02,
              l1=0.01, max_norm=2.0)
COMBOS = [
    dict(momentum=0.0),
    dict(momentum=0.9, dampening=0.1),
    dict(momentum=0.9, nesterov=True, weight_decay=1e-2, maximize=True),
    dict(momentum=0.5, l1=0.02, l1_mode="subgradient", weight_decay=0.01),
    dict(momentum=0.9, l1=0.02, weight_decay=0.01, decoupled_weight_decay=0.1),
    dict(ALL_ON, max_norm_axis=0),
    dict(ALL_ON, max_norm_axis=1),
]


def oracle_step(w, g, b, o):
    """One step in float64. Returns (w, b); b None means the buffer is new this step."""
    o = {**OPTS, **o}
    w = np.asarray(w, np.float64)
    g = -np.asarray(g, np.float64) if o["maximize"] else np.asarray(g, np.float64)
    if o["l1"] and o["l1_mode"] == "subgradient":
        g = g + o["l1"] * np.sign(w)
    g = g + o["weight_decay"] * w
    if o["momentum"]:
        b = g.copy() if b is None else o["momentum"] * np.asarray(b, np.float64) + (1 - o["dampening"]) * g
        d = g + o["momentum"] * b if o["nesterov"] else b
    else:
        d = g
    w = w - o["lr"] * o["decoupled_weight_decay"] * w - o["lr"] * d
    if o["l1"] and o["l1_mode"] == "proximal":
        w = np.sign(w) * np.maximum(np.abs(w) - o["lr"] * o["l1"], 0.0)
    if o["max_norm"] is not None and w.ndim > 0:
        ax = o["max_norm_axis"] % w.ndim
        others = tuple(i for i in range(w.ndim) if i != ax)
        norm = np.sqrt(np.sum(w * w, axis=others, keepdims=True))
        w = w * np.where(norm > o["max_norm"], o["max_norm"] / np.where(norm > 0, norm, 1), 1.0)
    return w, b


def oracle_penalty(xs, l1, l2):
    s1 = sum(float(np.sum(np.abs(np.asarray(x, np.float64)))) for x in xs)
    s2 = sum(float(np.sum(np.asarray(x, np.float64) ** 2)) for x in xs)
    return l1 * s1 + 0.5 * l2 * s2
