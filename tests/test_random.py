"""The random stream (docs/random.md): Philox4x32-10 known answers, the stream layout, the
word -> float transforms, bit identity across backends / ISA levels / threads, goodness of fit,
the Generator, and argument checking."""
from __future__ import annotations

import collections
import math
import pathlib
import re

import numpy as np
import pytest
from scipy import stats

import regcore as rc
from regcore._backends.numpy_backend import _constants, _philox

from conftest import BACKENDS, cpu_backend, num_threads

ROOT = pathlib.Path(__file__).resolve().parents[1]
M32 = 0xFFFFFFFF

# ---------------------------------------------------------------- oracle: Philox in plain ints


def philox_oracle(ctr, key):
    """Philox4x32-10 as published (Salmon et al., SC11), on Python ints."""
    c0, c1, c2, c3 = ctr
    k0, k1 = key
    for r in range(10):
        if r:
            k0, k1 = (k0 + 0x9E3779B9) & M32, (k1 + 0xBB67AE85) & M32
        p0, p1 = c0 * 0xD2511F53, c2 * 0xCD9E8D57
        c0, c1, c2, c3 = (p1 >> 32) ^ c1 ^ k0, p1 & M32, (p0 >> 32) ^ c3 ^ k1, p0 & M32
    return (c0, c1, c2, c3)


def stream_oracle(seed, offset, nblocks):
    """Words of blocks offset .. offset+nblocks-1: counter (lo32(b), hi32(b), 0, 0), key = seed."""
    key = (seed & M32, seed >> 32)
    out = []
    for b in range(offset, offset + nblocks):
        out.extend(philox_oracle((b & M32, b >> 32, 0, 0), key))
    return np.array(out, dtype=np.uint32)


# Random123's published known-answer vectors for Philox4x32-10 (Random123 distribution,
# tests/kat_vectors, lines "philox4x32 10 <ctr x4> <key x2> <expected x4>").
KAT = [
    ((0x00000000, 0x00000000, 0x00000000, 0x00000000), (0x00000000, 0x00000000),
     (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF), (0xFFFFFFFF, 0xFFFFFFFF),
     (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
]


@pytest.mark.parametrize("ctr,key,want", KAT)
def test_philox_known_answers(ctr, key, want):
    assert philox_oracle(ctr, key) == want
    got = _philox.philox4x32_10(*(np.array([c], np.uint32) for c in ctr), *key)
    assert tuple(int(w[0]) for w in got) == want


def test_native_bits_reproduce_the_zero_known_answer(backend):
    # seed 0, block 0 is the counter/key all-zero vector.
    np.testing.assert_array_equal(rc.random.bits(4, generator=rc.Generator(0)),
                                  np.array(KAT[0][2], np.uint32))


@pytest.mark.parametrize("seed", [0, 1, 0xDEADBEEF12345678, 2**64 - 1])
@pytest.mark.parametrize("offset", [0, 2**32 - 3, 2**64 - 40])
def test_bits_follow_the_stream_layout(backend, seed, offset):
    n = 37  # 10 blocks, the last one partly used
    g = rc.Generator.from_state({"seed": seed, "offset": offset})
    got = rc.random.bits(n, generator=g)
    np.testing.assert_array_equal(got, stream_oracle(seed, offset, 10)[:n])
    assert g.offset == offset + 10


# ---------------------------------------------------------------- word -> float transforms


def uniform_oracle(words, dtype, lo, hi_bound):
    if dtype == np.float32:
        u = (words >> np.uint32(8)).astype(np.float32) * np.float32(2.0**-24)
        lo32, top = np.float32(lo), np.float32(hi_bound)
        span = np.float32(top - lo32)
        return np.minimum(lo32 + span * u, np.nextafter(top, np.float32(-np.inf)))
    w = words.reshape(-1, 2)
    u = ((w[:, 0] >> np.uint32(5)).astype(np.float64) * 2.0**26 + (w[:, 1] >> np.uint32(6))) * 2.0**-53
    return np.minimum(lo + (hi_bound - lo) * u, np.nextafter(hi_bound, -np.inf))


def normal_oracle(words, dtype):
    """Box-Muller in float64 with libm log/cos/sin (the layout of docs/random.md)."""
    if dtype == np.float32:
        w = words.reshape(-1, 2)
        u1 = ((w[:, 0] >> np.uint32(8)).astype(np.float64) + 1) * 2.0**-24
        q = (w[:, 1] >> np.uint32(30)).astype(np.float64)
        f = ((w[:, 1] >> np.uint32(6)) & np.uint32(0xFFFFFF)).astype(np.float64) * 2.0**-24
    else:
        w = words.reshape(-1, 4)
        u1 = ((w[:, 0] >> np.uint32(5)).astype(np.float64) * 2.0**26 + (w[:, 1] >> np.uint32(6)) + 1) * 2.0**-53
        q = (w[:, 2] >> np.uint32(30)).astype(np.float64)
        f = ((w[:, 2] & np.uint32(0x3FFFFFFF)).astype(np.float64) * 2.0**23 + (w[:, 3] >> np.uint32(9))) * 2.0**-53
    r = np.sqrt(-2.0 * np.log(u1))
    theta = (q + f) * (np.pi / 2)
    return np.stack([r * np.cos(theta), r * np.sin(theta)], axis=1).reshape(-1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_uniform_matches_its_oracle_exactly(backend, dtype):
    seed, offset, n = 99, 2**32 - 7, 1001
    e = 4 if dtype == np.float32 else 2
    words = stream_oracle(seed, offset, -(-n // e))
    got = rc.random.uniform(n, -2.0, 3.0, dtype=dtype, generator=rc.Generator.from_state({"seed": seed, "offset": offset}))
    want = uniform_oracle(words, dtype, -2.0, 3.0)[:n].astype(dtype)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_normal_matches_libm_box_muller_within_stated_ulps(backend, dtype):
    seed, n = 5, 4001
    e = 4 if dtype == np.float32 else 2
    words = stream_oracle(seed, 0, -(-n // e))
    got = rc.random.normal(n, dtype=dtype, generator=rc.Generator(seed)).astype(np.float64)
    want = normal_oracle(words, dtype)[:n]
    # docs/random.md: within 8 (float32) / 32 (float64) eps * max(|z|, 1) of libm's Box-Muller
    tol = ((8 if dtype == np.float32 else 32) * np.finfo(dtype).eps) * np.maximum(np.abs(want), 1.0)
    assert np.all(np.abs(got - want) <= tol)


def _hex_floats_of_header(path):
    text = re.sub(r"//[^\n]*", "", path.read_text())
    pairs = re.findall(r"(-?0x[0-9a-fA-F.]+p[-+]?\d+)(f?)", text)
    return collections.Counter((float.fromhex(h), "f32" if f else "f64") for h, f in pairs)


def _constants_of_module(mod):
    out = collections.Counter()
    for name, value in vars(mod).items():
        if name.startswith("_"):
            continue
        values = value.values() if isinstance(value, dict) else value if isinstance(value, list) else [value]
        for v in values:
            if isinstance(v, (np.float32, np.float64)):
                out[(float(v), "f32" if isinstance(v, np.float32) else "f64")] += 1
    return out


def test_float_math_constants_equal_the_numpy_backends():
    """Every hex constant of the C++ transforms is in the NumPy backend's table and vice versa."""
    cpp = set()
    for header in ("float_math.h", "init_transforms.h"):
        cpp |= set(_hex_floats_of_header(ROOT / "csrc" / "core" / header))
    py = set(_constants_of_module(_constants))
    assert cpp == py
    assert len(cpp) > 80


# ---------------------------------------------------------------- bit identity

SIZES = [0, 1, 3, 5, 63, 64, 65, 1000003]


def _draw(name, n, dtype, offset):
    g = rc.Generator.from_state({"seed": 2024, "offset": offset})
    if name == "bits":
        return rc.random.bits(n, generator=g)
    return getattr(rc.random, name)(n, dtype=dtype, generator=g)


@pytest.mark.parametrize("name,dtype", [("bits", None), ("uniform", np.float32), ("uniform", np.float64),
                                        ("normal", np.float32), ("normal", np.float64)])
@pytest.mark.parametrize("n", SIZES)
def test_draws_are_bit_identical_across_backends_and_threads(name, dtype, n):
    offset = 2**32 - 3 if n < 1000 else 2**32 - 100000   # the low counter word wraps inside
    ref = None
    for be in BACKENDS:
        for t in ([1, 2] if be != "numpy" else [1]):
            with cpu_backend(be), num_threads(t):
                got = _draw(name, n, dtype, offset)
            if ref is None:
                ref = got
            else:
                assert got.tobytes() == ref.tobytes(), (be, t)


def test_in_place_and_allocating_forms_agree_and_splitting_a_call_changes_nothing(backend):
    a = rc.random.normal(64, generator=rc.Generator(3))
    x = np.empty(64, np.float32)
    rc.random.normal_(x, generator=rc.Generator(3))
    np.testing.assert_array_equal(a, x)
    g = rc.Generator(3)
    parts = np.concatenate([rc.random.normal(32, generator=g), rc.random.normal(32, generator=g)])
    np.testing.assert_array_equal(parts, a)


# ---------------------------------------------------------------- goodness of fit (fixed seeds)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_uniform_goodness_of_fit(dtype):
    x = rc.random.uniform(200_000, dtype=dtype, generator=rc.Generator(11)).astype(np.float64)
    assert stats.kstest(x, "uniform").pvalue > 1e-3
    counts = np.bincount((x * 100).astype(int), minlength=100)
    assert stats.chisquare(counts).pvalue > 1e-3
    assert x.min() >= 0.0 and x.max() < 1.0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_normal_goodness_of_fit(dtype):
    x = rc.random.normal(200_000, 1.5, 2.0, dtype=dtype, generator=rc.Generator(12)).astype(np.float64)
    assert stats.kstest(x, "norm", args=(1.5, 2.0)).pvalue > 1e-3
    edges = stats.norm.ppf(np.linspace(0, 1, 51), 1.5, 2.0)
    counts, _ = np.histogram(x, edges)
    assert stats.chisquare(counts).pvalue > 1e-3


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mean,std,a,b", [(0.0, 1.0, -2.0, 2.0), (0.5, 2.0, -1.0, 3.0), (0.0, 1.0, 4.0, 9.0),
                                          (1.0, 0.5, -np.inf, 0.0)])
def test_trunc_normal_goodness_of_fit(dtype, mean, std, a, b):
    x = rc.init.trunc_normal(200_000, mean, std, a, b, dtype=dtype, generator=rc.Generator(13)).astype(np.float64)
    d = stats.truncnorm((a - mean) / std, (b - mean) / std, loc=mean, scale=std)
    assert stats.kstest(x, d.cdf).pvalue > 1e-3
    assert x.min() >= a and x.max() <= b


# ---------------------------------------------------------------- Generator


def test_generator_hands_out_disjoint_ranges():
    g = rc.Generator(77)
    a = rc.random.bits(10, generator=g)          # 3 blocks
    assert g.offset == 3
    b = rc.random.uniform(5, dtype=np.float64, generator=g)  # 3 blocks (E = 2)
    assert g.offset == 6
    words = stream_oracle(77, 0, 6)
    np.testing.assert_array_equal(a, words[:10])
    np.testing.assert_array_equal(b, uniform_oracle(words[12:24], np.float64, 0.0, 1.0)[:5])


def test_generator_state_round_trip():
    g = rc.Generator(2**63 + 5)
    rc.random.normal(17, generator=g)
    h = rc.Generator.from_state(g.state)
    assert h.state == g.state
    np.testing.assert_array_equal(rc.random.normal(9, generator=g), rc.random.normal(9, generator=h))


def test_generator_set_state_continues_in_place():
    g = rc.Generator(11)
    rc.random.normal(5, generator=g)
    state = g.state
    first = rc.random.normal(9, generator=g)
    h = g
    g.set_state(state)
    assert h is g and g.state == state
    np.testing.assert_array_equal(rc.random.normal(9, generator=g), first)
    g.set_state(rc.Generator(3).state)
    assert (g.seed, g.offset) == (3, 0)
    with pytest.raises(ValueError, match="offset"):
        g.set_state({"seed": 1, "offset": -1})
    assert (g.seed, g.offset) == (3, 0)   # nothing changed


@pytest.mark.parametrize("copy_of", ["deepcopy", "copy", "pickle"])
def test_generator_copies_continue_independently_from_the_same_state(copy_of):
    import copy
    import pickle
    g = rc.Generator(2**63 + 7)
    rc.random.normal(13, generator=g)
    h = {"deepcopy": copy.deepcopy, "copy": copy.copy, "pickle": lambda g: pickle.loads(pickle.dumps(g))}[copy_of](g)
    assert h is not g and h.state == g.state
    np.testing.assert_array_equal(rc.random.normal(9, generator=h), rc.random.normal(9, generator=g))
    rc.random.normal(5, generator=h)   # advancing the copy leaves the original where it was
    assert h.offset > g.offset
    with pytest.raises(TypeError, match="offset"):   # a forged state is refused on the way back
        pickle.loads(pickle.dumps(g).replace(b"offset", b"offsex"))


@pytest.mark.parametrize("seed,exc", [(-1, ValueError), (2**64, ValueError), (1.0, TypeError), (True, TypeError),
                                      ("1", TypeError), (None, TypeError)])
def test_bad_seeds_are_refused(seed, exc):
    with pytest.raises(exc, match="seed"):
        rc.Generator(seed)


def test_bad_state_is_refused():
    with pytest.raises(ValueError, match="state"):
        rc.Generator.from_state({"algorithm": "mt19937", "seed": 1, "offset": 0})
    with pytest.raises(ValueError, match="offset"):
        rc.Generator.from_state({"seed": 1, "offset": -1})


# ---------------------------------------------------------------- bad arrays and parameters


def _refused(call, x, exc, match):
    g = rc.Generator(1)
    before = x.copy()
    with pytest.raises(exc, match=match):
        call(x, generator=g)
    np.testing.assert_array_equal(x, before)
    assert g.offset == 0


@pytest.mark.parametrize("draw", ["uniform_", "normal_"])
def test_in_place_refuses_bad_arrays_without_writing(backend, draw):
    call = getattr(rc.random, draw)
    ro = np.zeros(8, np.float32)
    ro.flags.writeable = False
    _refused(call, ro, ValueError, "x")
    base = np.zeros(16, np.float32)
    _refused(call, base[::2], ValueError, "x")
    _refused(call, np.zeros(8, np.int32), TypeError, "x")
    _refused(call, np.zeros(8, np.uint16), TypeError, "x")   # (float16 is a data dtype: test_half.py)
    _refused(rc.random.bits_, np.zeros(8, np.int32), TypeError, "out")


def test_bad_parameters_are_refused_by_name(backend):
    x = np.zeros(8, np.float32)
    _refused(lambda x, generator: rc.random.uniform_(x, 1.0, 1.0, generator=generator), x, ValueError, "high")
    _refused(lambda x, generator: rc.random.uniform_(x, 0.0, math.nan, generator=generator), x, ValueError, "high")
    _refused(lambda x, generator: rc.random.normal_(x, 0.0, -1.0, generator=generator), x, ValueError, "std")
    _refused(lambda x, generator: rc.random.normal_(x, "0", 1.0, generator=generator), x, TypeError, "mean")
    with pytest.raises(TypeError, match="dtype"):
        rc.random.uniform(4, dtype=np.int64)
    with pytest.raises(TypeError, match="generator"):
        rc.random.uniform(4, generator=42)
