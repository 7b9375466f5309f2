"""Bit-level comparison of float arrays where NaN may appear.

IEEE 754 leaves the sign and payload of a NaN *result* unspecified (x86 produces a negative
"default NaN" for invalid operations, CUDA a positive canonical one, and which input NaN an
operation with two NaN operands returns depends on the operand order the compiler picked for a
SIMD width), so regcore promises NaN at the same positions on every backend and identical bits
everywhere else (docs/ARCHITECTURE.md, "NaN and infinities")."""
from __future__ import annotations

import numpy as np


def assert_same_bits_nan_aware(a, b, what=""):
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape, what
    na, nb = np.isnan(a), np.isnan(b)
    np.testing.assert_array_equal(na, nb, err_msg=f"{what}: NaN positions differ")
    ui = np.dtype(f"u{a.dtype.itemsize}")
    np.testing.assert_array_equal(a[~na].view(ui), b[~nb].view(ui), err_msg=f"{what}: bits differ")
