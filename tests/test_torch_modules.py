"""regcore.torch.nn modules against the torch modules they replace: forward, backward and
running statistics on PyTorch's own module sample inputs (torch.testing's module_db) in train
and eval mode, float32 and float64, contiguous and channels_last; state_dict round trips with
strict=True both ways; convert(); the regcore-only modules against torch compositions."""
from __future__ import annotations

import copy

import pytest

from _torch_helpers import TOL, rct, torch

import regcore as rc

nn = torch.nn
REPLACED = ["BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "LayerNorm", "GroupNorm", "InstanceNorm1d",
            "InstanceNorm2d", "InstanceNorm3d"]


def _module_inputs():
    pytest.importorskip("expecttest")   # torch.testing's module database imports it
    from torch.testing._internal.common_modules import module_db

    infos = {m.module_cls.__name__: m for m in module_db if m.module_cls.__name__ in REPLACED}
    cases = []
    for name in REPLACED:
        info = infos[name]
        for dtype in (torch.float32, torch.float64):
            for mi in info.module_inputs_func(info, device="cpu", dtype=dtype, requires_grad=True, training=True):
                cases.append((name, dtype, mi, False))
                x = mi.forward_input.args[0]
                if name.startswith("BatchNorm") and x.dim() in (4, 5):
                    cases.append((name, dtype, mi, True))
    return cases


try:
    CASES = _module_inputs()
except pytest.skip.Exception:   # pragma: no cover - expecttest missing: the parametrization is empty
    CASES = []


def _ids(case):
    name, dtype, mi, channels_last = case
    return f"{name}-{str(dtype)[6:]}-{mi.desc or 'default'}{'-channels_last' if channels_last else ''}"


def _pair(name, args, kwargs, dtype):
    ref = getattr(nn, name)(*args, **kwargs).to(dtype)
    with torch.no_grad():
        for p in ref.parameters():   # not the default 1/0, so the affine part is exercised
            p.uniform_(0.5, 1.5)
    ours = rct.convert(copy.deepcopy(ref))
    assert type(ours).__name__ == name and type(ours).__module__.startswith("regcore.torch")
    assert isinstance(ours, getattr(nn, name))
    return ref, ours


def _run(module, x, dy):
    x = x.detach().clone().requires_grad_()
    y = module(x)
    params = [p for p in module.parameters()]
    grads = torch.autograd.grad(y, [x] + params, dy, allow_unused=True) if y.numel() else [None] * (1 + len(params))
    return y, grads


def _close(a, b, dtype, what):
    if a is None or b is None:
        assert (a is None or not a.abs().sum()) and (b is None or not b.abs().sum()), what
        return
    torch.testing.assert_close(b, a, **TOL[dtype], msg=lambda m: f"{what}: {m}")


@pytest.mark.parametrize("case", CASES, ids=[_ids(c) for c in CASES])
def test_parity_with_torch_module_inputs(case):
    name, dtype, mi, channels_last = case
    x = mi.forward_input.args[0]
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last if x.dim() == 4 else torch.channels_last_3d)
    ref, ours = _pair(name, mi.constructor_input.args, mi.constructor_input.kwargs, dtype)
    g = torch.Generator().manual_seed(1)
    for step, training in enumerate((True, True, False)):
        ref.train(training), ours.train(training)
        dy = torch.randn(x.shape, generator=g, dtype=dtype)
        y_ref, g_ref = _run(ref, x, dy)
        y_ours, g_ours = _run(ours, x, dy)
        _close(y_ref, y_ours, dtype, f"y step {step}")
        if channels_last:
            assert y_ours.stride() == y_ref.stride()
        for i, (a, b) in enumerate(zip(g_ref, g_ours)):
            _close(a, b, dtype, f"grad {i} step {step}")
        for (bn, a), (_, b) in zip(ref.named_buffers(), ours.named_buffers()):
            if a is not None:
                torch.testing.assert_close(b, a, **TOL[dtype], msg=lambda m: f"buffer {bn} step {step}: {m}")


@pytest.mark.parametrize("make", [
    lambda: nn.BatchNorm2d(4), lambda: nn.BatchNorm1d(4, momentum=None), lambda: nn.BatchNorm3d(4, affine=False),
    lambda: nn.LayerNorm([3, 5]), lambda: nn.GroupNorm(2, 4), lambda: nn.InstanceNorm2d(4, affine=True,
                                                                                        track_running_stats=True),
    lambda: nn.Linear(4, 3), lambda: nn.SyncBatchNorm(4)])
def test_state_dict_round_trips_both_ways(make):
    ref = make()
    ref.train()
    ours = rct.convert(make())
    if isinstance(ref, nn.Linear):
        ours = rct.nn.DropConnectLinear(4, 3, p=0.2)
    x = torch.randn(6, 4, 5) if not isinstance(ref, (nn.LayerNorm, nn.Linear, nn.BatchNorm2d, nn.InstanceNorm2d,
                                                       nn.SyncBatchNorm, nn.BatchNorm3d)) else None
    if isinstance(ref, (nn.BatchNorm2d, nn.InstanceNorm2d, nn.SyncBatchNorm)):
        x = torch.randn(6, 4, 3, 3)
    elif isinstance(ref, nn.BatchNorm3d):
        x = torch.randn(3, 4, 2, 2, 2)
    elif isinstance(ref, nn.LayerNorm):
        x = torch.randn(2, 3, 5)
    elif isinstance(ref, nn.Linear):
        x = torch.randn(2, 4)
    for _ in range(2):
        ref(x)   # buffers away from their initial values
    ours.load_state_dict(ref.state_dict(), strict=True)
    assert ours.state_dict().keys() == ref.state_dict().keys()
    back = make()
    ours(x)
    back.load_state_dict(ours.state_dict(), strict=True)
    for (k, a), (_, b) in zip(ours.state_dict().items(), back.state_dict().items()):
        assert torch.equal(a, b), k
    ours.eval(), back.eval()
    torch.testing.assert_close(ours(x), back(x), rtol=1e-5, atol=1e-6)


def test_convert_in_place_keeps_tensors_and_mode():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Dropout(0.2), nn.Dropout2d(0.2),
                          nn.Flatten(), nn.LayerNorm(4 * 4 * 4), nn.AlphaDropout(0.1))
    model[1].eval()
    weight, running = model[1].weight, model[1].running_mean
    out = rct.convert(model, generator=rc.Generator(1))
    assert out is model
    assert type(model[1]) is rct.nn.BatchNorm2d and model[1].weight is weight and model[1].running_mean is running
    assert not model[1].training and model[0].training
    assert type(model[3]) is rct.nn.Dropout and model[3].p == 0.2 and isinstance(model[3].generator, rc.Generator)
    assert type(model[4]) is rct.nn.Dropout2d and type(model[7]) is rct.nn.AlphaDropout
    assert isinstance(model[4].generator, rc.Generator) and model[7].p == 0.1
    assert type(model[6]) is rct.nn.LayerNorm
    model(torch.randn(2, 3, 6, 6)).sum().backward()


def test_convert_turns_lazy_norms_into_regcore_modules_when_materialized():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.LazyBatchNorm2d(), nn.Flatten(1, 2), nn.LazyInstanceNorm1d())
    rct.convert(model)
    assert type(model[1]) is nn.LazyBatchNorm2d   # not materialized yet: torch's class
    x = torch.randn(2, 3, 6, 6)
    model(x)   # torch materializes them (this call still runs torch's forward)
    assert type(model[1]) is rct.nn.BatchNorm2d and type(model[3]) is rct.nn.InstanceNorm1d
    assert model[1].weight.shape == (4,) and model[1].num_batches_tracked == 1
    model(x).sum().backward()
    assert model[1].num_batches_tracked == 2 and model[1].weight.grad is not None


def test_convert_sync_batchnorm():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), rct.nn.BatchNorm1d(4))
    bn = model[1]
    out = rct.convert_sync_batchnorm(model)
    assert type(out[1]) is rct.nn.SyncBatchNorm and type(out[2]) is rct.nn.SyncBatchNorm
    assert out[1].weight is bn.weight and out[1].running_var is bn.running_var
    assert type(rct.nn.SyncBatchNorm.convert_sync_batchnorm(nn.BatchNorm2d(3))) is rct.nn.SyncBatchNorm
    x = torch.randn(4, 3, 5, 5)
    torch.testing.assert_close(out[1](out[0](x)), nn.BatchNorm2d(4)(out[0](x)))   # one process: plain BN


def test_momentum_none_cumulative_average():
    ref, ours = nn.BatchNorm1d(3, momentum=None), rct.nn.BatchNorm1d(3, momentum=None)
    for i in range(4):
        x = torch.randn(8, 3) * (i + 1) + i
        ref(x), ours(x)
    torch.testing.assert_close(ours.running_var, ref.running_var)
    assert int(ours.num_batches_tracked) == 4


def test_bias_act_dropout_against_torch_composition():
    x, b, r = torch.randn(16, 24, dtype=torch.float64), torch.randn(24, dtype=torch.float64), torch.randn(16, 24, dtype=torch.float64)
    m = rct.nn.BiasActDropout(24, "gelu", 0.3, generator=rc.Generator(4), dtype=torch.float64)
    with torch.no_grad():
        m.bias.copy_(b)
    y = m(x, r)
    keep = rct.nn.functional.dropout(torch.ones_like(x), 0.3, generator=rc.Generator(4))   # the same mask
    torch.testing.assert_close(y, nn.functional.gelu(x + b) * keep + r, rtol=1e-12, atol=1e-12)
    m.eval()
    torch.testing.assert_close(m(x), nn.functional.gelu(x + b), rtol=1e-12, atol=1e-12)


def test_dropconnect_linear():
    lin = rct.nn.DropConnectLinear(6, 4, p=0.5, generator=rc.Generator(2))
    assert isinstance(lin, nn.Linear) and set(lin.state_dict()) == {"weight", "bias"}
    x = torch.randn(3, 6)
    w = rct.nn.functional.dropout(lin.weight.detach(), 0.5, generator=rc.Generator(2))
    y = lin(x)
    torch.testing.assert_close(y, nn.functional.linear(x, w, lin.bias))
    y.sum().backward()
    assert ((lin.weight.grad == 0) == (w == 0)).all()
    lin.eval()
    torch.testing.assert_close(lin(x), nn.functional.linear(x, lin.weight, lin.bias))


def test_dropconnect_linear_draws_per_call_and_differentiates_in_float64():
    lin = rct.nn.DropConnectLinear(5, 3, bias=False, p=0.4, generator=rc.Generator(7), dtype=torch.float64)
    assert set(lin.state_dict()) == {"weight"}
    x = torch.randn(2, 4, 5, dtype=torch.float64, requires_grad=True)   # (N, L, in_features)
    y1, y2 = lin(x), lin(x)
    assert y1.shape == (2, 4, 3) and not torch.equal(y1, y2)           # a new weight mask per call

    def fresh(x, w):   # the same mask on every evaluation gradcheck makes
        lin.generator = rc.Generator(7)
        return lin(x)
    assert torch.autograd.gradcheck(fresh, (x, lin.weight))
    lin.p = 0.0
    assert torch.equal(lin(x), nn.functional.linear(x, lin.weight))


def test_gaussian_noise_module():
    m = rct.nn.GaussianNoise.for_dropout_rate(0.2, generator=rc.Generator(1))
    assert m.mode == "multiplicative" and abs(m.std - 0.5) < 1e-12
    x = torch.ones(100_000)
    y = m(x)
    assert abs(y.mean().item() - 1) < 0.01 and abs(y.std().item() - 0.5) < 0.01


def test_dropout_module_is_nn_dropout():
    d = rct.nn.Dropout(0.25, mask="none")
    assert isinstance(d, nn.Dropout) and d.state_dict() == {} and "mask='none'" in repr(d)
    with pytest.raises(ValueError):
        rct.nn.Dropout(1.5)


@pytest.mark.parametrize("make", [lambda: rct.nn.Dropout(0.5), lambda: rct.nn.AlphaDropout(0.3),
                                  lambda: rct.nn.GaussianNoise(0.2, mode="multiplicative"),
                                  lambda: rct.nn.BiasActDropout(7, "gelu", 0.2), lambda: rct.nn.GroupNorm(2, 4),
                                  lambda: rct.nn.BatchNorm2d(4), lambda: rct.nn.Dropout2d(0.5)])
@pytest.mark.parametrize("dims", [4, 5])
def test_channels_last_input_gives_channels_last_output_with_the_same_values(make, dims):
    # as torch's modules (and x * mask in torch ops) do: a channels_last model stays channels_last
    fmt = {4: torch.channels_last, 5: torch.channels_last_3d}[dims]
    shape = (2, 4, 6, 7) if dims == 4 else (2, 4, 3, 5, 7)
    if isinstance(make(), (rct.nn.Dropout2d, rct.nn.BatchNorm2d)) and dims == 5:
        pytest.skip("4-d inputs only")
    x = torch.randn(*shape, dtype=torch.float64)
    outs = []
    for t in (x.clone(), x.contiguous(memory_format=fmt)):
        m = make().double()
        t.requires_grad_()
        torch.manual_seed(3)
        y = m(t)
        (g,) = torch.autograd.grad(y, t, torch.ones_like(y))
        outs.append((y, g))
    (y0, g0), (y1, g1) = outs
    assert y1.is_contiguous(memory_format=fmt)
    torch.testing.assert_close(y1, y0, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(g1, g0, rtol=1e-12, atol=1e-12)
