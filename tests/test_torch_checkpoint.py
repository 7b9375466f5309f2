"""Activation checkpointing (torch.utils.checkpoint) through regcore's random layers: the
recomputation in the backward must draw the forward's masks, or the gradients are those of
other masks. With torch's default generators (generator=None) torch restores them itself; a
module given an explicit generator needs regcore.torch.checkpoint_context_fn, which replays that
generator for the recomputation and leaves it where the run without checkpointing would."""
from __future__ import annotations

import pytest

from _torch_helpers import rct, torch

import regcore as rc

checkpoint = torch.utils.checkpoint.checkpoint

_LAYERS = {
    "dropout": lambda g: rct.nn.Dropout(0.5, generator=g),
    "dropout2d": lambda g: rct.nn.Dropout2d(0.5, generator=g),
    "alpha_dropout": lambda g: rct.nn.AlphaDropout(0.3, generator=g),
    "gaussian_noise": lambda g: rct.nn.GaussianNoise(0.2, mode="multiplicative", generator=g),
    "bias_gelu_dropout": lambda g: rct.nn.BiasActDropout(8, "gelu", 0.3, generator=g),
}
_GENERATORS = {"default": lambda: None, "regcore": lambda: rc.Generator(3),
               "torch": lambda: torch.Generator().manual_seed(3)}


def _run(layer, generator, how):
    torch.manual_seed(0)
    lin = torch.nn.Linear(8, 8)
    drop = _LAYERS[layer](_GENERATORS[generator]())
    x = torch.randn(4, 8, 3, requires_grad=True) if layer == "dropout2d" else torch.randn(4, 8, requires_grad=True)

    def segment(x):
        h = torch.tanh(lin(x.transpose(1, -1))).transpose(1, -1) if x.dim() == 3 else torch.tanh(lin(x))
        return drop(h) * 2

    torch.manual_seed(1)
    if how == "plain":
        y = segment(x)
    elif how == "context_fn":
        y = checkpoint(segment, x, use_reentrant=False, context_fn=rct.checkpoint_context_fn(drop))
    else:
        y = checkpoint(segment, x, use_reentrant=how == "reentrant")
    y.pow(2).sum().backward()
    state = None if drop.generator is None else (
        drop.generator.get_state() if isinstance(drop.generator, torch.Generator) else drop.generator.state)
    return y.detach(), x.grad, lin.weight.grad, state


def _same(a, b):
    for u, v in zip(a[:3], b[:3]):
        assert torch.equal(u, v)
    assert (a[3] is None and b[3] is None) or (torch.equal(a[3], b[3]) if isinstance(a[3], torch.Tensor)
                                               else a[3] == b[3])


@pytest.mark.parametrize("how", ["reentrant", "non_reentrant", "context_fn"])
@pytest.mark.parametrize("layer", sorted(_LAYERS))
def test_default_generator_recomputes_the_same_masks(layer, how):
    _same(_run(layer, "default", how), _run(layer, "default", "plain"))


@pytest.mark.parametrize("generator", ["regcore", "torch"])
@pytest.mark.parametrize("layer", sorted(_LAYERS))
def test_explicit_generator_recomputes_the_same_masks_with_the_context(layer, generator):
    _same(_run(layer, generator, "context_fn"), _run(layer, generator, "plain"))


def test_context_collects_generators_from_modules_and_refuses_other_sources():
    g1, g2 = rc.Generator(1), torch.Generator()
    model = torch.nn.Sequential(rct.nn.Dropout(0.1, generator=g1), rct.nn.Dropout(0.1, generator=g1),
                                torch.nn.Sequential(rct.nn.Dropout2d(0.1, generator=g2)), rct.nn.Dropout(0.1))
    assert rct._checkpoint._generators([model]) == [g1, g2]
    with pytest.raises(TypeError, match="^sources: expected modules, .* got int"):
        rct.checkpoint_context_fn(model, 3)

