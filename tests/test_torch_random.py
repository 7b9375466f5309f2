"""Where regcore.torch's masks come from (python/regcore/torch/_rng.py): tied to torch's default
generator (manual_seed reproduces, successive calls differ, get/set_rng_state and checkpoint
replay), a regcore.Generator (exactly the array API's masks and offsets), a torch.Generator;
p = 0, eval mode and std = 0 touch no generator; the same mask for CPU and CUDA tensors."""
from __future__ import annotations

import numpy as np
import pytest

from _torch_helpers import rct, requires_cuda, torch

import regcore as rc

F = rct.nn.functional


def _x(*shape, dtype=torch.float32):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(0), dtype=dtype)


def test_manual_seed_reproduces_and_calls_differ():
    x = _x(64, 33)
    torch.manual_seed(123)
    a, b = F.dropout(x, 0.5), F.dropout(x, 0.5)
    torch.manual_seed(123)
    a2, b2 = F.dropout(x, 0.5), F.dropout(x, 0.5)
    assert torch.equal(a, a2) and torch.equal(b, b2)
    assert not torch.equal(a, b)
    torch.manual_seed(124)
    assert not torch.equal(F.dropout(x, 0.5), a)


def test_draws_consume_torch_generator_like_one_random_call():
    torch.manual_seed(7)
    F.dropout(_x(10), 0.5)
    after_ours = torch.rand(3)
    torch.manual_seed(7)
    torch.empty((), dtype=torch.int64).random_()
    assert torch.equal(torch.rand(3), after_ours)


def test_rng_state_restore_and_checkpoint_replay():
    x = _x(16, 20).requires_grad_()
    state = torch.get_rng_state()
    a = F.dropout(x, 0.3)
    torch.set_rng_state(state)
    assert torch.equal(F.dropout(x, 0.3), a)

    import torch.utils.checkpoint as cp
    lin = torch.nn.Linear(20, 20)
    torch.manual_seed(1)
    plain = F.dropout(lin(x), 0.5).sum()
    g_plain = torch.autograd.grad(plain, lin.weight)[0]
    torch.manual_seed(1)
    ckpt = cp.checkpoint(lambda t: F.dropout(lin(t), 0.5), x, use_reentrant=False).sum()
    g_ckpt = torch.autograd.grad(ckpt, lin.weight)[0]
    assert torch.equal(plain, ckpt) and torch.equal(g_plain, g_ckpt)


@pytest.mark.parametrize("mask", ["bits", "none"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_regcore_generator_gives_the_array_api_masks(mask, dtype):
    x = _x(37, 29, dtype=dtype)
    g_t, g_a = rc.Generator(99), rc.Generator(99)
    g_t.reserve(3), g_a.reserve(3)
    for _ in range(2):   # successive calls: the same offsets as the array API's
        y = F.dropout(x.requires_grad_(), 0.3, mask=mask, generator=g_t)
        ref, m = rc.dropout(x.detach().numpy(), 0.3, generator=g_a)
        assert g_t.offset == g_a.offset
        np.testing.assert_array_equal(y.detach().numpy(), ref)
        (dx,) = torch.autograd.grad(y, x, torch.ones_like(y))
        np.testing.assert_array_equal(dx.numpy(), rc.dropout_backward(np.ones(x.shape, x.detach().numpy().dtype), m))
        x = x.detach()


def test_torch_generator_is_drawn_from():
    x = _x(50)
    a = F.dropout(x, 0.5, generator=torch.Generator().manual_seed(4))
    b = F.dropout(x, 0.5, generator=torch.Generator().manual_seed(4))
    assert torch.equal(a, b)
    g = torch.Generator().manual_seed(4)
    assert not torch.equal(F.dropout(x, 0.5, generator=g), F.dropout(x, 0.5, generator=g))


def test_torch_generators_that_take_no_weak_reference_are_drawn_from(monkeypatch):
    """Some torch releases (2.8) cannot weakly reference a torch.Generator: the handle table then
    keeps the generator itself, and draws behave as with weak references."""
    from regcore.torch import _rng

    def no_weak_reference(obj, *callback):
        if isinstance(obj, torch.Generator):
            raise TypeError("cannot create weak reference to 'torch._C.Generator' object")
        return real_ref(obj, *callback)

    real_ref = _rng.weakref.ref
    monkeypatch.setattr(_rng.weakref, "ref", no_weak_reference)
    monkeypatch.setattr(_rng, "_handles", _rng.weakref.WeakKeyDictionary())
    monkeypatch.setattr(_rng, "_kept", {})
    g = torch.Generator().manual_seed(4)
    with pytest.raises(TypeError):
        _rng._handles[g] = 1   # the dictionary itself refuses it too (it makes a weak reference)
    test_torch_generator_is_drawn_from()
    assert _rng.handle(g) == _rng.handle(g) and id(g) in _rng._kept


def test_modules_draw_from_their_generator():
    x = _x(8, 8)
    d1, d2 = rct.nn.Dropout(0.5, generator=rc.Generator(3)), rct.nn.Dropout(0.5, generator=rc.Generator(3))
    assert torch.equal(d1(x), d2(x))
    assert d1.generator.offset == 16 and "generator" not in d1.state_dict()


def test_p0_eval_and_std0_touch_no_generator():
    x = _x(6, 7)
    g = rc.Generator(1)
    torch.manual_seed(0)
    state = torch.get_rng_state()
    assert F.dropout(x, 0.0, generator=g) is x
    assert F.dropout(x, 0.7, training=False, generator=g) is x
    d = rct.nn.Dropout(0.4).eval()
    assert d(x) is x
    assert F.gaussian_noise(x, 0.0) is x and rct.nn.GaussianNoise(0.3).eval()(x) is x
    y = F.bias_act_dropout(x, torch.zeros(7), "relu", 0.0, generator=g)
    assert torch.equal(y, torch.relu(x))
    F.bias_act_dropout(x, torch.zeros(7), "relu", 0.5, training=False)
    assert g.offset == 0 and torch.equal(torch.get_rng_state(), state)


def test_p1_drops_everything_without_a_draw():
    g = rc.Generator(2)
    x = _x(5, 5).requires_grad_()
    y = F.dropout(x, 1.0, generator=g)
    assert torch.count_nonzero(y) == 0 and g.offset == 0
    (dx,) = torch.autograd.grad(y.sum(), x)
    assert torch.count_nonzero(dx) == 0


def test_bits_and_none_masks_agree():
    x = _x(33, 65).requires_grad_()
    outs = []
    for mask in ("bits", "none"):
        y = F.dropout(x, 0.4, mask=mask, generator=rc.Generator(8))
        outs.append((y, torch.autograd.grad(y, x, torch.ones_like(y))[0]))
    assert torch.equal(outs[0][0], outs[1][0]) and torch.equal(outs[0][1], outs[1][1])


def test_keep_rate_and_scale():
    x = torch.ones(200_000)
    y = F.dropout(x, 0.3, generator=rc.Generator(5))
    kept = (y != 0).double().mean().item()
    assert abs(kept - 0.7) < 5 * (0.3 * 0.7 / x.numel()) ** 0.5   # 5 sigma, fixed seed
    assert torch.allclose(y[y != 0], torch.full((1,), 1 / 0.7))


def test_gaussian_noise_is_the_array_api_draw():
    x = _x(10, 10)
    y = F.gaussian_noise(x, 0.25, mode="multiplicative", generator=rc.Generator(6))
    ref = rc.gaussian_noise(x.numpy(), 0.25, mode="multiplicative", generator=rc.Generator(6))
    np.testing.assert_array_equal(y.numpy(), ref)


def test_inplace_dropout():
    x = _x(9, 9)
    ref = F.dropout(x, 0.5, generator=rc.Generator(1))
    y = x.clone()
    out = F.dropout(y, 0.5, inplace=True, generator=rc.Generator(1))
    assert out is y and torch.equal(y, ref)
    h = _x(9, 9).requires_grad_() * 1.0      # a non-leaf: autograd records the in-place result
    F.dropout(h, 0.5, inplace=True, generator=rc.Generator(1)).sum().backward()


@pytest.mark.cuda
@requires_cuda
@pytest.mark.parametrize("mask", ["bits", "none"])
def test_cuda_masks_equal_cpu_masks(mask):
    x = _x(257, 31).requires_grad_()
    torch.manual_seed(5)
    cpu = [F.dropout(x, 0.3, mask=mask) for _ in range(2)]
    torch.manual_seed(5)
    xg = x.detach().cuda().requires_grad_()
    gpu = [F.dropout(xg, 0.3, mask=mask) for _ in range(2)]
    for a, b in zip(cpu, gpu):
        assert torch.equal(a, b.cpu())
        da = torch.autograd.grad(a.sum(), x)[0]
        db = torch.autograd.grad(b.sum(), xg)[0]
        assert torch.equal(da, db.cpu())


@pytest.mark.cuda
@requires_cuda
def test_cuda_graph_capture_is_refused():
    x = torch.randn(64, device="cuda")
    g = torch.cuda.CUDAGraph()
    with pytest.raises(RuntimeError, match="CUDA-graph capture"):
        with torch.cuda.graph(g):
            F.dropout(x, 0.5)
