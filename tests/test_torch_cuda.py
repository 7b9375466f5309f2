"""regcore.torch on CUDA tensors (marked `cuda`, skipped without a GPU and a CUDA build): every
operator passes opcheck on the device; modules give the same results on CUDA as on the CPU
(dropout masks and noise bit for bit, norms within tolerance); the optimizer and the
initializers agree with their CPU runs."""
from __future__ import annotations

import pytest

from _torch_helpers import rct, requires_cuda, torch

import regcore as rc

pytestmark = [pytest.mark.cuda, requires_cuda]


def _to_cuda(a):
    if isinstance(a, torch.Tensor) and a.dtype != torch.int64:
        return a.detach().cuda().requires_grad_(a.requires_grad)
    if isinstance(a, list):
        return [_to_cuda(t) for t in a]
    return a   # scalars, and the int64 (seed, offset) / token tensors, which live on the host


def _cases():
    import test_torch_ops
    return test_torch_ops.CASES


@pytest.mark.parametrize("name", sorted(n for n in _cases() if n != "seed_offset"))
def test_opcheck_on_cuda(name):
    op, args = _cases()[name]
    torch.library.opcheck(op, tuple(_to_cuda(a) for a in args))


@pytest.mark.parametrize("make,shape", [
    (lambda: rct.nn.Dropout(0.3), (33, 65)), (lambda: rct.nn.Dropout(0.3, mask="none"), (33, 65)),
    (lambda: rct.nn.GaussianNoise(0.2, mode="multiplicative"), (17, 9)),
    (lambda: rct.nn.BiasActDropout(24, "gelu", 0.2), (16, 24)),
])
def test_random_modules_same_bits_on_cuda(make, shape):
    m = make()
    x = torch.randn(*shape)
    outs = []
    for device in ("cpu", "cuda"):
        m.to(device)
        xi = x.to(device).requires_grad_()
        torch.manual_seed(3)
        y = m(xi)
        (dx,) = torch.autograd.grad(y, xi, torch.ones_like(y))
        outs.append((y.detach().cpu(), dx.cpu()))
    assert torch.equal(outs[0][0], outs[1][0]) and torch.equal(outs[0][1], outs[1][1])


@pytest.mark.parametrize("make,shape", [
    (lambda: rct.nn.BatchNorm2d(4), (8, 4, 5, 5)), (lambda: rct.nn.BatchNorm1d(4), (8, 4)),
    (lambda: rct.nn.LayerNorm(5), (8, 4, 5)), (lambda: rct.nn.GroupNorm(2, 4), (8, 4, 5)),
    (lambda: rct.nn.InstanceNorm2d(4, affine=True, track_running_stats=True), (8, 4, 5, 5)),
])
@pytest.mark.parametrize("channels_last", [False, True])
def test_norm_modules_on_cuda(make, shape, channels_last):
    if channels_last and len(shape) != 4:
        pytest.skip("channels_last: 4-d inputs")
    x = torch.randn(*shape, dtype=torch.float64)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    cpu, gpu = make().double(), make().double().cuda()
    for training in (True, False):
        cpu.train(training), gpu.train(training)
        xc, xg = x.clone().requires_grad_(), x.cuda().requires_grad_()
        yc, yg = cpu(xc), gpu(xg)
        torch.testing.assert_close(yg.cpu(), yc, rtol=1e-10, atol=1e-10)
        gc = torch.autograd.grad(yc, [xc, *cpu.parameters()], torch.ones_like(yc))
        gg = torch.autograd.grad(yg, [xg, *gpu.parameters()], torch.ones_like(yg))
        for a, b in zip(gc, gg):
            torch.testing.assert_close(b.cpu(), a, rtol=1e-9, atol=1e-9)
    for a, b in zip(cpu.buffers(), gpu.buffers()):
        torch.testing.assert_close(b.cpu(), a, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("make", [lambda: rct.nn.LayerNorm(6), lambda: rct.nn.GroupNorm(2, 6),
                                  lambda: rct.nn.BatchNorm1d(6, track_running_stats=False),
                                  lambda: rct.nn.Dropout(0.3), lambda: rct.nn.BiasActDropout(6, "gelu", 0.3)])
def test_second_derivatives_and_tangents_on_cuda_equal_cpu(make):
    # a gradient penalty's parameter gradients (the differentiable-gradient paths) and a
    # forward-mode tangent, float64, the same masks (same seed) on both devices
    x = torch.randn(5, 6, dtype=torch.float64)
    t = torch.randn(5, 6, dtype=torch.float64)
    outs = []
    for device in ("cpu", "cuda"):
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(6, 6), make(), torch.nn.Tanh(), torch.nn.Linear(6, 1))
        model = model.double().to(device)
        xi = x.to(device).requires_grad_()
        torch.manual_seed(3)
        (g,) = torch.autograd.grad(model(xi).sum(), xi, create_graph=True)
        g.pow(2).sum().backward()
        torch.manual_seed(3)
        tangent = torch.func.jvp(model, (x.to(device),), (t.to(device),))[1]
        outs.append([p.grad.cpu() for p in model.parameters() if p.grad is not None] + [tangent.cpu()])
    for a, b in zip(*outs):
        torch.testing.assert_close(b, a, rtol=1e-9, atol=1e-11)


def test_sgd_on_cuda_matches_cpu():
    ps = [torch.nn.Parameter(torch.randn(6, 4, dtype=torch.float64)), torch.nn.Parameter(torch.randn(4))]
    gs = [torch.randn(6, 4, dtype=torch.float64), torch.randn(4)]
    results = []
    for device in ("cpu", "cuda"):
        params = [torch.nn.Parameter(p.detach().to(device)) for p in ps]
        opt = rct.optim.SGD(params, lr=0.1, momentum=0.9, weight_decay=1e-3, l1=1e-3, max_norm=1.0)
        for _ in range(3):
            for p, g in zip(params, gs):
                p.grad = g.to(device)
            opt.step()
        results.append([p.detach().cpu() for p in params])
    for a, b in zip(*results):
        torch.testing.assert_close(b, a, rtol=1e-6, atol=1e-7)


def test_init_on_cuda_matches_cpu():
    a, b = torch.empty(16, 8), torch.empty(16, 8, device="cuda")
    rct.nn.init.kaiming_normal_(a, generator=rc.Generator(5))
    rct.nn.init.kaiming_normal_(b, generator=rc.Generator(5))
    assert torch.equal(a, b.cpu())


def test_mismatched_devices_refused():
    x = torch.randn(4, 3, device="cuda")
    with pytest.raises(ValueError, match="weight"):
        rct.nn.functional.batch_norm(x, None, None, torch.ones(3), None, True)
