"""Weight averaging (regcore.ema_update_): one EMA update (decay 0.999) of float32 averages (and of
bfloat16 averages of bfloat16 parameters: the blend in float32, rounded once) over
ResNet-50's parameter list (161 tensors, 25,557,032 parameters; --quick: the same network at a
quarter of the width), laid out as csrc/bench/spec_average.h. Names match
csrc/bench/cases_average.cpp.

Peers:

* NumPy reference: ``a += w * (p - a)`` tensor by tensor (one thread).
* PyTorch, per-parameter loop: ``a.mul_(decay).add_(p, alpha=1 - decay)`` for each tensor, the
  EMA users write by hand (two passes over each average).
* PyTorch ``torch._foreach_lerp_(avgs, params, 1 - decay)``: what
  ``torch.optim.swa_utils.get_ema_multi_avg_fn`` runs.
"""
from __future__ import annotations

import numpy as np

from .. import averaging
from . import _torch
from ._spec import Kernel, Peer, cpu_only, numpy_peer

DECAY = 0.999


def resnet50_sizes(b: int) -> list:
    """Element counts of ResNet-50's parameters for stem width b (spec_average.h's, in order)."""
    s = [b * 3 * 7 * 7, b, b]
    inp = b
    for st, blocks in enumerate((3, 4, 6, 3)):
        w = b << st
        out = 4 * w
        for k in range(blocks):
            for conv, ch in ((w * inp, w), (w * w * 9, w), (out * w, out)):
                s += [conv, ch, ch]
            if k == 0:
                s += [out * inp, out, out]
            inp = out
    return s + [1000 * inp, 1000]


_WIDTHS = {sum(resnet50_sizes(b)): b for b in (64, 16)}
_SIZES = (sum(resnet50_sizes(64)),)
_QUICK = (sum(resnet50_sizes(16)),)


def _sizes(n: int) -> list:
    if n not in _WIDTHS:
        raise ValueError(f"average.ema_resnet50 runs at {sorted(_WIDTHS)} parameters, got {n}")
    return resnet50_sizes(_WIDTHS[n])


def _np_lists(n, dtype):
    sizes = _sizes(n)
    return [np.full(k, 1e-3, dtype) for k in sizes], [np.full(k, 2e-3, dtype) for k in sizes]


def _ours(shape, dtype, device):
    cpu_only(device)
    avgs, params = _np_lists(shape[0], dtype)
    return lambda: averaging.ema_update_(avgs, params, DECAY)


def _np(shape, dtype, device):
    numpy_peer(device, dtype)
    avgs, params = _np_lists(shape[0], dtype)
    w = dtype.type(1.0 - DECAY)

    def run():
        for a, p in zip(avgs, params):
            a += w * (p - a)
    return run


def _torch_peer(variant):
    def make(shape, dtype, device):
        torch = _torch.require()
        td = dict(dtype=_torch.dtype(dtype), device=device)
        sizes = _sizes(shape[0])
        avgs = [torch.full((k,), 1e-3, **td) for k in sizes]
        params = [torch.full((k,), 2e-3, **td) for k in sizes]
        if variant == "loop":
            def run():
                for a, p in zip(avgs, params):
                    a.mul_(DECAY).add_(p, alpha=1.0 - DECAY)
        else:
            def run():
                torch._foreach_lerp_(avgs, params, 1.0 - DECAY)
        return run
    return make


KERNELS = [Kernel(
    name="average.ema_resnet50", dtypes=("float32", "bfloat16"), items="parameters", sizes=_SIZES, quick_sizes=_QUICK,
    ours=_ours, api_dtypes=("float32",),
    peers=(Peer("numpy", "a += w * (p - a) per tensor", _np),
           Peer("torch", "per-parameter loop: a.mul_(decay).add_(p, alpha=1-decay)", _torch_peer("loop"),
                threaded=True, devices=("cpu", "cuda")),
           Peer("torch", "torch._foreach_lerp_(avgs, params, 1-decay)", _torch_peer("foreach"),
                threaded=True, devices=("cpu", "cuda"))))]
