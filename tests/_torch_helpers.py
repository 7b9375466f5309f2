"""Shared by the tests/test_torch_*.py files: skip without torch, seeds, tolerances, and a
GradScaler training run."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
rct = pytest.importorskip("regcore.torch")

# float32 results against torch's modules: different summation orders, not different math
TOL = {torch.float32: dict(rtol=1e-4, atol=2e-5), torch.float64: dict(rtol=1e-10, atol=1e-12)}


def seed_offset(seed, offset=0):
    """A fixed (seed, offset) operator input (what regcore::seed_offset returns)."""
    return torch.tensor([seed, offset], dtype=torch.int64)


def cuda_available() -> bool:
    from regcore import _native

    return torch.cuda.is_available() and _native.cuda is not None and bool(_native.cuda.devices())


requires_cuda = pytest.mark.skipif(not cuda_available(), reason="no CUDA device or no CUDA build")


def no_compile_caches():
    """A context with no compiled-graph caches from earlier runs: a cached graph records the
    operators' argument lists of the regcore version that compiled it, not this one's. (torch
    releases before 2.6 have no AOT autograd cache to turn off.)"""
    import contextlib

    import torch._functorch.config as aot_config
    import torch._inductor.config as inductor_config

    stack = contextlib.ExitStack()
    stack.enter_context(inductor_config.patch(fx_graph_cache=False))
    if hasattr(aot_config, "enable_autograd_cache"):
        stack.enter_context(aot_config.patch(enable_autograd_cache=False))
    return stack


def train_with_grad_scaler(model, opt_cls, dtype, init_scale):
    """Four steps of ``opt_cls`` (lr 0.1, momentum 0.9) on ``model`` through torch.amp.GradScaler,
    inputs of ``dtype``; the loss of step 1 is inf, so the scaler skips that step."""
    opt = opt_cls(model.parameters(), lr=0.1, momentum=0.9)
    scaler = torch.amp.GradScaler("cpu", init_scale=init_scale)
    g = torch.Generator().manual_seed(3)
    for step in range(4):
        x = torch.randn(5, 6, generator=g).to(dtype)
        opt.zero_grad()
        loss = model(x).float().square().mean() * (float("inf") if step == 1 else 1.0)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
