"""Channel (spatial) dropout and alpha dropout: fused one-pass kernels.

* ``channel_dropout`` / ``channel_dropout_backward``: one keep decision per (sample, channel),
  broadcast over the spatial axes (PyTorch's dropout1d/2d/3d), channels-first (N, C, *spatial)
  or channels-last (N, *spatial, C).
* ``alpha_dropout`` / ``alpha_dropout_backward``: SELU-preserving dropout (dropped units set to
  alpha' = -lambda*alpha, then y = a*x + b keeps zero mean and unit variance).
* ``feature_alpha_dropout`` / ``feature_alpha_dropout_backward``: alpha dropout with one decision
  per (sample, channel).

The decisions are drawn from dropout's stream layout (one stream element per decision, in
(n, c) order for the channel variants), so a channel mask equals the mask ``dropout`` draws for
an (N, C) array from the same generator state. docs/dropout.md has the formulas.
"""
from __future__ import annotations


import numpy as np

from . import _arrays, _validate
from ._backend import backend_for, cpu_array_backend
from ._channel_dropout_mask import (CHANNEL_MASK_KINDS, LAYOUTS, AlphaDropoutMask, ChannelDropoutMask,
                                    alpha_coefficients)
from ._dropout_mask import MODES, bit_words, reserve
from ._errors import type_error, value_error
from .dropout import (_HALF_OK, _check_against_mask, _check_field, _check_position, _check_stored, _mask_arg, _mask_shape, _output,
                      _run_backward, _stored, _target, masked_backward_plan)
from .generator import resolve

__all__ = ["ChannelDropoutMask", "AlphaDropoutMask", "channel_dropout", "channel_dropout_backward",
           "alpha_dropout", "alpha_dropout_backward", "feature_alpha_dropout",
           "feature_alpha_dropout_backward", "alpha_coefficients"]

_U32 = np.dtype(np.uint32)


def _channel_input(x, layout):
    xref = _arrays.inspect(x, "x", dtypes=_HALF_OK)
    if xref.ndim < 2:
        raise value_error("x", "an array with at least 2 dimensions (N, C, *spatial) or (N, *spatial, C)",
                          xref.shape)
    return xref, _validate.choice("layout", layout, LAYOUTS)


def _channel_forward(x, p, layout, generator, mode, mask, out):
    """mode: "inverted" / "vanilla" (channel dropout, validated by the caller) or "alpha"."""
    xref, layout = _channel_input(x, layout)
    p = _validate.probability("p", p)
    kind = _validate.choice("mask", mask, CHANNEL_MASK_KINDS)
    g = resolve(generator)
    be = backend_for(xref)
    y, yref = _output(out, xref, xref.shape, xref.dtype, may_be=((xref, "x"),))
    m = ChannelDropoutMask(p=p, mode=mode, kind=kind, layout=layout, shape=xref.shape, dtype=xref.dtype,
                           device=xref.device, device_id=xref.device_id, seed=g.seed, offset=0)
    if kind == "bits":
        m.bits, _ = _arrays.empty_like_place(xref.obj, (bit_words(m.decisions),), _U32)
    m.offset = reserve(g, m.decisions, p)
    be.channel_dropout(xref.target, yref.target, None, _target(m.bits), m.batch, m.channels, m.spatial,
                       layout == "channels_last", m.seed, m.offset, m.kernel_threshold, m.drop_all,
                       m.scale, m.shift, m.dropped, mode == "alpha")
    return y, m


def channel_dropout(x, p=0.5, *, layout="channels_first", generator=None, mode="inverted", mask="bits",
                    out=None):
    """y, mask = channel_dropout(x, p): each (sample, channel) of x kept with probability
    q = 1 - p (exactly (2**32 - round(p * 2**32)) / 2**32), its whole spatial extent scaled by
    1/q (mode="inverted") or not ("vanilla"), dropped ones set to +0.

    x: (N, C, *spatial) for layout="channels_first", (N, *spatial, C) for "channels_last"; at
    least 2 dimensions (a 2-D (N, C) input makes one decision per element). mask="bits" stores
    1 bit per (n, c), "none" nothing (backward regenerates the decisions from the generator's
    seed and the call's offset). out: an array for y (x's shape, dtype, device); may be x."""
    return _channel_forward(x, p, layout, generator, _validate.choice("mode", mode, MODES), mask, out)


def feature_alpha_dropout(x, p=0.5, *, layout="channels_first", generator=None, mask="bits", out=None):
    """Alpha dropout with one decision per (sample, channel) (PyTorch's FeatureAlphaDropout):
    kept channels become a*x + b, dropped ones the constant d = a*alpha' + b
    (``alpha_coefficients``). Shapes, layouts, mask kinds and out as in ``channel_dropout``."""
    return _channel_forward(x, p, layout, generator, "alpha", mask, out)


def _channel_mask_arg(mask, name="mask") -> ChannelDropoutMask:
    if not isinstance(mask, ChannelDropoutMask):
        raise type_error(name, "a ChannelDropoutMask returned by channel_dropout() or feature_alpha_dropout()",
                         type(mask).__name__)
    _check_field(name, "kind", mask.kind, CHANNEL_MASK_KINDS)
    _check_field(name, "layout", mask.layout, LAYOUTS)
    _mask_shape(mask, name, min_ndim=2)
    _check_position(mask, name)
    _check_stored(mask, name, {"bits": (mask.bits, _U32, bit_words(mask.decisions))},
                  f"{mask.decisions} decisions")
    return mask


def channel_dropout_backward(dy, mask, *, out=None):
    """dx = keep(n, c) ? dy * scale : +0 with the forward call's decisions (stored or
    regenerated); for a feature_alpha_dropout mask the scale is a. out: an array for dx (dy's
    shape, dtype, device); it may be dy itself."""
    m = _channel_mask_arg(mask)
    dyref = _arrays.inspect(dy, "dy", dtypes=_HALF_OK)
    _check_against_mask(dyref, m, "dy")
    be = backend_for(dyref, "dy")
    dx, dxref = _output(out, dyref, dyref.shape, dyref.dtype, may_be=((dyref, "dy"),))
    be.channel_dropout(dyref.target, dxref.target, _stored(m.bits), None, m.batch, m.channels, m.spatial,
                       m.layout == "channels_last", m.seed, m.offset, m.kernel_threshold, m.drop_all,
                       m.scale, 0.0, 0.0, False)
    return dx


def feature_alpha_dropout_backward(dy, mask, *, out=None):
    """dx = keep(n, c) ? a * dy : +0 for a feature_alpha_dropout mask."""
    m = _channel_mask_arg(mask)
    if m.mode != "alpha":
        raise value_error("mask", "a mask returned by feature_alpha_dropout()", f"a mode={m.mode!r} mask")
    return channel_dropout_backward(dy, m, out=out)


def alpha_dropout(x, p=0.5, *, generator=None, mask="bits", out=None):
    """y, mask = alpha_dropout(x, p) (Klambauer et al., 2017; PyTorch's AlphaDropout): each
    element kept with probability q = 1 - p (dropout's keep rule and stream), kept elements
    become a*x + b, dropped ones d = a*alpha' + b, with a, b, d = ``alpha_coefficients(p)``.
    p = 1 gives +0 everywhere. mask="bits" (1 bit per element) or "none"; out as in dropout."""
    xref = _arrays.inspect(x, "x", dtypes=_HALF_OK)
    p = _validate.probability("p", p)
    kind = _validate.choice("mask", mask, CHANNEL_MASK_KINDS)
    g = resolve(generator)
    be = backend_for(xref)
    y, yref = _output(out, xref, xref.shape, xref.dtype, may_be=((xref, "x"),))
    n = xref.size
    bits = None
    if kind == "bits":
        bits, _ = _arrays.empty_like_place(xref.obj, (bit_words(n),), _U32)
    offset = reserve(g, n, p)
    m = AlphaDropoutMask(p=p, kind=kind, shape=xref.shape, dtype=xref.dtype, device=xref.device,
                         device_id=xref.device_id, seed=g.seed, offset=offset, bits=bits)
    _, _, seed, offset, t, drop_all, _ = m.kernel_args()
    be.alpha_dropout_forward(xref.target, yref.target, _target(bits), seed, offset, t, drop_all,
                             m.scale, m.shift, m.dropped)
    return y, m


def alpha_dropout_backward(dy, mask, *, out=None):
    """dx = keep ? a * dy : +0 with the forward call's mask (stored or regenerated)."""
    if not isinstance(mask, AlphaDropoutMask):
        raise type_error("mask", "an AlphaDropoutMask returned by alpha_dropout()", type(mask).__name__)
    m = _mask_arg(mask)
    dyref = _arrays.inspect(dy, "dy", dtypes=_HALF_OK)
    _check_against_mask(dyref, m, "dy")
    be = backend_for(dyref, "dy")
    dx, dxref = _output(out, dyref, dyref.shape, dyref.dtype, may_be=((dyref, "dy"),))
    _run_backward(be, dyref, dxref, m)
    return dx


# ------------------------------------------------------------------ trusted plans
# The functions above for one argument signature, minus the checks, as ``run(...)`` on CPU NumPy
# arrays at a given (seed, offset): regcore.torch's per-signature plans (torch/_fastpath.py) call
# them once the checked functions have accepted the signature. Everything that depends only on
# the signature (the kernel's threshold, scale and affine constants, the output allocators) is
# worked out once, by the mask classes the checked functions use.

def _template(mask_cls, shape, dtype, **kw):
    return mask_cls(shape=tuple(shape), dtype=dtype, device="cpu", device_id=0, seed=0, offset=0, **kw)


def channel_dropout_plan(shape, dtype, p, mode, layout, kind):
    """channel_dropout (mode "inverted"/"vanilla") or feature_alpha_dropout (mode "alpha") with
    mask=kind at (seed, offset) as ``run(x, seed, offset) -> (y, bits or None)``."""
    m = _template(ChannelDropoutMask, shape, dtype, p=p, mode=mode, kind=kind, layout=layout)
    args = (m.batch, m.channels, m.spatial, layout == "channels_last")
    rule = (m.kernel_threshold, m.drop_all, m.scale, m.shift, m.dropped, mode == "alpha")
    new_y = _arrays.allocator(shape, dtype)
    new_bits = _arrays.allocator((bit_words(m.decisions),), _U32) if kind == "bits" else None

    def run(x, seed, offset):
        y = new_y()
        bits = None if new_bits is None else new_bits()
        cpu_array_backend().channel_dropout(x, y, None, bits, *args, seed, offset, *rule)
        return y, bits
    return run


def channel_dropout_backward_plan(shape, dtype, p, mode, layout):
    """channel_dropout_backward with the mask of ``channel_dropout_plan``'s call at (seed,
    offset) (its bits, or None when not stored) as ``run(dy, bits, seed, offset) -> dx``."""
    m = _template(ChannelDropoutMask, shape, dtype, p=p, mode=mode, kind="none", layout=layout)
    args = (m.batch, m.channels, m.spatial, layout == "channels_last")
    rule = (m.kernel_threshold, m.drop_all, m.scale, 0.0, 0.0, False)
    new_dx = _arrays.allocator(shape, dtype)

    def run(dy, bits, seed, offset):
        dx = new_dx()
        cpu_array_backend().channel_dropout(dy, dx, bits, None, *args, seed, offset, *rule)
        return dx
    return run


def alpha_dropout_plan(shape, dtype, p, kind):
    """alpha_dropout(x, p, mask=kind) at (seed, offset) as ``run(x, seed, offset) -> (y, bits or
    None)``."""
    m = _template(AlphaDropoutMask, shape, dtype, p=p, kind=kind)
    _, _, _, _, t, drop_all, _ = m.kernel_args()
    affine = (m.scale, m.shift, m.dropped)
    new_y = _arrays.allocator(shape, dtype)
    new_bits = _arrays.allocator((bit_words(m.size),), _U32) if kind == "bits" else None

    def run(x, seed, offset):
        y = new_y()
        bits = None if new_bits is None else new_bits()
        cpu_array_backend().alpha_dropout_forward(x, y, bits, seed, offset, t, drop_all, *affine)
        return y, bits
    return run


def alpha_dropout_backward_plan(shape, dtype, p):
    """alpha_dropout_backward with the mask of ``alpha_dropout_plan``'s call at (seed, offset)
    as ``run(dy, bits, seed, offset) -> dx``."""
    _, _, _, _, t, drop_all, scale = _template(AlphaDropoutMask, shape, dtype, p=p, kind="none").kernel_args()
    return masked_backward_plan(shape, dtype, t, drop_all, scale)
