"""Hostile input to the public calls: every failure is a TypeError/ValueError whose message starts
with the argument it blames, nothing is written (every input snapshotted), and the generator's
counter does not move. Valid-but-odd input (zero-size, read-only inputs that are only read) may
succeed. Hypothesis profile "hostile" keeps this to a few seconds; crash-prone native calls run
in a subprocess."""
from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import regcore as rc

settings.register_profile("hostile", max_examples=40, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
HOSTILE = settings.get_profile("hostile")

# "x: ...", "mask.bits: ...", "params[0] and grads[1]: ..."
_NAMED = re.compile(r"^[A-Za-z_][\w.\[\]']*( and [A-Za-z_][\w.\[\]']*)?: ")


def _misaligned(n, dtype):
    raw = np.zeros(n * np.dtype(dtype).itemsize + 1, np.uint8)
    return raw[1:].view(dtype)


def _read_only(a):
    a.flags.writeable = False
    return a


# name -> a maker of a hostile array of about n elements
KINDS = {
    "int32": lambda n: np.arange(n, dtype=np.int32),
    "bool": lambda n: np.ones(n, bool),
    "float16": lambda n: np.ones(n, np.float16),
    "complex64": lambda n: np.ones(n, np.complex64),
    "object": lambda n: np.array([1.0] * n, dtype=object),
    "big_endian": lambda n: np.ones(n, ">f4"),
    "strided": lambda n: np.ones(2 * n, np.float32)[::2],
    "negative_stride": lambda n: np.ones(n, np.float32)[::-1],
    "misaligned": lambda n: _misaligned(n, np.float32),
    "read_only": lambda n: _read_only(np.ones(n, np.float32)),
    "masked": lambda n: np.ma.masked_array(np.ones(n, np.float32), mask=[i % 2 for i in range(n)]),
    "zero_d": lambda n: np.float32(1.0) * np.ones((), np.float32),
    "zero_size": lambda n: np.ones((0,), np.float32),
    "list": lambda n: [1.0] * n,
}

EDGES = [float("nan"), float("inf"), -float("inf"), 10**400, -(10**400), -0.0, 1e300, -1.0, 2.0, True, "0.5", None]


def _call(fn, arrays, gen):
    """Run fn; on failure check the wording, that every array is unchanged and that the generator
    did not move. Returns the exception or None."""
    snaps = [np.array(a, copy=True) if isinstance(a, np.ndarray) else None for a in arrays]
    offset = gen.offset
    try:
        fn()
    except (TypeError, ValueError) as exc:
        assert _NAMED.match(str(exc)), f"error does not start with an argument name: {exc!r}"
        for a, s in zip(arrays, snaps):
            if s is not None:
                np.testing.assert_array_equal(np.asarray(a), s)
        assert gen.offset == offset, "generator advanced by a failing call"
        return exc
    return None


def _unary_calls(x, g):
    """The public calls taking one data array (positionally the first argument)."""
    return {
        "dropout": lambda: rc.dropout(x, 0.5, generator=g),
        "dropout_": lambda: rc.dropout_(x, 0.5, generator=g),
        "gaussian_noise": lambda: rc.gaussian_noise(x, 0.1, generator=g),
        "init.normal_": lambda: rc.init.normal_(x, generator=g),
        "init.uniform_": lambda: rc.init.uniform_(x, generator=g),
        "init.trunc_normal_": lambda: rc.init.trunc_normal_(x, generator=g),
        "random.normal_": lambda: rc.random.normal_(x, generator=g),
        "random.uniform_": lambda: rc.random.uniform_(x, generator=g),
        "layer_norm": lambda: rc.layer_norm(x),
        "batch_norm_stats": lambda: rc.batch_norm_stats(x),
        "alpha_dropout": lambda: rc.alpha_dropout(x, 0.5, generator=g),
    }


_HALF_CALLS = {"dropout", "dropout_", "gaussian_noise", "init.normal_", "init.uniform_", "init.trunc_normal_", "random.normal_",
               "random.uniform_", "layer_norm", "batch_norm_stats", "alpha_dropout"}


@HOSTILE
@given(kind=st.sampled_from(sorted(KINDS)), n=st.sampled_from([1, 7, 64]),
       call=st.sampled_from(sorted(_unary_calls(None, None))))
def test_hostile_arrays(kind, n, call):
    x = KINDS[kind](n)
    g = rc.Generator(7)
    exc = _call(_unary_calls(x, g)[call], [x], g)
    takes_16bit = call in _HALF_CALLS   # float16 is their data dtype (docs/precision.md)
    if kind in ("int32", "bool", "complex64", "object", "big_endian", "masked", "list") or (
            kind == "float16" and not takes_16bit) or (
            kind in ("strided", "negative_stride") and not x.flags.c_contiguous):
        assert exc is not None, f"{call} accepted a {kind} array"
    if kind == "read_only" and call.endswith("_"):
        assert exc is not None, f"{call} wrote into a read-only array"


@HOSTILE
@given(edge=st.sampled_from(EDGES), which=st.sampled_from(["p", "std", "eps", "lr", "momentum", "a"]))
def test_hostile_hyper_parameters(edge, which):
    x = np.linspace(-1, 1, 24, dtype=np.float32).reshape(2, 3, 4)
    g = rc.Generator(3)
    rm, rv = np.zeros(3, np.float32), np.ones(3, np.float32)
    w, gr = np.ones(5, np.float32), np.ones(5, np.float32)
    calls = {
        "p": lambda: rc.dropout(x, edge, generator=g),
        "std": lambda: rc.init.normal_(x, std=edge, generator=g),
        "eps": lambda: rc.batch_norm(x, running_mean=rm, running_var=rv, eps=edge),
        "lr": lambda: rc.sgd_step_(w, gr, lr=edge),
        "momentum": lambda: rc.batch_norm(x, running_mean=rm, running_var=rv, momentum=edge),
        "a": lambda: rc.init.uniform_(x, edge, 1e30, generator=g),
    }
    exc = _call(calls[which], [x, rm, rv, w, gr], g)
    if edge is None and which in ("p", "eps", "lr"):
        assert exc is not None
    if isinstance(edge, (str, bool)) or (isinstance(edge, int) and abs(edge) > 2**1023):
        assert exc is not None, f"{which}={edge!r} accepted"
    if exc is not None and not (which == "momentum" and edge is None):
        assert str(exc).startswith(which), exc


@HOSTILE
@given(start=st.integers(0, 8), stop=st.integers(1, 16), pick=st.sampled_from(["bn", "sgd_buf", "sgd_grad", "out"]))
def test_hostile_aliasing(start, stop, pick):
    buf = np.arange(16, dtype=np.float32)
    g = rc.Generator(1)
    a, b = buf[0:8], buf[start:start + 8]
    x = np.linspace(-1, 1, 16, dtype=np.float32).reshape(2, 8, 1)
    calls = {
        "bn": lambda: rc.batch_norm(x, running_mean=a, running_var=b),
        "sgd_buf": lambda: rc.sgd_step_(a, np.ones(8, np.float32), b, lr=0.1, momentum=0.9),
        "sgd_grad": lambda: rc.sgd_step_(a, b, None, lr=0.1),
        "out": lambda: rc.dropout(a, 0.5, out=b, generator=g),
    }
    exc = _call(calls[pick], [buf], g)
    overlap = np.shares_memory(a, b)
    if pick == "out" and start == 0:
        assert exc is None   # the documented in-place form
    else:
        assert (exc is not None) == overlap, (pick, start, exc)
        if exc is not None:
            assert " and " in str(exc).split(":")[0]


def test_crash_prone_native_calls_run_in_a_subprocess():
    # the binding itself, given what the Python layer would have refused: an error, never a crash
    code = r"""
import numpy as np
from regcore import _native
if _native.cpu is None:
    raise SystemExit(0)
bad = [np.ones(3, np.int64), np.ones((2, 2), np.float32)[:, ::2], np.ones(1, np.float32)]
for a in bad:
    try:
        _native.cpu.random_normal(a, 1, 0, np.float32(0), np.float32(1))
    except (TypeError, ValueError):
        pass
print("ok")
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
