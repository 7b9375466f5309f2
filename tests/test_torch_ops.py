"""torch.ops.regcore.*: every operator passes torch.library.opcheck (schema and declared
mutations, fake kernel, autograd registration, AOT dispatch with dynamic shapes), and every
differentiable one passes gradcheck in float64 (finite differences against its registered
backward)."""
from __future__ import annotations

import pytest

from _torch_channel_dropout_cases import cases as _channel_dropout_cases
from _torch_helpers import rct, seed_offset, torch

import regcore as rc

ops = torch.ops.regcore
F64 = dict(dtype=torch.float64)


def _x(*shape, grad=False, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=dtype).requires_grad_(grad)


def _handle(generator):
    return rct._rng.handle(generator)


def _bn_stats(x):
    return ops.batch_norm_stats(x, 1)


GEN = rc.Generator(5)   # a generator the opcheck cases draw 0 blocks from (deterministic results)


def _cases():
    x = _x(6, 5, grad=True)
    x4 = _x(4, 6, 3, 3, grad=True)
    w, b = _x(6, grad=True, seed=1), _x(6, grad=True, seed=2)
    rm, rv = torch.zeros(6, **F64), torch.ones(6, **F64)
    xd, dy, dy4 = x.detach(), _x(6, 5, seed=3), _x(4, 6, 3, 3, seed=4)
    so = seed_offset(7, 3)
    bits = ops.dropout(xd, so, 0.3, False, True)[1]
    y, mean, var, _, _ = ops.batch_norm(x4.detach(), w.detach(), b.detach(), rm, rv, True, 0.1, 1e-5, 1)
    st = _bn_stats(x4.detach())
    red = ops.batch_norm_backward_reduce(dy4, x4.detach(), w.detach(), b.detach(), mean, var, 0.0, 1e-5, 1)
    lmean, lvar = ops.layer_norm(x4.detach(), None, None, 2, 1e-5)[1:]
    gmean, gvar = ops.group_norm(x4.detach(), 3, None, None, 1e-5)[1:]
    imean, ivar = ops.instance_norm(x4.detach(), None, None, None, None, True, 0.1, 1e-5)[1:3]
    wd, bd = w.detach(), b.detach()
    bias5 = _x(5, grad=True, seed=5)
    return {
        "seed_offset": (ops.seed_offset, (torch.zeros((), dtype=torch.int64), _handle(GEN), 0)),
        "dropout": (ops.dropout, (x, so, 0.3, False, True)),
        "dropout_none": (ops.dropout, (x, so, 0.3, True, False)),
        "dropout_backward": (ops.dropout_backward, (dy, bits, so, 0.3, False)),
        "dropout_backward_differentiated": (ops.dropout_backward, (dy.clone().requires_grad_(), bits, so, 0.3, True)),
        "dropout_": (ops.dropout_, (xd.clone(), so, 0.3, False)),
        "gaussian_noise": (ops.gaussian_noise, (x, so, 0.2, True)),
        "bias_act_dropout": (ops.bias_act_dropout, (x, bias5, _x(6, 5, grad=True, seed=6), so, "gelu", 0.2, True)),
        "bias_act_dropout_backward": (ops.bias_act_dropout_backward,
                                      (dy, xd, bias5.detach(), ops.dropout(xd, so, 0.2, False, True)[1], so, "tanh",
                                       0.2, False)),
        "bias_act_dropout_backward_differentiated": (
            ops.bias_act_dropout_backward, (dy.clone().requires_grad_(), xd, bias5.detach(),
                                            ops.dropout(xd, so, 0.2, False, True)[1], so, "relu", 0.2, True)),
        "batch_norm": (ops.batch_norm, (x4, w, b, rm.clone(), rv.clone(), True, 0.1, 1e-5, 1)),
        "batch_norm_eval": (ops.batch_norm, (x4, w, b, rm, rv, False, 0.1, 1e-5, 1)),
        "batch_norm_backward": (ops.batch_norm_backward, (dy4, x4.detach(), wd, bd, mean, var, True, 0.0, 1e-5, 1)),
        "batch_norm_stats": (ops.batch_norm_stats, (x4.detach(), 1)),
        "merge_stats": (ops.merge_stats, (torch.stack([st, st]),)),
        "batch_norm_apply": (ops.batch_norm_apply, (x4.detach(), st, wd, bd, rm.clone(), rv.clone(), 0.1, 1e-5, 1)),
        "batch_norm_backward_reduce": (ops.batch_norm_backward_reduce, (dy4, x4.detach(), wd, bd, mean, var, 0.0, 1e-5, 1)),
        "batch_norm_backward_apply": (ops.batch_norm_backward_apply,
                                      (dy4, x4.detach(), wd, bd, mean, var, red, red, 0.0, 1e-5, 1)),
        "layer_norm": (ops.layer_norm, (x4, _x(3, 3, grad=True), _x(3, 3, grad=True, seed=1), 2, 1e-5)),
        "layer_norm_backward": (ops.layer_norm_backward, (dy4, x4.detach(), None, None, lmean, lvar, 2, 1e-5)),
        "group_norm": (ops.group_norm, (x4, 3, w, b, 1e-5)),
        "group_norm_backward": (ops.group_norm_backward, (dy4, x4.detach(), wd, bd, gmean, gvar, 3, 1e-5)),
        "instance_norm": (ops.instance_norm, (x4, w, b, rm.clone(), rv.clone(), True, 0.1, 1e-5)),
        "instance_norm_backward": (ops.instance_norm_backward, (dy4, x4.detach(), wd, bd, imean, ivar, True, 1e-5)),
        "sgd_step_": (ops.sgd_step_, ([_x(4, 3), _x(5)], [_x(4, 3, seed=1), _x(5, seed=2)],
                                      [torch.empty(4, 3, **F64), _x(5, seed=3)], [True, False], 0.1, 0.9, 0.0, False,
                                      1e-4, 0.0, 1e-3, "proximal", 2.0, 0, False)),
        "sgd_step_half_": (ops.sgd_step_half_, (
            [_x(4, 3, dtype=torch.bfloat16), _x(5, dtype=torch.bfloat16)],
            [_x(4, 3, seed=1, dtype=torch.bfloat16), _x(5, seed=2, dtype=torch.bfloat16)],
            [torch.empty(4, 3), _x(5, seed=3, dtype=torch.float32)], [True, False], [], 0.1, 0.9, 0.0, False,
            1e-4, 0.0, 1e-3, "proximal", 2.0, 0, False, True, 7, 3)),
        "sgd_step_half_master": (ops.sgd_step_half_, (
            [_x(4, 3, dtype=torch.float16)], [_x(4, 3, seed=1, dtype=torch.float16)], [torch.empty(4, 3)], [True],
            [_x(4, 3, dtype=torch.float32)], 0.1, 0.9, 0.0, False, 1e-4, 0.0, 0.0, "proximal", 0.0, 0, False,
            False, 0, 0)),
        "ema_update_": (ops.ema_update_, ([_x(4, 3), _x(5)], [_x(4, 3, seed=1), _x(5, seed=2)], 0.9)),
        "swa_update_": (ops.swa_update_, ([_x(4, 3), _x(5)], [_x(4, 3, seed=1), _x(5, seed=2)], 2)),
    }


CASES = _cases()
CASES.update(_channel_dropout_cases())


def test_every_operator_has_a_case():
    declared = {name for name in dir(ops) if not name.startswith("_") and hasattr(getattr(ops, name), "default")}
    covered = {op.default.name().split("::")[1] if hasattr(op, "default") else op.name().split("::")[1]
               for op, _ in CASES.values()}
    assert declared - {"__name__"} <= covered, declared - covered


@pytest.mark.parametrize("name", sorted(CASES))
def test_opcheck(name):
    op, args = CASES[name]
    torch.library.opcheck(op, args)


def _gradcheck(fn, *inputs):
    assert torch.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("mask", [True, False])
@pytest.mark.parametrize("vanilla", [False, True])
def test_gradcheck_dropout(mask, vanilla):
    so = seed_offset(11, 2)
    _gradcheck(lambda x: ops.dropout(x, so, 0.4, vanilla, mask)[0], _x(7, 5, grad=True))


@pytest.mark.parametrize("multiplicative", [False, True])
def test_gradcheck_gaussian_noise(multiplicative):
    so = seed_offset(3, 9)
    _gradcheck(lambda x: ops.gaussian_noise(x, so, 0.3, multiplicative), _x(4, 6, grad=True))


@pytest.mark.parametrize("activation", ["identity", "gelu", "gelu_tanh", "tanh", "sigmoid", "relu"])
def test_gradcheck_bias_act_dropout(activation):
    so = seed_offset(5, 1)
    x, b, r = _x(6, 8, grad=True), _x(8, grad=True, seed=1), _x(6, 8, grad=True, seed=2)
    _gradcheck(lambda x, b, r: ops.bias_act_dropout(x, b, r, so, activation, 0.25, True)[0], x, b, r)
    _gradcheck(lambda x, b: ops.bias_act_dropout(x, b, None, so, activation, 0.25, False)[0], x, b)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", [(5, 4), (3, 4, 5), (2, 4, 3, 3)])
def test_gradcheck_batch_norm(training, shape):
    x, w, b = _x(*shape, grad=True), _x(4, grad=True, seed=1), _x(4, grad=True, seed=2)
    rm, rv = _x(4, seed=3), _x(4, seed=4).abs() + 0.5
    _gradcheck(lambda x, w, b: ops.batch_norm(x, w, b, rm.clone(), rv.clone(), training, 0.1, 1e-5, 1)[0], x, w, b)
    _gradcheck(lambda x: ops.batch_norm(x, None, None, None, None, True, 0.1, 1e-5, 1)[0], x)


def test_gradcheck_batch_norm_channels_last_view():
    x = _x(2, 3, 3, 4, grad=True)   # the (N, H, W, C) view of a channels_last tensor, axis -1
    w, b = _x(4, grad=True, seed=1), _x(4, grad=True, seed=2)
    _gradcheck(lambda x, w, b: ops.batch_norm(x, w, b, None, None, True, 0.1, 1e-5, -1)[0], x, w, b)


def test_gradcheck_layer_norm():
    x, w, b = _x(3, 4, 5, grad=True), _x(4, 5, grad=True, seed=1), _x(4, 5, grad=True, seed=2)
    _gradcheck(lambda x, w, b: ops.layer_norm(x, w, b, 2, 1e-5)[0], x, w, b)
    _gradcheck(lambda x: ops.layer_norm(x, None, None, 1, 1e-5)[0], x)


def test_gradcheck_group_norm():
    x, w, b = _x(3, 6, 4, grad=True), _x(6, grad=True, seed=1), _x(6, grad=True, seed=2)
    _gradcheck(lambda x, w, b: ops.group_norm(x, 2, w, b, 1e-5)[0], x, w, b)
    _gradcheck(lambda x: ops.group_norm(x, 3, None, None, 1e-5)[0], x)


@pytest.mark.parametrize("use_input_stats", [True, False])
def test_gradcheck_instance_norm(use_input_stats):
    x, w, b = _x(3, 4, 5, grad=True), _x(4, grad=True, seed=1), _x(4, grad=True, seed=2)
    rm, rv = _x(4, seed=3), _x(4, seed=4).abs() + 0.5
    _gradcheck(lambda x, w, b: ops.instance_norm(x, w, b, rm.clone(), rv.clone(), use_input_stats, 0.1, 1e-5)[0],
               x, w, b)
