"""Native CUDA random fills."""
from __future__ import annotations

from ..._native import cuda as _ext

__all__ = ["random_bits", "random_uniform", "random_normal"]


def random_bits(out, seed, offset):
    _ext.random_bits(out, seed, offset)


def random_uniform(out, seed, offset, lo, span, hi):
    _ext.random_uniform(out, seed, offset, float(lo), float(span), float(hi))


def random_normal(out, seed, offset, mean, std):
    _ext.random_normal(out, seed, offset, float(mean), float(std))
