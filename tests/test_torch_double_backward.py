"""Second derivatives (double backward) through regcore.torch: a gradient penalty or a
Hessian-vector product differentiates a layer's backward.

The dropout family's backward operators carry their own formulas (bias + activation + dropout
with a curved activation: torch's derivative of the activation, times the mask's factor); the
normalization layers' gradient is computed, when it must itself be differentiable (grad mode on in the backward), by
the norm written in torch operations (_norm_composite.py). Both pass gradgradcheck in float64
(finite differences of the first derivative against the registered second one), and a gradient
penalty through any regcore layer equals the same model's with torch's modules: before, torch's
fallback for the backward operators only warned and the penalty's parameter gradients came out
silently wrong. Where there is no formula (a backward operator called directly)
differentiating raises a RuntimeError naming it, whichever way the derivative is asked for.
"""
from __future__ import annotations

import pytest

from _torch_helpers import rct, seed_offset, torch

ops = torch.ops.regcore
F = rct.nn.functional
SO = seed_offset(7, 3)


def _x(*shape, seed=0, grad=True):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=torch.float64).requires_grad_(grad)


def _gradgradcheck(fn, *inputs):
    assert torch.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-6, rtol=1e-5)
    assert torch.autograd.gradgradcheck(fn, inputs, eps=1e-6, atol=1e-6, rtol=1e-5)


# ---------------------------------------------------------------- the dropout family: differentiable twice

@pytest.mark.parametrize("vanilla", [False, True])
@pytest.mark.parametrize("store_mask", [True, False])
def test_dropout_gradgradcheck(store_mask, vanilla):
    _gradgradcheck(lambda x: ops.dropout(x, SO, 0.4, vanilla, store_mask)[0], _x(7, 5))


@pytest.mark.parametrize("multiplicative", [False, True])
def test_gaussian_noise_gradgradcheck(multiplicative):
    _gradgradcheck(lambda x: ops.gaussian_noise(x, SO, 0.3, multiplicative), _x(4, 6))


@pytest.mark.parametrize("activation", ["identity", "relu", "gelu", "gelu_tanh", "tanh", "sigmoid"])
def test_bias_act_dropout_gradgradcheck(activation):
    # x + bias kept away from relu's kink, where finite differences do not see a derivative
    x = (_x(6, 5, grad=False) + 0.05 * torch.sign(_x(6, 5, seed=9, grad=False))).requires_grad_()
    b, r = _x(5, seed=1), _x(6, 5, seed=2)
    _gradgradcheck(lambda x, b, r: ops.bias_act_dropout(x, b, r, SO, activation, 0.25, True)[0], x, b, r)
    _gradgradcheck(lambda x, b: ops.bias_act_dropout(x, b, None, SO, activation, 0.25, False)[0], x, b)


def test_bias_act_dropout_backward_gradgradcheck_of_both_outputs():
    # the backward operator itself: dx and dbias both depend on dy (every_output formula)
    x, b = _x(6, 5, grad=False), _x(5, seed=1, grad=False)
    bits = ops.bias_act_dropout(x, b, None, SO, "relu", 0.3, True)[1]
    dy = _x(6, 5, seed=3)
    _gradgradcheck(lambda dy: ops.bias_act_dropout_backward(dy, x, b, bits, SO, "relu", 0.3, False), dy)


@pytest.mark.parametrize("alpha", [False, True])
@pytest.mark.parametrize("channels_last", [False, True])
def test_channel_dropout_gradgradcheck(alpha, channels_last):
    _gradgradcheck(lambda x: ops.channel_dropout(x, SO, 0.3, False, alpha, channels_last, True)[0], _x(3, 5, 4))


@pytest.mark.parametrize("store_mask", [True, False])
def test_alpha_dropout_gradgradcheck(store_mask):
    _gradgradcheck(lambda x: ops.alpha_dropout(x, SO, 0.3, store_mask)[0], _x(3, 5, 4))


@pytest.mark.parametrize("module", [lambda: rct.nn.Dropout(0.3), lambda: rct.nn.Dropout2d(0.3),
                                    lambda: rct.nn.AlphaDropout(0.3), lambda: rct.nn.FeatureAlphaDropout(0.3)])
def test_dropout_modules_gradgradcheck(module):
    m = module()

    def run(x):   # the same masks on every call: torch.manual_seed positions the stream
        torch.manual_seed(1)
        return m(x)
    _gradgradcheck(run, _x(4, 6, 3, 3))


def _penalty_grads(model, x):
    """The parameters' gradients of a gradient penalty (WGAN-GP style): the norm of d out / d x."""
    g, = torch.autograd.grad(model(x).sum(), x, create_graph=True)
    ((g.flatten(1).norm(dim=1) - 1) ** 2).mean().backward()
    return [None if p.grad is None else p.grad.clone() for p in model.parameters()]


def test_gradient_penalty_through_dropout_equals_its_mask_product():
    # dropout(x) equals x * (y / x) with the same mask: the penalty's parameter gradients must agree
    torch.manual_seed(0)
    lin1, lin2 = torch.nn.Linear(6, 8).double(), torch.nn.Linear(8, 1).double()
    drop = rct.nn.Dropout(0.3)
    x = _x(5, 6)
    torch.manual_seed(4)
    factor = drop(torch.ones(5, 8, dtype=torch.float64))   # the mask's factor (0 or 1/(1-p))

    def regcore_model(x):
        torch.manual_seed(4)
        return lin2(torch.tanh(drop(lin1(x))))

    def reference(x):
        return lin2(torch.tanh(lin1(x) * factor))

    class Wrap(torch.nn.Module):
        def __init__(self, f):
            super().__init__()
            self.lin1, self.lin2, self.f = lin1, lin2, f

        def forward(self, x):
            return self.f(x)

    got = _penalty_grads(Wrap(regcore_model), x)
    lin1.zero_grad()
    lin2.zero_grad()
    want = _penalty_grads(Wrap(reference), x)
    assert [a is None for a in got] == [b is None for b in want] == [False, False, False, True]
    for a, b in zip(got[:3], want[:3]):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------- the norms: a differentiable gradient

@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("axis", [1, -1])
def test_batch_norm_gradgradcheck(training, axis):
    x = _x(4, 3, 2, 2) if axis == 1 else _x(4, 2, 2, 3)
    w, b = _x(3, seed=1), _x(3, seed=2)
    rm, rv = _x(3, seed=3, grad=False), _x(3, seed=4, grad=False).abs() + 0.5
    _gradgradcheck(lambda x, w, b: ops.batch_norm(x, w, b, rm.clone(), rv.clone(), training, 0.1, 1e-5, axis)[0],
                   x, w, b)


def test_layer_norm_gradgradcheck():
    _gradgradcheck(lambda x, w, b: ops.layer_norm(x, w, b, 2, 1e-5)[0], _x(3, 4, 5), _x(4, 5, seed=1), _x(4, 5, seed=2))
    _gradgradcheck(lambda x: ops.layer_norm(x, None, None, 1, 1e-5)[0], _x(3, 5))


def test_group_norm_gradgradcheck():
    _gradgradcheck(lambda x, w, b: ops.group_norm(x, 2, w, b, 1e-5)[0], _x(3, 6, 4), _x(6, seed=1), _x(6, seed=2))


@pytest.mark.parametrize("use_input_stats", [True, False])
def test_instance_norm_gradgradcheck(use_input_stats):
    rm, rv = _x(4, seed=3, grad=False), _x(4, seed=4, grad=False).abs() + 0.5
    _gradgradcheck(lambda x, w, b: ops.instance_norm(x, w, b, rm.clone(), rv.clone(), use_input_stats, 0.1,
                                                     1e-5)[0], _x(3, 4, 5), _x(4, seed=1), _x(4, seed=2))


_NORMS = {
    "layer_norm": (lambda m: m.LayerNorm(8), 8),
    "group_norm": (lambda m: m.GroupNorm(2, 8), 8),
    "batch_norm": (lambda m: m.BatchNorm1d(8), 8),
    "batch_norm_eval": (lambda m: m.BatchNorm1d(8).eval(), 8),
    "instance_norm": (lambda m: m.InstanceNorm1d(8, affine=True), 8),
}


def _discriminator(norm):
    torch.manual_seed(0)
    if isinstance(norm, torch.nn.InstanceNorm1d):   # (N, C, L) input
        layers = [torch.nn.Linear(6, 24), torch.nn.Unflatten(1, (8, 3)), norm, torch.nn.Tanh(),
                  torch.nn.Flatten(), torch.nn.Linear(24, 1)]
    else:
        layers = [torch.nn.Linear(6, 8), norm, torch.nn.Tanh(), torch.nn.Linear(8, 1)]
    return torch.nn.Sequential(*layers).double()


@pytest.mark.parametrize("name", sorted(_NORMS))
def test_gradient_penalty_through_a_norm_equals_torch(name):
    # was silently wrong (torch's fallback warned; the penalty's parameter gradients differed)
    make = _NORMS[name][0]
    x = _x(5, 6)
    got = _penalty_grads(_discriminator(make(rct.nn)), x)
    x.grad = None
    want = _penalty_grads(_discriminator(make(torch.nn)), x)
    assert [a is None for a in got] == [b is None for b in want]
    for a, b in zip(got, want):
        if a is not None:
            torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-11)


def test_backward_operator_called_directly_refuses_a_gradient():
    # the backward operators themselves have no formula: differentiating through one raises
    x = _x(4, 6, grad=False)
    y, mean, var = ops.layer_norm(x, None, None, 1, 1e-5)
    dy = _x(4, 6, seed=1)
    dx = ops.layer_norm_backward(dy, x, None, None, mean, var, 1, 1e-5)[0]
    assert dx.requires_grad
    with pytest.raises(RuntimeError, match="regcore::layer_norm_backward has no derivative formula"):
        dx.sum().backward()
    for allow_unused in (False, True):   # with respect to an argument: never "unused" or None
        dx = ops.layer_norm_backward(dy, x, None, None, mean, var, 1, 1e-5)[0]
        with pytest.raises(RuntimeError, match="regcore::layer_norm_backward has no derivative formula"):
            torch.autograd.grad(dx.sum(), dy, allow_unused=allow_unused)
    with torch.no_grad():   # not recording: a plain result
        assert not ops.layer_norm_backward(dy, x, None, None, mean, var, 1, 1e-5)[0].requires_grad


def test_bias_act_dropout_backward_called_directly_with_a_curved_activation_raises():
    # its own formula covers the piecewise-linear activations; the module's second derivative
    # for the others goes through torch's derivative of the activation instead
    x, b = _x(6, 5, grad=False), _x(5, seed=1, grad=False)
    bits = ops.bias_act_dropout(x, b, None, SO, "gelu", 0.3, True)[1]
    dx = ops.bias_act_dropout_backward(_x(6, 5, seed=3), x, b, bits, SO, "gelu", 0.3, False)[0]
    with pytest.raises(RuntimeError, match="activation 'gelu': a second derivative"):
        dx.sum().backward()


@pytest.mark.parametrize("name", ["layer_norm", "group_norm", "batch_norm"])
def test_first_order_create_graph_through_a_norm_equals_torch(name):
    # the penalty of d loss / d (last layer's weight) differentiates the norm's forward only
    torch_norm = {"layer_norm": lambda: torch.nn.LayerNorm(8), "group_norm": lambda: torch.nn.GroupNorm(2, 8),
                  "batch_norm": lambda: torch.nn.BatchNorm1d(8)}[name]()
    grads = []
    for norm in (_NORMS[name][0](rct.nn), torch_norm):
        model = _discriminator(norm)
        x = _x(5, 6, grad=False)
        g, = torch.autograd.grad(model(x).pow(2).sum(), model[-1].weight, create_graph=True)
        g.pow(2).sum().backward()
        grads.append([p.grad.clone() for p in model.parameters()])
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-11)
