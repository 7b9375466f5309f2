"""SGD on 16-bit parameters at the SIMD levels against the scalar level and the NumPy backend, bit
for bit, on the paths the plain-data identity tests do not reach: stochastic rounding's words
taken from Philox in registers (runs of 4W elements starting a counter block) next to the stack
block at the edges, counter offsets whose low word wraps inside the tensor, max-norm rows whose
starts are not block starts; signalling and quiet NaNs (float32 buffer NaNs with low payload bits,
which an unmasked rounding add would carry into the stored half), +-inf, the largest finite values
(rounded to inf with the probability of their position), subnormals and -0; and the first momentum
step, which stores the (quieted) gradient itself as the buffer.

NaN enters each element from one place at most (the parameter, the gradient or the buffer): where
two different NaNs meet, which payload an operation keeps is not promised."""
from __future__ import annotations

import numpy as np
import pytest

import regcore as rc
from _switches import cpu_backend, num_threads

# The special values overflow and meet NaNs on purpose: the NumPy backend's float32 arithmetic
# says so in RuntimeWarnings, which are the expected outcome here, not a finding.
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

if not rc.available_isas():
    pytest.skip("no native CPU module", allow_module_level=True)

ml_dtypes = pytest.importorskip("ml_dtypes")
BF16 = np.dtype(ml_dtypes.bfloat16)
F16 = np.dtype(np.float16)
BACKENDS = [f"cpu-{i}" for i in rc.available_isas()]
# (NaNs, other specials): signalling and quiet NaNs of both signs; +-inf, +-largest finite,
# subnormals, -0, the smallest normal.
SPECIAL = {
    BF16: ([0x7FC1, 0x7F81, 0xFF85, 0xFFC3], [0x7F80, 0xFF80, 0x7F7F, 0xFF7F, 0x0001, 0x807F, 0x8000, 0x0080]),
    F16: ([0x7E01, 0x7C01, 0xFC05, 0xFE03], [0x7C00, 0xFC00, 0x7BFF, 0xFBFF, 0x0001, 0x83FF, 0x8000, 0x0400]),
}
# float32 buffer NaNs: quiet and signalling, with low payload bits set.
BUF_NANS = [0x7FC0FFFF, 0xFFC0F001, 0x7F80FFFF, 0x7FBFFFFF]
# Sizes around the 4W-element group (64 at AVX-512, 32 at AVX2) and the 1024-word block.
SHAPES = [(259,), (1091,), (3001,), (7, 129), (5, 1030)]
OPTS = [
    dict(lr=0.5, momentum=0.0),
    dict(lr=2.0 ** -9, momentum=0.9, weight_decay=1e-2),
    dict(lr=0.1, momentum=0.8, nesterov=True, maximize=True, decoupled_weight_decay=0.05, l1=1e-3),
    dict(lr=0.1, momentum=0.9, max_norm=3.0, max_norm_axis=0),   # rows start anywhere in a block
]
OPT_IDS = ["plain", "mom_wd", "nesterov_max", "maxnorm_rows"]


def _data(shape, dt, rng):
    """(w, g, buffer): normal values with specials; NaN in at most one of the three per element."""
    n = int(np.prod(shape))
    nans, others = (np.array(v, np.uint16) for v in SPECIAL[dt])
    out = []
    for _ in range(2):
        x = (rng.standard_normal(n) * 2).astype(np.float32).astype(dt)
        u = x.view(np.uint16)
        pick = rng.random(n) < 0.15
        u[pick] = rng.choice(others, pick.sum())
        out.append(u)
    w, g = out
    src = rng.integers(0, 3, n)   # which of w, g, buffer may hold this element's NaN
    put = rng.random(n) < 0.08
    w[put & (src == 0)] = rng.choice(nans, (put & (src == 0)).sum())
    g[put & (src == 1)] = rng.choice(nans, (put & (src == 1)).sum())
    b = (rng.standard_normal(n) * 0.1).astype(np.float32)
    bu = b.view(np.uint32)
    bu[put & (src == 2)] = rng.choice(np.array(BUF_NANS, np.uint32), (put & (src == 2)).sum())
    return w.view(dt).reshape(shape), g.view(dt).reshape(shape), b.reshape(shape)


def _bits(a):
    return np.ascontiguousarray(a).view(np.uint8)


def _words(a):
    """The elements' bit patterns (NaNs compare by their bits)."""
    return np.ascontiguousarray(a).view(np.uint32 if a.dtype.itemsize == 4 else np.uint16).ravel()


def _run(be, w0, g, b0, opts, offset, sr, threads=1):
    w = w0.copy()
    b = None if b0 is None else b0.copy()
    gen = rc.Generator.from_state({"seed": 9, "offset": offset}) if sr else None
    with cpu_backend(be), num_threads(threads):
        b = rc.sgd_step_(w, g, b, stochastic_rounding=sr, generator=gen, **opts)
    return w, b


@pytest.mark.parametrize("dt", [BF16, F16], ids=["bfloat16", "float16"])
@pytest.mark.parametrize("opts,shape", [(o, s) for o in OPTS for s in SHAPES if len(s) == 2 or not o.get("max_norm")],
                         ids=[f"{i}-{'x'.join(map(str, s))}" for o, i in zip(OPTS, OPT_IDS) for s in SHAPES
                              if len(s) == 2 or not o.get("max_norm")])
@pytest.mark.parametrize("offset", [0, 3, 2**32 - 37], ids=["off0", "off3", "wrap"])
@pytest.mark.parametrize("buffer", ["given", "first"])
def test_stochastic_rounding_lanes_give_the_scalar_bits(dt, opts, shape, offset, buffer):
    w0, g, b0 = _data(shape, dt, np.random.default_rng(hash((shape, offset)) % 2**32))
    b0 = b0 if buffer == "given" and opts["momentum"] else None
    ref = _run("numpy", w0, g, b0, opts, offset, sr=True)
    for be in BACKENDS:
        for threads in (1, 2):
            got = _run(be, w0, g, b0, opts, offset, True, threads)
            for a, r, what in zip(got, ref, ("param", "buffer")):
                assert (a is None) == (r is None)
                if a is not None:
                    bad = np.flatnonzero(_words(a) != _words(r))
                    assert bad.size == 0, (be, threads, what, bad[:8])


@pytest.mark.parametrize("dt", [BF16, F16], ids=["bfloat16", "float16"])
@pytest.mark.parametrize("opts", OPTS[:3], ids=OPT_IDS[:3])
@pytest.mark.parametrize("buffer", ["given", "first"])
def test_nearest_rounding_lanes_give_the_scalar_bits(dt, opts, buffer):
    """The same data without stochastic rounding (the loads are shared with it)."""
    w0, g, b0 = _data((3001,), dt, np.random.default_rng(4))
    b0 = b0 if buffer == "given" and opts["momentum"] else None
    ref = _run("numpy", w0, g, b0, opts, 0, sr=False)
    for be in BACKENDS:
        got = _run(be, w0, g, b0, opts, 0, False)
        for a, r in zip(got, ref):
            if r is not None:
                assert np.array_equal(_bits(a), _bits(r)), be


@pytest.mark.parametrize("dt", [BF16, F16], ids=["bfloat16", "float16"])
def test_first_momentum_step_stores_the_quieted_gradient(dt):
    """A signalling NaN gradient becomes the buffer with only the quiet bit set (the value is
    stored without arithmetic on the first step), at every level."""
    n = 1000
    g = np.full(n, 1.0, np.float32).astype(dt)
    snan = 0x7F81 if dt == BF16 else 0x7C01
    g.view(np.uint16)[::7] = snan
    want = 0x7FC10000 if dt == BF16 else 0x7FC02000
    for be in ["numpy"] + BACKENDS:
        w = np.zeros(n, dt)
        with cpu_backend(be):
            b = rc.sgd_step_(w, g, None, lr=0.1, momentum=0.9)
        assert np.all(b.view(np.uint32)[::7] == want), be
