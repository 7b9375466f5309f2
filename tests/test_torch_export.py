"""torch.export and torch.jit.trace of a model built from regcore modules: regcore's operators
are torch.library operators with fake kernels, so an exported program holds them as nodes and
runs them. The exported training program draws fresh masks per call that repeat after
torch.manual_seed and equal eager mode's, and updates the batch-norm running statistics as
eager mode does. (torch.jit.script is not supported: TorchScript cannot compile regcore's
Python functional layer, and torch deprecates it in favour of torch.export and torch.compile.)"""
from __future__ import annotations

import warnings

from _torch_helpers import rct, torch


def _model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(8, 16), rct.nn.LayerNorm(16), rct.nn.Dropout(0.3),
                               torch.nn.Linear(16, 4), rct.nn.BatchNorm1d(4), rct.nn.GroupNorm(2, 4))


X = torch.randn(5, 8, generator=torch.Generator().manual_seed(1))


def test_exported_eval_program_equals_eager():
    model = _model().eval()
    program = torch.export.export(model, (X,)).module()
    assert torch.equal(program(X), model(X))
    assert any("regcore" in str(n.target) for n in torch.export.export(model, (X,)).graph.nodes)


def test_exported_eval_program_with_a_dynamic_batch():
    # every module, BiasActDropout included (its eval-mode mask words, sized by the batch, made
    # export refuse the dynamic batch)
    model = torch.nn.Sequential(_model(), torch.nn.Linear(4, 6, bias=False), rct.nn.BiasActDropout(6, "gelu")).eval()
    batch = torch.export.Dim("batch", min=2)
    program = torch.export.export(model, (X,), dynamic_shapes=({0: batch},)).module()
    for n in (2, 3, 17):
        x = torch.randn(n, 8, generator=torch.Generator().manual_seed(n))
        assert torch.equal(program(x), model(x))


def test_exported_training_program_with_a_dynamic_batch():
    # the draw's block count is a symbolic size (it was an int: the batch was specialized);
    # layers that keep no mask words
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), rct.nn.GaussianNoise(0.2), rct.nn.Dropout(0.3, mask="none"),
                                torch.nn.Linear(16, 4))
    batch = torch.export.Dim("batch", min=2)
    program = torch.export.export(model, (X,), dynamic_shapes=({0: batch},)).module()
    for n in (2, 3, 17):
        x = torch.randn(n, 8, generator=torch.Generator().manual_seed(n))
        torch.manual_seed(n)
        a = program(x)
        torch.manual_seed(n)
        assert torch.equal(a, model(x))


def _masked_model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(8, 16, bias=False), rct.nn.BiasActDropout(16, "gelu", 0.2),
                               rct.nn.Dropout(0.3), rct.nn.AlphaDropout(0.1), torch.nn.Unflatten(1, (4, 2, 2)),
                               rct.nn.Dropout2d(0.2), torch.nn.Flatten(), torch.nn.Linear(16, 4))


def test_exported_training_program_with_mask_words_and_a_dynamic_batch():
    # 1-bit masks (mask="bits"): their word count, ceil(decisions / 32), is 1 at batch 2, and
    # torch's tensor metadata guarded it against 1, refusing the batch's range (docs/torch.md)
    eager, exported = _masked_model(), _masked_model()
    batch = torch.export.Dim("batch", min=2)
    program = torch.export.export(exported, (X,), dynamic_shapes=({0: batch},)).module()
    for n in (2, 3, 17):
        x = torch.randn(n, 8, generator=torch.Generator().manual_seed(n))
        grads = []
        for model in (program, eager):
            model.zero_grad()
            xi = x.clone().requires_grad_()
            torch.manual_seed(n)
            y = model(xi)
            y.backward(torch.ones_like(y))
            grads.append((y, xi.grad, *(p.grad for p in model.parameters())))
        for a, b in zip(*grads):
            assert torch.equal(a, b)


def test_saved_training_program_loads_in_a_fresh_process(tmp_path):
    import _fresh_import

    model = _model()
    path, x_path = tmp_path / "program.pt2", tmp_path / "x.pt"
    torch.export.save(torch.export.export(model, (X,)), str(path))
    torch.save(X, x_path)
    code = ("import torch, regcore.torch\n"
            f"program = torch.export.load({str(path)!r}).module()\n"
            f"x = torch.load({str(x_path)!r})\n"
            "torch.manual_seed(3)\n"
            "print(program(x).flatten().tolist())\n")
    loaded = torch.tensor([float(v) for v in _fresh_import.output(code).strip()[1:-1].split(",")])
    torch.manual_seed(3)
    assert torch.equal(loaded, model(X).detach().flatten())


def test_loaded_program_with_an_explicit_generator_says_what_to_do(tmp_path):
    # the handle of a module's generator= is baked into the program; in another process it
    # names no generator, and the error says how to export instead
    import _fresh_import

    import regcore

    model = torch.nn.Sequential(torch.nn.Linear(8, 4), rct.nn.Dropout(0.5, generator=regcore.Generator(1)))
    path = tmp_path / "program.pt2"
    torch.export.save(torch.export.export(model, (X,)), str(path))
    code = ("import torch, regcore.torch\n"
            f"program = torch.export.load({str(path)!r}).module()\n"
            "try:\n"
            "    program(torch.ones(5, 8))\n"
            "except RuntimeError as e:\n"
            "    print(e)\n")
    message = _fresh_import.output(code)
    assert "refers to a generator that no longer exists" in message and "generator=None" in message


def test_exported_training_program_draws_like_eager():
    eager, exported = _model(), _model()
    program = torch.export.export(exported, (X,)).module()
    first, second = program(X), program(X)
    assert not torch.equal(first, second)   # fresh masks per call
    torch.manual_seed(3)
    a = program(X)
    torch.manual_seed(3)
    b = program(X)
    torch.manual_seed(3)
    c = eager(X)
    assert torch.equal(a, b) and torch.equal(a, c)


def test_exported_training_program_updates_running_statistics():
    eager, exported = _model(), _model()
    program = torch.export.export(exported, (X,)).module()
    torch.manual_seed(3)
    program(X)
    torch.manual_seed(3)
    eager(X)
    bn = dict(program.named_buffers())
    torch.testing.assert_close(bn["4.running_mean"], eager[4].running_mean, rtol=0, atol=0)
    torch.testing.assert_close(bn["4.running_var"], eager[4].running_var, rtol=0, atol=0)
    assert not torch.equal(eager[4].running_mean, torch.zeros(4))


def test_traced_eval_model_equals_eager():
    model = _model().eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # (torch.jit's deprecation notice)
        traced = torch.jit.trace(model, (X,))
    assert torch.equal(traced(X), model(X))


def test_fake_tensor_mode_runs_every_random_layer_without_drawing():
    # Shape and memory estimates run a model under FakeTensorMode directly; the random layers
    # passed it the real draw token and the mode refused it (a real tensor among fake ones).
    from torch._subclasses.fake_tensor import FakeTensorMode

    from regcore.torch import _rng
    torch.manual_seed(3)
    state, token = torch.get_rng_state(), _rng.TOKEN.clone()
    with FakeTensorMode():
        model = torch.nn.Sequential(torch.nn.Linear(8, 16, bias=False), rct.nn.BiasActDropout(16, "gelu", 0.2),
                                    rct.nn.Dropout(0.3), rct.nn.AlphaDropout(0.1), rct.nn.GaussianNoise(0.1),
                                    torch.nn.Unflatten(1, (4, 2, 2)), rct.nn.Dropout2d(0.2), torch.nn.Flatten(),
                                    rct.nn.LayerNorm(16))
        y = model(torch.randn(5, 8))
        y.sum().backward()
        assert y.shape == (5, 16) and model[0].weight.grad.shape == (16, 8)
    assert torch.equal(torch.get_rng_state(), state) and torch.equal(_rng.TOKEN, token)
