"""torch.compile(fullgraph=True) of a small MLP and a small CNN made of regcore modules: no graph
break, the same outputs and gradients as eager (masks included: the (seed, offset) draw is an
operator that runs when the graph runs, not inductor's RNG), masks that differ between calls and
repeat after torch.manual_seed. Kept to two compilations (each takes seconds)."""
from __future__ import annotations

import pytest

from _torch_helpers import no_compile_caches, rct, torch

nn = torch.nn


def _mlp():
    return nn.Sequential(nn.Linear(12, 32, bias=False), rct.nn.BiasActDropout(32, "gelu", 0.2), rct.nn.BatchNorm1d(32),
                         rct.nn.Dropout(0.5), nn.Linear(32, 16), rct.nn.LayerNorm(16), rct.nn.GaussianNoise(0.1),
                         nn.Linear(16, 3))


def _cnn():
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), rct.nn.BatchNorm2d(8), nn.ReLU(), rct.nn.Dropout(0.3),
                         nn.Conv2d(8, 8, 3, padding=1), rct.nn.GroupNorm(2, 8), nn.ReLU(),
                         rct.nn.InstanceNorm2d(8, affine=True), nn.Flatten(), rct.nn.Dropout(0.5),
                         nn.Linear(8 * 6 * 6, 4))


@pytest.fixture
def fresh_compile():
    """No compiled-graph caches from earlier runs (no_compile_caches)."""
    with no_compile_caches():
        yield


@pytest.mark.parametrize("make,shape", [(_mlp, (16, 12)), (_cnn, (4, 3, 6, 6))], ids=["mlp", "cnn"])
def test_fullgraph_compile_matches_eager(make, shape, fresh_compile):
    torch._dynamo.reset()
    torch.manual_seed(0)
    model = make()
    x = torch.randn(*shape)
    explanation = torch._dynamo.explain(model)(x)
    assert explanation.graph_break_count == 0 and explanation.graph_count == 1
    compiled = torch.compile(model, fullgraph=True)
    runs = {}
    for name, fn in (("eager", model), ("compiled", compiled)):
        torch.manual_seed(7)
        outs = []
        for _ in range(2):
            y = fn(x)
            grads = torch.autograd.grad(y.square().sum(), list(model.parameters()))
            outs.append((y.detach(), grads))
        runs[name] = outs
    for (ye, ge), (yc, gc) in zip(runs["eager"], runs["compiled"]):
        torch.testing.assert_close(yc, ye, rtol=1e-5, atol=1e-6)
        for a, b in zip(ge, gc):
            torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5)
    assert not torch.equal(runs["compiled"][0][0], runs["compiled"][1][0]), "masks differ between calls"
    torch.manual_seed(7)
    torch.testing.assert_close(compiled(x), runs["compiled"][0][0], rtol=0, atol=0)
    model.eval()   # eval mode: no random draws, running statistics
    torch.testing.assert_close(compiled(x), model(x), rtol=1e-5, atol=1e-6)


def _every_probability():
    return nn.Sequential(nn.Linear(12, 32, bias=False), rct.nn.BiasActDropout(32, "gelu", 0.2), rct.nn.BatchNorm1d(32),
                         rct.nn.Dropout(0.5), rct.nn.AlphaDropout(0.1), nn.Linear(32, 16), rct.nn.LayerNorm(16),
                         rct.nn.GaussianNoise(0.1), nn.Unflatten(1, (4, 4)), rct.nn.Dropout2d(0.25), nn.Flatten(),
                         nn.Linear(16, 3))


@pytest.mark.filterwarnings("ignore:dropout2d. Received a 3D input")   # (a colon would end the message field)
def test_dynamic_shape_compile_matches_eager(fresh_compile):
    # torch.compile(dynamic=True) (and automatic dynamic shapes, once a batch size changed) traces
    # the modules' p and std as symbolic floats: the checks of regcore's functional layer broke
    # the graph there (math.isnan of a symbolic float; fullgraph=True raised), and so did
    # Dropout2d's warning for a 3-D input (warnings.warn).
    torch._dynamo.reset()
    torch.manual_seed(0)
    model = _every_probability()
    compiled = torch.compile(model, dynamic=True, fullgraph=True)
    for batch in (16, 9):
        x = torch.randn(batch, 12)
        outs = {}
        for name, fn in (("eager", model), ("compiled", compiled)):
            torch.manual_seed(batch)
            y = fn(x)
            outs[name] = y.detach(), torch.autograd.grad(y.square().sum(), list(model.parameters()))
        (ye, ge), (yc, gc) = outs["eager"], outs["compiled"]
        torch.testing.assert_close(yc, ye, rtol=1e-5, atol=1e-6)
        for a, b in zip(ge, gc):
            torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5)


def test_fullgraph_compile_with_explicit_generators_draws_as_eager(fresh_compile):
    # A module hands the operator its generator's handle, an int resolved when the generator was
    # assigned (nn/_generator.py): torch 2.8's dynamo refused the generator object itself as an
    # argument of the constant-result handle() (InternalTorchDynamoError), and without a constant
    # dynamo traced the lookup and the graph referred to a generator it no longer had.
    import regcore as rc

    def model():
        torch.manual_seed(0)
        return nn.Sequential(nn.Linear(6, 8), rct.nn.Dropout(0.5, generator=rc.Generator(11)),
                             rct.nn.Dropout(0.3, generator=torch.Generator().manual_seed(12)),
                             nn.Unflatten(1, (4, 2)), rct.nn.Dropout1d(0.5, generator=rc.Generator(13)),
                             nn.Flatten(), nn.Linear(8, 2))
    torch._dynamo.reset()
    x = torch.randn(5, 6)
    eager, second = model(), model()
    compiled = torch.compile(second, fullgraph=True)
    for _ in range(2):   # the same draws call after call: each model's generators advance alike
        torch.testing.assert_close(compiled(x), eager(x), rtol=1e-5, atol=1e-6)
    assert eager[1].generator.offset == second[1].generator.offset > 0
    assert eager[4].generator.offset == second[4].generator.offset > 0
    # a generator assigned after compiling is the one drawn from (the handle is guarded on)
    eager[1].generator, second[1].generator = rc.Generator(5), rc.Generator(5)
    torch.testing.assert_close(compiled(x), eager(x), rtol=1e-5, atol=1e-6)
    assert eager[1].generator.offset == second[1].generator.offset > 0


def test_importing_regcore_torch_does_not_import_dynamo():
    # (torch._dynamo costs ~1.6 s to import; torch.compile imports it when it first runs)
    import _fresh_import
    assert not _fresh_import.imports_module("import torch\nimport regcore.torch", "torch._dynamo")
