"""Activation checkpointing with explicit generators.

torch.utils.checkpoint recomputes a segment's forward during the backward. It restores torch's
default generators first, so a module drawing from them (regcore's default, ``generator=None``)
draws the same masks again. It cannot restore generators it does not know: a module given
``generator=`` (a regcore.Generator or a torch.Generator) would draw new masks in the
recomputation, and its gradients would be those of other masks, silently. ``context_fn`` is
torch's hook for this: two context managers, one around the forward and one around the
recomputation.
"""
from __future__ import annotations

import contextlib

import torch

from .. import Generator


def checkpoint_context_fn(*sources):
    """``context_fn`` for ``torch.utils.checkpoint.checkpoint(fn, ..., use_reentrant=False,
    context_fn=checkpoint_context_fn(model))``: the recomputation draws from each explicit
    generator where the forward drew, and leaves it where it was before the recomputation.

    sources: modules (every ``generator`` attribute in them and their children), regcore
    Generators and torch Generators."""
    generators = _generators(sources)

    def context_fn():
        states = []
        return _remember(generators, states), _replay(generators, states)
    return context_fn


def _generators(sources):
    found, seen = [], set()
    for source in sources:
        if isinstance(source, torch.nn.Module):
            candidates = [getattr(m, "generator", None) for m in source.modules()]
        elif isinstance(source, (Generator, torch.Generator)):
            candidates = [source]
        else:
            raise TypeError("sources: expected modules, regcore.Generators or torch.Generators, "
                            f"got {type(source).__name__}")
        for g in candidates:
            if isinstance(g, (Generator, torch.Generator)) and id(g) not in seen:
                seen.add(id(g))
                found.append(g)
    return found


def _state(g):
    return g.get_state() if isinstance(g, torch.Generator) else g.state


@contextlib.contextmanager
def _remember(generators, states):
    states[:] = [_state(g) for g in generators]   # where the forward starts drawing
    yield


@contextlib.contextmanager
def _replay(generators, states):
    now = [_state(g) for g in generators]
    for g, s in zip(generators, states):
        g.set_state(s)
    try:
        yield
    finally:
        for g, s in zip(generators, now):
            g.set_state(s)
