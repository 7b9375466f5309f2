"""opcheck cases of the channel / alpha dropout operators (run by test_torch_ops.py's test_opcheck,
which also checks that every declared operator has a case)."""
from __future__ import annotations

from _torch_helpers import seed_offset, torch


def _x(*shape, grad=False, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=torch.float64).requires_grad_(grad)


def cases():
    ops = torch.ops.regcore
    x = _x(3, 5, 4, grad=True)
    xl = _x(3, 4, 5, grad=True)
    so = seed_offset(7, 3)
    bits = ops.channel_dropout(x.detach(), so, 0.3, False, False, False, True)[1]
    abits = ops.alpha_dropout(x.detach(), so, 0.3, True)[1]
    dy = _x(3, 5, 4, seed=1)
    return {
        "channel_dropout": (ops.channel_dropout.default, (x, so, 0.3, False, False, False, True)),
        "channel_dropout_last_nomask": (ops.channel_dropout.default, (xl, so, 0.3, True, False, True, False)),
        "feature_alpha_dropout": (ops.channel_dropout.default, (x, so, 0.3, False, True, False, True)),
        "channel_dropout_backward": (ops.channel_dropout_backward.default, (dy, bits, so, 0.3, False, False, False)),
        "alpha_dropout": (ops.alpha_dropout.default, (x, so, 0.3, True)),
        "alpha_dropout_nomask": (ops.alpha_dropout.default, (x, so, 0.3, False)),
        "alpha_dropout_backward": (ops.alpha_dropout_backward.default, (dy, abits, so, 0.3)),
        # a second derivative differentiates the backward operators (linear_backward_formula)
        "channel_dropout_backward_differentiated": (ops.channel_dropout_backward.default,
                                                    (dy.clone().requires_grad_(), bits, so, 0.3, False, True, False)),
        "alpha_dropout_backward_differentiated": (ops.alpha_dropout_backward.default,
                                                  (dy.clone().requires_grad_(), abits, so, 0.3)),
    }
