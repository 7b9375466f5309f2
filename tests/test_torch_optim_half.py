"""regcore.torch.optim.SGD on bfloat16 / float16 parameters: parity with torch.optim.SGD within
torch's own bfloat16/float16 tolerances (nearest rounding), float32 momentum buffers (also from a
torch state_dict), zero-copy updates of CPU tensors, the float32 master copy (== a float32 run,
parameters its nearest rounding), stochastic rounding (reproducible from the generator, bit for
bit the array API's step), and refusals of mixed dtypes with nothing written."""
from __future__ import annotations

import copy

import numpy as np
import pytest

from _torch_helpers import rct, torch, train_with_grad_scaler

import regcore as rc

pytest.importorskip("ml_dtypes")
nn = torch.nn
HALF = [torch.bfloat16, torch.float16]


def _model(seed=0, dtype=torch.bfloat16):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3)).to(dtype)


def _train(model, opt, steps=5, seed=1):
    g = torch.Generator().manual_seed(seed)
    dtype = next(model.parameters()).dtype
    for _ in range(steps):
        x, t = torch.randn(10, 6, generator=g).to(dtype), torch.randn(10, 3, generator=g).to(dtype)
        opt.zero_grad()
        (model(x).float() - t.float()).square().mean().backward()
        opt.step()
    return model


OPTIONS = [dict(lr=0.1), dict(lr=0.05, momentum=0.9), dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-2),
           dict(lr=0.05, momentum=0.8, dampening=0.3, weight_decay=1e-3, maximize=True)]


@pytest.mark.parametrize("dtype", HALF, ids=["bf16", "f16"])
@pytest.mark.parametrize("opts", OPTIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()))
def test_matches_torch_sgd_within_torch_tolerances(opts, dtype):
    """Each of 5 steps from the same state (torch's parameters and momentum buffers copied into
    regcore's before the step) with the same gradients.

    * Against torch.optim.SGD on float32 copies of that state, rounded to the dtype: torch's
      default assert_close tolerances for the dtype (regcore rounds the float32 step once).
    * Against torch.optim.SGD on the 16-bit parameters themselves: torch rounds intermediate
      products to the 16-bit format (lr*grad, its 16-bit buffer), so where w - lr*d cancels its
      error is relative to the operands, not to the result: the bound is torch's relative tolerance
      for the dtype times (|w| + |step| + lr*(|g| + |buffer|))."""
    g = torch.Generator().manual_seed(3)
    shapes = [(8, 6), (8,), (3, 8), (3,)]
    start = [torch.randn(s, generator=g).to(dtype) for s in shapes]
    ref = [p.clone() for p in start]
    ours = [p.clone() for p in start]
    wide = [p.float() for p in start]
    topt, opt, wopt = torch.optim.SGD(ref, **opts), rct.optim.SGD(ours, **opts), torch.optim.SGD(wide, **opts)
    ptrs = [p.data_ptr() for p in ours]
    rtol = {torch.bfloat16: 1.6e-2, torch.float16: 1e-3}[dtype]   # torch's assert_close defaults
    for _ in range(5):
        grads = [torch.randn(s, generator=g).to(dtype) for s in shapes]
        old = [p.float() for p in ref]
        for a, b, c, gr in zip(ref, ours, wide, grads):
            a.grad, b.grad, c.grad = gr.clone(), gr.clone(), gr.float()
            with torch.no_grad():
                b.copy_(a)
                c.copy_(a)
            tb = topt.state.get(a, {}).get("momentum_buffer")
            if tb is not None:   # 16-bit -> float32 is exact
                opt.state[b]["momentum_buffer"].copy_(tb)
                wopt.state[c]["momentum_buffer"].copy_(tb)
        topt.step()
        opt.step()
        wopt.step()
        for a, b, c, w, gr in zip(ours, ref, wide, old, grads):
            assert a.dtype == dtype
            torch.testing.assert_close(a, c.to(dtype))   # torch's default tolerances for the dtype
            err = (a.float() - b.float()).abs()
            tb = topt.state.get(b, {}).get("momentum_buffer")
            d = gr.float().abs() + (0.0 if tb is None else tb.float().abs())
            assert torch.all(err <= rtol * (w.abs() + (b.float() - w).abs() + opts["lr"] * d) + 1e-5)
    assert [p.data_ptr() for p in ours] == ptrs   # updated in place
    if opts.get("momentum"):
        for p in ours:
            assert opt.state[p]["momentum_buffer"].dtype == torch.float32


def test_a_model_trains_like_torch_sgd():
    """A whole bf16 training loop: the losses follow torch.optim.SGD's closely (a one-ulp
    difference of a weight feeds back through the model, so not elementwise)."""
    ref, ours = _model(), _model()
    _train(ref, torch.optim.SGD(ref.parameters(), lr=0.05, momentum=0.9))
    _train(ours, rct.optim.SGD(ours.parameters(), lr=0.05, momentum=0.9))
    for a, b in zip(ours.parameters(), ref.parameters()):
        torch.testing.assert_close(a.float(), b.float(), rtol=0.05, atol=2e-3)


def test_torch_state_dict_with_a_bf16_buffer_loads_as_float32():
    ref = _model()
    topt = torch.optim.SGD(ref.parameters(), lr=0.05, momentum=0.9)
    _train(ref, topt, steps=2)
    ours = copy.deepcopy(ref)
    opt = rct.optim.SGD(ours.parameters(), lr=0.05, momentum=0.9)
    opt.load_state_dict(topt.state_dict())
    for p, q in zip(ours.parameters(), ref.parameters()):
        assert opt.state[p]["momentum_buffer"].dtype == torch.float32
        assert torch.equal(opt.state[p]["momentum_buffer"], topt.state[q]["momentum_buffer"].float())
    _train(ours, opt, steps=1, seed=5)
    _train(ref, topt, steps=1, seed=5)
    for a, b in zip(ours.parameters(), ref.parameters()):   # torch's bf16 roundings: see above
        torch.testing.assert_close(a.float(), b.float(), rtol=0.05, atol=1e-3)


@pytest.mark.parametrize("dtype", HALF, ids=["bf16", "f16"])
def test_master_weights_are_kept_and_restored(dtype):
    opts = dict(lr=0.05, momentum=0.9, weight_decay=1e-3)
    ours = _model(dtype=dtype)
    opt = rct.optim.SGD(ours.parameters(), master_weights=True, **opts)
    _train(ours, opt, steps=3)
    for p in ours.parameters():
        m = opt.state[p]["master_param"]
        assert m.dtype == torch.float32
        assert torch.equal(p, m.to(dtype))   # the parameter is its master rounded to nearest even
    sd = opt.state_dict()
    copy_model = copy.deepcopy(ours)
    opt2 = rct.optim.SGD(copy_model.parameters(), master_weights=True, **opts)
    opt2.load_state_dict(sd)
    for p, p2 in zip(ours.parameters(), copy_model.parameters()):
        assert torch.equal(opt2.state[p2]["master_param"], opt.state[p]["master_param"])
    _train(ours, opt, steps=1, seed=8)
    _train(copy_model, opt2, steps=1, seed=8)
    assert all(torch.equal(a, b) for a, b in zip(ours.parameters(), copy_model.parameters()))


def test_master_weights_equal_the_array_api_and_a_float32_step():
    p = torch.randn(5, 7).to(torch.bfloat16)
    g = torch.randn(5, 7).to(torch.bfloat16)
    opt = rct.optim.SGD([p], lr=0.1, momentum=0.9, master_weights=True)
    p.grad = g
    m0 = p.float()
    opt.step()
    w32 = m0.numpy().copy()
    rc.sgd_step_(w32, g.float().numpy(), None, lr=0.1, momentum=0.9)
    assert np.array_equal(opt.state[p]["master_param"].numpy().view(np.uint32), w32.view(np.uint32))


@pytest.mark.parametrize("dtype", HALF, ids=["bf16", "f16"])
def test_stochastic_rounding_is_reproducible_and_the_array_api_step(dtype):
    def run(seed):
        model = _model(dtype=dtype)
        opt = rct.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9, stochastic_rounding=True,
                            generator=rc.Generator(seed))
        _train(model, opt, steps=3)
        return [p.detach().clone() for p in model.parameters()], opt
    a, opt = run(4)
    b, _ = run(4)
    c, _ = run(5)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not all(torch.equal(x, y) for x, y in zip(a, c))
    n = sum(-(-p.numel() // 4) for p in a)
    assert opt.generator.offset == 3 * n

    # One step, bit for bit the array API's multi-tensor step with the same generator state.
    model = _model(dtype=dtype)
    ps = list(model.parameters())
    for i, p in enumerate(ps):
        p.grad = torch.randn(p.shape, generator=torch.Generator().manual_seed(i)).to(dtype)
    arrays = [p.detach().clone() for p in ps]
    rct.optim.SGD(ps, lr=1e-2, momentum=0.0, stochastic_rounding=True, generator=rc.Generator(9)).step()
    rc.sgd_step_multi_(arrays, [p.grad for p in ps], None, lr=1e-2, momentum=0.0, stochastic_rounding=True,
                       generator=rc.Generator(9))
    assert all(torch.equal(x, y) for x, y in zip(ps, arrays))


def test_stochastic_rounding_resumes_from_a_checkpoint_bit_for_bit():
    # the generator's state travels in the state_dict: 3 steps, save, 3 more == 6 uninterrupted
    def fresh(seed):
        model = _model()
        return model, rct.optim.SGD(model.parameters(), lr=1e-2, momentum=0.9, stochastic_rounding=True,
                                    generator=rc.Generator(seed))
    model, opt = fresh(4)
    _train(model, opt, steps=3)
    saved_model, saved_opt = copy.deepcopy(model.state_dict()), copy.deepcopy(opt.state_dict())
    assert saved_opt["generator_state"] == opt.generator.state
    _train(model, opt, steps=3, seed=2)
    resumed, ropt = fresh(99)   # another seed: the state_dict must bring the saved one
    resumed.load_state_dict(saved_model)
    ropt.load_state_dict(saved_opt)
    _train(resumed, ropt, steps=3, seed=2)
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), resumed.parameters()))
    assert ropt.generator.state == opt.generator.state
    torch.optim.SGD(resumed.parameters(), lr=1e-2, momentum=0.9).load_state_dict(saved_opt)   # torch ignores the key
    bad = copy.deepcopy(saved_opt)
    bad["generator_state"] = {"seed": 1, "offset": -1}
    before = copy.deepcopy(ropt.state_dict())
    with pytest.raises(ValueError, match="offset"):
        ropt.load_state_dict(bad)
    after = ropt.state_dict()
    assert after["generator_state"] == before["generator_state"]
    assert all(torch.equal(before["state"][i]["momentum_buffer"], after["state"][i]["momentum_buffer"])
               for i in before["state"])


def test_mixed_float32_and_bf16_parameters_in_one_group():
    a = torch.randn(4, 3).to(torch.bfloat16)
    b = torch.randn(5)
    a.grad, b.grad = torch.randn(4, 3).to(torch.bfloat16), torch.randn(5)
    ref_b = b.clone()
    opt = rct.optim.SGD([a, b], lr=0.1, momentum=0.9, master_weights=True, stochastic_rounding=False)
    opt.step()
    rc.sgd_step_(ref_b.numpy(), b.grad.numpy(), None, lr=0.1, momentum=0.9)
    assert torch.equal(b, ref_b)
    assert "master_param" in opt.state[a] and "master_param" not in opt.state[b]


def test_a_gradient_of_another_16_bit_dtype_is_refused_naming_grad_and_nothing_written():
    p = torch.randn(4, 3).to(torch.bfloat16)
    if hasattr(p, "grad_dtype"):   # newer torch refuses such a gradient unless told otherwise
        p.grad_dtype = None
    try:
        p.grad = torch.randn(4, 3).to(torch.float16)
    except RuntimeError:
        pytest.skip("this torch version refuses a gradient of another dtype itself")
    keep = p.clone()
    opt = rct.optim.SGD([p], lr=0.1, momentum=0.9)
    with pytest.raises(TypeError, match="grad"):
        opt.step()
    assert torch.equal(p, keep) and not opt.state


def test_refusals_name_the_option():
    p = torch.randn(4, 3).to(torch.bfloat16)
    with pytest.raises(ValueError, match="stochastic_rounding: expected False with master_weights=True"):
        rct.optim.SGD([p], lr=0.1, master_weights=True, stochastic_rounding=True)
    with pytest.raises(TypeError, match="master_weights: expected True or False"):
        rct.optim.SGD([p], lr=0.1, master_weights=1)


def test_grad_scaler_with_16_bit_parameters_as_with_torch_sgd():
    # bfloat16 parameters: scaled, unscaled and skipped on inf like torch's SGD (bfloat16 needs no
    # scaling, but mixed-precision recipes keep the scaler); float16 gradients torch's GradScaler
    # refuses to unscale, for either optimizer
    ref, ours = _model(), _model()
    for model, opt_cls in ((ref, torch.optim.SGD), (ours, rct.optim.SGD)):
        train_with_grad_scaler(model, opt_cls, torch.bfloat16, init_scale=256.0)
    for a, b in zip(ref.parameters(), ours.parameters()):
        torch.testing.assert_close(b, a)   # (torch's bfloat16 tolerances)
    for opt_cls in (torch.optim.SGD, rct.optim.SGD):
        model = _model(dtype=torch.float16)
        opt, scaler = opt_cls(model.parameters(), lr=0.1), torch.amp.GradScaler("cpu")
        scaler.scale(model(torch.randn(5, 6).half()).float().sum()).backward()
        with pytest.raises(ValueError, match="Attempting to unscale FP16 gradients"):
            scaler.step(opt)
