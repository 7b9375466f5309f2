"""A random module's ``generator`` attribute, resolved to its operator handle when it is assigned.

The forwards hand the functional layer ``self._generator_handle`` (``(handle,)``: a tuple of the
int, so that a plain int passed as ``generator=`` stays refused; or None for torch's default
generator) instead of the generator object. To torch.compile such an attribute of a module is a
constant (guarded on its value), while a generator object is not one to torch 2.8's
dynamo: its ``assume_constant_result`` call of ``_rng.handle(generator)`` raised there
("UserDefinedObjectVariable(Generator) is not a constant"). Resolving at assignment also spares
eager calls the per-call weak-dictionary lookup of the generator.

The handle is derived state, never saved: a pickled or deep-copied module holds a copy of the
generator, which gets a handle of its own when the copy is rebuilt (a copied handle would draw
from the original's generator).
"""
from __future__ import annotations

from .. import _rng

_HANDLE = "_generator_handle"


class HoldsGenerator:
    """Mixin of the modules with a ``generator`` argument (before nn.Module in the bases)."""

    @property
    def generator(self):
        return self._generator

    @generator.setter
    def generator(self, generator):
        handle = _rng.bound(generator)   # (refuses a wrong type here, before anything is assigned)
        self._generator = generator
        setattr(self, _HANDLE, handle)

    def __getstate__(self):
        state = super().__getstate__()
        state.pop(_HANDLE, None)
        return state

    def __setstate__(self, state):
        state = dict(state)
        # (a module pickled before the handle existed kept its generator as "generator")
        generator = state.pop("_generator", state.pop("generator", None))
        state.pop(_HANDLE, None)
        super().__setstate__(state)
        self.generator = generator
