"""The native batch-norm backward in one call (bn_backward) runs channel by channel where dx is
written with streaming stores (over 8 MiB: float32, float64, and bfloat16 with AVX512_BF16) and
one channel's dy and x fit the caches (csrc/cpu/batchnorm_api.cpp, bn_grad_passes): each
channel's sums, its coefficients, its dx. It must give the bits of the flat passes (bn_grad_reduce
over all channels, then bn_grad_coefficients, then bn_grad_apply) for every dtype, ISA level,
thread count, with and without the fused ReLU (elsewhere the one call runs the flat passes: the
same comparison holds trivially)."""
from __future__ import annotations

import numpy as np
import pytest

import regcore as rc
from regcore import _dtypes, _native

from test_norms_half import BF16

# every test with AVX512_BF16 on and off (conftest.avx512_bf16_both)
pytestmark = pytest.mark.usefixtures("avx512_bf16_both")

if not rc.available_isas():
    pytest.skip("no native CPU module", allow_module_level=True)

EPS = 1e-4
# (dtype, (N, C, H, W)): outputs of at least 8 MiB, 1024 to 2304 values per channel run and
# 128 channels (on the pool with 2 threads); float32 in runs of 1085 values (no vector multiple:
# scalar heads and tails in every run).
CASES = [(np.dtype(np.float32), (16, 128, 31, 35)), (np.dtype(np.float64), (16, 128, 32, 32)),
         (np.dtype(np.float16), (16, 128, 48, 48)), (BF16, (16, 128, 48, 48))]


def _rand(shape, dt, seed, loc=0.0, scale=1.0):
    v = np.random.default_rng(seed).normal(loc, scale, size=shape)
    return _dtypes.kernel_view(_dtypes.round_array(dt, v) if _dtypes.is_half(dt) else v.astype(dt))


def _bits(a):
    return np.ascontiguousarray(a).view(f"u{a.dtype.itemsize}")


def _both(dt, shape, relu, seed=0):
    """(one call, flat passes): dx, dgamma, dbeta of each."""
    cpu = _native.cpu
    N, C = shape[0], shape[1]
    S = int(np.prod(shape[2:]))
    x = _rand(shape, dt, seed, loc=1.0, scale=2.0)
    dy = _rand(shape, dt, seed + 1)
    pdt = np.dtype(np.float32) if dt.itemsize == 2 else dt
    g = np.random.default_rng(seed + 2).normal(1.0, 0.5, C).astype(pdt)
    b = np.random.default_rng(seed + 3).normal(0.0, 0.5, C).astype(pdt)
    mean = np.random.default_rng(seed + 4).normal(1.0, 0.1, C)
    var = np.random.default_rng(seed + 5).uniform(3.0, 5.0, C)
    count = float(N * S)
    name = "bfloat16" if dt == BF16 else dt.name

    dx1, dg1, db1 = np.empty_like(x), np.empty(C, pdt), np.empty(C, pdt)
    cpu.bn_backward(dy, x, dx1, N, C, S, g, b, mean, var, EPS, count, True, relu, dg1, db1)

    rstd, mhi, mlo, scale, shift = cpu.bn_coefficients(mean, var, g, b, EPS, name)
    red = np.empty(2 * C)
    cpu.bn_grad_reduce(dy, x, N, C, S, mhi, mlo, scale, shift, relu, red)
    ka, kb, kc, dg2, db2 = cpu.bn_grad_coefficients(rstd, g, red, count, True, name)
    dx2 = np.empty_like(x)
    cpu.bn_grad_apply(dy, x, dx2, N, C, S, mhi, mlo, scale, shift, ka, kb, kc, relu)
    return (dx1, dg1, db1), (dx2, dg2.astype(pdt), db2.astype(pdt))


@pytest.mark.parametrize("case", CASES, ids=lambda c: str(c[0]))
@pytest.mark.parametrize("relu", [False, True])
def test_channel_schedule_gives_the_flat_passes_bits(isa, threads, case, relu):
    dt, shape = case
    assert np.prod(shape) * dt.itemsize >= 8 << 20    # the streaming threshold
    one, flat = _both(dt, shape, relu)
    for a, b, what in zip(one, flat, ("dx", "dgamma", "dbeta")):
        assert a.shape == b.shape and np.array_equal(_bits(a), _bits(b)), what
    assert np.any(one[0] != 0)
