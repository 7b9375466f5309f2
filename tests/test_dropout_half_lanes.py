"""Dropout of 16-bit data at the SIMD levels against the scalar level, with AVX512_BF16 on and off
(conftest.avx512_bf16_both): the avx512 level stores bfloat16 words with VCVTNE2PS2BF16 where the
processor has it, which reads a subnormal float32 as zero, so words holding a subnormal product
take the integer rounding; both stores must give the scalar level's bits. Sizes around the
32-element keep word and the two-Philox-group step (128 elements at AVX-512), data with
subnormals (products that stay subnormal), ties, +-inf, NaNs and -0."""
from __future__ import annotations

import numpy as np
import pytest

import regcore as rc

from _switches import isa_level

pytestmark = pytest.mark.usefixtures("avx512_bf16_both")

if not rc.available_isas():
    pytest.skip("no native CPU module", allow_module_level=True)

ml_dtypes = pytest.importorskip("ml_dtypes")
BF16 = np.dtype(ml_dtypes.bfloat16)
F16 = np.dtype(np.float16)
SPECIAL = {
    BF16: [0x7FC1, 0x7F81, 0x7F80, 0xFF80, 0x8000, 0x0001, 0x807F, 0x0080, 0x3F81, 0x3F83],
    F16: [0x7E01, 0x7C01, 0x7C00, 0xFC00, 0x8000, 0x0001, 0x83FF, 0x0400, 0x3C01, 0x3C03],
}
SIZES = [31, 32, 95, 128, 129, 255, 256 + 33, 1000]


def _data(n, dt, rng, special):
    x = (rng.standard_normal(n) * 2).astype(np.float32).astype(dt)
    bits = x.view(np.uint16)
    if special == "sparse":      # most words clean, a few with one odd lane
        pick = rng.random(n) < 0.01
    else:                        # many words with subnormal / non-finite lanes
        pick = rng.random(n) < 0.3
    bits[pick] = rng.choice(np.array(SPECIAL[dt], np.uint16), pick.sum())
    return x


def _canon(a):
    """Bytes of a with every NaN made one pattern (payloads are not part of the contract)."""
    u = np.array(a, copy=True).view(np.uint16)
    if a.dtype == BF16:
        u[(u & 0x7FFF) > 0x7F80] = 0x7FC0
    else:
        u[(u & 0x7FFF) > 0x7C00] = 0x7E00
    return u


def _run(x, p, kind, seed):
    y, m = rc.dropout(x, p, generator=rc.Generator(seed), mask=kind)
    dx = rc.dropout_backward(x, m)
    return _canon(y), _canon(dx)


@pytest.mark.parametrize("dt", [BF16, F16], ids=["bfloat16", "float16"])
@pytest.mark.parametrize("special", ["sparse", "dense"])
@pytest.mark.parametrize("kind", ["bits", "none"])
def test_simd_levels_match_scalar(dt, special, kind):
    rng = np.random.default_rng(11)
    for n in SIZES:
        x = _data(n, dt, rng, special)
        for p in (0.0, 0.2, 0.5):
            with isa_level("scalar"):
                want = _run(x, p, kind, n)
            for level in rc.available_isas():
                with isa_level(level):
                    got = _run(x, p, kind, n)
                for a, b in zip(got, want):
                    np.testing.assert_array_equal(a, b, err_msg=f"{level} n={n} p={p}")
