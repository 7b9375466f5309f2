"""Independent float64 reference for the dropout tests.

The keep words come from the Philox4x32-10 written below (checked against Random123's
known-answer vectors in test_dropout.py), not from regcore's numpy backend, so a bug in the
backend's stream, layout or packing cannot cancel out in the comparison. Everything downstream
(keep rule, scale, activations, reductions) is float64 NumPy written from the docs' formulas.
"""
from __future__ import annotations

import contextlib
import math

import numpy as np

import regcore as rc
from _switches import num_threads

TWO32 = 1 << 32


def philox4x32_10(ctr, key):
    """ctr: (n, 4) uint64 array of 32-bit values; key: (k0, k1) ints. Returns (n, 4) uint64."""
    c = [ctr[:, j].astype(np.uint64) for j in range(4)]
    k0, k1 = key
    mask = np.uint64(0xFFFFFFFF)
    for r in range(10):
        p0 = c[0] * np.uint64(0xD2511F53)
        p1 = c[2] * np.uint64(0xCD9E8D57)
        c = [(p1 >> np.uint64(32)) ^ c[1] ^ np.uint64(k0), p1 & mask,
             (p0 >> np.uint64(32)) ^ c[3] ^ np.uint64(k1), p0 & mask]
        k0 = (k0 + 0x9E3779B9) & 0xFFFFFFFF
        k1 = (k1 + 0xBB67AE85) & 0xFFFFFFFF
    return np.stack(c, axis=1)


def stream_words(seed: int, offset: int, n: int) -> np.ndarray:
    """Word i (i < n) = word i % 4 of counter block offset + i // 4 (the 32-bit stream layout)."""
    nb = (n + 3) // 4
    b = np.arange(nb, dtype=np.uint64) + np.uint64(offset)
    ctr = np.zeros((nb, 4), dtype=np.uint64)
    ctr[:, 0] = b & np.uint64(0xFFFFFFFF)
    ctr[:, 1] = b >> np.uint64(32)
    return philox4x32_10(ctr, (seed & 0xFFFFFFFF, seed >> 32)).reshape(-1)[:n]


def threshold(p: float) -> int:
    return min(round(p * 2.0**32), TWO32)


def keep(seed: int, offset: int, n: int, p: float) -> np.ndarray:
    t = threshold(p)
    if t == TWO32:
        return np.zeros(n, dtype=bool)
    return stream_words(seed, offset, n) >= t


def scale(p: float, mode: str, dtype) -> float:
    t = threshold(p)
    if mode == "vanilla":
        return 1.0
    return 0.0 if t == TWO32 else float(np.dtype(dtype).type(TWO32 / (TWO32 - t)))


def dropout(x, seed, offset, p, mode="inverted"):
    """float64 result and the flat keep mask."""
    k = keep(seed, offset, x.size, p)
    s = scale(p, mode, x.dtype)
    y = np.where(k.reshape(x.shape), x.astype(np.float64) * s, 0.0)
    return y, k


def act(name, z):
    """(f, f') in float64."""
    if name == "identity":
        return z, np.ones_like(z)
    if name == "relu":   # PyTorch's relu: NaN and -0 pass through; f' = 0 where z <= 0, 1 elsewhere (NaN too)
        return np.where(z < 0, 0.0, z), np.where(z <= 0, 0.0, 1.0)
    if name == "gelu":
        erf = np.vectorize(math.erf)(z / math.sqrt(2.0))
        cdf = 0.5 * (1.0 + erf)
        return z * cdf, cdf + z * np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
    if name == "gelu_tanh":
        c = math.sqrt(2.0 / math.pi)
        u = c * (z + 0.044715 * z**3)
        th = np.tanh(u)
        return 0.5 * z * (1.0 + th), 0.5 * (1.0 + th) + 0.5 * z * (1.0 - th**2) * c * (1.0 + 3 * 0.044715 * z * z)
    if name == "tanh":
        th = np.tanh(z)
        return th, 1.0 - th * th
    if name == "sigmoid":
        s = 1.0 / (1.0 + np.exp(-z))
        return s, s * (1.0 - s)
    raise KeyError(name)


ACTIVATIONS = ("identity", "relu", "gelu", "gelu_tanh", "tanh", "sigmoid")


def configs():
    """(backend, isa) pairs to run: numpy, and cpu at every ISA level this machine has."""
    out = [("numpy", None)]
    out += [("cpu", isa) for isa in rc.available_isas()]
    return out


@contextlib.contextmanager
def backend(cfg):
    name, isa = cfg
    with rc.use_backend(name):
        if isa is None:
            yield
            return
        before = rc.active_isa()
        rc.set_isa(isa)
        try:
            yield
        finally:
            rc.set_isa(before)


threads = num_threads


def cfg_id(cfg):
    return cfg[0] if cfg[1] is None else f"{cfg[0]}-{cfg[1]}"
