"""Batch normalization (regcore.batch_norm): training forward, backward, inference forward on
the layer shapes of csrc/bench/cases_batchnorm.cpp: NCHW (N, 64, 56, 56), the same channels-last
(N, 56, 56, 64) and 2-D (N, 1024), with gamma, beta and running statistics (momentum 0.1); for
2-D also the statistics pass alone (regcore.batch_norm_stats). The float32 public API is timed
too ("cpu-api" rows): the native rows time the kernels and the C++ coefficient step, the API rows
what a caller gets, Python included.

Peers:

* NumPy reference: the textbook two-pass formulas over the reduction axes (``x.mean``,
  ``x.var``, then ``(x - mean) * (gamma / sqrt(var + eps)) + beta``) and the textbook backward.
* PyTorch: ``torch.nn.functional.batch_norm`` (training=True / False), backward through autograd
  with a retained graph; the channels-last rows use an NCHW tensor in
  ``torch.channels_last`` memory format (PyTorch's own channels-last kernels).

bfloat16 rows: bfloat16 x / y / dy / dx with float32 gamma, beta and running statistics (the
"mixed" batch norm, docs/precision.md) for regcore and for PyTorch alike; no NumPy peer (NumPy
has no native bfloat16 arithmetic).
"""
from __future__ import annotations

import numpy as np

from .. import batchnorm as rc
from . import _torch
from ._spec import Kernel, Peer, cpu_only, numpy_peer

_EPS = 1e-5
_MOM = 0.1
_HW = 56
_C_IMG = 64
_C_2D = 1024
_PER_IMG = _C_IMG * _HW * _HW


def _nchw(n):
    if n % _PER_IMG:
        raise ValueError(f"NCHW batch norm needs n to be a multiple of {_PER_IMG}, got {n}")
    return (n // _PER_IMG, _C_IMG, _HW, _HW)


def _nhwc(n):
    if n % _PER_IMG:
        raise ValueError(f"channels-last batch norm needs n to be a multiple of {_PER_IMG}, got {n}")
    return (n // _PER_IMG, _HW, _HW, _C_IMG)


def _nc(n):
    if n % _C_2D:
        raise ValueError(f"2-D batch norm needs n to be a multiple of {_C_2D}, got {n}")
    return (n // _C_2D, _C_2D)


_LAYOUTS = {"nchw": (_nchw, 1), "nhwc": (_nhwc, -1), "nc": (_nc, 1)}


def _data(shape, dtype):
    # distinct values per element so the statistics are not degenerate (as the native case)
    n = int(np.prod(shape))
    return (1 + (np.arange(n) % 97) * 0.01).astype(dtype).reshape(shape)


def _param_dtype(dtype):
    """Parameters of a 16-bit x are float32 (mixed batch norm), of float32/64 x x's own dtype."""
    return np.dtype(np.float32) if np.dtype(dtype).itemsize == 2 else np.dtype(dtype)


def _params(C, dtype):
    p = _param_dtype(dtype)
    return (np.ones(C, p), np.zeros(C, p), np.zeros(C, p), np.ones(C, p))


# ---- regcore's public API (the numpy-backend row)

def _ours(layout, kind):
    axis = _LAYOUTS[layout][1]

    def make(shape, dtype, device):
        cpu_only(device)
        x = _data(shape, dtype)
        C = shape[axis]
        g, b, rm, rv = _params(C, dtype)
        if kind == "forward":
            return lambda: rc.batch_norm(x, g, b, rm, rv, training=True, momentum=_MOM, eps=_EPS, axis=axis)
        if kind == "inference":
            return lambda: rc.batch_norm(x, g, b, rm, rv, training=False, eps=_EPS, axis=axis)
        if kind == "stats":
            return lambda: rc.batch_norm_stats(x, axis=axis)
        _, saved = rc.batch_norm(x, g, b, rm, rv, training=True, momentum=_MOM, eps=_EPS, axis=axis)
        dy = np.full(shape, 0.5, np.float32).astype(dtype)
        return lambda: rc.batch_norm_backward(dy, x, g, saved)
    return make


# ---- NumPy reference

def _np(layout, kind):
    axis = _LAYOUTS[layout][1]

    def make(shape, dtype, device):
        numpy_peer(device, dtype)
        x = _data(shape, dtype)
        nd = len(shape)
        ax = axis % nd
        red = tuple(i for i in range(nd) if i != ax)
        bshape = tuple(shape[i] if i == ax else 1 for i in range(nd))
        C = shape[ax]
        M = x.size // C
        g, b, rm, rv = _params(C, dtype)
        g, b = g.reshape(bshape), b.reshape(bshape)

        def forward():
            mean = x.mean(axis=red, keepdims=True)
            var = x.var(axis=red, keepdims=True)
            rm[...] = (1 - _MOM) * rm + _MOM * mean.reshape(C)
            rv[...] = (1 - _MOM) * rv + _MOM * var.reshape(C) * (M / (M - 1))
            rstd = 1 / np.sqrt(var + _EPS)
            return (x - mean) * (g * rstd) + b, mean, rstd

        if kind == "forward":
            return forward
        if kind == "stats":
            return lambda: (x.mean(axis=red), x.var(axis=red))
        if kind == "inference":
            def inference():
                k = g * (1 / np.sqrt(rv.reshape(bshape) + _EPS))
                return x * k + (b - rm.reshape(bshape) * k)
            return inference
        _, mean, rstd = forward()
        dy = np.full(shape, 0.5, dtype)

        def backward():
            xhat = (x - mean) * rstd
            dbeta = dy.sum(axis=red, keepdims=True)
            dgamma = (dy * xhat).sum(axis=red, keepdims=True)
            dx = (g * rstd) * (dy - dbeta / M - xhat * (dgamma / M))
            return dx, dgamma, dbeta
        return backward
    return make


# ---- PyTorch

def _torch_peer(layout, kind):
    def make(shape, dtype, device):
        torch = _torch.require()
        F = torch.nn.functional
        x_np = _data(shape, dtype)
        if np.dtype(dtype).itemsize == 2:   # torch.from_numpy takes no ml_dtypes array
            x = torch.from_numpy(x_np.astype(np.float32)).to(_torch.dtype(dtype)).to(device)
        else:
            x = torch.from_numpy(x_np).to(device)
        if layout == "nhwc":
            # the same bytes as an NCHW tensor in channels-last memory format
            x = x.permute(0, 3, 1, 2)
            assert x.is_contiguous(memory_format=torch.channels_last)
        C = x.shape[1]
        td = dict(dtype=_torch.dtype(_param_dtype(dtype)), device=device)   # mixed for bfloat16
        g, b = torch.ones(C, **td), torch.zeros(C, **td)
        rm, rv = torch.zeros(C, **td), torch.ones(C, **td)
        if kind == "forward":
            return lambda: F.batch_norm(x, rm, rv, g, b, training=True, momentum=_MOM, eps=_EPS)
        if kind == "inference":
            return lambda: F.batch_norm(x, rm, rv, g, b, training=False, eps=_EPS)
        if kind == "stats":
            dims = tuple(i for i in range(x.dim()) if i != 1)
            return lambda: torch.var_mean(x, dim=dims, correction=0)
        x = x.detach().requires_grad_(True)
        g.requires_grad_(True)
        b.requires_grad_(True)
        y = F.batch_norm(x, rm, rv, g, b, training=True, momentum=_MOM, eps=_EPS)
        dy = torch.full_like(y, 0.5)
        return lambda: torch.autograd.grad(y, (x, g, b), dy, retain_graph=True)
    return make


_PEER_LABEL = {"forward": "F.batch_norm(training=True)", "inference": "F.batch_norm(training=False)",
               "backward": "autograd backward of F.batch_norm", "stats": "torch.var_mean"}
_NP_LABEL = {"forward": "x.mean, x.var, (x - mean) * gamma / sqrt(var + eps) + beta",
             "inference": "x * k + (beta - running_mean * k)",
             "backward": "textbook dx, dgamma, dbeta", "stats": "x.mean, x.var"}


def _kernels():
    out = []
    for layout, (shape, _axis) in _LAYOUTS.items():
        per = _C_2D if layout == "nc" else _PER_IMG
        sizes = (64 * 1024, 256 * 1024, 4096 * 1024) if layout == "nc" else (_PER_IMG, 32 * _PER_IMG)
        quick = (64 * 1024,) if layout == "nc" else (_PER_IMG,)
        assert all(s % per == 0 for s in sizes + quick)
        torch_label = " (channels_last memory format)" if layout == "nhwc" else ""
        for kind in ("forward", "backward", "inference") + (("stats",) if layout == "nc" else ()):
            out.append(Kernel(
                name=f"batchnorm.{kind}_{layout}", dtypes=("float32", "float64", "bfloat16"), shape=shape,
                sizes=sizes, quick_sizes=quick, ours=_ours(layout, kind), api_dtypes=("float32",),
                peers=(
                    Peer("numpy", _NP_LABEL[kind], _np(layout, kind)),
                    Peer("torch", _PEER_LABEL[kind] + torch_label, _torch_peer(layout, kind),
                         threaded=True, devices=("cpu", "cuda")),
                )))
    return out


KERNELS = _kernels()
