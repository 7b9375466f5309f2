"""regcore for PyTorch: drop-in modules, functional forms, an optimizer and initializers on top
of regcore's kernels, as ``torch.ops.regcore.*`` custom operators (traced by torch.compile,
checked with torch.library.opcheck). docs/torch.md describes it.

    import regcore.torch as rct
    model = rct.convert(model)                      # nn.Dropout / BatchNorm* / LayerNorm / ... -> regcore's
    opt = rct.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, l1=1e-5, max_norm=3.0)

``import regcore`` never imports torch; this subpackage needs torch >= MIN_TORCH.
"""
from __future__ import annotations

# 2.8: the oldest release the whole torch test suite passes on (2.4-2.6 fail the torch.compile and
# opcheck tests: mutated tensor lists, re-laid-out inputs; 2.7 was not run). docs/torch.md.
MIN_TORCH = (2, 8)


def _check_torch():
    import torch

    parts = []
    for p in torch.__version__.split("+")[0].split(".")[:2]:
        digits = "".join(ch for ch in p if ch.isdigit())
        parts.append(int(digits or 0))
    if tuple(parts) < MIN_TORCH:
        raise ImportError(f"regcore.torch needs torch >= {'.'.join(map(str, MIN_TORCH))}, found {torch.__version__} "
                          "(pip install 'regcore[torch]')")


_check_torch()

from . import _ops_channel_dropout, _ops_dropout, _ops_norm, _ops_sgd  # noqa: E402,F401  (registers torch.ops.regcore.*)
from . import _ops_average  # noqa: E402,F401
from . import nn, optim  # noqa: E402,F401
from ._checkpoint import checkpoint_context_fn  # noqa: E402,F401
from ._convert import convert, convert_sync_batchnorm  # noqa: E402,F401
