"""bfloat16 batch-norm outputs over 8 MiB. On processors with AVX512_BF16 the normalize and dx
kernels round pairs of vectors with one instruction and write them with non-temporal stores (after
scalar elements up to the first 64-byte boundary of each run); elsewhere they take ordinary
stores. Either way: the same bits as the NumPy backend for the same statistics and sums, on every
ISA level, with fused relu, in the rows layout (odd run lengths: a scalar head before every run),
channels-last with 64-byte rows (every row streams) and with 96-byte rows (no row streams).
"""
from __future__ import annotations

import numpy as np
import pytest

import regcore as rc

from conftest import BACKENDS, cpu_backend
from test_norms_half import BF16

# every test with AVX512_BF16 on and off (conftest.avx512_bf16_both)
pytestmark = pytest.mark.usefixtures("avx512_bf16_both")

if not rc.available_isas():
    pytest.skip("no native CPU module", allow_module_level=True)


@pytest.mark.parametrize("shape,axis", [((2, 3, 700001), 1), ((140001, 32), -1), ((93335, 48), -1)])
def test_bf16_large_outputs_same_bits_on_every_backend(shape, axis):
    assert np.prod(shape) * BF16.itemsize >= 8 << 20     # the streaming threshold
    rng = np.random.default_rng(17)
    x = (rng.standard_normal(shape) * 2 + 3).astype(np.float32).astype(BF16)
    dy = rng.standard_normal(shape).astype(np.float32).astype(BF16)
    C = shape[axis]
    gamma = (rng.standard_normal(C) + 1.0).astype(np.float32)
    beta = rng.standard_normal(C).astype(np.float32)
    with rc.use_backend("numpy"):
        total = rc.batch_norm_stats(x, axis=axis)
    outs = []
    for name in BACKENDS:
        with cpu_backend(name):
            y, saved = rc.batch_norm_apply(x, total, gamma, beta, axis=axis, activation="relu")
            with rc.use_backend("numpy"):   # the same sums for everyone: only dx is compared
                red = rc.batch_norm_backward_reduce(dy, x, saved)
            dx = rc.batch_norm_backward_apply(dy, x, gamma, saved, red)[0]
        assert y.dtype == dx.dtype == BF16
        outs.append((name, y.view(np.uint16), dx.view(np.uint16)))
    _, y0, dx0 = outs[0]
    for name, y, dx in outs[1:]:
        assert np.array_equal(y, y0), name
        assert np.array_equal(dx, dx0), name
