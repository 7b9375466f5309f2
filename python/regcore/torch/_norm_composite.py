"""The normalizations in torch operations, for the two derivatives regcore's kernels do not
compute: the gradient when it must itself be differentiable (a backward under
create_graph=True, which every torch.func.grad / vjp runs: gradient penalties, Hessian-vector
products) and the forward-mode tangent (torch.func.jvp, jacfwd, hessian, torch.autograd.forward_ad).

Batch, layer, group and instance norm are one computation on a view of x: statistics over some
axes of the view, xhat = (x - mean) * rstd, then y = xhat * weight + bias with weight and bias
broadcast per channel (per normalized element for layer norm). With the statistics taken from x
("batch statistics") the derivatives are

    dx  = rstd * (g - mean(g) - xhat * mean(g * xhat)),   g = dy * weight   (means over the statistics' axes)
    xhat' = rstd * (x' - mean(x') - xhat * mean(xhat * x'))

and with given statistics (running ones in eval mode) dx = g * rstd and xhat' = rstd * x'. Written
in torch operations they are differentiable again to any order. Their values equal the kernels'
within rounding, not bit for bit: they run only on these paths, where torch's modules, which
regcore's answer there, compute in their own order too. 16-bit inputs compute in float32.
"""
from __future__ import annotations

from typing import NamedTuple

import torch


class Layout(NamedTuple):
    view: tuple          # x reshaped so that the statistics reduce over ``reduce``
    reduce: tuple        # axes of the view the statistics reduce over
    param: tuple         # the shape weight and bias take to broadcast against x
    sums: tuple          # axes of x that dweight / dbias sum over
    stats: tuple         # the shape given per-channel statistics take in the view


def _compute(t):
    return t.float() if t.dtype in (torch.bfloat16, torch.float16) else t


def layer_norm_layout(x, k):
    lead = x.dim() - k
    return Layout(tuple(x.shape), tuple(range(lead, x.dim())), tuple(x.shape[lead:]), tuple(range(lead)), ())


def _per_channel(x, axis, view, reduce, stats):
    axis %= x.dim()
    param = tuple(x.shape[d] if d == axis else 1 for d in range(x.dim()))
    return Layout(view, reduce, param, tuple(d for d in range(x.dim()) if d != axis), stats or param)


def group_norm_layout(x, groups):
    return _per_channel(x, 1, (x.shape[0], groups, -1), (2,), ())


def instance_norm_layout(x):
    return _per_channel(x, 1, (x.shape[0], x.shape[1], -1), (2,), (1, x.shape[1], 1))


def batch_norm_layout(x, axis):
    axis %= x.dim()
    return _per_channel(x, axis, tuple(x.shape), tuple(d for d in range(x.dim()) if d != axis), ())


def _normalized(x, layout, eps, stats):
    """(xhat in the view, rstd in the view): stats None: the batch statistics of x; else the
    given (mean, var), one per channel."""
    xv = _compute(x).reshape(layout.view)
    if stats is None:
        mean = xv.mean(layout.reduce, keepdim=True)
        var = (xv - mean).square().mean(layout.reduce, keepdim=True)
    else:
        mean, var = (s.to(xv.dtype).reshape(layout.stats) for s in stats)
    rstd = (var + eps).rsqrt()
    return (xv - mean) * rstd, rstd


def _affine(t, layout):
    return None if t is None else _compute(t).reshape(layout.param)


def grads(dy, x, weight, layout, eps, stats=None, wanted=(True, True, True)):
    """(dx, dweight, dbias) of y = norm(x) * weight + bias at dy, differentiable; stats: the
    given (mean, var), or None for x's own."""
    xhat, rstd = _normalized(x, layout, eps, stats)
    g = _compute(dy)
    xhat_x = xhat.reshape(x.shape)
    dw = (g * xhat_x).sum(layout.sums).to(weight.dtype) if weight is not None and wanted[1] else None
    db = g.sum(layout.sums).to(weight.dtype if weight is not None else dy.dtype) if wanted[2] else None
    w = _affine(weight, layout)
    if w is not None:
        g = g * w
    gv = g.reshape(layout.view)
    if stats is None:
        gv = gv - gv.mean(layout.reduce, keepdim=True) - xhat * (gv * xhat).mean(layout.reduce, keepdim=True)
    dx = (gv * rstd).reshape(x.shape).to(x.dtype) if wanted[0] else None
    return dx, dw, db


def tangent(x, weight, x_t, weight_t, bias_t, layout, eps, stats=None):
    """The tangent of y = norm(x) * weight + bias for the input tangents (None: zero)."""
    xhat, rstd = _normalized(x, layout, eps, stats)
    y_t = None
    if x_t is not None:
        tv = _compute(x_t).reshape(layout.view)
        if stats is None:
            tv = tv - tv.mean(layout.reduce, keepdim=True) - xhat * (xhat * tv).mean(layout.reduce, keepdim=True)
        y_t = (tv * rstd).reshape(x.shape)
        w = _affine(weight, layout)
        if w is not None:
            y_t = y_t * w
    if weight_t is not None:
        term = xhat.reshape(x.shape) * _affine(weight_t, layout)
        y_t = term if y_t is None else y_t + term
    if bias_t is not None:
        term = _affine(bias_t, layout).expand(x.shape)
        y_t = term if y_t is None else y_t + term
    return None if y_t is None else y_t.to(x.dtype)
