"""Process-wide torch settings in force when regcore.torch is imported or first draws must not
break later training: the tensors regcore.torch keeps and updates in place (the draw token, the
per-thread draw scalar, the no-draw constant) are never inference tensors, which refuse in-place
updates outside inference mode, and stay on the CPU whatever torch.set_default_device says.
Before, the first dropout draw under inference_mode made the thread's draw scalar an inference
tensor, and every later dropout in training raised."""
from __future__ import annotations

import threading

import _fresh_import
from _torch_helpers import rct, torch


def _model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(8, 16), rct.nn.LayerNorm(16), rct.nn.Dropout(0.2),
                               rct.nn.BiasActDropout(16, "gelu", 0.1), torch.nn.Linear(16, 4), rct.nn.BatchNorm1d(4),
                               rct.nn.GaussianNoise(0.1), rct.nn.AlphaDropout(0.1))


def _validate_then_train():
    model = _model()
    x = torch.randn(6, 8)
    with torch.inference_mode():
        model(x)           # training-mode layers, as a loop that forgets model.eval() runs them
        model.eval()(x)
    model.train()
    model(x.requires_grad_()).sum().backward()
    return x.grad


def test_training_after_an_inference_mode_pass_in_a_new_thread():
    # a new thread: no draw scalar yet, so the pass under inference_mode makes it
    out = {}
    thread = threading.Thread(target=lambda: out.setdefault("grad", _validate_then_train()))
    thread.start()
    thread.join()
    assert out.get("grad") is not None and torch.isfinite(out["grad"]).all()


# a training step's dropout after the setup above it, in a fresh process: how many of x's 32
# gradient entries it kept
_TRAIN = ("x = torch.ones(4, 8, requires_grad=True)\n"
          "rct.nn.Dropout(0.5)(x).sum().backward()\n"
          "print(int(x.grad.ne(0).sum()))\n")


def test_training_after_importing_under_inference_mode():
    setup = ("import torch\n"
             "with torch.inference_mode():\n"
             "    import regcore.torch as rct\n"
             "    rct.nn.Dropout(0.5)(torch.ones(4, 4))\n")
    assert 0 < int(_fresh_import.output(setup + _TRAIN)) < 32


def test_importing_under_another_default_device_keeps_the_draw_state_on_the_cpu():
    # torch.set_default_device (common in inference code) must not move regcore's kept scalars
    setup = ("import torch\n"
             "torch.set_default_device('meta')\n"
             "import regcore.torch as rct\n"
             "torch.set_default_device('cpu')\n"
             "assert rct._rng.TOKEN.device.type == 'cpu' and rct._rng.NO_DRAW.device.type == 'cpu'\n")
    assert 0 < int(_fresh_import.output(setup + _TRAIN)) < 32
