"""NaN / inf in the data of batch norm follow PyTorch: the affected channel's outputs, running
statistics and gradients are NaN, the other channels are unaffected, and no argument error is
raised (there is no argument at fault). Across backends the NaN positions agree and every other
value has the same bits; the sign and payload of a NaN are not compared (docs/batchnorm.md: IEEE
754 leaves them unspecified when two NaN operands meet, and x86 FMA forms pick differently)."""
from __future__ import annotations

import numpy as np
import pytest

import regcore as rc
from conftest import BACKENDS
from _switches import cpu_backend

torch = pytest.importorskip("torch")


def _data(bad=np.nan, dtype=np.float32):
    x = np.random.default_rng(3).standard_normal((4, 3, 5)).astype(dtype)
    x[1, 0, 2] = bad
    return x


def _torch_forward(x):
    rm, rv = torch.zeros(3, dtype=torch.from_numpy(x).dtype), torch.ones(3, dtype=torch.from_numpy(x).dtype)
    y = torch.nn.functional.batch_norm(torch.from_numpy(x), rm, rv, training=True, momentum=0.1, eps=1e-5)
    return y.numpy(), rm.numpy(), rv.numpy()


def _same_nan_pattern(a, b):
    np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
    np.testing.assert_array_equal(np.isposinf(a), np.isposinf(b))
    np.testing.assert_array_equal(np.isneginf(a), np.isneginf(b))


@pytest.mark.parametrize("be", BACKENDS)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_forward_nan_stays_in_its_channel_like_torch(be, bad, dtype):
    x = _data(bad, dtype)
    rm, rv = np.zeros(3, dtype), np.ones(3, dtype)
    with cpu_backend(be):
        y, saved = rc.batch_norm(x, running_mean=rm, running_var=rv, training=True)
    ty, trm, trv = _torch_forward(x)
    _same_nan_pattern(y, ty)
    assert np.isnan(y[:, 0]).all() and np.isfinite(y[:, 1:]).all()
    np.testing.assert_allclose(y[:, 1:], ty[:, 1:], rtol=1e-4, atol=1e-5)
    # running statistics as torch leaves them: NaN/inf in channel 0, the others updated
    _same_nan_pattern(rm, trm)
    _same_nan_pattern(rv, trv)
    np.testing.assert_allclose(rm[1:], trm[1:], rtol=1e-5)
    np.testing.assert_allclose(rv[1:], trv[1:], rtol=1e-5)


@pytest.mark.parametrize("be", BACKENDS)
def test_backward_nan_in_dy_stays_in_its_channel(be):
    x = _data(0.5)
    dy = np.ones_like(x)
    dy[2, 0, 1] = np.nan
    with cpu_backend(be):
        _, saved = rc.batch_norm(x, np.ones(3, np.float32), np.zeros(3, np.float32))
        dx, dg, db = rc.batch_norm_backward(dy, x, np.ones(3, np.float32), saved)
    assert np.isnan(dx[:, 0]).all() and np.isfinite(dx[:, 1:]).all()
    assert np.isnan(dg[0]) and np.isnan(db[0]) and np.isfinite(dg[1:]).all() and np.isfinite(db[1:]).all()
    tx = torch.from_numpy(x).requires_grad_()
    tg, tb = torch.ones(3, requires_grad=True), torch.zeros(3, requires_grad=True)
    torch.nn.functional.batch_norm(tx, None, None, tg, tb, training=True).backward(torch.from_numpy(dy))
    _same_nan_pattern(dx, tx.grad.numpy())
    np.testing.assert_allclose(dx[:, 1:], tx.grad.numpy()[:, 1:], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("be", BACKENDS)
def test_split_phases_take_nan_statistics(be):
    # a rank whose data held a NaN: the merged statistics carry it to every rank's apply phase
    x = _data()
    good = _data(0.25)
    with cpu_backend(be):
        merged = rc.merge_stats([rc.batch_norm_stats(x), rc.batch_norm_stats(good)])
        assert np.isnan(merged[1:, 0]).all() and np.isfinite(merged[:, 1:]).all()
        y, _ = rc.batch_norm_apply(good, merged)
    assert np.isnan(y[:, 0]).all() and np.isfinite(y[:, 1:]).all()
    # what no data can produce is still refused, naming stats
    bad = rc.batch_norm_stats(good)
    bad[2, 1] = -1.0
    with pytest.raises(ValueError, match=r"^stats: "):
        rc.batch_norm_apply(good, bad)
    bad = rc.batch_norm_stats(good)
    bad[0, 1] = np.inf
    with pytest.raises(ValueError, match=r"^stats: "):
        rc.batch_norm_apply(good, bad)


@pytest.mark.parametrize("bad", [np.nan, -np.nan, np.inf])
def test_nan_results_have_the_same_bits_on_every_backend(bad):
    x = _data(bad)
    results = {}
    for be in BACKENDS:
        rm, rv = np.zeros(3, np.float32), np.ones(3, np.float32)
        with cpu_backend(be):
            y, saved = rc.batch_norm(x, running_mean=rm, running_var=rv, activation="relu")
            dx, _, _ = rc.batch_norm_backward(np.ones_like(x), x, None, saved)
        results[be] = (y, rm, rv, dx)
    ref = results[BACKENDS[0]]
    for be, got in results.items():
        for a, b in zip(ref, got):
            # NaN-aware: the NaN positions agree, every other value agrees bit for bit
            np.testing.assert_array_equal(np.isnan(a), np.isnan(b), err_msg=be)
            keep = ~np.isnan(a)
            np.testing.assert_array_equal(a[keep].view(np.uint8 if a.dtype.itemsize == 1 else f"u{a.dtype.itemsize}"),
                                          b[keep].view(f"u{b.dtype.itemsize}"), err_msg=be)
