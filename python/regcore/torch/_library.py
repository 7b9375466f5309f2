"""The ``regcore`` operator namespace (``torch.ops.regcore.*``) and how an operator is declared.

Every operator is declared with ``torch.library`` (schema, one Python kernel for the CPU and the
CUDA dispatch keys, a fake kernel for tracing), so ``torch.compile`` traces it as one node
instead of breaking the graph at a call it cannot see. Kernels hold no math: they call regcore's
array-level API, which takes torch tensors zero-copy (CPU tensors as NumPy views, CUDA tensors
through DLPack on the current stream) and allocates its outputs with torch.

The kernels run below autograd (the dispatcher has already decided what to record), but the
tensors they receive may still carry ``requires_grad``; regcore's array intake refuses such
tensors while autograd is recording (the gradient would silently stop), so each kernel runs
with grad mode off.
"""
from __future__ import annotations

import functools

import torch

from . import _autograd

LIB = torch.library.Library("regcore", "DEF")


def _grad_off(impl):
    @functools.wraps(impl)
    def kernel(*args, **kwargs):
        if not _grad_enabled():   # (an autograd formula's forward and every backward run so)
            return impl(*args, **kwargs)
        _set_grad_enabled(False)
        try:
            return impl(*args, **kwargs)
        finally:
            _set_grad_enabled(True)
    return kernel


_grad_enabled = torch.is_grad_enabled
_set_grad_enabled = torch._C._set_grad_enabled


def define(schema: str, impl, fake, *, tags=()):
    """Declare ``regcore::<schema>`` with ``impl`` for CPU and CUDA tensors and ``fake`` for
    tracing; returns the operator overload (calling it directly skips the overload lookup).

    The kernels take the strides their callers chose at trace time (the functional layer picks
    the layout view and makes inputs contiguous where a kernel needs it), so the operators are
    tagged ``needs_exact_strides``: inductor must not re-lay-out their inputs in a compiled graph
    (without it, torch 2.5-2.6 padded a saved activation's strides in the backward graph and the
    backward operators refused it)."""
    name = schema.split("(", 1)[0]
    LIB.define(schema, tags=(*tags, torch.Tag.needs_exact_strides))
    kernel = _grad_off(impl)
    for key in ("CPU", "CUDA"):
        LIB.impl(name, kernel, key)
    torch.library.register_fake(f"regcore::{name}", fake, lib=LIB)
    overload = getattr(torch.ops.regcore, name).default
    if not overload._schema.is_mutable:   # (a functional operator: _autograd.py gives it its Autograd kernel)
        LIB.impl(name, _autograd.kernel(overload, kernel, impl), "Autograd", with_keyset=True)
    return overload


def define_inplace(schema: str, impl, fake, *, mutates):
    """Declare an operator that writes into its ``mutates`` arguments. torch.library.custom_op
    also bumps their version counters, so autograd refuses a backward through a tensor that such
    a call changed after it was saved (as it does for torch's own in-place ops)."""
    name, rest = schema.split("(", 1)
    op = torch.library.custom_op(f"regcore::{name}", _grad_off(impl), mutates_args=mutates,
                                 device_types=("cpu", "cuda"), schema="(" + rest)
    op.register_fake(fake)
    return getattr(torch.ops.regcore, name).default
