"""Environment variables read at import, each checked once, with an error naming the variable,
its value and the values it accepts.

A wrong value must fail at ``import regcore``, not at the first call an hour into training (a
mistyped ``REGCORE_BACKEND=NumPy`` used to be accepted and fail later). Names are exact and
case-sensitive, like the strings the Python API takes.
"""
from __future__ import annotations

import os
from typing import Optional, Sequence

BACKEND_VALUES = ("numpy", "cpu")
ISA_VALUES = ("scalar", "avx2", "avx512")


class EnvironmentVariableError(ImportError):
    """A regcore environment variable holds a value regcore does not accept."""


def _choice(name: str, allowed: Sequence[str]) -> Optional[str]:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return None
    if raw not in allowed:
        hint = ""
        if raw.strip().lower() in allowed:
            hint = f" (values are case-sensitive: did you mean {raw.strip().lower()!r}?)"
        raise EnvironmentVariableError(
            f"{name}={raw}: expected one of {', '.join(repr(a) for a in allowed)}{hint}; "
            f"unset it for the default")
    return raw


def backend() -> Optional[str]:
    """REGCORE_BACKEND: 'numpy' (pure-NumPy backend for CPU arrays) or 'cpu' (require the native one)."""
    return _choice("REGCORE_BACKEND", BACKEND_VALUES)


def isa() -> Optional[str]:
    """REGCORE_ISA: force an instruction-set level ('scalar', 'avx2', 'avx512')."""
    return _choice("REGCORE_ISA", ISA_VALUES)
