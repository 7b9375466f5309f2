"""regcore.torch channel (spatial) and alpha dropout: operators (opcheck, gradcheck), modules with
torch's signatures (convert, eval / p = 0, unbatched inputs, channels_last memory), the same
decisions as the array API, and parity with torch's own modules (distribution of the masks,
exact values given the mask)."""
from __future__ import annotations

import inspect
import math

import numpy as np
import pytest

from _torch_helpers import no_compile_caches, rct, seed_offset, torch

import regcore as rc

ops = torch.ops.regcore
F = rct.nn.functional
PAIRS = [(torch.nn.Dropout1d, rct.nn.Dropout1d), (torch.nn.Dropout2d, rct.nn.Dropout2d),
         (torch.nn.Dropout3d, rct.nn.Dropout3d), (torch.nn.AlphaDropout, rct.nn.AlphaDropout),
         (torch.nn.FeatureAlphaDropout, rct.nn.FeatureAlphaDropout)]


def _x(*shape, grad=False, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=dtype).requires_grad_(grad)


# ---- operators (their opcheck cases are in _torch_channel_dropout_cases.py, run by test_torch_ops.py)

def _gradcheck(fn, *inputs):
    assert torch.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("store", [True, False])
@pytest.mark.parametrize("alpha", [False, True])
@pytest.mark.parametrize("channels_last", [False, True])
def test_gradcheck_channel_dropout(store, alpha, channels_last):
    so = seed_offset(11, 2)
    _gradcheck(lambda x: ops.channel_dropout(x, so, 0.4, False, alpha, channels_last, store)[0], _x(4, 6, 3, grad=True))


@pytest.mark.parametrize("store", [True, False])
def test_gradcheck_alpha_dropout(store):
    so = seed_offset(5, 1)
    _gradcheck(lambda x: ops.alpha_dropout(x, so, 0.3, store)[0], _x(7, 5, grad=True))


@pytest.mark.parametrize("fn", ["dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout"])
def test_gradcheck_functional(fn):
    shape = {"dropout1d": (3, 4, 5), "dropout2d": (2, 4, 3, 3), "dropout3d": (2, 3, 2, 2, 3)}.get(fn, (3, 4, 5))
    f = getattr(F, fn)
    _gradcheck(lambda x: f(x, 0.4, True, generator=rc.Generator(3)), _x(*shape, grad=True))


# ---- modules: signatures, convert, eval / p = 0

@pytest.mark.parametrize("pair", PAIRS, ids=lambda p: p[0].__name__)
def test_module_signature_and_convert(pair):
    tcls, rcls = pair
    tparams = list(inspect.signature(tcls.__init__).parameters.values())
    rparams = list(inspect.signature(rcls.__init__).parameters.values())[: len(tparams)]
    assert [(p.name, p.default) for p in tparams] == [(p.name, p.default) for p in rparams]
    model = torch.nn.Sequential(torch.nn.Identity(), tcls(0.3, inplace=False))
    model.eval()
    rct.convert(model)
    m = model[1]
    assert type(m) is rcls and m.p == 0.3 and not m.training and m.mask == "bits" and m.generator is None
    assert isinstance(m, tcls)
    assert "mask='bits'" in repr(m)


@pytest.mark.parametrize("pair", PAIRS, ids=lambda p: p[0].__name__)
def test_eval_and_p0_return_input_without_drawing(pair):
    _, rcls = pair
    g = rc.Generator(1)
    x = _x(*{rct.nn.Dropout1d: (2, 3, 4), rct.nn.Dropout3d: (2, 3, 4, 5, 2)}.get(rcls, (2, 3, 4, 5)))
    m = rcls(0.5, generator=g).eval()
    assert m(x) is x
    assert rcls(0.0, generator=g)(x) is x
    assert g.offset == 0


def test_modules_use_the_array_api_decisions():
    x = _x(4, 6, 5, 3, dtype=torch.float32)
    y = rct.nn.Dropout2d(0.4, generator=rc.Generator(9))(x)
    ref, m = rc.channel_dropout(x.numpy(), 0.4, generator=rc.Generator(9))
    np.testing.assert_array_equal(y.numpy(), ref)
    ya = rct.nn.FeatureAlphaDropout(0.4, generator=rc.Generator(9))(x)
    np.testing.assert_array_equal(ya.numpy(), rc.feature_alpha_dropout(x.numpy(), 0.4, generator=rc.Generator(9))[0])
    yb = rct.nn.AlphaDropout(0.4, generator=rc.Generator(9))(x)
    np.testing.assert_array_equal(yb.numpy(), rc.alpha_dropout(x.numpy(), 0.4, generator=rc.Generator(9))[0])


def test_backward_through_modules():
    x = _x(3, 5, 4, 4, grad=True)
    dy = _x(3, 5, 4, 4, seed=2)
    y = rct.nn.Dropout2d(0.5, generator=rc.Generator(4))(x)
    y.backward(dy)
    _, m = rc.channel_dropout(x.detach().numpy(), 0.5, generator=rc.Generator(4))
    np.testing.assert_array_equal(x.grad.numpy(), rc.channel_dropout_backward(dy.numpy(), m))
    x.grad = None
    y = rct.nn.FeatureAlphaDropout(0.5, mask="none", generator=rc.Generator(4))(x)
    y.backward(dy)
    _, m = rc.feature_alpha_dropout(x.detach().numpy(), 0.5, generator=rc.Generator(4))
    np.testing.assert_array_equal(x.grad.numpy(), rc.feature_alpha_dropout_backward(dy.numpy(), m))


def test_unbatched_inputs_follow_torch():
    x2 = _x(6, 7)
    y = F.dropout1d(x2, 0.5, generator=rc.Generator(3))
    np.testing.assert_array_equal(y.numpy(), F.dropout1d(x2[None], 0.5, generator=rc.Generator(3))[0].numpy())
    assert all(r.eq(0).all() or r.ne(0).all() for r in y), "rows of (C, L) are channels"
    x4 = _x(3, 2, 4, 5)
    y = F.dropout3d(x4, 0.5, generator=rc.Generator(3))
    np.testing.assert_array_equal(y.numpy(), F.dropout3d(x4[None], 0.5, generator=rc.Generator(3))[0].numpy())
    with pytest.warns(UserWarning, match="3D input"):
        y3 = F.dropout2d(_x(2, 6, 5), 0.5, generator=rc.Generator(3))
    assert all(r.eq(0).all() or r.ne(0).all() for r in y3.reshape(12, 5)), "3-D dropout2d: (N, C, L)"


@pytest.mark.parametrize("fn,dim", [("dropout2d", 4), ("dropout3d", 5), ("feature_alpha_dropout", 4)])
def test_channels_last_memory_format(fn, dim):
    x = _x(*((2, 5, 3, 4, 2)[:dim]), dtype=torch.float32)
    fmt = torch.channels_last if dim == 4 else torch.channels_last_3d
    xl = x.to(memory_format=fmt)
    f = getattr(F, fn)
    y = f(x, 0.5, True, generator=rc.Generator(8))
    yl = f(xl, 0.5, True, generator=rc.Generator(8))
    assert yl.is_contiguous(memory_format=fmt)
    torch.testing.assert_close(yl, y, rtol=0, atol=0)


def test_inplace():
    x = _x(3, 4, 5)
    ref = F.dropout1d(x, 0.5, generator=rc.Generator(2))
    xi = x.clone()
    out = F.dropout1d(xi, 0.5, True, True, generator=rc.Generator(2))
    assert out is xi
    torch.testing.assert_close(xi, ref, rtol=0, atol=0)
    xa = x.clone()
    F.alpha_dropout(xa, 0.5, True, True, generator=rc.Generator(2))
    torch.testing.assert_close(xa, F.alpha_dropout(x, 0.5, True, generator=rc.Generator(2)), rtol=0, atol=0)


def test_torch_default_generator_reproduces():
    x = _x(8, 16, 3, 3, dtype=torch.float32)
    m = rct.nn.Dropout2d(0.5)
    torch.manual_seed(5)
    a = m(x)
    torch.manual_seed(5)
    b = m(x)
    c = m(x)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not torch.equal(a, c)


def test_bad_input_draws_nothing():
    g = rc.Generator(1)
    with pytest.raises(ValueError, match="^input: "):
        F.dropout2d(torch.ones(5), 0.5, generator=g)
    with pytest.raises(ValueError, match="^input: "):
        F.feature_alpha_dropout(torch.ones(5), 0.5, True, generator=g)
    with pytest.raises(ValueError, match="^input: "):
        F.dropout1d(torch.ones(2, 3, 4, 5), 0.5, generator=g)
    with pytest.raises(ValueError, match="^p: "):
        F.dropout2d(torch.ones(2, 3, 4), 1.5, generator=g)
    with pytest.raises(ValueError, match="^mask: "):
        F.alpha_dropout(torch.ones(2, 3), 0.5, True, mask="bytes", generator=g)
    with pytest.raises(TypeError, match="^input: "):
        F.dropout2d(torch.ones(2, 3, 4, 4, dtype=torch.int32), 0.5, generator=g)
    with pytest.raises(ValueError, match="^mask: "):
        rct.nn.Dropout2d(0.5, mask="byte")
    assert g.offset == 0


# ---- parity with torch's own modules

def test_torch_parity_channel_dropout_distribution():
    """torch's RNG differs, so the masks are compared as distributions: whole channels dropped,
    the same kept fraction (5 sigma), kept channels scaled by 1/(1-p) (to one float32 ulp)."""
    n, c, p = 64, 256, 0.3
    x = torch.rand(n, c, 4, 4) + 0.5
    ours = rct.nn.Dropout2d(p, generator=rc.Generator(17))(x)
    torch.manual_seed(0)
    theirs = torch.nn.Dropout2d(p)(x)
    for y in (ours, theirs):
        ratio = (y / x).reshape(n, c, -1)
        dropped = ratio.eq(0).all(-1)
        assert (dropped | ratio.ne(0).all(-1)).all(), "whole channels"
        frac = float(dropped.double().mean())
        assert abs(frac - p) <= 5 * math.sqrt(p * (1 - p) / (n * c))
        kept = ratio[~dropped]
        assert torch.allclose(kept, torch.full_like(kept, 1 / (1 - p)), rtol=2 ** -22, atol=0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("feature", [False, True])
def test_torch_parity_alpha_dropout_exact_given_mask(dtype, feature):
    """torch's output, with its own mask, equals regcore's formula a*x + b / d bit for bit; and
    regcore's output values lie in the same two sets."""
    p = 0.2
    x = _x(32, 16, 5, dtype=dtype, seed=3)
    a, b, d = (torch.tensor(float(v), dtype=dtype) for v in rc.alpha_coefficients(p, np.dtype(str(dtype)[6:])))
    torch.manual_seed(1)
    theirs = (torch.nn.functional.feature_alpha_dropout if feature else torch.nn.functional.alpha_dropout)(x, p, True)
    ours = (F.feature_alpha_dropout if feature else F.alpha_dropout)(x, p, True, generator=rc.Generator(6))
    for y in (theirs, ours):
        kept = y.ne(d)
        expect = torch.where(kept, x * a + b, d)
        torch.testing.assert_close(y, expect, rtol=0, atol=0)
        frac = float((~kept).double().mean())
        assert abs(frac - p) < 0.05
        if feature:
            assert (kept.all(-1) | (~kept).all(-1)).all()


def test_torch_parity_alpha_dropout_moments():
    x = torch.randn(200_000, dtype=torch.float64)
    ours = F.alpha_dropout(x, 0.1, True, generator=rc.Generator(2))
    torch.manual_seed(2)
    theirs = torch.nn.functional.alpha_dropout(x, 0.1, True)
    for y in (ours, theirs):
        assert abs(float(y.mean())) < 0.01 and abs(float(y.var()) - 1) < 0.02


def test_fullgraph_compile_matches_eager():
    """torch.compile(fullgraph=True) of a small SELU / conv net with every new module: no graph
    break, the same outputs and gradients as eager for the same torch seed (one compilation)."""
    nn = torch.nn
    torch._dynamo.reset()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), rct.nn.Dropout2d(0.3), nn.SELU(),
                          rct.nn.FeatureAlphaDropout(0.2), nn.Flatten(), rct.nn.AlphaDropout(0.1),
                          nn.Linear(8 * 5 * 5, 4))
    x = torch.randn(4, 3, 5, 5)
    with no_compile_caches():
        explanation = torch._dynamo.explain(model)(x)
        assert explanation.graph_break_count == 0 and explanation.graph_count == 1
        compiled = torch.compile(model, fullgraph=True)
        runs = {}
        for name, fn in (("eager", model), ("compiled", compiled)):
            torch.manual_seed(7)
            y = fn(x)
            runs[name] = (y.detach(), torch.autograd.grad(y.square().sum(), list(model.parameters())))
    torch.testing.assert_close(runs["compiled"][0], runs["eager"][0], rtol=1e-5, atol=1e-6)
    for a, b in zip(runs["eager"][1], runs["compiled"][1]):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5)
