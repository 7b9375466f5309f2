"""regcore.torch under torch.func's transforms and forward-mode AD.

Reverse mode (torch.func.grad, jacrev, vjp), vmap, per-sample gradients (vmap over grad), grad
over vmap, and forward mode (torch.func.jvp, jacfwd, hessian, torch.autograd.forward_ad) give
torch's modules' answers for the normalization layers; for the dropout family forward mode is
checked against the reverse-mode Jacobian of the same masks. Before, torch.func.jvp and jacfwd
through a regcore layer returned zeros without a word, and torch.func.grad raised an error about
autograd.Function internals. An operator called directly under a transform raises naming it.
"""
from __future__ import annotations

import pytest

from _torch_helpers import rct, torch

func = torch.func
# vmap runs regcore's operators sample by sample (torch's batching fallback), and says so
pytestmark = pytest.mark.filterwarnings("ignore:There is a performance drop:UserWarning")
X = torch.randn(4, 8, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)

# (regcore module, torch module) pairs on (N, 8, 3) inputs whose answers do not depend on randomness
_NORMS = {
    "layer_norm": (lambda: rct.nn.LayerNorm(3), lambda: torch.nn.LayerNorm(3)),
    "group_norm": (lambda: rct.nn.GroupNorm(2, 8), lambda: torch.nn.GroupNorm(2, 8)),
    "instance_norm": (lambda: rct.nn.InstanceNorm1d(8, affine=True), lambda: torch.nn.InstanceNorm1d(8, affine=True)),
    "batch_norm_eval": (lambda: rct.nn.BatchNorm1d(8).eval(), lambda: torch.nn.BatchNorm1d(8).eval()),
    "batch_norm_untracked": (lambda: rct.nn.BatchNorm1d(8, track_running_stats=False),
                             lambda: torch.nn.BatchNorm1d(8, track_running_stats=False)),
}


def _params(m):
    return {k: v.detach() for k, v in m.named_parameters()}


_REVERSE = {
    "grad": lambda m: func.grad(lambda x: m(x).pow(2).sum())(X),
    "jacrev": lambda m: func.jacrev(m)(X[:2]),
    "vjp": lambda m: func.vjp(m, X)[1](torch.ones_like(X)),
    "vmap": lambda m: func.vmap(m)(X.unsqueeze(1)),
    "per_sample_grads": lambda m: func.vmap(
        func.grad(lambda p, x: func.functional_call(m, p, (x.unsqueeze(0),)).pow(2).sum()),
        in_dims=(None, 0))(_params(m), X),
    "grad_of_vmap": lambda m: func.grad(lambda x: func.vmap(m)(x.unsqueeze(1)).pow(2).sum())(X),
}


def _flat(tree):
    return torch.cat([t.reshape(-1) for t in torch.utils._pytree.tree_leaves(tree)])


@pytest.mark.parametrize("transform", sorted(_REVERSE))
@pytest.mark.parametrize("name", sorted(_NORMS))
def test_norm_reverse_mode_transforms_equal_torch(name, transform):
    ours, theirs = (make().double() for make in _NORMS[name])
    got = _flat(_REVERSE[transform](ours))
    torch.testing.assert_close(got, _flat(_REVERSE[transform](theirs)), rtol=1e-9, atol=1e-11)


_FORWARD = {
    "jvp": lambda m: func.jvp(m, (X,), (_T,))[1],
    "jacfwd": lambda m: func.jacfwd(m)(X[:2]),
    "hessian": lambda m: func.hessian(lambda x: m(x).pow(2).sum())(X[:2]),
    "forward_ad": lambda m: _dual(m, X, _T),
    "jvp_in_weight": lambda m: func.jvp(lambda w: func.functional_call(m, {"weight": w}, (X,)), (m.weight.detach(),),
                                        (torch.ones_like(m.weight),))[1],
}
_T = torch.randn(X.shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64)


def _dual(f, x, t):
    with torch.autograd.forward_ad.dual_level():
        return torch.autograd.forward_ad.unpack_dual(f(torch.autograd.forward_ad.make_dual(x, t))).tangent


@pytest.mark.parametrize("mode", sorted(_FORWARD))
@pytest.mark.parametrize("name", sorted(_NORMS))
def test_norm_forward_mode_equals_torch(name, mode):
    # was: torch.func.jvp / jacfwd returned zeros silently
    ours, theirs = (make().double() for make in _NORMS[name])
    got = _flat(_FORWARD[mode](ours))
    assert got.abs().sum() > 0
    torch.testing.assert_close(got, _flat(_FORWARD[mode](theirs)), rtol=1e-9, atol=1e-11)


_DROPOUTS = {
    "dropout": lambda: rct.nn.Dropout(0.3),
    "dropout2d": lambda: rct.nn.Dropout2d(0.3),
    "alpha_dropout": lambda: rct.nn.AlphaDropout(0.3),
    "feature_alpha_dropout": lambda: rct.nn.FeatureAlphaDropout(0.3),
    "gaussian_noise_multiplicative": lambda: rct.nn.GaussianNoise(0.2, mode="multiplicative"),
    "gaussian_noise_additive": lambda: rct.nn.GaussianNoise(0.2),
    "bias_relu_dropout": lambda: rct.nn.BiasActDropout(3, "relu", 0.3).double(),
    "bias_gelu_dropout": lambda: rct.nn.BiasActDropout(3, "gelu", 0.3).double(),
}


def _seeded(m):
    def f(*x):   # the same masks on every call: torch.manual_seed positions the stream
        torch.manual_seed(5)
        return m(*x)
    return f


@pytest.mark.parametrize("name", sorted(_DROPOUTS))
def test_dropout_forward_mode_equals_the_reverse_jacobian(name):
    f = _seeded(_DROPOUTS[name]())
    x = X[:2]
    n = x.numel()
    jac = func.jacrev(f)(x).reshape(n, n)
    t = torch.randn(x.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    want = (jac @ t.reshape(-1)).reshape(x.shape)
    assert jac.abs().sum() > 0
    torch.testing.assert_close(func.jvp(f, (x,), (t,))[1], want, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(func.jacfwd(f)(x).reshape(n, n), jac, rtol=1e-12, atol=1e-14)
    with torch.autograd.forward_ad.dual_level():
        y = f(torch.autograd.forward_ad.make_dual(x, t))
        torch.testing.assert_close(torch.autograd.forward_ad.unpack_dual(y).tangent, want, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", sorted(_DROPOUTS))
def test_dropout_hessian_equals_reverse_over_reverse(name):
    f = _seeded(_DROPOUTS[name]())
    loss = lambda x: f(x).pow(3).sum()   # noqa: E731
    x = X[:2]
    torch.testing.assert_close(func.hessian(loss)(x), func.jacrev(func.jacrev(loss))(x), rtol=1e-10, atol=1e-12)


def test_operator_called_directly_under_grad_raises_naming_it():
    with pytest.raises(RuntimeError, match="regcore::layer_norm under a torch.func transform"):
        func.grad(lambda x: torch.ops.regcore.layer_norm(x, None, None, 1, 1e-5)[0].pow(2).sum())(X)


def test_batch_norm_training_under_grad_refuses_as_torch_does():
    # the running statistics' in-place update: torch.func's own error, for both modules
    for make in _NORMS["batch_norm_eval"]:
        m = make().double().train()
        with pytest.raises(RuntimeError, match="in-place"):
            func.grad(lambda x: m(x).pow(2).sum())(X)


def _leaf(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64,
                       requires_grad=True)


_F = rct.nn.functional
_STATS = (torch.zeros(4, dtype=torch.float64), torch.ones(4, dtype=torch.float64))
_GRADCHECK = {
    "layer_norm": (lambda x, w, b: _F.layer_norm(x, (5,), w, b), (_leaf(3, 5), _leaf(5, seed=1), _leaf(5, seed=2))),
    "group_norm": (lambda x, w, b: _F.group_norm(x, 2, w, b), (_leaf(3, 4, 5), _leaf(4, seed=1), _leaf(4, seed=2))),
    "batch_norm_train": (lambda x, w, b: _F.batch_norm(x, None, None, w, b, True),
                         (_leaf(6, 4), _leaf(4, seed=1), _leaf(4, seed=2))),
    "batch_norm_eval": (lambda x, w, b: _F.batch_norm(x, *_STATS, w, b, False),
                        (_leaf(6, 4), _leaf(4, seed=1), _leaf(4, seed=2))),
    "instance_norm": (lambda x, w, b: _F.instance_norm(x, weight=w, bias=b),
                      (_leaf(3, 4, 5), _leaf(4, seed=1), _leaf(4, seed=2))),
    "dropout": (_seeded(lambda x: _F.dropout(x, 0.3)), (_leaf(4, 6),)),
    "dropout2d": (_seeded(lambda x: _F.dropout2d(x, 0.3)), (_leaf(3, 4, 5),)),
    "bias_gelu_dropout": (_seeded(lambda x, b: _F.bias_act_dropout(x, b, "gelu", 0.3)),
                          (_leaf(4, 6), _leaf(6, seed=1))),
    "gaussian_noise": (_seeded(lambda x: _F.gaussian_noise(x, 0.2, mode="multiplicative")), (_leaf(4, 6),)),
}


@pytest.mark.parametrize("name", sorted(_GRADCHECK))
def test_gradcheck_forward_mode_batched_and_second_order(name):
    # finite differences against the forward-mode formulas, the backward under vmap, and the
    # second order both ways (reverse over reverse, forward over reverse), as PyTorch's own
    # operator tests check them
    fn, inputs = _GRADCHECK[name]
    assert torch.autograd.gradcheck(fn, inputs, check_forward_ad=True, check_batched_grad=True)
    assert torch.autograd.gradgradcheck(fn, inputs, check_fwd_over_rev=True, check_rev_over_rev=True)
