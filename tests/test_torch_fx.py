"""torch.fx.symbolic_trace of models holding regcore's modules (what torchvision's
create_feature_extractor, FX graph-mode quantization and fx-based model surgery run on): each
module is one call_module node, as torch's own modules are, so the GraphModule calls the module and
computes what the model computes in training (same seed: same masks, outputs, gradients, running
statistics) and in eval mode, and follows train()/eval() after tracing. torch.jit.script is
refused with a clear error."""
from __future__ import annotations

import copy

import pytest

from _torch_helpers import rct, torch

import regcore as rc

nn = torch.nn
fx = pytest.importorskip("torch.fx")


class _Every(nn.Module):
    """Every regcore.torch.nn module but SyncBatchNorm, on an (N, 8) input."""

    def __init__(self):
        super().__init__()
        self.drop_connect = rct.nn.DropConnectLinear(8, 24, p=0.2)
        self.bias_act = rct.nn.BiasActDropout(24, "gelu", p=0.2)
        self.bias_act_residual = rct.nn.BiasActDropout(24, "relu", p=0.3)
        self.dropout = rct.nn.Dropout(0.2)
        self.alpha = rct.nn.AlphaDropout(0.2)
        self.noise = rct.nn.GaussianNoise(0.1)
        self.gaussian_dropout = rct.nn.GaussianNoise.for_dropout_rate(0.2, generator=rc.Generator(7))
        self.layer_norm = rct.nn.LayerNorm(24)
        self.bn1 = rct.nn.BatchNorm1d(24)
        self.dropout1d = rct.nn.Dropout1d(0.3)
        self.feature_alpha = rct.nn.FeatureAlphaDropout(0.3)
        self.in1 = rct.nn.InstanceNorm1d(6, affine=True, track_running_stats=True)
        self.dropout2d = rct.nn.Dropout2d(0.3)
        self.bn2 = rct.nn.BatchNorm2d(6, momentum=None)
        self.group_norm = rct.nn.GroupNorm(3, 6)
        self.in2 = rct.nn.InstanceNorm2d(6, track_running_stats=True)
        self.dropout3d = rct.nn.Dropout3d(0.3)
        self.bn3 = rct.nn.BatchNorm3d(3)
        self.in3 = rct.nn.InstanceNorm3d(3, affine=True)

    def forward(self, x):
        h = self.bias_act(self.drop_connect(x))
        h = self.bias_act_residual(h, h)
        h = self.gaussian_dropout(self.noise(self.alpha(self.dropout(h))))
        h = self.bn1(self.layer_norm(h))
        c = self.in1(self.feature_alpha(self.dropout1d(h.view(-1, 6, 4))))
        d = self.in2(self.group_norm(self.bn2(self.dropout2d(h.view(-1, 6, 2, 2)))))
        e = self.in3(self.bn3(self.dropout3d(h.view(-1, 3, 2, 2, 2))))
        return torch.cat([c.flatten(1), d.flatten(1), e.flatten(1)], 1)


def _model():
    torch.manual_seed(0)
    model = _Every()
    with torch.no_grad():   # affine parameters away from their 1 / 0 start, so gradients reach them
        for name, p in model.named_parameters():
            if "drop_connect" not in name:
                p.add_(torch.randn_like(p) * 0.1)
    return model


def _pair():
    """The model and a GraphModule traced from a copy of it (its own modules, the same state)."""
    model = _model()
    return model, fx.symbolic_trace(copy.deepcopy(model))


X = torch.randn(4, 8, generator=torch.Generator().manual_seed(1))


def _run(m, seed):
    x = X.clone().requires_grad_(True)
    torch.manual_seed(seed)
    y = m(x)
    (y * torch.linspace(-1, 1, y.numel()).view_as(y)).sum().backward()
    return y, x.grad


def _assert_same_state(a, b):
    for (na, ta), (nb, tb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert na == nb and torch.equal(ta, tb), na


def test_every_module_is_one_call_module_node():
    model, gm = _pair()
    modules = {n.target for n in gm.graph.nodes if n.op == "call_module"}
    assert modules == {name for name, _ in model.named_children()}
    assert not [n for n in gm.graph.nodes if n.op == "call_function" and "regcore" in str(n.target)]
    assert "self.bias_act_residual(bias_act, bias_act)" in gm.code
    gm.recompile()
    retraced = fx.symbolic_trace(gm)   # a GraphModule of regcore modules traces again
    assert [n.op for n in retraced.graph.nodes] == [n.op for n in gm.graph.nodes]


def test_training_graph_equals_the_model_masks_outputs_gradients_statistics():
    model, gm = _pair()
    for seed in (3, 4):
        y, dx = _run(model, seed)
        y_gm, dx_gm = _run(gm, seed)
        assert torch.equal(y, y_gm) and torch.equal(dx, dx_gm)
    grads = {n: p.grad for n, p in model.named_parameters()}
    for n, p in gm.named_parameters():
        assert p.grad is not None and torch.equal(p.grad, grads[n]), n
    assert float(model.bn2.num_batches_tracked) == 2.0   # momentum=None: the cumulative factor ran
    _assert_same_state(model, gm)
    torch.manual_seed(5)
    assert not torch.equal(gm(X), gm(X))   # fresh masks per call


def test_eval_graph_uses_running_statistics_and_follows_train_eval_after_tracing():
    model, gm = _pair()
    _run(model, 3), _run(gm, 3)   # running statistics away from their start
    model.eval(), gm.eval()   # traced in training mode, then switched
    y = model(X)
    assert torch.equal(y, gm(X)) and torch.equal(gm(X), y)   # no draws, no statistics updates
    _assert_same_state(model, gm)
    traced_in_eval = fx.symbolic_trace(copy.deepcopy(model))
    assert torch.equal(traced_in_eval(X), y)
    traced_in_eval.train()
    torch.manual_seed(6)
    first = traced_in_eval(X)
    model.train()
    torch.manual_seed(6)
    assert torch.equal(first, model(X))


def test_a_regcore_module_as_the_traced_root_is_refused_with_what_to_do():
    with pytest.raises(RuntimeError, match="LayerNorm: .*trace a model holding this module"):
        fx.symbolic_trace(rct.nn.LayerNorm(8))
    gm = fx.symbolic_trace(nn.Sequential(rct.nn.LayerNorm(8)))
    assert torch.equal(gm(X), getattr(gm, "0")(X))


class _Transposed(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm = rct.nn.LayerNorm(4)

    def forward(self, x):
        return self.norm(x.mT)   # x.mT is an fx Attribute, a subclass of Proxy


def test_a_proxy_subclass_input_is_recorded_too():
    model = _Transposed()
    gm = fx.symbolic_trace(model)
    assert [n.op for n in gm.graph.nodes] == ["placeholder", "call_function", "call_module", "output"]
    x = torch.randn(3, 4, 2)
    assert torch.equal(gm(x), model(x))


def test_hooks_of_a_module_run_once():
    # the hooks run while tracing (around the module's own node), so the graph holds them; the
    # node then calls the module's forward alone, not the module (which would run them again)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 8), rct.nn.LayerNorm(8), rct.nn.Dropout(0.3))
    model[1].register_forward_pre_hook(lambda m, args: (args[0] + 1.0,))
    model[1].register_forward_hook(lambda m, args, out: out * 2.0)
    gm = fx.symbolic_trace(model)
    assert [n.op for n in gm.graph.nodes].count("call_method") == 1
    torch.manual_seed(1)
    y = model(X)
    torch.manual_seed(1)
    assert torch.equal(gm(X), y)
    gm.eval(), model.eval()
    assert torch.equal(gm(X), model(X))


def test_sync_batchnorm_traces():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 6), rct.nn.SyncBatchNorm(6))
    gm = fx.symbolic_trace(copy.deepcopy(model))
    assert torch.equal(gm(X), model(X))


def _converted():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.LayerNorm(16), nn.Dropout(0.2), nn.BatchNorm1d(16), nn.Linear(16, 4))
    return rct.convert(model)


def test_a_converted_torch_model_traces_as_before_with_regcore_modules_as_nodes():
    model = _converted()
    gm = fx.symbolic_trace(copy.deepcopy(model))
    kinds = [type(gm.get_submodule(n.target)) for n in gm.graph.nodes if n.op == "call_module"]
    assert kinds == [type(m) for m in model] and rct.nn.Dropout in kinds
    torch.manual_seed(2)
    y = model(X)
    torch.manual_seed(2)
    assert torch.equal(gm(X), y)


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")
def test_fx_graph_mode_quantization_keeps_regcore_modules_in_float():
    quantize_fx = pytest.importorskip("torch.ao.quantization.quantize_fx")
    from torch.ao.quantization import get_default_qconfig_mapping

    model = _converted().eval()
    x = torch.randn(32, 8, generator=torch.Generator().manual_seed(4))
    prepared = quantize_fx.prepare_fx(copy.deepcopy(model), get_default_qconfig_mapping("x86"), (x,))
    prepared(x)
    quantized = quantize_fx.convert_fx(prepared)
    for name in ("1", "2", "3"):
        assert type(quantized.get_submodule(name)) is type(model[int(name)])
    torch.testing.assert_close(quantized(x), model(x), rtol=0, atol=0.25)


def test_feature_extractor():
    feature_extraction = pytest.importorskip("torchvision.models.feature_extraction")
    model = _model().eval()
    extractor = feature_extraction.create_feature_extractor(model, return_nodes={"bn1": "bn1", "in3": "in3"})
    out = extractor(X)
    assert torch.equal(out["in3"], model(X)[:, -24:])


_MODULES = [
    lambda: rct.nn.Dropout(), lambda: rct.nn.AlphaDropout(), lambda: rct.nn.FeatureAlphaDropout(),
    lambda: rct.nn.Dropout1d(), lambda: rct.nn.Dropout2d(), lambda: rct.nn.Dropout3d(),
    lambda: rct.nn.GaussianNoise(), lambda: rct.nn.BiasActDropout(4), lambda: rct.nn.DropConnectLinear(4, 4),
    lambda: rct.nn.BatchNorm1d(4), lambda: rct.nn.BatchNorm2d(4), lambda: rct.nn.BatchNorm3d(4),
    lambda: rct.nn.LayerNorm(4), lambda: rct.nn.GroupNorm(2, 4), lambda: rct.nn.InstanceNorm1d(4),
    lambda: rct.nn.InstanceNorm2d(4), lambda: rct.nn.InstanceNorm3d(4), lambda: rct.nn.SyncBatchNorm(4),
]


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated")
@pytest.mark.parametrize("make", _MODULES)
def test_torch_jit_script_is_refused_with_what_to_use(make):
    module = make()
    for target in (module, nn.Sequential(nn.Linear(4, 4), module)):
        with pytest.raises(RuntimeError, match=f"{type(module).__name__}: TorchScript .* not supported.*"
                                               "torch.compile or torch.export, or torch.jit.trace"):
            torch.jit.script(target)
