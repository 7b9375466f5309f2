"""Bad input to regcore.torch: what torch's modules reject is rejected (TypeError/ValueError
naming the argument, or torch's own exception class), before any parameter, buffer or generator
changes."""
from __future__ import annotations

import pytest

from _torch_helpers import rct, torch

import regcore as rc

nn = torch.nn
F = rct.nn.functional


def _snapshot(module):
    return {k: v.clone() for k, v in module.state_dict().items()}


def _unchanged(module, before):
    after = module.state_dict()
    return all(torch.equal(before[k], after[k]) for k in before)


@pytest.mark.parametrize("module,x,exc,match", [
    (lambda: rct.nn.BatchNorm2d(3), torch.randn(2, 4, 3, 3), ValueError, "weight"),
    (lambda: rct.nn.BatchNorm1d(3), torch.randn(1, 3), ValueError, "more than one value per channel"),
    # 16-bit input with float32 (mixed) or same-dtype parameters is taken; other pairs are not
    (lambda: rct.nn.BatchNorm2d(3).to(torch.float16), torch.randn(2, 3, 2, 2, dtype=torch.bfloat16), TypeError,
     "float16"),
    (lambda: rct.nn.BatchNorm2d(3).double(), torch.randn(2, 3, 2, 2, dtype=torch.float16), TypeError, "float64"),
    (lambda: rct.nn.BatchNorm2d(3), torch.randn(2, 3, 2, 2, dtype=torch.float64), TypeError, "dtype"),
    (lambda: rct.nn.InstanceNorm1d(3, track_running_stats=True), torch.randn(2, 3, 1), ValueError, "spatial"),
    (lambda: rct.nn.LayerNorm(5), torch.randn(3, 4), ValueError, "normalized_shape"),
    (lambda: rct.nn.GroupNorm(2, 4), torch.randn(3, 6, 2), ValueError, "weight"),
    (lambda: rct.nn.BiasActDropout(5), torch.randn(3, 4), ValueError, "bias"),
])
def test_module_refusals_leave_state_unchanged(module, x, exc, match):
    m = module()
    m.train()
    before = _snapshot(m)
    torch.manual_seed(0)
    rng = torch.get_rng_state()
    with pytest.raises(exc, match=match):
        m(x)
    assert _unchanged(m, before) and torch.equal(torch.get_rng_state(), rng)


def test_random_refusals_draw_nothing():
    g = rc.Generator(3)
    for call, exc in [(lambda: F.dropout(torch.zeros(4, dtype=torch.int32), 0.5, generator=g), TypeError),
                      (lambda: F.dropout(torch.zeros(4), 1.5, generator=g), ValueError),
                      (lambda: F.dropout(torch.zeros(4), 0.5, mask="bytes", generator=g), ValueError),
                      (lambda: F.gaussian_noise(torch.zeros(4), -1.0, generator=g), ValueError),
                      (lambda: F.bias_act_dropout(torch.zeros(2, 4), torch.zeros(4, dtype=torch.float64), "relu", 0.5,
                                                  generator=g), TypeError),
                      (lambda: F.bias_act_dropout(torch.zeros(2, 4), torch.zeros(4), "swish", 0.5, generator=g),
                       ValueError),
                      (lambda: F.dropout(torch.zeros(4), 0.5, generator="seed"), TypeError)]:
        with pytest.raises(exc):
            call()
    assert g.offset == 0


def test_an_int_generator_is_refused_even_where_a_module_holds_that_handle():
    """Modules pass their generator resolved to its operator handle; a plain int from a caller (a
    seed, by mistake) is still refused, never read as the generator some module holds."""
    g = rc.Generator(3)
    module = rct.nn.Dropout(0.5, generator=g)
    (handle,) = module._generator_handle
    for call in (lambda: F.dropout(torch.zeros(4), 0.5, generator=handle),
                 lambda: F.gaussian_noise(torch.zeros(4), 1.0, generator=handle),
                 lambda: F.dropout2d(torch.zeros(2, 3, 4, 4), 0.5, generator=handle)):
        with pytest.raises(TypeError, match="generator"):
            call()
    assert g.offset == 0
    module(torch.zeros(4))
    assert g.offset > 0   # (the module's own handle draws from g)


def test_inplace_dropout_of_a_leaf_that_requires_grad():
    x = torch.randn(5, requires_grad=True)
    g = rc.Generator(1)
    with pytest.raises(RuntimeError, match="leaf"):
        F.dropout(x, 0.5, inplace=True, generator=g)
    assert g.offset == 0


def test_mismatched_devices_are_named():
    x = torch.randn(4, 3)
    with pytest.raises((TypeError, ValueError), match="weight"):
        F.batch_norm(x, None, None, torch.ones(3, device="meta"), None, True)
    with pytest.raises(ValueError, match="bias"):
        F.bias_act_dropout(x, torch.zeros(3, device="meta"), "relu", 0.1)


def test_constructor_refusals():
    with pytest.raises(ValueError):
        rct.nn.Dropout(-0.1)
    with pytest.raises(ValueError, match="mask"):
        rct.nn.Dropout(0.1, mask="bytes")
    with pytest.raises(ValueError, match="activation"):
        rct.nn.BiasActDropout(4, "swish")
    with pytest.raises(ValueError, match="std"):
        rct.nn.GaussianNoise(-1.0)
    with pytest.raises(ValueError):
        rct.nn.GroupNorm(3, 4)   # torch's own check
