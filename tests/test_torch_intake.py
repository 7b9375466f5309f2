"""Item 8 of the PyTorch issue: every plain regcore.* call takes torch CPU tensors end to end
(results are torch tensors), including batch_norm_backward (it raised a pybind TypeError); a
tensor that requires grad works where the call is not differentiable (an in-place target: init,
an optimizer step; or autograd not recording) and is refused with what to do elsewhere; dtypes
NumPy has no type for are named."""
from __future__ import annotations

import numpy as np
import pytest

from _torch_helpers import torch

import regcore as rc


def _t(*shape, seed=0, dtype=torch.float32):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def test_batch_norm_backward_on_torch_cpu_tensors_matches_numpy():
    x, dy, g, b = _t(6, 4, 5), _t(6, 4, 5, seed=1), _t(4, seed=2), _t(4, seed=3)
    y, saved = rc.batch_norm(x, g, b, torch.zeros(4), torch.ones(4))
    grads = rc.batch_norm_backward(dy, x, g, saved)
    yn, sn = rc.batch_norm(x.numpy(), g.numpy(), b.numpy(), np.zeros(4, np.float32), np.ones(4, np.float32))
    ref = rc.batch_norm_backward(dy.numpy(), x.numpy(), g.numpy(), sn)
    assert isinstance(y, torch.Tensor) and all(isinstance(a, torch.Tensor) for a in grads)
    np.testing.assert_array_equal(y.numpy(), yn)
    for a, r in zip(grads, ref):
        np.testing.assert_array_equal(a.numpy(), r)


def _calls():
    x, x2, g = _t(8, 6, 5), _t(8, 6), rc.Generator(1)
    gam, bet = torch.ones(6), torch.zeros(6)
    st = rc.batch_norm_stats(x)
    y, s = rc.batch_norm_apply(x, rc.merge_stats([st, st]), gam, bet)
    yield "batch_norm split", rc.batch_norm_backward_apply(y, x, gam, s, rc.batch_norm_backward_reduce(y, x, s))
    y, s = rc.layer_norm(x, torch.ones(5), torch.zeros(5))
    yield "layer_norm", rc.layer_norm_backward(y, x, torch.ones(5), s)
    y, s = rc.group_norm(x, 3, gam, bet)
    yield "group_norm", rc.group_norm_backward(y, x, gam, s)
    y, s = rc.instance_norm(x, gam, bet, torch.zeros(6), torch.ones(6))
    yield "instance_norm", rc.instance_norm_backward(y, x, gam, s)
    y, s = rc.bias_act_dropout(x2, torch.zeros(6), "gelu", 0.3, residual=_t(8, 6), generator=g)
    yield "bias_act_dropout", rc.bias_act_dropout_backward(y, s)
    y, m = rc.dropout(x, 0.4, generator=g)
    yield "dropout", (y, rc.dropout_backward(y, m), m.bits)
    yield "dropconnect", rc.dropconnect(x2, 0.2, generator=g)[:1]
    yield "gaussian_noise", (rc.gaussian_noise(x, 0.1, generator=g), rc.dropout_scale(x, 0.2))
    yield "random", (rc.random.normal((3,), like=x, generator=g), rc.random.uniform_(x.clone(), generator=g),
                     rc.random.bits((4,), like=x, generator=g))
    yield "init", (rc.init.kaiming_normal_(_t(4, 3), generator=g), rc.init.orthogonal_(_t(4, 3), generator=g),
                   rc.init.sparse_(_t(4, 3), 2, generator=g), rc.init.zeros((2,), like=x))
    w = _t(4, 3)
    yield "sgd", (rc.sgd_step_(w, _t(4, 3, seed=5), None, lr=0.1), w)
    yield "mc_dropout", rc.mc_dropout(lambda a, gg: rc.dropout(a, 0.5, generator=gg)[0], x, samples=3, generator=g)


@pytest.mark.parametrize("name,results", list(_calls()), ids=lambda v: v if isinstance(v, str) else "")
def test_every_family_returns_torch_tensors(name, results):
    for r in results:
        if r is not None:
            assert isinstance(r, torch.Tensor), (name, type(r))


def test_parameters_work_where_nothing_is_differentiated():
    p = torch.nn.Parameter(_t(5, 4))
    rc.init.xavier_uniform_(p, generator=rc.Generator(0))          # in place, as torch.nn.init under no_grad
    buf = rc.sgd_step_(p, _t(5, 4, seed=1), None, lr=0.1, momentum=0.9)
    assert isinstance(buf, torch.Tensor) and p.requires_grad
    opt = rc.optim.SGD([p])
    opt.step([_t(5, 4, seed=2)])
    with torch.no_grad():   # autograd not recording: reading is fine too
        assert rc.penalty(p, l1=1.0) > 0


@pytest.mark.parametrize("call", [lambda p: rc.dropout(p, 0.5), lambda p: rc.batch_norm(p),
                                  lambda p: rc.penalty([p], l1=1.0), lambda p: rc.layer_norm(p)])
def test_differentiable_inputs_that_require_grad_are_refused_with_advice(call):
    p = torch.nn.Parameter(_t(4, 3))
    with pytest.raises(TypeError, match="requires grad.*regcore.torch.*no_grad.*detach"):
        call(p)
    call(p.detach())


@pytest.mark.parametrize("dtype", [torch.int16, torch.int32, torch.complex64])
def test_other_dtypes_are_named(dtype):
    # (bfloat16 and float16 are data dtypes of layer norm: tests/test_norms_half.py)
    with pytest.raises(TypeError, match=str(dtype).replace("torch.", "")):
        rc.layer_norm(torch.zeros(2, 4, dtype=dtype))


def test_non_contiguous_and_conjugate_views_are_refused():
    with pytest.raises(ValueError, match="C-contiguous"):
        rc.dropout(_t(4, 6).T, 0.5)
    with pytest.raises(TypeError):
        rc.dropout(torch.randn(4, dtype=torch.complex64).conj(), 0.5)


def test_import_regcore_never_imports_torch():
    import os

    import _fresh_import       # a fresh import of regcore in a forked child that has not imported torch

    code = "import sys, regcore, regcore.optim; assert 'torch' not in sys.modules, 'torch imported'"
    proc = _fresh_import.run(code, dict(os.environ))
    assert proc.returncode == 0, proc.stderr
