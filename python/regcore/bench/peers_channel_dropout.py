"""Channel (spatial) dropout and alpha dropout (dropout family): names match
csrc/bench/cases_channel_dropout.cpp. Channel dropout runs on (n/65536, 64, 32, 32) activations
at p = 0.5, alpha dropout element-wise at p = 0.1. Peers:

* NumPy reference: ``x * (rng.random((N, C, 1, 1)) >= p) / (1 - p)`` (channels last:
  ``(N, 1, 1, C)``); alpha: ``np.where(keep, a * x + b, a * alpha' + b)``.
* PyTorch: ``torch.nn.functional.dropout2d`` (channels last: on a channels_last tensor) and its
  autograd backward; ``torch.nn.functional.alpha_dropout``.
"""
from __future__ import annotations

import importlib

import numpy as np

from ..generator import Generator
from . import _torch
from ._spec import Kernel, Peer, cpu_only, numpy_peer

cd = importlib.import_module("regcore.channel_dropout")

_SEED = 20240607
_P = 0.5
_P_ALPHA = 0.1
_C, _H, _W = 64, 32, 32


def _nchw(n: int):
    if n % (_C * _H * _W):
        raise ValueError(f"channel dropout cases need n to be a multiple of {_C * _H * _W}, got {n}")
    return (n // (_C * _H * _W), _C, _H, _W)


def _nhwc(n: int):
    b, c, h, w = _nchw(n)
    return (b, h, w, c)


# ---- regcore's public API

def _ours_forward(layout):
    def make(shape, dtype, device):
        cpu_only(device)
        x = np.ones(shape, dtype)
        g = Generator(_SEED)
        return lambda: cd.channel_dropout(x, _P, layout=layout, generator=g)
    return make


def _ours_backward(shape, dtype, device):
    cpu_only(device)
    x = np.ones(shape, dtype)
    _, mask = cd.channel_dropout(x, _P, generator=Generator(_SEED))
    return lambda: cd.channel_dropout_backward(x, mask)


def _ours_alpha(shape, dtype, device):
    cpu_only(device)
    x = np.ones(shape, dtype)
    g = Generator(_SEED)
    return lambda: cd.alpha_dropout(x, _P_ALPHA, generator=g)


# ---- NumPy reference

def _np_forward(last):
    def make(shape, dtype, device):
        numpy_peer(device, dtype)
        x = np.ones(shape, dtype)
        rng = np.random.default_rng(_SEED)
        scale = dtype.type(1.0 / (1.0 - _P))
        keep_shape = (shape[0], 1, 1, shape[-1]) if last else (shape[0], shape[1], 1, 1)

        def run():
            keep = rng.random(keep_shape, dtype=np.float32) >= _P
            return x * keep * scale, keep
        return run
    return make


def _np_backward(shape, dtype, device):
    numpy_peer(device, dtype)
    dy = np.ones(shape, dtype)
    keep = np.random.default_rng(_SEED).random((shape[0], shape[1], 1, 1), dtype=np.float32) >= _P
    scale = dtype.type(1.0 / (1.0 - _P))
    return lambda: dy * keep * scale


def _np_alpha(shape, dtype, device):
    numpy_peer(device, dtype)
    x = np.ones(shape, dtype)
    rng = np.random.default_rng(_SEED)
    a, b, d = cd.alpha_coefficients(_P_ALPHA, dtype)

    def run():
        keep = rng.random(shape, dtype=np.float32) >= _P_ALPHA
        return np.where(keep, a * x + b, d), keep
    return run


# ---- PyTorch

def _torch_forward(last):
    def make(shape, dtype, device):
        torch = _torch.require()
        if last:   # the logical NCHW tensor in channels_last memory (shape is NHWC)
            x = torch.ones(shape, dtype=_torch.dtype(dtype), device=device).permute(0, 3, 1, 2)
        else:
            x = torch.ones(shape, dtype=_torch.dtype(dtype), device=device)
        return lambda: torch.nn.functional.dropout2d(x, _P, training=True)
    return make


def _torch_backward(shape, dtype, device):
    torch = _torch.require()
    x = torch.ones(shape, dtype=_torch.dtype(dtype), device=device, requires_grad=True)
    y = torch.nn.functional.dropout2d(x, _P, training=True)
    dy = torch.ones_like(y)
    return lambda: torch.autograd.grad(y, x, dy, retain_graph=True)


def _torch_alpha(shape, dtype, device):
    torch = _torch.require()
    x = torch.ones(shape, dtype=_torch.dtype(dtype), device=device)
    return lambda: torch.nn.functional.alpha_dropout(x, _P_ALPHA, training=True)


_DT = ("float32", "float64", "bfloat16")
_TORCH = dict(threaded=True, devices=("cpu", "cuda"))
# the native cases' fixed geometry (spec_channel_dropout.h): 64 and 256 samples; quick 1 and 16
_GEOM = dict(sizes=(1 << 22, 1 << 24), quick_sizes=(1 << 16, 1 << 20))

KERNELS = [
    Kernel(name="dropout.channel2d_forward", dtypes=_DT, shape=_nchw, **_GEOM, ours=_ours_forward("channels_first"), peers=(
        Peer("numpy", "x * (rng.random((N, C, 1, 1)) >= p) / (1 - p)", _np_forward(False)),
        Peer("torch", "torch.nn.functional.dropout2d", _torch_forward(False), **_TORCH),
    )),
    Kernel(name="dropout.channel2d_backward", dtypes=_DT, shape=_nchw, **_GEOM, ours=_ours_backward, peers=(
        Peer("numpy", "dy * mask[:, :, None, None] / (1 - p)", _np_backward),
        Peer("torch", "autograd backward of F.dropout2d", _torch_backward, **_TORCH),
    )),
    Kernel(name="dropout.channel2d_forward_last", dtypes=_DT, shape=_nhwc, **_GEOM,
           ours=_ours_forward("channels_last"), peers=(
               Peer("numpy", "x * (rng.random((N, 1, 1, C)) >= p) / (1 - p)", _np_forward(True)),
               Peer("torch", "F.dropout2d on a channels_last tensor", _torch_forward(True), **_TORCH),
           )),
    Kernel(name="dropout.alpha_forward", dtypes=_DT, ours=_ours_alpha, peers=(
        Peer("numpy", "np.where(rng.random(n) >= p, a * x + b, a * alpha' + b)", _np_alpha),
        Peer("torch", "torch.nn.functional.alpha_dropout", _torch_alpha, **_TORCH),
    )),
]
