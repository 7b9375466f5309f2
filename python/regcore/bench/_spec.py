"""How a family describes its kernels and their peers (one ``peers_<family>.py`` per family).

A peers module defines ``KERNELS``: a list of :class:`Kernel`. Its ``name`` ("family.kernel")
and dtypes match the native cases of csrc/bench/cases_<family>.cpp; the native case is what the
``cpu`` rows time. ``ours`` is the same kernel through regcore's public API: it gives the row of
the pure-NumPy backend, and the ``cpu`` rows of a kernel that has no native case yet (timed from
Python, marked so in the report).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence, Tuple

import numpy as np


class PeerUnavailable(Exception):
    """Raised by a peer's factory when it cannot run here (library missing, dtype unsupported)."""


def cpu_only(device) -> None:
    """A peer that runs on host arrays only: PeerUnavailable for any other device."""
    if device != "cpu":
        raise PeerUnavailable(f"cpu arrays only, not {device}")


def numpy_peer(device, dtype) -> None:
    """A NumPy peer's conditions: host arrays, and a dtype with NumPy arithmetic of its own (a
    16-bit peer would time ml_dtypes' element loops, not what a NumPy user runs)."""
    cpu_only(device)
    if np.dtype(dtype).itemsize == 2:
        raise PeerUnavailable("NumPy has no native 16-bit arithmetic for bfloat16 (ml_dtypes' loops)")


# factory(shape, dtype, device) -> zero-argument callable that runs the kernel once.
Factory = Callable[[Tuple[int, ...], np.dtype, str], Callable[[], object]]


@dataclass(frozen=True)
class Peer:
    key: str                    # column of the speed-up: "numpy" or "torch"
    label: str                  # what exactly runs, e.g. "numpy.random.Generator.random(out=)"
    make: Factory
    threaded: bool = False      # follows the thread count (torch); NumPy peers run on one thread
    devices: Sequence[str] = ("cpu",)

    def backend(self, device: str) -> str:
        return self.key if device == "cpu" else f"{self.key}-{device}"


def _flat(n: int) -> Tuple[int, ...]:
    return (n,)


@dataclass(frozen=True)
class Kernel:
    name: str                               # "random.normal": family.kernel, as the native case
    dtypes: Sequence[str]
    ours: Optional[Factory] = None          # regcore's public API (numpy-backend row; fallback)
    peers: Sequence[Peer] = ()
    items: str = "elements"                 # unit of the rate column: "samples" for draws
    shape: Callable[[int], Tuple[int, ...]] = _flat
    # Returns None when the kernel can run in this build, else why not (e.g. a family that is not
    # merged yet): the report lists it as skipped with that reason, never as a fake figure.
    available: Callable[[], Optional[str]] = lambda: None
    # Only used when no native case exists: the minimum bytes for n elements of itemsize bytes,
    # with its formula in words; and the bytes kept for backward.
    min_bytes: Optional[Callable[[int, int], int]] = None
    bytes_formula: str = ""
    state_bytes: Callable[[int, int], int] = lambda n, itemsize: 0
    state_formula: str = "0"
    # Default element counts (full run, --quick) when no native case states them: kernels with a
    # fixed geometry (a layer shape, 50k-element tensors) run only at the n their shape allows.
    sizes: Optional[Sequence[int]] = None
    quick_sizes: Optional[Sequence[int]] = None
    extra: dict = field(default_factory=dict)
    # dtypes whose public API is also timed on the native backend next to the native case (row
    # backend "cpu-api", best ISA level): where per-call Python is a visible part of a call.
    api_dtypes: Sequence[str] = ()

    @property
    def family(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def kernel(self) -> str:
        return self.name.split(".", 1)[1]

    def shape_for(self, n: int) -> Tuple[int, ...]:
        shape = tuple(self.shape(n))
        if math.prod(shape) != n:
            raise ValueError(f"{self.name}: shape {shape} does not hold {n} elements")
        return shape
