"""Dropout family (regcore.dropout): forward and backward with each mask kind, fused
bias + activation + dropout, Gaussian noise. Names match csrc/bench/cases_dropout.cpp.

Plain dropout runs at p = 0.5; bias_act_dropout at p = 0.1 on (n/1024, 1024) activations with the
bias along the last axis. Peers:

* NumPy reference: what a NumPy user writes: a uniform draw, a boolean mask (1 byte per element)
  and the scaled product, ``x * (rng.random(n) >= p) / (1 - p)``; backward ``dy * mask / (1 - p)``.
* PyTorch: ``torch.nn.functional.dropout`` forward (it keeps a byte mask) and its autograd
  backward (``torch.autograd.grad`` through a retained graph, so only the backward kernel runs).

The same peers stand beside each mask kind: they are what the user would otherwise run, whatever
regcore stores.
"""
from __future__ import annotations

import importlib

import numpy as np

from ..generator import Generator
from . import _torch
from ._spec import Kernel, Peer, PeerUnavailable, cpu_only, numpy_peer

# The module, not the function: ``regcore.dropout`` is also the name of the dropout call.
rc = importlib.import_module("regcore.dropout")

_SEED = 20240607
_P = 0.5
_P_BIAS = 0.1
_COLS = 1024
_STD = 0.1


def _rows(n: int):
    if n % _COLS:
        raise ValueError(f"bias_act kernels need n to be a multiple of {_COLS}, got {n}")
    return (n // _COLS, _COLS)


# ---- regcore's public API (the numpy-backend row)

def _ours_forward(kind):
    def make(shape, dtype, device):
        cpu_only(device)
        x = np.ones(shape, dtype)
        g = Generator(_SEED)
        return lambda: rc.dropout(x, _P, generator=g, mask=kind)
    return make


def _ours_backward(kind):
    def make(shape, dtype, device):
        cpu_only(device)
        x = np.ones(shape, dtype)
        _, mask = rc.dropout(x, _P, generator=Generator(_SEED), mask=kind)
        dy = np.ones(shape, dtype)
        return lambda: rc.dropout_backward(dy, mask)
    return make


def _ours_bias_forward(act):
    def make(shape, dtype, device):
        cpu_only(device)
        x = np.full(shape, 0.25, dtype)
        b = np.full(shape[-1], 0.125, dtype)
        g = Generator(_SEED)
        return lambda: rc.bias_act_dropout(x, b, act, _P_BIAS, generator=g)
    return make


def _ours_bias_backward(act):
    def make(shape, dtype, device):
        cpu_only(device)
        x = np.full(shape, 0.25, dtype)
        b = np.full(shape[-1], 0.125, dtype)
        _, state = rc.bias_act_dropout(x, b, act, _P_BIAS, generator=Generator(_SEED))
        dy = np.ones(shape, dtype)
        return lambda: rc.bias_act_dropout_backward(dy, state)
    return make


def _ours_noise(shape, dtype, device):
    cpu_only(device)
    x = np.ones(shape, dtype)
    g = Generator(_SEED)
    return lambda: rc.gaussian_noise(x, _STD, generator=g)


# ---- NumPy reference

def _np_forward(shape, dtype, device):
    numpy_peer(device, dtype)
    x = np.ones(shape, dtype)
    rng = np.random.default_rng(_SEED)
    scale = dtype.type(1.0 / (1.0 - _P))

    def run():
        keep = rng.random(shape, dtype=np.float32) >= _P   # the byte mask kept for backward
        return x * keep * scale, keep
    return run


def _np_backward(shape, dtype, device):
    numpy_peer(device, dtype)
    dy = np.ones(shape, dtype)
    keep = np.random.default_rng(_SEED).random(shape, dtype=np.float32) >= _P
    scale = dtype.type(1.0 / (1.0 - _P))
    return lambda: dy * keep * scale


def _np_act(act, z):
    if act == "relu":
        return np.maximum(z, 0)
    try:
        from scipy.special import erf  # noqa: PLC0415
    except ImportError:
        raise PeerUnavailable("SciPy is not installed (exact GELU needs erf)") from None
    return 0.5 * z * (1 + erf(z * z.dtype.type(0.7071067811865476)))


def _np_act_grad(act, z):
    if act == "relu":
        return z > 0
    from scipy.special import erf  # noqa: PLC0415
    cdf = 0.5 * (1 + erf(z * z.dtype.type(0.7071067811865476)))
    return cdf + z * np.exp(-0.5 * z * z) * z.dtype.type(0.3989422804014327)


def _np_bias_forward(act):
    def make(shape, dtype, device):
        numpy_peer(device, dtype)
        x = np.full(shape, 0.25, dtype)
        b = np.full(shape[-1], 0.125, dtype)
        rng = np.random.default_rng(_SEED)
        scale = dtype.type(1.0 / (1.0 - _P_BIAS))
        _np_act(act, x[:1] + b)  # PeerUnavailable before timing

        def run():
            keep = rng.random(shape, dtype=np.float32) >= _P_BIAS
            return _np_act(act, x + b) * keep * scale, keep
        return run
    return make


def _np_bias_backward(act):
    def make(shape, dtype, device):
        numpy_peer(device, dtype)
        x = np.full(shape, 0.25, dtype)
        b = np.full(shape[-1], 0.125, dtype)
        dy = np.ones(shape, dtype)
        keep = np.random.default_rng(_SEED).random(shape, dtype=np.float32) >= _P_BIAS
        scale = dtype.type(1.0 / (1.0 - _P_BIAS))
        _np_act(act, x[:1] + b)

        def run():
            dz = dy * keep * scale * _np_act_grad(act, x + b)
            return dz, dz.sum(axis=0)
        return run
    return make


def _np_noise(shape, dtype, device):
    numpy_peer(device, dtype)
    x = np.ones(shape, dtype)
    rng = np.random.default_rng(_SEED)
    return lambda: x + dtype.type(_STD) * rng.standard_normal(shape, dtype=dtype)


# ---- PyTorch

def _torch_forward(shape, dtype, device):
    torch = _torch.require()
    x = torch.ones(shape, dtype=_torch.dtype(dtype), device=device)
    return lambda: torch.nn.functional.dropout(x, _P, training=True)


def _torch_backward(shape, dtype, device):
    torch = _torch.require()
    x = torch.ones(shape, dtype=_torch.dtype(dtype), device=device, requires_grad=True)
    y = torch.nn.functional.dropout(x, _P, training=True)
    dy = torch.ones_like(y)
    return lambda: torch.autograd.grad(y, x, dy, retain_graph=True)


def _torch_act(torch, act):
    return torch.nn.functional.relu if act == "relu" else torch.nn.functional.gelu  # exact erf


def _torch_bias_forward(act):
    def make(shape, dtype, device):
        torch = _torch.require()
        f = _torch_act(torch, act)
        x = torch.full(shape, 0.25, dtype=_torch.dtype(dtype), device=device)
        b = torch.full(shape[-1:], 0.125, dtype=_torch.dtype(dtype), device=device)
        return lambda: torch.nn.functional.dropout(f(x + b), _P_BIAS, training=True)
    return make


def _torch_bias_backward(act):
    def make(shape, dtype, device):
        torch = _torch.require()
        f = _torch_act(torch, act)
        x = torch.full(shape, 0.25, dtype=_torch.dtype(dtype), device=device, requires_grad=True)
        b = torch.full(shape[-1:], 0.125, dtype=_torch.dtype(dtype), device=device, requires_grad=True)
        y = torch.nn.functional.dropout(f(x + b), _P_BIAS, training=True)
        dy = torch.ones_like(y)
        return lambda: torch.autograd.grad(y, (x, b), dy, retain_graph=True)
    return make


def _torch_noise(shape, dtype, device):
    torch = _torch.require()
    x = torch.ones(shape, dtype=_torch.dtype(dtype), device=device)
    return lambda: x + _STD * torch.randn_like(x)


_DT = ("float32", "float64")
_DT16 = _DT + ("bfloat16",)   # the kernels whose native cases have bfloat16 rows too
_TORCH = dict(threaded=True, devices=("cpu", "cuda"))


def _plain(kind):
    # bfloat16 rows for the mask kinds the 16-bit cases register (bits, none)
    dt = _DT16 if kind in ("bits", "none") else _DT
    return [
        Kernel(name=f"dropout.forward_{kind}", dtypes=dt, ours=_ours_forward(kind), peers=(
            Peer("numpy", "x * (rng.random(n) >= p) / (1 - p)", _np_forward),
            Peer("torch", "torch.nn.functional.dropout", _torch_forward, **_TORCH),
        )),
        Kernel(name=f"dropout.backward_{kind}", dtypes=dt, ours=_ours_backward(kind), peers=(
            Peer("numpy", "dy * mask / (1 - p)", _np_backward),
            Peer("torch", "autograd backward of F.dropout", _torch_backward, **_TORCH),
        )),
    ]


def _bias(act):
    torch_name = "relu" if act == "relu" else "gelu"
    return [
        Kernel(name=f"dropout.bias_act_forward_{act}", dtypes=_DT16, shape=_rows,
               ours=_ours_bias_forward(act), peers=(
                   Peer("numpy", f"{act}(x + b) * (rng.random(n) >= p) / (1 - p)", _np_bias_forward(act)),
                   Peer("torch", f"F.dropout(F.{torch_name}(x + b))", _torch_bias_forward(act), **_TORCH),
               )),
        Kernel(name=f"dropout.bias_act_backward_{act}", dtypes=_DT16, shape=_rows,
               ours=_ours_bias_backward(act), peers=(
                   Peer("numpy", f"dy * mask / (1 - p) * {act}'(x + b), column sums", _np_bias_backward(act)),
                   Peer("torch", f"autograd backward of F.dropout(F.{torch_name}(x + b))",
                        _torch_bias_backward(act), **_TORCH),
               )),
    ]


KERNELS = (
    _plain("bits") + _plain("bytes") + _plain("none") + _bias("relu") + _bias("gelu") + [
        Kernel(name="dropout.gaussian_noise", dtypes=_DT16, ours=_ours_noise, peers=(
            Peer("numpy", "x + std * rng.standard_normal(n)", _np_noise),
            Peer("torch", "x + std * torch.randn_like(x)", _torch_noise, **_TORCH),
        )),
    ]
)
