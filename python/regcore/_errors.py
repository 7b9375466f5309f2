"""Uniform wording for argument errors: always name the argument and what was expected."""
from __future__ import annotations


def type_error(name: str, expected: str, got: object) -> TypeError:
    return TypeError(f"{name}: expected {expected}, got {got!r}")


def value_error(name: str, expected: str, got: object) -> ValueError:
    return ValueError(f"{name}: expected {expected}, got {got!r}")


NO_CUDA_BUILD = (
    "{name}: this is a CUDA array, but regcore was built without CUDA. Install a CUDA build with "
    "nvcc on PATH: REGCORE_CUDA=ON pip install --force-reinstall --no-binary regcore regcore "
    "(or, from a checkout: REGCORE_CUDA=ON pip install .)"
)
