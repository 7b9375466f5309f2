"""Penalized SGD (regcore.sgd_step_ / sgd_step_multi_): one step with momentum 0.9 and weight
decay 1e-4 over n float32 parameters, as one tensor and as n / 50,000 tensors of 50,000 (the
"_multi" kernels: 200 x 50k at n = 10M); again with an L1 term (regcore: proximal, in the same
pass); again with max-norm 3 over rows of 1,000 (neurons along axis 0). Names match
csrc/bench/cases_sgd.cpp.

Peers:

* NumPy reference: the update written with in-place NumPy operations, tensor by tensor.
* PyTorch ``torch.optim.SGD`` with ``foreach=False``, ``foreach=True`` and ``fused=True`` (each a
  peer of its own; the speed-up column compares with the fastest). The L1 rows add the term the
  way a PyTorch user must, ``p.grad.add_(torch.sign(p), alpha=l1)`` before ``step()`` (a
  subgradient: it never produces exact zeros; regcore's proximal step does, at no extra cost).
  The max-norm rows follow ``step()`` with ``p.renorm_(2, 0, max_norm)`` per tensor.

bfloat16 rows (``sgd.momentum_wd``, and ``sgd.momentum_wd_sr`` with stochastic rounding):
bfloat16 parameters and gradients, regcore's float32 momentum buffer (14 bytes per parameter);
the PyTorch peers step bfloat16 parameters with their bfloat16 buffer (10 bytes). NumPy has no
bfloat16 arithmetic of its own (no NumPy peer).
"""
from __future__ import annotations

import numpy as np

from .. import _dtypes
from .. import optim as rc_optim
from ..generator import Generator
from . import _torch
from ._spec import Kernel, Peer, PeerUnavailable, cpu_only, numpy_peer

_PART = 50000
_ROW = 1000
_HYPER = dict(lr=0.01, momentum=0.9, weight_decay=1e-4)
_L1 = 1e-5
_MAX_NORM = 3.0
_SIZES = (1000000, 10000000)
_QUICK = (200000,)


def _shapes(n: int, multi: bool, rule: str):
    """Shapes of the parameter tensors of one step."""
    if n % (_PART if multi else _ROW):
        raise ValueError(f"sgd kernels need n to be a multiple of {_PART if multi else _ROW}, got {n}")
    if multi:
        return [(_PART // _ROW, _ROW) if rule == "maxnorm" else (_PART,)] * (n // _PART)
    return [(n // _ROW, _ROW) if rule == "maxnorm" else (n,)]


def _np_tensors(shapes, dtype):
    ws = [np.full(s, 1e-3, np.float32).astype(dtype) for s in shapes]
    gs = [np.full(s, 1e-4, np.float32).astype(dtype) for s in shapes]
    bs = [np.zeros(s, _dtypes.compute(np.dtype(dtype))) for s in shapes]   # 16-bit: a float32 buffer
    return ws, gs, bs


def _rule_kw(rule):
    kw = dict(_HYPER)
    if rule == "l1":
        kw["l1"] = _L1
    if rule == "maxnorm":
        kw["max_norm"] = _MAX_NORM
    return kw


# ---- regcore's public API (the numpy-backend row)

def _ours(multi, rule, sr=False):
    def make(shape, dtype, device):
        cpu_only(device)
        ws, gs, bs = _np_tensors(_shapes(shape[0], multi, rule), dtype)
        kw = _rule_kw(rule)
        if sr:
            kw.update(stochastic_rounding=True, generator=Generator(42))
        if multi:
            return lambda: rc_optim.sgd_step_multi_(ws, gs, bs, **kw)
        return lambda: rc_optim.sgd_step_(ws[0], gs[0], bs[0], **kw)
    return make


# ---- NumPy reference

def _np(multi, rule):
    def make(shape, dtype, device):
        numpy_peer(device, dtype)
        ws, gs, bs = _np_tensors(_shapes(shape[0], multi, rule), dtype)
        lr, mu, wd = (dtype.type(_HYPER[k]) for k in ("lr", "momentum", "weight_decay"))
        thr = dtype.type(_HYPER["lr"] * _L1)

        def run():
            for w, g, b in zip(ws, gs, bs):
                b *= mu
                b += g
                b += wd * w
                w -= lr * b
                if rule == "l1":   # soft threshold (proximal L1)
                    np.copysign(np.maximum(np.abs(w) - thr, 0), w, out=w)
                if rule == "maxnorm":
                    norms = np.sqrt(np.einsum("ij,ij->i", w, w))
                    w *= np.minimum(1, _MAX_NORM / np.maximum(norms, 1e-30))[:, None]
        return run
    return make


# ---- PyTorch

def _torch_peer(multi, rule, variant):
    def make(shape, dtype, device):
        torch = _torch.require()
        td = dict(dtype=_torch.dtype(dtype), device=device)
        ps = [torch.full(s, 1e-3, **td, requires_grad=True) for s in _shapes(shape[0], multi, rule)]
        for p in ps:
            p.grad = torch.full_like(p, 1e-4)
        opt_kw = {"foreach": False} if variant == "loop" else {"foreach": True} if variant == "foreach" else {"fused": True}
        try:
            opt = torch.optim.SGD(ps, **_HYPER, **opt_kw)
            opt.step()  # creates the momentum buffers outside the timing
        except (RuntimeError, ValueError) as exc:
            raise PeerUnavailable(f"torch.optim.SGD({opt_kw}): {exc}") from None

        def run():
            if rule == "l1":
                with torch.no_grad():
                    for p in ps:
                        p.grad.add_(torch.sign(p), alpha=_L1)
            opt.step()
            if rule == "maxnorm":
                with torch.no_grad():
                    for p in ps:
                        p.renorm_(2, 0, _MAX_NORM)
        return run
    return make


_TORCH_LABEL = {"loop": "torch.optim.SGD(foreach=False)", "foreach": "torch.optim.SGD(foreach=True)",
                "fused": "torch.optim.SGD(fused=True)"}
_RULE_NAME = {"wd": "momentum_wd", "l1": "momentum_wd_l1", "maxnorm": "momentum_wd_maxnorm"}
_TORCH_EXTRA = {"wd": "", "l1": " + grad.add_(sign(w), alpha=l1)", "maxnorm": " + p.renorm_(2, 0, c)"}
_NP_LABEL = {"wd": "b = mu b + g + wd w; w -= lr b (in place)",
             "l1": "same + soft threshold", "maxnorm": "same + row norms, rescale"}


def _kernels():
    out = []
    for rule in ("wd", "l1", "maxnorm"):
        for multi in (False, True):
            out.append(Kernel(
                name=f"sgd.{_RULE_NAME[rule]}{'_multi' if multi else ''}",
                dtypes=("float32", "bfloat16") if (rule, multi) == ("wd", False) else ("float32",),
                items="parameters", sizes=_SIZES, quick_sizes=_QUICK, ours=_ours(multi, rule),
                peers=(Peer("numpy", _NP_LABEL[rule], _np(multi, rule)),) + tuple(
                    Peer("torch", _TORCH_LABEL[v] + _TORCH_EXTRA[rule], _torch_peer(multi, rule, v),
                         threaded=True, devices=("cpu", "cuda"))
                    for v in ("loop", "foreach", "fused"))))
    out.append(Kernel(
        name="sgd.momentum_wd_sr", dtypes=("bfloat16",), items="parameters", sizes=_SIZES, quick_sizes=_QUICK,
        ours=_ours(False, "wd", sr=True),
        peers=tuple(Peer("torch", _TORCH_LABEL[v] + " (nearest rounding)", _torch_peer(False, "wd", v),
                         threaded=True, devices=("cpu", "cuda")) for v in ("loop", "foreach", "fused"))))
    return out


KERNELS = _kernels()
