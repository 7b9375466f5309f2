"""The CPU operator kernels that check an argument signature once (regcore/torch/_fastpath.py):
the second call of a signature runs the array API's trusted entry points, which must give the
checked path's very bits, and a call that the checks refuse is refused on every call, whatever
signatures passed before, with the same error and nothing written."""
from __future__ import annotations

import numpy as np
import pytest

from _torch_helpers import torch

ops = torch.ops.regcore


def _x(*shape, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=dtype)


def _fresh_kernel_results(call):
    """call() twice: the second call of a signature always runs the trusted path; the first runs
    the checked one when the signature is new (the shapes here are used by no other test file)."""
    first = call()
    second = call()
    return first, second


def _same(a, b):
    for u, v in zip(a, b):
        assert u.dtype == v.dtype and u.shape == v.shape
        assert torch.equal(u, v) or (u.numel() == 0 and v.numel() == 0)


HALF = [torch.bfloat16, torch.float16]


def _params(dtype):
    """The parameters' dtype for data of dtype: float32 for 16-bit data (the mixed form)."""
    return torch.float32 if dtype in HALF else dtype


def _bn_args(dtype, training, C=7, param_dtype=None):
    pd = param_dtype or dtype
    x = _x(3, C, 5, 2, dtype=dtype)
    w, b = _x(C, seed=1, dtype=pd), _x(C, seed=2, dtype=pd)
    rm, rv = _x(C, seed=3, dtype=pd), _x(C, seed=4, dtype=pd).abs() + 0.5
    return x, w, b, rm, rv, training, 0.25, 1e-4, 1


# 16-bit data with float32 parameters, and all in bfloat16 (bfloat16 tensors reach the trusted
# path through an int16 view seen as ml_dtypes' bfloat16)
@pytest.mark.parametrize("dtype, param_dtype", [(torch.float32, None), (torch.float64, None),
                                                (torch.bfloat16, torch.float32), (torch.float16, torch.float32),
                                                (torch.bfloat16, None)])
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_trusted_path_gives_the_checked_bits(dtype, param_dtype, training, monkeypatch):
    import regcore.batchnorm as bn

    calls = []
    trusted = bn.batch_norm_trusted
    monkeypatch.setattr(bn, "batch_norm_trusted", lambda *a: calls.append(1) or trusted(*a))
    args = _bn_args(dtype, training, param_dtype=param_dtype)
    first, second = _fresh_kernel_results(lambda: ops.batch_norm(*args))
    assert calls == [1]   # the second call, and only it, took the trusted path
    _same(first, second)
    y, mean, var = first[:3]
    dy = _x(*y.shape, seed=9, dtype=dtype)
    x, w, b = args[:3]
    bw = lambda: ops.batch_norm_backward(dy, x, w, b, mean, var, training, 0.0, 1e-4, 1)   # noqa: E731
    _same(*_fresh_kernel_results(bw))


@pytest.mark.parametrize("dtype", [torch.float64, *HALF])
def test_norm_trusted_paths_give_the_checked_bits(dtype):
    pd = _params(dtype)
    x = _x(4, 6, 3, 5, dtype=dtype)
    w6, b6 = _x(6, seed=1, dtype=pd), _x(6, seed=2, dtype=pd)
    wl, bl = _x(3, 5, seed=1, dtype=pd), _x(3, 5, seed=2, dtype=pd)
    dy = _x(*x.shape, seed=5, dtype=dtype)
    from regcore.torch import _fastpath   # the 16-bit calls are cached (they reach the trusted path)
    assert _fastpath._views_and_signature((x, wl, bl, 2, 1e-5), (), {}) is not None
    y, mean, var = _fresh_kernel_results(lambda: ops.layer_norm(x, wl, bl, 2, 1e-5))[0]
    _same(*_fresh_kernel_results(lambda: ops.layer_norm(x, wl, bl, 2, 1e-5)))
    _same(*_fresh_kernel_results(lambda: ops.layer_norm_backward(dy, x, wl, bl, mean, var, 2, 1e-5)))
    y, mean, var = ops.group_norm(x, 3, w6, b6, 1e-5)
    _same(*_fresh_kernel_results(lambda: ops.group_norm(x, 3, w6, b6, 1e-5)))
    _same(*_fresh_kernel_results(lambda: ops.group_norm_backward(dy, x, w6, b6, mean, var, 3, 1e-5)))
    rm, rv = torch.zeros(6, dtype=pd), torch.ones(6, dtype=pd)
    out = ops.instance_norm(x, w6, b6, rm, rv, True, 0.5, 1e-5)
    _same(*_fresh_kernel_results(lambda: ops.instance_norm(x, w6, b6, rm, rv, True, 0.5, 1e-5)))
    _same(*_fresh_kernel_results(
        lambda: ops.instance_norm_backward(dy, x, w6, b6, out[1], out[2], True, 1e-5)))


def test_a_refused_call_is_refused_after_good_calls():
    x, w, b, rm, rv = _bn_args(torch.float32, False, C=5)[:5]
    for _ in range(2):
        ops.batch_norm(x, w, b, rm, rv, False, 0.1, 1e-5, 1)
    before = rm.clone()
    with pytest.raises(ValueError, match="gamma"):
        ops.batch_norm(x, w[:4], b, rm, rv, False, 0.1, 1e-5, 1)
    with pytest.raises(TypeError, match="gamma"):
        ops.batch_norm(x, w.double(), b, rm, rv, False, 0.1, 1e-5, 1)
    with pytest.raises(ValueError, match="eps"):
        ops.batch_norm(x, w, b, rm, rv, False, 0.1, -1.0, 1)
    with pytest.raises(ValueError, match="momentum"):
        ops.batch_norm(x, w, b, rm, rv, True, 1.5, 1e-5, 1)
    with pytest.raises(ValueError, match="contiguous"):
        ops.batch_norm(x.transpose(2, 3), w, b, rm, rv, False, 0.1, 1e-5, 1)
    # the same tensor as both running statistics: same shapes, dtypes and strides as the good
    # calls, refused for sharing memory
    with pytest.raises(ValueError, match="running_mean and running_var|running_var and running_mean"):
        ops.batch_norm(x, w, b, rm, rm, False, 0.1, 1e-5, 1)
    assert torch.equal(rm, before)


def test_changing_momentum_keeps_the_trusted_path_exact():
    """BatchNorm with momentum=None passes a new factor every step (1/(n+1)): the running
    statistics after several steps equal torch's (the factor is the call's, not a cached one)."""
    from _torch_helpers import rct

    ours = rct.nn.BatchNorm2d(3, momentum=None, dtype=torch.float64)
    ref = torch.nn.BatchNorm2d(3, momentum=None, dtype=torch.float64)
    for step in range(4):
        x = _x(2, 3, 4, 4, seed=step, dtype=torch.float64)
        ours(x)
        ref(x)
    np.testing.assert_allclose(ours.running_mean.numpy(), ref.running_mean.numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(ours.running_var.numpy(), ref.running_var.numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("dtype", [torch.float64, *HALF])
@pytest.mark.parametrize("store_mask", [True, False])
@pytest.mark.parametrize("vanilla", [True, False])
def test_dropout_trusted_path_gives_the_checked_bits(store_mask, vanilla, dtype):
    import regcore as rc

    x = _x(5, 7, 3, dtype=dtype)
    so = torch.tensor([123, 40], dtype=torch.int64)
    (y1, w1), (y2, w2) = _fresh_kernel_results(lambda: ops.dropout(x, so, 0.3, vanilla, store_mask))
    _same((y1, w1), (y2, w2))
    # and the array API's own result for that (seed, offset)
    ref, _ = rc.dropout(x, 0.3, generator=rc.Generator.from_state({"seed": 123, "offset": 40}),
                        mode="vanilla" if vanilla else "inverted", mask="bits" if store_mask else "none")
    assert torch.equal(y2, ref)
    dy = _x(5, 7, 3, seed=3, dtype=dtype)
    _same(*_fresh_kernel_results(lambda: (ops.dropout_backward(dy, w1, so, 0.3, vanilla),)))
    noise = _fresh_kernel_results(lambda: (ops.gaussian_noise(x, so, 0.2, True),))
    _same(*noise)


@pytest.mark.parametrize("dtype", [torch.float64, *HALF])
@pytest.mark.parametrize("residual", [False, True])
def test_bias_act_dropout_trusted_path_gives_the_checked_bits(residual, dtype):
    x = _x(6, 9, dtype=dtype)
    b = _x(9, seed=1, dtype=dtype)
    r = _x(6, 9, seed=2, dtype=dtype) if residual else None
    so = torch.tensor([77, 5], dtype=torch.int64)
    (y, w), second = _fresh_kernel_results(lambda: ops.bias_act_dropout(x, b, r, so, "gelu", 0.25, True))
    _same((y, w), second)
    dy = _x(6, 9, seed=3, dtype=dtype)
    _same(*_fresh_kernel_results(lambda: ops.bias_act_dropout_backward(dy, x, b, w, so, "gelu", 0.25, residual)))
    with pytest.raises(ValueError, match="bias"):
        ops.bias_act_dropout(x, b[:8], r, so, "gelu", 0.25, True)


@pytest.mark.parametrize("dtype", [torch.float64, *HALF])
@pytest.mark.parametrize("store_mask", [True, False])
@pytest.mark.parametrize("channels_last, alpha, vanilla", [(False, False, False), (True, False, True),
                                                           (False, True, False), (True, True, False)])
def test_channel_and_alpha_dropout_trusted_paths_give_the_checked_bits(dtype, store_mask, channels_last, alpha,
                                                                        vanilla):
    import regcore as rc

    x = _x(3, 5, 7, 6, dtype=dtype)   # (channels last: C = 6)
    so = torch.tensor([31, 12], dtype=torch.int64)
    args = (0.4, vanilla, alpha, channels_last, store_mask)
    (y, w), second = _fresh_kernel_results(lambda: ops.channel_dropout(x, so, *args))
    _same((y, w), second)
    at = rc.Generator.from_state({"seed": 31, "offset": 12})
    layout = "channels_last" if channels_last else "channels_first"
    kind = "bits" if store_mask else "none"
    ref = (rc.feature_alpha_dropout(x, 0.4, layout=layout, generator=at, mask=kind)[0] if alpha else
           rc.channel_dropout(x, 0.4, layout=layout, generator=at, mask=kind,
                              mode="vanilla" if vanilla else "inverted")[0])
    assert torch.equal(second[0], ref)
    dy = _x(3, 5, 7, 6, seed=4, dtype=dtype)
    _same(*_fresh_kernel_results(
        lambda: (ops.channel_dropout_backward(dy, w, so, 0.4, vanilla, alpha, channels_last),)))
    (ya, wa), second = _fresh_kernel_results(lambda: ops.alpha_dropout(x, so, 0.15, store_mask))
    _same((ya, wa), second)
    assert torch.equal(second[0], rc.alpha_dropout(x, 0.15, generator=rc.Generator.from_state(
        {"seed": 31, "offset": 12}), mask=kind)[0])
    _same(*_fresh_kernel_results(lambda: (ops.alpha_dropout_backward(dy, wa, so, 0.15),)))
