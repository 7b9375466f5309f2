"""The masks of channel (spatial) dropout and alpha dropout, and the alpha-dropout coefficients.

Channel dropout makes one keep decision per (sample, channel), drawn exactly as dropout draws an
(N, C) array (stream element n*C + c, kept iff its word >= t; csrc/core/channel_dropout.h), so
the decisions are the same in both layouts and on every backend. Alpha dropout sets dropped
units to SELU's saturation value alpha' and applies the affine map that keeps mean and variance.
"""
from __future__ import annotations

import math

import numpy as np

from . import _dtypes
from ._dropout_mask import TWO32, DropoutMask, ThresholdMask, scale_for, threshold

LAYOUTS = ("channels_first", "channels_last")
CHANNEL_MASK_KINDS = ("bits", "none")

# lambda * alpha of SELU (Klambauer et al., 2017): the constant PyTorch's alpha dropout uses.
SELU_ALPHA_LAMBDA = 1.7580993408473766


def alpha_coefficients(p: float, dtype: np.dtype):
    """The public form of ``_alpha_coefficients``: p and dtype checked (p a probability, dtype a
    float dtype regcore takes), so a bad argument is refused naming it instead of overflowing."""
    from . import _validate

    return _alpha_coefficients(_validate.probability("p", p), _validate.float_dtype("dtype", dtype, half=True))


def _alpha_coefficients(p: float, dtype: np.dtype):
    """(a, b, d) in the arithmetic type of dtype (dtype itself for float32/float64, float32 for
    the 16-bit formats): kept units become a*x + b, dropped ones d = a*alpha' + b.

    a = ((1 - p)(1 + p alpha'^2))^(-1/2) and b = -a alpha' p in float64, each rounded once to the
    arithmetic type; d is -(alpha_lambda a) + (alpha_lambda a p), each term rounded to it and
    summed in it: exactly PyTorch's alpha_dropout order of operations, so given the same mask the
    float32/float64 outputs match torch bit for bit. 16-bit data is computed with these float32
    coefficients and rounded once as it is stored. p = 1 (everything dropped) gives (0, 0, 0): the
    output is +0."""
    t = _dtypes.compute(np.dtype(dtype)).type
    if threshold(p) >= TWO32:
        return t(0), t(0), t(0)
    al = SELU_ALPHA_LAMBDA
    a = 1.0 / math.sqrt((al * al * p + 1.0) * (1.0 - p))
    b = al * a * p
    d = t(-(al * a)) + t(b)
    return t(a), t(b), t(d)


class ChannelDropoutMask(ThresholdMask):
    """What channel_dropout_backward needs: the decisions' stream position (seed, offset) and,
    for kind "bits", the stored keep words (uint32, ceil(N*C/32) of them; decision n*C + c is
    bit (n*C + c) % 32 of word (n*C + c) // 32), plus the data's shape, layout, dtype, device
    and the coefficients (mode "inverted"/"vanilla": dx = keep ? dy*scale : 0; mode "alpha":
    the forward was feature alpha dropout and scale is a)."""

    __slots__ = ("p", "mode", "kind", "layout", "shape", "dtype", "device", "device_id", "seed",
                 "offset", "threshold", "scale", "shift", "dropped", "bits")

    def __init__(self, *, p, mode, kind, layout, shape, dtype, device, device_id, seed, offset, bits=None):
        self.p = float(p)
        self.mode = mode
        self.kind = kind
        self.layout = layout
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)
        self.device = device
        self.device_id = device_id
        self.seed = seed
        self.offset = offset
        self.threshold = threshold(self.p)
        if mode == "alpha":
            self.scale, self.shift, self.dropped = _alpha_coefficients(self.p, self.dtype)
        else:
            self.scale = scale_for(self.threshold, mode, self.dtype)
            self.shift = self.dropped = self.dtype.type(0)
        self.bits = bits

    @property
    def batch(self) -> int:
        return self.shape[0]

    @property
    def channels(self) -> int:
        return self.shape[1] if self.layout == "channels_first" else self.shape[-1]

    @property
    def spatial(self) -> int:
        rest = self.shape[2:] if self.layout == "channels_first" else self.shape[1:-1]
        return math.prod(rest)

    @property
    def decisions(self) -> int:
        return self.batch * self.channels

    @property
    def nbytes(self) -> int:
        return 0 if self.bits is None else int(self.bits.nbytes)

    def to_numpy(self) -> np.ndarray:
        """The (N, C) keep decisions as a NumPy bool array (regenerated for kind "none")."""
        return self._decisions(self.decisions, self.bits).astype(bool).reshape(self.batch, self.channels)

    def __repr__(self) -> str:
        return (f"ChannelDropoutMask(p={self.p}, mode={self.mode!r}, kind={self.kind!r}, "
                f"layout={self.layout!r}, shape={self.shape}, dtype={self.dtype}, "
                f"device='{self.device}:{self.device_id}', nbytes={self.nbytes})")


class AlphaDropoutMask(DropoutMask):
    """The mask of element-wise alpha dropout: a DropoutMask (one decision per element, drawn as
    dropout draws it) whose scale is a, so ``dropout_backward`` gives dx = keep ? a*dy : 0;
    shift (b) and dropped (d) record the forward's affine map."""

    __slots__ = ("shift", "dropped")

    def __init__(self, **kw):
        super().__init__(mode="alpha", **kw)
        self.scale, self.shift, self.dropped = _alpha_coefficients(self.p, self.dtype)
