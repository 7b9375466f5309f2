"""Dropout and its relatives: fused one-pass kernels with 1-bit, 1-byte or zero-byte masks.

* ``dropout`` / ``dropout_`` / ``dropout_backward``: inverted (scale kept values by 1/q at
  training) or vanilla (no scaling; ``dropout_scale`` multiplies by q at inference) dropout.
* ``dropconnect``: the same mask on a weight tensor.
* ``gaussian_noise``: additive or multiplicative (Gaussian dropout) noise, the exact draws of
  ``regcore.random.normal`` for the same generator state.
* ``bias_act_dropout`` / ``bias_act_dropout_backward``: y = dropout(act(x + bias)) [+ residual]
  in one pass, and dx with the dbias reduction fused.
* ``mc_dropout``: Monte Carlo dropout with a streaming (Welford) mean and standard deviation.

The keep rule, bit order, scale and memory traffic are in docs/dropout.md.
"""
from __future__ import annotations

import math

import numpy as np

from . import _arrays, _dtypes, _validate
from ._backend import backend_for, cpu_array_backend
from ._dropout_mask import (ACTIVATIONS, MASK_KINDS, MODES, BiasActDropoutState, DropoutMask, bit_words,
                            reserve)
from ._errors import type_error, value_error
from .generator import resolve

__all__ = ["DropoutMask", "BiasActDropoutState", "dropout", "dropout_", "dropout_backward",
           "dropout_scale", "dropconnect", "gaussian_noise", "bias_act_dropout",
           "bias_act_dropout_backward", "mc_dropout"]

_U32 = np.dtype(np.uint32)
_U8 = np.dtype(np.uint8)
# every kernel of this family takes 16-bit data too (computed in float32, docs/precision.md)
_HALF_OK = _dtypes.all_floats()
_MAX_SAMPLES = 2**31 - 1


def _options(p, mode, mask):
    p = _validate.probability("p", p)
    mode = _validate.choice("mode", mode, MODES)
    kind = _validate.choice("mask", mask, MASK_KINDS)
    return p, mode, kind


def _new_mask(ref, p, mode, kind, generator):
    """Allocate the mask storage next to the data and reserve the stream (after validation)."""
    n = ref.size
    bits = bytes_ = None
    if kind == "bits":
        bits, _ = _arrays.empty_like_place(ref.obj, (bit_words(n),), _U32)
    elif kind == "bytes":
        bytes_, _ = _arrays.empty_like_place(ref.obj, (n,), _U8)
    offset = reserve(generator, n, p)
    return DropoutMask(p=p, mode=mode, kind=kind, shape=ref.shape, dtype=ref.dtype, device=ref.device,
                       device_id=ref.device_id, seed=generator.seed, offset=offset, bits=bits, bytes=bytes_)


def _target(a):
    """The backend's view of a mask array we allocated (None stays None)."""
    return None if a is None else _arrays.inspect(a, "mask", writeable=True, dtypes=None).target


def _stored(a):
    """The backend's view of a stored mask array a backward pass only reads (already checked by
    _mask_arg): a read-only one, e.g. loaded with np.load(mmap_mode="r"), is fine."""
    return None if a is None else _arrays.inspect(a, "mask", dtypes=None).target


def _output(out, like, shape, dtype, *, may_be=(), must_not=()):
    """The output array: a new one next to like.obj, or the caller's out= after validation.

    out must be writeable, C-contiguous, of exactly shape and dtype, on like's device. It may be
    exactly (same memory, same shape) one of may_be ((ArrayRef or None, name) pairs): every
    kernel reads element i of its inputs before writing element i of its output, so that
    in-place use is safe. Any other overlap with an input (may_be or must_not) raises
    ValueError naming out and the input."""
    if out is None:
        return _arrays.empty_like_place(like.obj, shape, dtype)
    oref = _arrays.inspect(out, "out", writeable=True, dtypes=_HALF_OK)
    _arrays.same_place(like, oref, "out")
    if oref.dtype != dtype:
        raise type_error("out", f"dtype {dtype}", f"dtype {oref.dtype}")
    if oref.shape != tuple(shape):
        raise value_error("out", f"shape {tuple(shape)}", oref.shape)
    # the kernels read element i of every input before writing element i of out
    _arrays.refuse_overlap((oref, "out"), read=tuple(may_be) + tuple(must_not),
                           allow=[("out", name) for ref, name in may_be if ref is not None])
    return out, oref


def _run_forward(be, xref, yref, m):
    bits, bytes_, seed, offset, t, drop_all, scale = m.kernel_args()
    be.dropout_forward(xref.target, yref.target, _target(bits), _target(bytes_), seed, offset, t,
                       drop_all, scale)


def dropout(x, p=0.5, *, generator=None, mode="inverted", mask="bits", out=None):
    """y, mask = dropout(x, p): each element kept with probability q = 1 - p (exactly
    (2**32 - round(p * 2**32)) / 2**32) and scaled by 1/q (mode="inverted") or not ("vanilla").
    x: float32, float64, bfloat16 or float16 (16-bit data: the product in float32, rounded once).

    mask="bits" stores 1 bit per element, "bytes" 1 byte, "none" nothing (backward regenerates
    the mask from the generator's seed and the call's counter offset).

    out: an array to write y into (writeable, C-contiguous, x's shape, dtype and device); it may
    be x itself (then this is dropout_) but must not partly overlap it."""
    xref = _arrays.inspect(x, "x", dtypes=_HALF_OK)
    p, mode, kind = _options(p, mode, mask)
    g = resolve(generator)
    be = backend_for(xref)
    y, yref = _output(out, xref, xref.shape, xref.dtype, may_be=((xref, "x"),))
    m = _new_mask(xref, p, mode, kind, g)
    _run_forward(be, xref, yref, m)
    return y, m


def dropout_(x, p=0.5, *, generator=None, mode="inverted", mask="bits"):
    """Dropout in place on x (writeable, C-contiguous); returns the mask."""
    xref = _arrays.inspect(x, "x", writeable=True, dtypes=_HALF_OK)
    p, mode, kind = _options(p, mode, mask)
    g = resolve(generator)
    be = backend_for(xref)
    m = _new_mask(xref, p, mode, kind, g)
    _run_forward(be, xref, xref, m)
    return m


def dropconnect(w, p=0.5, *, generator=None, mode="inverted", mask="bits"):
    """DropConnect (Wan et al., 2013): drop individual weights rather than activations.
    Returns (w_dropped, mask); the gradient for w is ``dropout_backward(grad_w_dropped, mask)``."""
    wref = _arrays.inspect(w, "w", dtypes=_HALF_OK)
    p, mode, kind = _options(p, mode, mask)
    g = resolve(generator)
    be = backend_for(wref, "w")
    out, oref = _arrays.empty_like_place(w, wref.shape, wref.dtype)
    m = _new_mask(wref, p, mode, kind, g)
    _run_forward(be, wref, oref, m)
    return out, m


def _check_against_mask(ref, mask: DropoutMask, name: str) -> None:
    if ref.dtype != mask.dtype:
        raise type_error(name, f"dtype {mask.dtype} (the mask's)", f"dtype {ref.dtype}")
    if ref.shape != mask.shape:
        raise value_error(name, f"shape {mask.shape} (the mask's)", ref.shape)
    if ref.device != mask.device or ref.device_id != mask.device_id:
        raise value_error(name, f"an array on {mask.device}:{mask.device_id} (the mask's)",
                          f"{ref.device}:{ref.device_id}")


def _mask_shape(mask, name, min_ndim=0) -> None:
    """A mask's shape is a field too: a tuple of non-negative ints (what the forward recorded)."""
    if not isinstance(mask.shape, tuple):
        raise type_error(f"{name}.shape", "a tuple of non-negative integers", mask.shape)
    _validate.shape(f"{name}.shape", mask.shape)
    if len(mask.shape) < min_ndim:
        raise value_error(f"{name}.shape", f"at least {min_ndim} dimensions (batch, channels)", mask.shape)


def _mask_arg(mask, name="mask") -> DropoutMask:
    """A DropoutMask whose fields are still what dropout() made: its attributes can be
    reassigned, and a tampered mask must be refused naming the mask (``mask.bits: ...``), not
    with a kernel-level error naming an internal buffer."""
    if not isinstance(mask, DropoutMask):
        raise type_error(name, "a DropoutMask returned by dropout()", type(mask).__name__)
    _check_field(name, "kind", mask.kind, MASK_KINDS)
    _mask_shape(mask, name)
    _check_position(mask, name)
    n = mask.size
    _check_stored(mask, name, {"bits": (mask.bits, np.uint32, bit_words(n)), "bytes": (mask.bytes, np.uint8, n)},
                  f"{n} values")
    return mask


def _check_field(name, field, value, options) -> None:
    """A mask's string field (kind, layout) is one of options."""
    if value not in options:
        raise value_error(f"{name}.{field}", "one of " + ", ".join(options), value)


def _check_position(mask, name) -> None:
    """A mask's stream position (seed, offset): 64-bit unsigned integers."""
    for field, v in (("seed", mask.seed), ("offset", mask.offset)):
        _validate.integer(f"{name}.{field}", v, lo=0, hi=2**64 - 1)


def _check_stored(mask, name, stored, counted) -> None:
    """Each stored array (field -> (array or None, dtype, element count)) is present exactly when
    the mask's kind is that field, of its dtype and count, on the mask's device. counted: what
    the count is for, for the message ("n values", "n decisions")."""
    for field, (arr, dt, count) in stored.items():
        if arr is None:
            if mask.kind == field:
                raise value_error(f"{name}.{field}", f"the stored {field} of a kind={field!r} mask", None)
            continue
        if mask.kind != field:
            raise value_error(f"{name}.{field}", f"None for a kind={mask.kind!r} mask", "an array")
        ref = _arrays.inspect(arr, f"{name}.{field}", dtypes=(np.dtype(dt),))
        if ref.size != count:
            raise value_error(f"{name}.{field}", f"{count} elements for {counted}", ref.size)
        if (ref.device, ref.device_id) != (mask.device, mask.device_id):
            raise value_error(f"{name}.{field}", f"an array on {mask.device}:{mask.device_id}",
                              f"{ref.device}:{ref.device_id}")


def dropout_backward(dy, mask, *, out=None):
    """dx = dy * keep * scale with the forward call's mask (stored or regenerated).
    out: an array for dx (dy's shape, dtype, device); it may be dy itself."""
    m = _mask_arg(mask)
    dyref = _arrays.inspect(dy, "dy", dtypes=_HALF_OK)
    _check_against_mask(dyref, m, "dy")
    be = backend_for(dyref, "dy")
    dx, dxref = _output(out, dyref, dyref.shape, dyref.dtype, may_be=((dyref, "dy"),))
    _run_backward(be, dyref, dxref, m)
    return dx


def _run_backward(be, dyref, dxref, m):
    bits, bytes_, seed, offset, t, drop_all, scale = m.kernel_args()
    be.dropout_backward(dyref.target, dxref.target, _stored(bits), _stored(bytes_), seed, offset, t,
                        drop_all, scale)


def dropout_scale(x, p):
    """Inference with mode="vanilla" (the weight-scaling rule): y = x * (1 - p) in x's dtype,
    with 1 - p computed in float64 and rounded once."""
    xref = _arrays.inspect(x, "x")
    p = _validate.probability("p", p)
    return x * xref.dtype.type(1.0 - p)


def gaussian_noise(x, std, *, mode="additive", generator=None):
    """additive: y = x + std * z; multiplicative (Gaussian dropout): y = x * (1 + std * z).
    The factor (std * z, or 1 + std * z) is exactly ``regcore.random.normal(mean, std)`` with
    mean 0 or 1, drawn from the same generator state. For Gaussian dropout matching a dropout
    rate p, use std = sqrt(p / (1 - p)). 16-bit x: z and the sum or product in float32, rounded
    once (docs/precision.md)."""
    xref = _arrays.inspect(x, "x", dtypes=_HALF_OK)
    std = _validate.nonnegative("std", std)
    mode = _validate.choice("mode", mode, ("additive", "multiplicative"))
    return _noise(xref, std, mode == "multiplicative", resolve(generator))


def _noise(xref, std, mult, g):
    be = backend_for(xref)
    y, yref = _arrays.empty_like_place(xref.obj, xref.shape, xref.dtype)
    from .generator import blocks_for
    offset = g.reserve(blocks_for(xref.size, xref.dtype.itemsize))
    t = _dtypes.compute(xref.dtype).type
    be.gaussian_noise(xref.target, yref.target, g.seed, offset, t(1.0 if mult else 0.0), t(std), mult)
    return y


def _bias_act_inputs(x, bias, residual):
    xref = _arrays.inspect(x, "x", dtypes=_HALF_OK)
    if xref.ndim < 1:
        raise value_error("x", "an array with at least one dimension (bias runs along the last)", xref.shape)
    bref = _arrays.inspect(bias, "bias", dtypes=_HALF_OK)
    _arrays.same_place(xref, bref, "bias")
    if bref.dtype != xref.dtype:
        raise type_error("bias", f"dtype {xref.dtype} (x's)", f"dtype {bref.dtype}")
    if bref.shape != (xref.shape[-1],):
        raise value_error("bias", f"shape ({xref.shape[-1]},) (the last axis of x)", bref.shape)
    rref = None
    if residual is not None:
        rref = _arrays.inspect(residual, "residual", dtypes=_HALF_OK)
        _arrays.same_place(xref, rref, "residual")
        if rref.dtype != xref.dtype:
            raise type_error("residual", f"dtype {xref.dtype} (x's)", f"dtype {rref.dtype}")
        if rref.shape != xref.shape:
            raise value_error("residual", f"shape {xref.shape} (x's)", rref.shape)
    return xref, bref, rref


def bias_act_dropout(x, bias, activation="relu", p=0.1, *, residual=None, generator=None,
                     mode="inverted", mask="bits", out=None):
    """y = dropout(act(x + bias)) [+ residual] in one pass; bias runs along the last axis.

    activation: "identity", "relu", "gelu" (exact, erf), "gelu_tanh" (tanh approximation),
    "tanh", "sigmoid". Returns (y, state) for ``bias_act_dropout_backward``.

    out: an array for y (x's shape, dtype, device). It may be the residual itself, never x or
    bias (the state keeps x and bias: backward recomputes x + bias from them)."""
    xref, bref, rref = _bias_act_inputs(x, bias, residual)
    act = _validate.choice("activation", activation, tuple(ACTIVATIONS))
    p, mode, kind = _options(p, mode, mask)
    g = resolve(generator)
    be = backend_for(xref)
    y, yref = _output(out, xref, xref.shape, xref.dtype, may_be=((rref, "residual"),),
                      must_not=((xref, "x"), (bref, "bias")))
    m = _new_mask(xref, p, mode, kind, g)
    _bias_act_forward(be, xref, bref, rref, yref, act, m)
    return y, BiasActDropoutState(x, bias, act, residual is not None, m)


def _bias_act_forward(be, xref, bref, rref, yref, act, m):
    bits, bytes_, seed, offset, t, drop_all, scale = m.kernel_args()
    be.bias_act_dropout_forward(xref.target, bref.target, None if rref is None else rref.target, yref.target,
                                _target(bits), _target(bytes_), ACTIVATIONS[act], seed, offset, t,
                                drop_all, scale)


def bias_act_dropout_backward(dy, state, *, out=None):
    """(dx, dbias), plus d(residual) = dy (the same array) when forward had a residual.
    One pass over dy and x; dbias accumulates in float64 in fixed row chunks (the same for any
    thread count) and is rounded once to the dtype.

    out: an array for dx (dy's shape, dtype, device). It may be dy itself when forward had no
    residual (with one, dy is returned as d(residual) and must survive); never x or bias."""
    if not isinstance(state, BiasActDropoutState):
        raise type_error("state", "a BiasActDropoutState returned by bias_act_dropout()", type(state).__name__)
    m = _mask_arg(state.mask, "state.mask")
    dyref = _arrays.inspect(dy, "dy", dtypes=_HALF_OK)
    _check_against_mask(dyref, m, "dy")
    xref = _arrays.inspect(state.x, "state.x", dtypes=_HALF_OK)
    bref = _arrays.inspect(state.bias, "state.bias", dtypes=_HALF_OK)
    for ref, name, shape in ((xref, "state.x", dyref.shape), (bref, "state.bias", dyref.shape[-1:])):
        _arrays.same_place(dyref, ref, name)
        if ref.dtype != dyref.dtype or ref.shape != shape:
            raise value_error(name, f"shape {shape} and dtype {dyref.dtype} (as dy)", f"{ref.shape} {ref.dtype}")
    be = backend_for(dyref, "dy")
    dx, dxref = _output(out, dyref, dyref.shape, dyref.dtype,
                        may_be=() if state.has_residual else ((dyref, "dy"),),
                        must_not=((xref, "state.x"), (bref, "state.bias"))
                        + (((dyref, "dy"),) if state.has_residual else ()))
    db, dbref = _arrays.empty_like_place(state.bias, bref.shape, bref.dtype)
    _bias_act_backward(be, dyref, xref, bref, dxref, dbref, state.activation, m)
    if state.has_residual:
        return dx, db, dy
    return dx, db


def _bias_act_backward(be, dyref, xref, bref, dxref, dbref, act, m):
    bits, bytes_, seed, offset, t, drop_all, scale = m.kernel_args()
    be.bias_act_dropout_backward(dyref.target, xref.target, bref.target, _stored(bits), _stored(bytes_),
                                 dxref.target, dbref.target, ACTIVATIONS[act], seed, offset, t, drop_all, scale)


def mc_dropout(forward_fn, x, samples=30, *, generator=None, ddof=0):
    """Monte Carlo dropout (Gal & Ghahramani, 2016): T = samples stochastic passes
    ``forward_fn(x, generator)``, returning the per-element mean and standard deviation.

    Welford's update in float64 (no T-sized buffer, no cancellation); the results come back in
    the dtype of forward_fn's output. All passes draw from the one generator in turn, so pass k
    gets the counter range right after pass k-1's: disjoint, and reproducible from the state.
    ddof=0: the spread of the T samples; ddof=1: the unbiased variance estimate."""
    if not callable(forward_fn):
        raise type_error("forward_fn", "a callable forward_fn(x, generator)", type(forward_fn).__name__)
    # bounded: an absurd count (10**400) would otherwise loop for ever instead of failing
    samples = _validate.integer("samples", samples, lo=1, hi=_MAX_SAMPLES)
    ddof = _validate.integer("ddof", ddof, lo=0)
    if ddof >= samples:
        raise value_error("ddof", f"an integer < samples={samples}", ddof)
    g = resolve(generator)
    mean = m2 = None
    xp = shape = out_dtype = None
    for k in range(1, samples + 1):
        y = forward_fn(x, g)
        if isinstance(y, np.ndarray) and type(y) is not np.ndarray:
            y = y.view(np.ndarray)   # np.matrix: `*` below would be a matrix product
        if k == 1:
            try:
                ref = _arrays.inspect(y, "forward_fn")
            except (TypeError, ValueError) as exc:   # what it returned is at fault, not the callable
                raise type(exc)(str(exc).replace("forward_fn: ", "forward_fn: its result: ", 1)) from None
            xp, shape, out_dtype = _arrays.namespace_of(y), ref.shape, y.dtype
            mean = xp.zeros_like(y, dtype=xp.float64)
            m2 = xp.zeros_like(y, dtype=xp.float64)
        elif tuple(y.shape) != shape or y.dtype != out_dtype:
            raise value_error("forward_fn", f"outputs of one shape {shape} and dtype {out_dtype}",
                              f"shape {tuple(y.shape)}, dtype {y.dtype} at pass {k}")
        y64 = xp.astype(y, xp.float64)
        delta = y64 - mean
        # an infinite sample makes the mean that inf, as the mean of the samples is: Welford's
        # mean + (inf - mean)/k is inf, but a later finite sample gives inf + -inf/k = NaN, so
        # non-finite means take y as they are (inf + y; +inf then -inf is NaN). m2 is NaN anyway.
        mean = xp.where(xp.isfinite(mean), mean + delta / k, mean + y64)
        m2 = m2 + delta * (y64 - mean)
    std = xp.sqrt(m2 / (samples - ddof))
    return xp.astype(mean, out_dtype), xp.astype(std, out_dtype)


# ------------------------------------------------------------------ trusted plans
#
# For regcore.torch's operator kernels, which call the checked functions above once per argument
# signature (shape, dtype, strides, scalars: all that decides whether their checks pass) and
# these plans afterwards: ``*_plan(<the signature>)`` works out once what depends only on the
# signature (the keep threshold and scale, output sizes) and returns ``run``, the same
# computation minus the checks for NumPy views of arguments of that signature. (seed, offset)
# is the position of the generator the call would have drawn from (batchnorm.py has the note
# on trusted entry points.) Native-endian NumPy float views only: no bfloat16.

def _decisions(p, mode, dtype):
    """(threshold, drop_all, scale) as the kernels take them: a DropoutMask's."""
    m = DropoutMask(p=p, mode=mode, kind="none", shape=(), dtype=dtype, device="cpu", device_id=0, seed=0,
                    offset=0)
    return m.kernel_args()[4:]


def dropout_plan(shape, dtype, p, mode, kind):
    """dropout(x, p, mode=mode, mask=kind ("bits" or "none"), generator=<at (seed, offset)>) as
    ``run(x, seed, offset) -> (y, bits or None)``."""
    t, drop_all, scale = _decisions(p, mode, dtype)
    new_y = _arrays.allocator(shape, dtype)
    new_bits = _arrays.allocator((bit_words(math.prod(shape)),), _U32) if kind == "bits" else None

    def run(x, seed, offset):
        y = new_y()
        bits = None if new_bits is None else new_bits()
        cpu_array_backend().dropout_forward(x, y, bits, None, seed, offset, t, drop_all, scale)
        return y, bits
    return run


def dropout_backward_plan(shape, dtype, p, mode):
    """dropout_backward(dy, <the mask of dropout(x, p, mode=mode) at (seed, offset), its bits
    or None when not stored>) as ``run(dy, bits, seed, offset) -> dx``."""
    return masked_backward_plan(shape, dtype, *_decisions(p, mode, dtype))


def masked_backward_plan(shape, dtype, t, drop_all, scale):
    """``run(dy, bits, seed, offset) -> dx``, dx = keep ? dy * scale : +0 with the keep decisions
    of threshold t at (seed, offset) (stored in bits, or redrawn when bits is None): the backward
    of every element-wise mask (dropout's; alpha dropout's, whose scale is a)."""
    new_dx = _arrays.allocator(shape, dtype)

    def run(dy, bits, seed, offset):
        dx = new_dx()
        cpu_array_backend().dropout_backward(dy, dx, bits, None, seed, offset, t, drop_all, scale)
        return dx
    return run


def gaussian_noise_plan(shape, dtype, std, multiplicative):
    """gaussian_noise(x, std, mode=..., generator=<at (seed, offset)>) as ``run(x, seed, offset)
    -> y``."""
    c = _dtypes.compute(dtype).type
    mean, std = c(1.0 if multiplicative else 0.0), c(std)
    new_y = _arrays.allocator(shape, dtype)

    def run(x, seed, offset):
        y = new_y()
        cpu_array_backend().gaussian_noise(x, y, seed, offset, mean, std, multiplicative)
        return y
    return run


def bias_act_dropout_plan(shape, dtype, activation, p, kind):
    """bias_act_dropout(x, bias, activation, p, residual=residual, mask=kind, generator=<at
    (seed, offset)>) (inverted mode) as ``run(x, bias, residual, seed, offset) -> (y, bits or
    None)``."""
    t, drop_all, scale = _decisions(p, "inverted", dtype)
    act = ACTIVATIONS[activation]
    new_y = _arrays.allocator(shape, dtype)
    new_bits = _arrays.allocator((bit_words(math.prod(shape)),), _U32) if kind == "bits" else None

    def run(x, bias, residual, seed, offset):
        y = new_y()
        bits = None if new_bits is None else new_bits()
        cpu_array_backend().bias_act_dropout_forward(x, bias, residual, y, bits, None, act, seed, offset, t, drop_all,
                                                     scale)
        return y, bits
    return run


def bias_act_dropout_backward_plan(shape, dtype, activation, p):
    """(dx, dbias) of bias_act_dropout_backward for the forward's x, bias and mask (its bits, or
    None when not stored) as ``run(dy, x, bias, bits, seed, offset) -> (dx, dbias)``."""
    t, drop_all, scale = _decisions(p, "inverted", dtype)
    act = ACTIVATIONS[activation]
    new_dx = _arrays.allocator(shape, dtype)
    new_db = _arrays.allocator(shape[-1:], dtype)

    def run(dy, x, bias, bits, seed, offset):
        dx, db = new_dx(), new_db()
        cpu_array_backend().bias_act_dropout_backward(dy, x, bias, bits, None, dx, db, act, seed, offset, t, drop_all,
                                                      scale)
        return dx, db
    return run
