"""Generator: a Philox4x32-10 key (the seed) and a position in its counter space.

Every call that draws random numbers reserves a disjoint range of counter blocks
(``ceil(n / E)`` blocks for n elements, E elements per block; docs/random.md), so two calls never
share bits, and the same sequence of calls from the same state gives the same bits on every
backend, ISA level and thread count.
"""
from __future__ import annotations

import secrets
import threading

from . import _validate
from ._errors import value_error

_U64 = 1 << 64


class Generator:
    """Counter-based random stream. ``Generator(seed)`` with 0 <= seed < 2**64."""

    __slots__ = ("_seed", "_offset", "_lock", "__weakref__")   # weakref: regcore.torch maps generators to op handles

    def __init__(self, seed: int):
        self._seed = _validate.integer("seed", seed, lo=0, hi=_U64 - 1)
        self._offset = 0
        self._lock = threading.Lock()

    @property
    def seed(self) -> int:
        return self._seed

    @property
    def offset(self) -> int:
        """Counter blocks consumed so far (the next call starts here)."""
        return self._offset

    @property
    def state(self) -> dict:
        """A checkpoint: ``Generator.from_state(g.state)`` continues exactly where g is."""
        return {"algorithm": "philox4x32-10", "seed": self._seed, "offset": self._offset}

    @classmethod
    def from_state(cls, state: dict) -> "Generator":
        seed, offset = _checked_state(state)
        g = cls(seed)
        g._offset = offset
        return g

    def set_state(self, state: dict) -> None:
        """Continue from ``state`` (a dict from ``Generator.state``) in place, as
        ``torch.Generator.set_state`` does: whoever holds this generator (a module) draws from
        there on. Checked before anything changes."""
        seed, offset = _checked_state(state)
        with self._lock:
            self._seed, self._offset = seed, offset

    def reserve(self, blocks: int) -> int:
        """Take ``blocks`` counter blocks; returns the first. Called after validation only."""
        blocks = _validate.integer("blocks", blocks, lo=0, hi=_U64 - 1)   # a negative count would rewind
        with self._lock:
            start = self._offset
            if start + blocks >= _U64:
                raise OverflowError("generator counter space exhausted (2**64 blocks)")
            self._offset = start + blocks
        return start

    # Pickling and copying (copy.deepcopy of a model holding the generator, torch.save of a whole
    # model, torch.optim.swa_utils.AveragedModel, a process pool): the state, and a new lock on
    # the way back; a copy continues from the same state independently, as torch.Generator's does.
    def __getstate__(self) -> dict:
        return self.state

    def __setstate__(self, state: dict) -> None:
        self._seed, self._offset = _checked_state(state)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Generator(seed={self._seed}, offset={self._offset})"


def _checked_state(state):
    """(seed, offset) of a state dict, refused with the argument named if it is not one."""
    if not isinstance(state, dict) or state.get("algorithm", "philox4x32-10") != "philox4x32-10":
        raise value_error("state", "a dict from Generator.state", state)
    seed = _validate.integer("state['seed']", state.get("seed"), lo=0, hi=_U64 - 1)
    return seed, _validate.integer("state['offset']", state.get("offset"), lo=0, hi=_U64 - 1)


_default = Generator(secrets.randbits(64))


def default_generator() -> Generator:
    """The generator used when a call gets ``generator=None`` (seeded from OS entropy)."""
    return _default


def seed(value: int) -> Generator:
    """Replace the default generator with ``Generator(value)`` and return it."""
    global _default
    _default = Generator(_validate.integer("value", value, lo=0, hi=_U64 - 1))
    return _default


def resolve(generator) -> Generator:
    if generator is None:
        return _default
    if not isinstance(generator, Generator):
        # the module too: torch.Generator and numpy.random.Generator share regcore's class name
        kind = type(generator)
        where = kind.__module__.partition(".")[0]
        got = kind.__name__ if where == "builtins" else f"{where}.{kind.__qualname__}"
        raise TypeError(f"generator: expected a regcore.Generator or None, got {got}")
    return generator


def elems_per_block(itemsize: int) -> int:
    """E: elements one counter block (four 32-bit words) yields for outputs of this size."""
    return 4 if itemsize <= 4 else 2


def blocks_for(n: int, itemsize: int) -> int:
    e = elems_per_block(itemsize)
    return (n + e - 1) // e
