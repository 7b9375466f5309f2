"""Weight-init samplers (regcore.init): truncated normal and He (Kaiming) normal, in place, on
2-D weights of shape (n / 1024, 1024), so fan_in = 1024.

The init family lands separately: until ``regcore.init`` provides a sampler, its kernel is
reported as skipped with the reason (never a made-up figure). Once it exists, its cpu rows are
timed through the public API at each ISA level and thread count; a native case named like the
kernel below ("init.trunc_normal", "init.kaiming_normal") in csrc/bench/cases_init.cpp replaces
that with C++ timing.
"""
from __future__ import annotations

import importlib
import math

import numpy as np

from ..generator import Generator
from . import _torch
from ._spec import Kernel, Peer, PeerUnavailable, numpy_peer

_SEED = 20240607
_FAN_IN = 1024
_TRUNC = dict(mean=0.0, std=1.0, a=-2.0, b=2.0)


def _weight_shape(n: int):
    if n % _FAN_IN:
        raise ValueError(f"init kernels need n to be a multiple of {_FAN_IN}, got {n}")
    return (n // _FAN_IN, _FAN_IN)


def _init_fn(attr: str):
    """regcore.init.<attr>, or None while the init family is not in this build."""
    try:
        mod = importlib.import_module("regcore.init")
    except ModuleNotFoundError as exc:
        if exc.name != "regcore.init":
            raise
        return None
    return getattr(mod, attr, None)


def _guard(attr: str):
    def check():
        if _init_fn(attr) is None:
            return f"regcore.init.{attr} is not in this build (the init family has not landed yet)"
        return None
    return check


def _cpu_out(shape, dtype, device):
    if device != "cpu":
        raise PeerUnavailable(f"cpu arrays only, not {device}")
    return np.zeros(shape, dtype)


# ---- regcore's public API

def _ours_trunc_normal(shape, dtype, device):
    fn = _init_fn("trunc_normal_")
    x = _cpu_out(shape, dtype, device)
    g = Generator(_SEED)
    m, s, a, b = _TRUNC["mean"], _TRUNC["std"], _TRUNC["a"], _TRUNC["b"]
    return lambda: fn(x, m, s, a, b, generator=g)


def _ours_kaiming_normal(shape, dtype, device):
    fn = _init_fn("kaiming_normal_")
    x = _cpu_out(shape, dtype, device)
    g = Generator(_SEED)
    return lambda: fn(x, mode="fan_in", nonlinearity="relu", generator=g)


# ---- NumPy / SciPy: what a NumPy user writes today

def _scipy_trunc_normal(shape, dtype, device):
    numpy_peer(device, dtype)
    x = _cpu_out(shape, dtype, device)
    try:
        from scipy import stats  # noqa: PLC0415
    except ImportError:
        raise PeerUnavailable("SciPy is not installed") from None
    rng = np.random.default_rng(_SEED)
    lo = (_TRUNC["a"] - _TRUNC["mean"]) / _TRUNC["std"]
    hi = (_TRUNC["b"] - _TRUNC["mean"]) / _TRUNC["std"]

    def run():
        x[...] = stats.truncnorm.rvs(lo, hi, loc=_TRUNC["mean"], scale=_TRUNC["std"], size=shape,
                                     random_state=rng)
    return run


def _np_kaiming_normal(shape, dtype, device):
    numpy_peer(device, dtype)
    x = _cpu_out(shape, dtype, device)
    rng = np.random.default_rng(_SEED)
    std = x.dtype.type(math.sqrt(2.0 / shape[1]))  # gain sqrt(2) for ReLU, fan_in = shape[1]

    def run():
        rng.standard_normal(out=x, dtype=x.dtype)
        np.multiply(x, std, out=x)
    return run


# ---- PyTorch

def _torch_trunc_normal(shape, dtype, device):
    torch = _torch.require()
    t = torch.zeros(shape, dtype=_torch.dtype(dtype), device=device)
    gen = torch.Generator(device=device)
    gen.manual_seed(_SEED)
    return lambda: torch.nn.init.trunc_normal_(t, **_TRUNC, generator=gen)


def _torch_kaiming_normal(shape, dtype, device):
    torch = _torch.require()
    t = torch.zeros(shape, dtype=_torch.dtype(dtype), device=device)
    gen = torch.Generator(device=device)
    gen.manual_seed(_SEED)
    return lambda: torch.nn.init.kaiming_normal_(t, mode="fan_in", nonlinearity="relu", generator=gen)


_WRITE = dict(min_bytes=lambda n, itemsize: n * itemsize, bytes_formula="write (itemsize)n")

KERNELS = [
    Kernel(
        name="init.trunc_normal", dtypes=("float32", "float64", "bfloat16"), items="samples",
        shape=_weight_shape, available=_guard("trunc_normal_"), ours=_ours_trunc_normal,
        peers=(
            Peer("numpy", "scipy.stats.truncnorm.rvs", _scipy_trunc_normal),
            Peer("torch", "torch.nn.init.trunc_normal_", _torch_trunc_normal, threaded=True,
                 devices=("cpu", "cuda")),
        ),
        **_WRITE,
    ),
    Kernel(
        name="init.kaiming_normal", dtypes=("float32", "float64", "bfloat16"), items="samples",
        shape=_weight_shape, available=_guard("kaiming_normal_"), ours=_ours_kaiming_normal,
        peers=(
            Peer("numpy", "numpy standard_normal(out=) * sqrt(2/fan_in)", _np_kaiming_normal),
            Peer("torch", "torch.nn.init.kaiming_normal_", _torch_kaiming_normal, threaded=True,
                 devices=("cpu", "cuda")),
        ),
        **_WRITE,
    ),
]
