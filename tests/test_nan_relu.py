"""relu keeps NaN (and -0), as PyTorch's relu does: in bias_act_dropout and in batch norm's fused
ReLU, forward and backward, on every CPU backend (CUDA: the same core/ functors, executed by the
CUDA-on-CPU harness and tests/test_*_cuda.py on a GPU).

PyTorch: relu(z) = clamp_min(z, 0) is 0 where z < 0 and z itself elsewhere (NaN -> NaN, -0 -> -0);
its gradient (threshold_backward) is 0 where z <= 0 and passes dy elsewhere, NaN included.
The oracle below is written from that definition in float64."""
from __future__ import annotations

import numpy as np
import pytest

import regcore as rc
from _bits import assert_same_bits_nan_aware
from conftest import BACKENDS
from _switches import cpu_backend

SPECIALS = [np.nan, -np.nan, -0.0, 0.0, -1.5, 2.5, np.inf, -np.inf, 1e-30, -1e-30]


def relu64(z):
    return np.where(z < 0, 0.0, z), np.where(z <= 0, 0.0, 1.0)


def sign_bits(a):
    return np.signbit(np.asarray(a))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bias_act_dropout_relu_keeps_nan_and_negative_zero(backend, dtype):
    z = np.array(SPECIALS * 7, dtype).reshape(-1, 7)       # 70 elements: words span rows
    dy = np.linspace(0.5, 3.0, z.size).astype(dtype).reshape(z.shape)
    with cpu_backend(backend):
        # a bias of -0.0: z = x + (-0.0) is x bit for bit, -0 included (x + 0.0 would make it +0)
        y, st = rc.bias_act_dropout(z, np.full(7, -0.0, dtype), "relu", 0.0, generator=rc.Generator(3))
        dx, db = rc.bias_act_dropout_backward(dy, st)
    f, d = relu64(z.astype(np.float64))
    np.testing.assert_array_equal(y, f.astype(dtype))          # NaN where z is NaN
    nonnan = ~np.isnan(z)
    np.testing.assert_array_equal(sign_bits(y)[nonnan], sign_bits(f)[nonnan])   # relu(-0) = -0
    np.testing.assert_array_equal(dx, (dy * d).astype(dtype))    # the gradient passes at NaN
    assert np.isnan(y[np.isnan(z)]).all() and np.isfinite(dx).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bias_act_dropout_relu_matches_torch_on_specials(dtype):
    torch = pytest.importorskip("torch")
    z = np.array(SPECIALS * 3, dtype).reshape(-1, 5)
    y, st = rc.bias_act_dropout(z, np.full(5, -0.0, dtype), "relu", 0.0, generator=rc.Generator(3))
    dx, _ = rc.bias_act_dropout_backward(np.ones_like(z), st)
    t = torch.from_numpy(z.copy()).requires_grad_(True)
    ty = torch.relu(t)
    ty.backward(torch.ones_like(ty))
    np.testing.assert_array_equal(y, ty.detach().numpy())
    np.testing.assert_array_equal(np.signbit(y), np.signbit(ty.detach().numpy()))
    np.testing.assert_array_equal(dx, t.grad.numpy())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bias_act_dropout_relu_with_dropout_keeps_nan_in_kept_slots(dtype):
    """A kept NaN stays NaN (times the scale); a dropped slot is +0 (docs/dropout.md: a select)."""
    z = np.full((64, 33), np.nan, dtype)
    y, st = rc.bias_act_dropout(z, np.zeros(33, dtype), "relu", 0.5, generator=rc.Generator(8))
    keep = st.mask.to_numpy()
    assert np.isnan(y[keep]).all()
    assert (y[~keep] == 0).all() and not np.signbit(y[~keep]).any()


def _bn_inference(x, gamma, beta, rm, rv, relu):
    return rc.batch_norm(x, gamma, beta, rm, rv, training=False, activation="relu" if relu else None)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,axis", [((3, 4, 5, 6), 1), ((7, 9), -1), ((2, 5, 4, 8), -1)])
def test_batch_norm_fused_relu_keeps_nan_forward_and_backward(backend, dtype, shape, axis):
    """Inference with running statistics: y = relu(gamma (x - rm) / sqrt(rv + eps) + beta) per
    element, so a NaN element gives NaN there only. The backward's ReLU mask passes dy where z is
    NaN (z <= 0 is false), as PyTorch's threshold_backward does; dx at a NaN element is NaN (one
    formula dx = ka dy' + kb xc + kc for both modes, kb = 0 here: 0 * NaN; PyTorch's inference
    formula does not read x — docs/batchnorm.md), every other element is gamma rstd dy'."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal(shape).astype(dtype)
    C = shape[axis]
    flat = x.reshape(-1)
    flat[::7] = np.nan
    flat[3::11] = -0.0
    gamma = rng.uniform(0.5, 2.0, C).astype(dtype)
    beta = np.zeros(C, dtype)
    rm = np.zeros(C, dtype)
    rv = np.ones(C, dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    with cpu_backend(backend):
        y, saved = rc.batch_norm(x, gamma, beta, rm, rv, training=False, axis=axis, activation="relu")
        dx, _, _ = rc.batch_norm_backward(dy, x, gamma, saved)
    bshape = [1] * len(shape)
    bshape[axis] = C
    g64 = gamma.astype(np.float64).reshape(bshape)
    rstd = 1.0 / np.sqrt(1.0 + 1e-5)
    z = x.astype(np.float64) * g64 * rstd
    f, d = relu64(z)
    np.testing.assert_allclose(y, f, rtol=1e-6, atol=0)
    assert np.array_equal(np.isnan(y), np.isnan(x))
    ok = ~np.isnan(x)
    np.testing.assert_allclose(dx[ok], (dy * d * g64 * rstd)[ok], rtol=1e-6, atol=1e-7)
    assert np.isnan(dx[~ok]).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_batch_norm_fused_relu_nan_bits_agree_across_backends(dtype):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((4, 6, 9)).astype(dtype)
    x.reshape(-1)[::5] = np.nan
    x.reshape(-1)[1::5] = -np.nan
    C = 6
    args = (np.ones(C, dtype), np.zeros(C, dtype), np.zeros(C, dtype), np.ones(C, dtype))
    dy = rng.standard_normal(x.shape).astype(dtype)
    outs = []
    for b in BACKENDS:
        with cpu_backend(b):
            y, saved = _bn_inference(x, *args, relu=True)
            dx, _, _ = rc.batch_norm_backward(dy, x, args[0], saved)
            outs.append((y, dx))
    for y, dx in outs[1:]:
        assert_same_bits_nan_aware(y, outs[0][0], "y")
        assert_same_bits_nan_aware(dx, outs[0][1], "dx")
