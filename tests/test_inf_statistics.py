"""An infinite value in a normalized set makes the set's mean that infinity (its M2 NaN), as the
float64 mean, the NumPy backend and PyTorch give, wherever the value sits: also as the first value
of the set or of one of the native kernels' pieces (the value their shifted sums subtract), and in
a part merged with finite parts (merge_stats, the pieces of a long set, the rows of a thread)."""
from __future__ import annotations

import numpy as np
import pytest

import regcore as rc
from conftest import BACKENDS
from _switches import cpu_backend, num_threads

PIECE = 1 << 16   # the native statistics' piece length (csrc/cpu/batchnorm_table.h, kRowsPiece)


def _check(mean, m2, bad_sets, sign):
    mean, m2 = np.asarray(mean), np.asarray(m2)
    for i in range(mean.size):
        if i in bad_sets:
            assert mean[i] == sign * np.inf, (i, mean[i])
            assert np.isnan(m2[i])
        else:
            assert np.isfinite(mean[i]) and np.isfinite(m2[i])


def _data(shape, dtype, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("be", BACKENDS)
@pytest.mark.parametrize("sign", [1, -1])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_an_infinite_first_value_gives_an_infinite_mean(dtype, sign, be, threads):
    inf = sign * np.inf
    with cpu_backend(be), num_threads(threads):
        x = _data((4, 3, 5), dtype)
        x[0, 1, 0] = inf                                  # channel 1's first value
        st = rc.batch_norm_stats(x)
        _check(st[1], st[2], {1}, sign)
        for C in (3, 64):                                 # channels-last: the scalar tail and the vector blocks
            xl = _data((6, C), dtype)
            xl[0, 2] = inf                                # row 0 is the shift of every channel
            st = rc.batch_norm_stats(xl, axis=-1)
            _check(st[1], st[2], {2}, sign)
        x = _data((4, 6), dtype)
        x[2, 0] = inf
        _, s = rc.layer_norm(x, None, None)
        _check(s.mean, s.var, {2}, sign)
        x = _data((2, 4, 3), dtype)
        x[1, 2, 0] = inf                                  # the first value of sample 1's group 1
        _, s = rc.group_norm(x, 2, None, None)
        _check(s.mean, s.var, {3}, sign)
        _, s = rc.instance_norm(x)
        _check(s.mean, s.var, {6}, sign)


@pytest.mark.parametrize("be", BACKENDS)
def test_an_infinite_value_merged_with_finite_parts(be):
    with cpu_backend(be):
        # a set longer than one piece, the inf starting the second piece or inside the first: the
        # pieces' moments merge
        for at in (PIECE, 5):
            x = _data((1, 2, PIECE + 100), np.float32)
            x[0, 0, at] = np.inf
            st = rc.batch_norm_stats(x)
            _check(st[1], st[2], {0}, 1)
            _, s = rc.layer_norm(x.reshape(2, -1), None, None)
            _check(s.mean, s.var, {0}, 1)
        # merge_stats: one rank's channel holds the inf, the other rank's is finite
        a, b = _data((4, 3, 5), np.float32, 1), _data((4, 3, 5), np.float32, 2)
        a[3, 0, 4] = -np.inf
        for parts in ([b, a], [a, b]):                  # the inf in the later part, then in the earlier one
            merged = rc.merge_stats([rc.batch_norm_stats(p) for p in parts])
            _check(merged[1], merged[2], {0}, -1)
            both = rc.batch_norm_stats(np.concatenate(parts))
            np.testing.assert_array_equal(np.isnan(both), np.isnan(merged))
            assert both[1, 0] == merged[1, 0] == -np.inf
