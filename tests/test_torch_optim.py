"""regcore.torch.optim.SGD against torch.optim.SGD: the same updates for torch's options, state
layout and state_dicts loading both ways, regcore's penalties (proximal L1 gives exact zeros,
subgradient L1 is torch's loss-term L1, max-norm), GradScaler, channels_last parameters, one
fused call per (group, device), and refusals that leave everything unchanged."""
from __future__ import annotations

import copy

import pytest

from _torch_helpers import rct, torch, train_with_grad_scaler

nn = torch.nn


def _model(seed=0, dtype=torch.float32):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3)).to(dtype)


def _train(model, opt, steps=5, seed=1, closure=False):
    g = torch.Generator().manual_seed(seed)
    dtype = next(model.parameters()).dtype
    for _ in range(steps):
        x, t = torch.randn(10, 6, generator=g, dtype=dtype), torch.randn(10, 3, generator=g, dtype=dtype)

        def loss_fn():
            opt.zero_grad()
            loss = (model(x) - t).square().mean()
            loss.backward()
            return loss
        if closure:
            opt.step(loss_fn)
        else:
            loss_fn()
            opt.step()
    return model


OPTIONS = [dict(lr=0.1), dict(lr=0.05, momentum=0.9), dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-2),
           dict(lr=0.05, momentum=0.8, dampening=0.3, weight_decay=1e-3, maximize=True),
           dict(lr=0.1, momentum=0.5, foreach=True), dict(lr=0.1, momentum=0.5, fused=True)]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("opts", OPTIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()))
def test_matches_torch_sgd(opts, dtype):
    ref, ours = _model(dtype=dtype), _model(dtype=dtype)
    _train(ref, torch.optim.SGD(ref.parameters(), **opts))
    opt = rct.optim.SGD(ours.parameters(), **opts)
    _train(ours, opt, closure=True)
    tol = dict(rtol=2e-6, atol=1e-7) if dtype == torch.float32 else dict(rtol=1e-13, atol=1e-15)
    for a, b in zip(ref.parameters(), ours.parameters()):
        torch.testing.assert_close(b, a, **tol)


def test_defaults_are_torchs():
    import inspect
    ours = inspect.signature(rct.optim.SGD.__init__).parameters
    for name, p in inspect.signature(torch.optim.SGD.__init__).parameters.items():
        assert ours[name].default == p.default and ours[name].kind == p.kind, name
    for extra in ("l1", "l1_mode", "decoupled_weight_decay", "max_norm", "max_norm_axis"):
        assert ours[extra].kind is inspect.Parameter.KEYWORD_ONLY


def test_state_dict_loads_both_ways():
    a, b = _model(), _model()
    ta = torch.optim.SGD(a.parameters(), lr=0.05, momentum=0.9)
    _train(a, ta, steps=3)
    ob = rct.optim.SGD(b.parameters(), lr=0.05, momentum=0.9, l1=1e-4)
    b.load_state_dict(a.state_dict(), strict=True)
    ob.load_state_dict(copy.deepcopy(ta.state_dict()))   # as through torch.save / torch.load
    assert ob.param_groups[0]["l1"] == 1e-4          # regcore's keys keep their values
    for p in b.parameters():
        assert "momentum_buffer" in ob.state[p]
    ob.param_groups[0]["l1"] = 0.0
    _train(a, ta, steps=2, seed=5), _train(b, ob, steps=2, seed=5)
    for x, y in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(y, x, rtol=2e-6, atol=1e-7)
    back = torch.optim.SGD(_model().parameters(), lr=1.0)
    back.load_state_dict(copy.deepcopy(ob.state_dict()))
    assert back.param_groups[0]["lr"] == 0.05 and back.param_groups[0]["momentum"] == 0.9
    for s_ours, s_back in zip(ob.state.values(), back.state.values()):
        assert torch.equal(s_ours["momentum_buffer"], s_back["momentum_buffer"])


def test_proximal_l1_gives_exact_zeros_subgradient_does_not():
    def run(mode):
        torch.manual_seed(0)
        w = nn.Parameter(torch.randn(200) * 0.01)
        opt = rct.optim.SGD([w], lr=0.1, momentum=0.9, l1=0.05, l1_mode=mode)
        for _ in range(50):
            w.grad = torch.zeros_like(w)
            opt.step()
        return w.detach()
    assert (run("proximal") == 0).float().mean() > 0.9
    assert (run("subgradient") == 0).float().mean() < 0.1


def test_subgradient_l1_is_torchs_loss_term():
    ref, ours = _model(), _model()
    l1 = 1e-3
    g = torch.Generator().manual_seed(2)
    tref = torch.optim.SGD(ref.parameters(), lr=0.05, momentum=0.9)
    tours = rct.optim.SGD(ours.parameters(), lr=0.05, momentum=0.9, l1=l1, l1_mode="subgradient")
    for _ in range(4):
        x, t = torch.randn(10, 6, generator=g), torch.randn(10, 3, generator=g)
        for m, opt, pen in ((ref, tref, True), (ours, tours, False)):
            opt.zero_grad()
            loss = (m(x) - t).square().mean()
            if pen:
                loss = loss + l1 * sum(p.abs().sum() for p in m.parameters())
            loss.backward()
            opt.step()
    for a, b in zip(ref.parameters(), ours.parameters()):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6)


def test_max_norm_and_channels_last_parameters():
    conv = nn.Conv2d(3, 4, 3).to(memory_format=torch.channels_last)
    assert not conv.weight.is_contiguous()
    opt = rct.optim.SGD(conv.parameters(), lr=0.5, momentum=0.9, max_norm=0.2)
    ref = nn.Conv2d(3, 4, 3)
    ref.load_state_dict(conv.state_dict())
    x = torch.randn(2, 3, 5, 5).contiguous(memory_format=torch.channels_last)
    conv(x).square().sum().backward()
    opt.step()
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    norms = conv.weight.detach().flatten(1).norm(dim=1)
    assert (norms <= 0.2 * (1 + 1e-6)).all()
    ref(x.contiguous()).square().sum().backward()
    with torch.no_grad():   # the same step on the contiguous copy, then the same clipping
        w = ref.weight - 0.5 * ref.weight.grad
        n = w.flatten(1).norm(dim=1).clamp(min=0.2)
        w = w * (0.2 / n).view(-1, 1, 1, 1)
    torch.testing.assert_close(conv.weight.detach(), w, rtol=1e-5, atol=1e-6)


def test_one_fused_call_per_group_and_device(monkeypatch):
    calls = []
    real = rct._ops_sgd.sgd_step_
    monkeypatch.setattr(rct._ops_sgd, "sgd_step_", lambda *a: (calls.append(len(a[0])), real(*a)))
    model = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 4).double())
    opt = rct.optim.SGD([{"params": model[0].parameters()}, {"params": model[1].parameters(), "l1": 1e-3}],
                        lr=0.1, momentum=0.9)
    model[1](model[0](torch.randn(2, 4)).double()).sum().backward()
    opt.step()
    assert calls == [2, 2]


def test_grad_scaler():
    ref, ours = _model(), _model()
    for model, opt_cls in ((ref, torch.optim.SGD), (ours, rct.optim.SGD)):
        train_with_grad_scaler(model, opt_cls, torch.float32, init_scale=1024.0)
    for a, b in zip(ref.parameters(), ours.parameters()):
        torch.testing.assert_close(b, a, rtol=2e-6, atol=1e-7)


def test_refusals_change_nothing():
    emb = nn.Embedding(10, 3, sparse=True)
    lin = nn.Linear(3, 2)
    opt = rct.optim.SGD([{"params": lin.parameters()}, {"params": emb.parameters()}], lr=0.1, momentum=0.9)
    lin(emb(torch.tensor([1, 2]))).sum().backward()
    before = [p.detach().clone() for p in lin.parameters()]
    with pytest.raises(RuntimeError, match="sparse gradients"):
        opt.step()
    assert all(torch.equal(a, b) for a, b in zip(before, lin.parameters())) and not opt.state
    with pytest.raises(ValueError, match="momentum"):
        rct.optim.SGD(lin.parameters(), lr=0.1, momentum=-1)
    with pytest.raises(ValueError, match="nesterov"):
        rct.optim.SGD(lin.parameters(), lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="differentiable"):
        rct.optim.SGD(lin.parameters(), differentiable=True)
    with pytest.raises(TypeError, match="expected a float32, float64, bfloat16 or float16 tensor, got torch.int32"):
        rct.optim.SGD([torch.zeros(3, dtype=torch.int32)])
    opt2 = rct.optim.SGD(lin.parameters(), lr=0.1)
    opt2.param_groups[0]["lr"] = -1.0
    with pytest.raises(ValueError, match="lr"):
        opt2.step()
    assert all(torch.equal(a, b) for a, b in zip(before, lin.parameters()))


@pytest.mark.parametrize("group, error", [(dict(max_norm=-1.0), ValueError), (dict(l1_mode="lasso"), ValueError),
                                          (dict(params=[torch.zeros(3, dtype=torch.int64)]), TypeError)])
def test_refused_param_group_is_not_kept(group, error):
    model = _model()
    opt = rct.optim.SGD(model[0].parameters(), lr=0.1, momentum=0.9)
    with pytest.raises(error):
        opt.add_param_group({"params": model[2].parameters(), **group})
    assert len(opt.param_groups) == 1
    _train(model, opt, steps=2)   # the optimizer goes on as before
    opt.add_param_group({"params": model[2].parameters(), "max_norm": 0.5, "l1": 0.0, "lr": 0.2})
    _train(model, opt, steps=1)
    assert float(model[2].weight.norm(dim=1).max()) <= 0.5 * (1 + 1e-6)


SCHEDULES = {   # schedules that reach lr = 0, as torch.optim.SGD accepts it
    "warmup_from_zero": lambda opt: torch.optim.lr_scheduler.LambdaLR(opt, lambda step: min(1.0, step / 3)),
    "cosine_past_t_max": lambda opt: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=2),
}


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("schedule", SCHEDULES)
def test_schedules_reaching_zero_lr(schedule, dtype):
    ref, ours = _model(dtype=dtype), _model(dtype=dtype)
    opts = dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-2)
    opt_ref, opt = torch.optim.SGD(ref.parameters(), **opts), rct.optim.SGD(ours.parameters(), **opts)
    sched_ref, sched = SCHEDULES[schedule](opt_ref), SCHEDULES[schedule](opt)
    lrs = []
    for _ in range(5):
        lrs.append(opt.param_groups[0]["lr"])
        _train(ref, opt_ref, steps=1)
        _train(ours, opt, steps=1)
        sched_ref.step()
        sched.step()
    assert 0.0 in lrs
    # (16-bit parameters: regcore's float32 momentum buffer; torch keeps it in 16 bits)
    tol = dict(rtol=2e-6, atol=1e-7) if dtype == torch.float32 else dict(rtol=2e-2, atol=1e-2)
    for a, b in zip(ref.parameters(), ours.parameters()):
        torch.testing.assert_close(b, a, **tol)
    for a, b in zip(ref.parameters(), ours.parameters()):
        torch.testing.assert_close(opt.state[b]["momentum_buffer"].to(dtype), opt_ref.state[a]["momentum_buffer"],
                                   **tol)


def test_cpu_float_steps_take_the_array_apis_one_pass_check(monkeypatch):
    """float32/float64 CPU parameters reach the array API as NumPy views, whose whole list is
    checked in one cheap pass: the per-tensor checks do not run (they cost ~10x the step on small
    parameters), and the step equals torch.optim.SGD's."""
    from regcore.optim import _step

    def per_tensor(*a, **k):
        raise AssertionError("per-tensor checks ran")

    ref = [torch.nn.Parameter(torch.randn(5, 3, generator=torch.Generator().manual_seed(i))) for i in range(4)]
    ours = [torch.nn.Parameter(p.detach().clone()) for p in ref]
    for a, b in zip(ref, ours):
        a.grad = torch.randn(a.shape, generator=torch.Generator().manual_seed(9))
        b.grad = a.grad.clone()
    opt_ref = torch.optim.SGD(ref, lr=0.1, momentum=0.9, weight_decay=1e-3)
    opt = rct.optim.SGD(ours, lr=0.1, momentum=0.9, weight_decay=1e-3)
    monkeypatch.setattr(_step, "_check_tensors", per_tensor)
    for _ in range(3):
        opt.step()
        opt_ref.step()
    for a, b in zip(ref, ours):
        torch.testing.assert_close(b, a, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_the_one_pass_check_steps_the_full_paths_bits(dtype, monkeypatch):
    """16-bit parameters (float32 buffers) take the one-pass check too, and give the bits of the
    per-tensor path, momentum, decay and L1 included."""
    from regcore.optim import _step

    def run(one_pass):
        ps = [torch.nn.Parameter(torch.randn(7, 33, generator=torch.Generator().manual_seed(i)).to(dtype))
              for i in range(3)]
        opt = rct.optim.SGD(ps, lr=0.05, momentum=0.9, weight_decay=1e-3, l1=1e-3)
        with monkeypatch.context() as m:
            if one_pass:
                m.setattr(_step, "_check_tensors", lambda *a, **k: pytest.fail("per-tensor checks ran"))
            else:
                m.setattr(_step, "_fast_numpy_plan", lambda *a, **k: None)
            for k in range(3):
                for i, p in enumerate(ps):
                    p.grad = torch.randn(p.shape, generator=torch.Generator().manual_seed(10 * k + i)).to(dtype)
                opt.step()
        return [p.detach().view(torch.int16).clone() for p in ps] + \
               [opt.state[p]["momentum_buffer"].clone() for p in ps]

    for a, b in zip(run(True), run(False)):
        assert torch.equal(a, b)
