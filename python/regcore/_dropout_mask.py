"""The keep rule and the objects that carry a dropout mask from forward to backward.

Keep rule (docs/dropout.md): element i reads the 32-bit stream word w_i (word i mod 4 of counter
block offset + i // 4) and is kept iff ``w_i >= t`` with ``t = round(p * 2**32)`` (nearest, ties
to even). The keep probability is exactly ``(2**32 - t) / 2**32``; ``t = 2**32`` (p = 1) drops
everything and travels to the kernels as ``drop_all``.
"""
from __future__ import annotations

import math

import numpy as np

from . import _dtypes

TWO32 = 1 << 32          # the stream words' range: t = 2**32 drops everything

ACTIVATIONS = {"identity": 0, "relu": 1, "gelu": 2, "gelu_tanh": 3, "tanh": 4, "sigmoid": 5}
MODES = ("inverted", "vanilla")
MASK_KINDS = ("bits", "bytes", "none")


def threshold(p: float) -> int:
    """t in [0, 2**32]; p * 2**32 is exact in float64 (a power-of-two scaling)."""
    return min(round(p * float(TWO32)), TWO32)


def scale_for(t: int, mode: str, dtype: np.dtype):
    """Inverted: 1/q with q = (2**32 - t) / 2**32 the exact keep probability (so E[y] = x up to
    the rounding of the scale), rounded to float64 and then to the type the data's arithmetic runs
    in (float32 for the 16-bit formats: their products are rounded once, as they are stored); 0
    when q = 0 (no element is kept, nothing to divide). Vanilla: 1."""
    c = _dtypes.compute(dtype).type
    if mode == "vanilla":
        return c(1)
    kept = TWO32 - t
    return c(0) if kept == 0 else c(TWO32 / kept)


def reserve(generator, n: int, p: float) -> int:
    """The counter offset of a call drawing n keep decisions (ceil(n / 4) blocks: one 32-bit word
    per decision, four per block), reserved after validation. p = 0 (t = 0: every element kept)
    and drop-all (t = 2**32) decide every element without a draw, so they reserve nothing: the
    generator is left where it was (offset = its position, never read)."""
    if 0 < threshold(p) < TWO32:
        return generator.reserve((n + 3) // 4)
    return generator.offset


def bit_words(n: int) -> int:
    """uint32 words of a 1-bit mask of n decisions."""
    return (n + 31) // 32


def to_host(a) -> np.ndarray:
    """A NumPy copy or view of a mask array from any supported library."""
    if isinstance(a, np.ndarray):
        return a
    if hasattr(a, "get"):          # CuPy
        return a.get()
    if hasattr(a, "cpu"):          # PyTorch
        return a.cpu().numpy()
    return np.asarray(a)


class ThresholdMask:
    """What every mask derives from its threshold t (set by the subclass): the exact keep
    probability, the drop-all flag and the threshold as the kernels take it, and the decisions
    as booleans from the stored bits or bytes, or regenerated from (seed, offset)."""

    __slots__ = ()

    @property
    def keep_probability(self) -> float:
        """Exactly (2**32 - t) / 2**32."""
        return (TWO32 - self.threshold) / TWO32

    @property
    def drop_all(self) -> bool:
        return self.threshold >= TWO32

    @property
    def kernel_threshold(self) -> int:
        return 0 if self.drop_all else self.threshold

    def _decisions(self, n: int, bits, bytes_=None) -> np.ndarray:
        """The first n keep decisions, flat, as 0/1 or bool."""
        if bits is not None:
            return np.unpackbits(to_host(bits).view(np.uint8), bitorder="little")[:n]
        if bytes_ is not None:
            return to_host(bytes_) != 0
        from ._backends.numpy_backend.dropout import keep_mask
        return keep_mask(n, self.seed, self.offset, self.kernel_threshold, self.drop_all)


class DropoutMask(ThresholdMask):
    """What backward needs to reproduce a dropout: p, mode, shape, dtype, device, the stream
    position (seed, offset) and, for kind "bits" / "bytes", the stored mask.

    ``bits``: uint32 words, ceil(n/32) of them; element i is bit i % 32 of word i // 32, i.e.
    ``np.unpackbits(mask.bits.view(np.uint8), bitorder="little")[:n]`` on a little-endian host.
    ``bytes``: uint8, 1 = kept. ``none``: nothing stored, regenerated from (seed, offset).
    """

    __slots__ = ("p", "mode", "kind", "shape", "dtype", "device", "device_id", "seed", "offset",
                 "threshold", "scale", "bits", "bytes")

    def __init__(self, *, p, mode, kind, shape, dtype, device, device_id, seed, offset, bits=None,
                 bytes=None):
        self.p = float(p)
        self.mode = mode
        self.kind = kind
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)
        self.device = device
        self.device_id = device_id
        self.seed = seed
        self.offset = offset
        self.threshold = threshold(self.p)
        self.scale = scale_for(self.threshold, mode, self.dtype)
        self.bits = bits
        self.bytes = bytes

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        """Bytes the stored mask occupies: 4 * ceil(n/32) for bits, n for bytes, 0 for none."""
        if self.bits is not None:
            return int(self.bits.nbytes)
        if self.bytes is not None:
            return int(self.bytes.nbytes)
        return 0

    def kernel_args(self):
        """(bits, bytes, seed, offset, threshold, drop_all, scale) as the backends take them."""
        return (self.bits, self.bytes, self.seed, self.offset, self.kernel_threshold,
                self.drop_all, self.scale)

    def to_numpy(self) -> np.ndarray:
        """The keep mask as a NumPy bool array of the data's shape (regenerated for "none")."""
        return self._decisions(self.size, self.bits, self.bytes).astype(bool).reshape(self.shape)

    def __repr__(self) -> str:
        return (f"DropoutMask(p={self.p}, mode={self.mode!r}, kind={self.kind!r}, shape={self.shape}, "
                f"dtype={self.dtype}, device='{self.device}:{self.device_id}', nbytes={self.nbytes})")


class BiasActDropoutState:
    """What bias_act_dropout_backward needs: the inputs x and bias (held by reference: changing
    them before backward changes the gradient), the activation and the dropout mask."""

    __slots__ = ("x", "bias", "activation", "has_residual", "mask")

    def __init__(self, x, bias, activation, has_residual, mask):
        self.x = x
        self.bias = bias
        self.activation = activation
        self.has_residual = has_residual
        self.mask = mask

    @property
    def nbytes(self) -> int:
        """Bytes the state stores beyond the inputs it references (the mask)."""
        return self.mask.nbytes

    def __repr__(self) -> str:
        return (f"BiasActDropoutState(activation={self.activation!r}, residual={self.has_residual}, "
                f"mask={self.mask!r})")
