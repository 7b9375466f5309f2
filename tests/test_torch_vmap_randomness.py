"""torch.func.vmap's ``randomness`` argument through regcore's random layers, as torch's own
random operators obey it: "different" gives sample i the draw a loop over the samples would give
it (values and gradients), "same" one draw for every sample. (Before, every sample got one mask
whatever vmap was told.) "error" draws as "same" (torch's own raise): jacfwd and hessian run under
it, and tests/test_torch_func.py takes them through fixed masks."""
from __future__ import annotations

import pytest

from _torch_helpers import rct, torch

import regcore

func = torch.func
F = rct.nn.functional

pytestmark = pytest.mark.filterwarnings("ignore:There is a performance drop:UserWarning")

CALLS = {
    "dropout": lambda t, g: F.dropout(t, 0.4, True, generator=g),
    "dropout_mask_none": lambda t, g: F.dropout(t, 0.4, True, mask="none", generator=g),
    "dropout2d": lambda t, g: F.dropout2d(t, 0.4, True, generator=g),
    "alpha_dropout": lambda t, g: F.alpha_dropout(t, 0.4, True, generator=g),
    "gaussian_noise": lambda t, g: F.gaussian_noise(t, 0.5, True, mode="multiplicative", generator=g),
    "bias_act_dropout": lambda t, g: F.bias_act_dropout(t, torch.full((t.shape[-1],), 0.1, dtype=t.dtype), "gelu",
                                                        0.4, True, generator=g),
}
GENERATORS = {"torch_default": lambda: None, "regcore": lambda: regcore.Generator(7)}
X = torch.randn(4, 3, 5, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(0))


def _looped(call, gen):
    torch.manual_seed(1)
    g = gen()
    x = X.clone().requires_grad_()
    y = torch.stack([call(x[i], g) for i in range(len(x))])
    y.square().sum().backward()
    return y.detach(), x.grad


@pytest.mark.parametrize("gen", GENERATORS)
@pytest.mark.parametrize("name", CALLS)
def test_different_equals_a_loop_over_the_samples(name, gen):
    call = CALLS[name]
    ref_y, ref_dx = _looped(call, GENERATORS[gen])
    assert not torch.equal(ref_y[0], ref_y[1])
    torch.manual_seed(1)
    g = GENERATORS[gen]()
    x = X.clone().requires_grad_()
    y = func.vmap(lambda t: call(t, g), randomness="different")(x)
    y.square().sum().backward()
    assert torch.equal(y, ref_y)
    assert torch.allclose(x.grad, ref_dx, rtol=1e-12, atol=0)
    torch.manual_seed(1)
    g = GENERATORS[gen]()
    dx = func.vmap(func.grad(lambda t: call(t, g).square().sum()), randomness="different")(X)
    assert torch.allclose(dx, ref_dx, rtol=1e-12, atol=0)


def test_different_on_an_unbatched_input_and_nested():
    ones = torch.ones(8)
    torch.manual_seed(1)
    y = func.vmap(lambda i: F.dropout(ones, 0.5, True) + i, randomness="different")(torch.zeros(3, 1))
    torch.manual_seed(1)
    assert torch.equal(y, torch.stack([F.dropout(ones, 0.5, True) for _ in range(3)]))
    torch.manual_seed(1)
    y = func.vmap(func.vmap(lambda t: F.dropout(t, 0.5, True), randomness="different"),
                  randomness="different")(torch.ones(2, 3, 8))
    torch.manual_seed(1)
    assert torch.equal(y, torch.stack([torch.stack([F.dropout(ones, 0.5, True) for _ in range(3)])
                                       for _ in range(2)]))
    y = func.vmap(func.vmap(lambda t: F.dropout(t, 0.5, True), randomness="same"),
                  randomness="different")(torch.ones(2, 3, 8))
    assert torch.equal(y[0, 0], y[0, 1]) and torch.equal(y[1, 0], y[1, 2]) and not torch.equal(y[0, 0], y[1, 0])


def test_same_gives_every_sample_one_draw():
    y = func.vmap(lambda t: F.dropout(t, 0.5, True), randomness="same")(torch.ones(3, 16))
    assert torch.equal(y[0], y[1]) and torch.equal(y[0], y[2])


def test_inplace_dropout_under_vmap():
    # the in-place operator has no batching rule: under vmap the result is copied back instead
    with torch.no_grad():
        t = torch.ones(3, 8)
        torch.manual_seed(1)
        func.vmap(lambda r: F.dropout(r, 0.5, True, inplace=True), randomness="different")(t)
        torch.manual_seed(1)
        assert torch.equal(t, torch.stack([F.dropout(torch.ones(8), 0.5, True) for _ in range(3)]))


def test_ensemble_of_modules_with_dropout():
    # torch's model-ensembling recipe (stack_module_state + functional_call under vmap)
    import copy

    models = [rct.convert(torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Dropout(0.3), torch.nn.Linear(16, 4)))
              for _ in range(3)]
    params, buffers = func.stack_module_state(models)
    base = copy.deepcopy(models[0]).to("meta")
    x = torch.randn(5, 8)
    torch.manual_seed(2)
    y = func.vmap(lambda p, b: func.functional_call(base, (p, b), (x,)), randomness="different")(params, buffers)
    torch.manual_seed(2)
    ref = torch.stack([m(x) for m in models])
    assert torch.allclose(y, ref, rtol=1e-6, atol=1e-6)
