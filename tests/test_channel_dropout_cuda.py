"""Channel and alpha dropout on CUDA arrays: decisions, masks and outputs bit-identical with the
numpy backend (needs a GPU; the kernels themselves also run on the CPU in test_cuda_on_cpu.py)."""
from __future__ import annotations

import numpy as np
import pytest

import regcore as rc

from _cuda_libs import LIBS, SKIP_WITHOUT_GPU, assert_pair_matches_numpy

pytestmark = SKIP_WITHOUT_GPU


@pytest.mark.parametrize("lib", LIBS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(3, 5, 7), (2, 37, 3, 5), (4, 70), (8, 64, 33, 31)], ids=str)
@pytest.mark.parametrize("layout", ["channels_first", "channels_last"])
@pytest.mark.parametrize("kind", ["bits", "none"])
@pytest.mark.parametrize("alpha", [False, True])
def test_channel_dropout_matches_numpy(lib, dtype, shape, layout, kind, alpha):
    x = np.random.default_rng(1).standard_normal(shape).astype(dtype)
    dy = np.random.default_rng(2).standard_normal(shape).astype(dtype)
    fwd = rc.feature_alpha_dropout if alpha else rc.channel_dropout
    assert_pair_matches_numpy(lib, lambda a: fwd(a, 0.3, layout=layout, generator=rc.Generator(5), mask=kind),
                              rc.channel_dropout_backward, x, dy)


@pytest.mark.parametrize("lib", LIBS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [0, 1, 33, 4097, 1 << 20])
@pytest.mark.parametrize("kind", ["bits", "none"])
def test_alpha_dropout_matches_numpy(lib, dtype, n, kind):
    x = np.random.default_rng(n).standard_normal(n).astype(dtype)
    dy = np.random.default_rng(n + 1).standard_normal(n).astype(dtype)
    assert_pair_matches_numpy(lib, lambda a: rc.alpha_dropout(a, 0.2, generator=rc.Generator(7), mask=kind),
                              rc.alpha_dropout_backward, x, dy)
