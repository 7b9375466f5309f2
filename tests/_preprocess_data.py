"""Data and state snapshots shared by the preprocessing tests (NumPy, torch, CUDA)."""
from __future__ import annotations

import numpy as np


def correlated(n=500, f=6, seed=0, mean=0.0, dtype=np.float64):
    """(n, f) samples with correlated features of distinct variances (a well-separated spectrum,
    so eigenvectors are defined up to sign) and per-feature means mean + 0, 1, 2, ..."""
    rng = np.random.default_rng(seed)
    mix = rng.normal(size=(f, f)) * np.linspace(3, 0.3, f)[:, None]
    return (rng.normal(size=(n, f)) @ mix + mean + np.arange(f)).astype(dtype)


def chunks(X, sizes):
    out, i = [], 0
    for s in sizes:
        out.append(X[i:i + s])
        i += s
    assert i == len(X)
    return out


def host(a):
    """A fitted array (NumPy, torch, CuPy) as a NumPy copy."""
    if a is None or isinstance(a, np.ndarray):
        return None if a is None else a.copy()
    if hasattr(a, "get"):          # CuPy
        return a.get()
    return a.detach().cpu().numpy().copy()


def state(obj):
    """Everything a refused call must leave as it was."""
    return (obj.n_samples_seen_, obj.n_features_in_, None if obj._place is None else obj._place.key,
            host(obj._stats), host(obj._com))


def same_state(a, b):
    assert a[:3] == b[:3]
    for x, y in zip(a[3:], b[3:]):
        assert (x is None and y is None) or np.array_equal(x, y)
