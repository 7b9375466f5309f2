"""Philox4x32-10 and the stream layout in NumPy (docs/random.md)."""
from __future__ import annotations

import numpy as np

M0, M1 = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)
W0, W1 = 0x9E3779B9, 0xBB67AE85
_MASK32 = np.uint64(0xFFFFFFFF)
_S32 = np.uint64(32)

# Blocks per NumPy pass: bounds the temporaries (about 100 bytes per block).
CHUNK_BLOCKS = 1 << 18


def philox4x32_10(c0, c1, c2, c3, k0: int, k1: int):
    """Vectorized over uint32 counter arrays; returns the four uint32 output words."""
    for r in range(10):
        if r:
            k0 = (k0 + W0) & 0xFFFFFFFF
            k1 = (k1 + W1) & 0xFFFFFFFF
        p0 = c0.astype(np.uint64) * M0
        p1 = c2.astype(np.uint64) * M1
        hi0, lo0 = (p0 >> _S32).astype(np.uint32), (p0 & _MASK32).astype(np.uint32)
        hi1, lo1 = (p1 >> _S32).astype(np.uint32), (p1 & _MASK32).astype(np.uint32)
        c0, c1, c2, c3 = hi1 ^ c1 ^ np.uint32(k0), lo1, hi0 ^ c3 ^ np.uint32(k1), lo0
    return c0, c1, c2, c3


def stream_words(seed: int, first_block: int, nblocks: int):
    """Words of counter blocks first_block .. first_block+nblocks-1, as four uint32 arrays."""
    b = np.arange(nblocks, dtype=np.uint64) + np.uint64(first_block)
    c0 = (b & _MASK32).astype(np.uint32)
    c1 = (b >> _S32).astype(np.uint32)
    z = np.zeros(nblocks, dtype=np.uint32)
    return philox4x32_10(c0, c1, z, z.copy(), seed & 0xFFFFFFFF, seed >> 32)


def generate(out: np.ndarray, seed: int, offset: int, elems_per_block: int, transform) -> None:
    """Fill out (flat order) with transform(words) -> list of E arrays, one per block slot."""
    flat = out.reshape(-1)
    n = flat.size
    e = elems_per_block
    nblocks = (n + e - 1) // e
    for start in range(0, nblocks, CHUNK_BLOCKS):
        count = min(CHUNK_BLOCKS, nblocks - start)
        w = stream_words(seed, offset + start, count)
        cols = transform(w)
        block = np.stack(cols, axis=1).reshape(-1)  # element E*b + k = cols[k][b]
        lo = start * e
        hi = min(n, lo + count * e)
        flat[lo:hi] = block[: hi - lo]
