"""dropout, dropout_, dropout_backward, dropconnect, dropout_scale, and the DropoutMask contract."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import regcore as rc
from _dropout_oracle import backend, cfg_id, configs
from _dropout_oracle import dropout as oracle_dropout
from _dropout_oracle import keep as oracle_keep
from _dropout_oracle import philox4x32_10, scale as oracle_scale, stream_words, threads, threshold

CONFIGS = configs()
DTYPES = (np.float32, np.float64)
KINDS = ("bits", "bytes", "none")


def data(shape, dtype, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


# ---- the oracle's own stream is right (Random123 known-answer vectors)

@pytest.mark.parametrize("ctr,key,expected", [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF, 0xFFFFFFFF), (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
])
def test_oracle_philox_known_answers(ctr, key, expected):
    got = philox4x32_10(np.array([ctr], dtype=np.uint64), key)[0]
    assert tuple(int(v) for v in got) == expected


def test_oracle_stream_matches_random_bits():
    g = rc.Generator(2024)
    g.reserve(7)
    words = rc.random.bits(1001, generator=g)
    assert np.array_equal(words.astype(np.uint64), stream_words(2024, 7, 1001))


# ---- keep rule and scale

@pytest.mark.parametrize("p,t", [(0.0, 0), (1.0, 1 << 32), (0.5, 1 << 31), (0.25, 1 << 30),
                                 (1 - 2.0**-34, 1 << 32), (2.0**-33, 0), (3 * 2.0**-33, 2)])
def test_threshold(p, t):
    m = rc.dropout(np.zeros(1, np.float32), p, generator=rc.Generator(0))[1]
    assert m.threshold == t == threshold(p)
    assert m.keep_probability == ((1 << 32) - t) / 2**32


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", [0.0, 0.1, 0.5, 1 / 3, 0.9, 1.0])
def test_scale_is_one_over_exact_keep_probability(dtype, p):
    _, m = rc.dropout(np.zeros(3, dtype), p, generator=rc.Generator(1))
    assert m.scale.dtype == np.dtype(dtype)
    assert float(m.scale) == oracle_scale(p, "inverted", dtype)
    _, mv = rc.dropout(np.zeros(3, dtype), p, generator=rc.Generator(1), mode="vanilla")
    assert float(mv.scale) == 1.0


# ---- forward and backward against the oracle, every backend, ISA, dtype and mask kind

@pytest.mark.parametrize("cfg", CONFIGS, ids=cfg_id)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("mode", ["inverted", "vanilla"])
def test_forward_backward_match_oracle(cfg, dtype, kind, mode):
    shape = (37, 29)  # 1073 elements: not a multiple of 32 or of any vector width
    x = data(shape, dtype, 1)
    x[0, :5] = [np.inf, -np.inf, np.nan, 0.0, -0.0]
    dy = data(shape, dtype, 2)
    g = rc.Generator(77)
    g.reserve(5)
    with backend(cfg):
        y, m = rc.dropout(x, 0.3, generator=g, mode=mode, mask=kind)
        dx = rc.dropout_backward(dy, m)
    assert g.offset == 5 + (x.size + 3) // 4
    ref, k = oracle_dropout(x, 77, 5, 0.3, mode)
    assert y.dtype == dtype and y.shape == shape
    np.testing.assert_array_equal(y, ref.astype(dtype))
    assert not np.signbit(y[~k.reshape(shape)]).any(), "dropped elements are +0"
    dref, _ = oracle_dropout(dy, 77, 5, 0.3, mode)
    np.testing.assert_array_equal(dx, dref.astype(dtype))
    np.testing.assert_array_equal(m.to_numpy(), k.reshape(shape))
    assert (m.offset, m.seed, m.p, m.mode, m.kind, m.shape, m.dtype) == (5, 77, 0.3, mode, kind, shape, np.dtype(dtype))


@pytest.mark.parametrize("cfg", CONFIGS, ids=cfg_id)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [0, 1, 3, 31, 32, 33, 63, 64, 65, 127, 129, 1000, 70001])
def test_odd_and_zero_sizes(cfg, dtype, n):
    x = data(n, dtype, n)
    with backend(cfg):
        for kind in KINDS:
            g = rc.Generator(n + 11)
            y, m = rc.dropout(x, 0.6, generator=g, mask=kind)
            dx = rc.dropout_backward(x, m)
            ref, _ = oracle_dropout(x, n + 11, 0, 0.6)
            np.testing.assert_array_equal(y, ref.astype(dtype))
            np.testing.assert_array_equal(dx, ref.astype(dtype))


def test_bits_layout_unpacks_with_numpy():
    n = 1000
    _, m = rc.dropout(np.ones(n, np.float32), 0.5, generator=rc.Generator(3))
    assert m.bits.dtype == np.uint32 and m.bits.shape == ((n + 31) // 32,)
    unpacked = np.unpackbits(m.bits.view(np.uint8), bitorder="little")
    np.testing.assert_array_equal(unpacked[:n].astype(bool), oracle_keep(3, 0, n, 0.5))
    assert not unpacked[n:].any(), "pad bits are zero"
    # the same bit, word by word: element i = bit i % 32 of word i // 32
    i = np.arange(n)
    np.testing.assert_array_equal((m.bits[i // 32] >> (i % 32).astype(np.uint32)) & 1, unpacked[:n])


@pytest.mark.parametrize("n", [0, 1, 33, 1000])
def test_mask_nbytes(n):
    x = np.ones(n, np.float64)
    sizes = {kind: rc.dropout(x, 0.5, generator=rc.Generator(0), mask=kind)[1].nbytes for kind in KINDS}
    assert sizes == {"bits": 4 * ((n + 31) // 32), "bytes": n, "none": 0}


@pytest.mark.parametrize("cfg", CONFIGS, ids=cfg_id)
def test_bits_equal_regenerated_and_bytes(cfg):
    x = data(5000, np.float32, 4)
    with backend(cfg):
        masks = {kind: rc.dropout(x, 0.45, generator=rc.Generator(9), mask=kind)[1] for kind in KINDS}
    bits = masks["bits"].to_numpy()
    np.testing.assert_array_equal(bits, masks["bytes"].to_numpy())
    np.testing.assert_array_equal(bits, masks["none"].to_numpy())
    np.testing.assert_array_equal(masks["bytes"].bytes, bits.astype(np.uint8))


def test_identical_across_backends_isas_and_threads():
    n = 3 * 65536 + 77  # several fixed chunks
    x = data(n, np.float32, 5)
    dy = data(n, np.float32, 6)
    results = []
    for cfg in CONFIGS:
        for nt in (1, 2):
            with backend(cfg), threads(nt):
                y, m = rc.dropout(x, 0.5, generator=rc.Generator(12345))
                dxn = rc.dropout_backward(dy, rc.dropout(x, 0.5, generator=rc.Generator(12345), mask="none")[1])
                results.append((cfg, nt, y, m.bits, rc.dropout_backward(dy, m), dxn))
    _, _, y0, b0, dx0, _ = results[0]
    for cfg, nt, y, b, dx, dxn in results:
        assert np.array_equal(y, y0), (cfg, nt)
        assert np.array_equal(b, b0), (cfg, nt)
        assert np.array_equal(dx, dx0) and np.array_equal(dxn, dx0), (cfg, nt)


@pytest.mark.parametrize("cfg", CONFIGS, ids=cfg_id)
def test_counter_low_word_wrap(cfg):
    """A call whose counter blocks cross 2**32 (the SIMD lanes' low word wraps in a group)."""
    g = rc.Generator.from_state({"seed": 99, "offset": (1 << 32) - 13})
    x = data(500, np.float64, 7)
    with backend(cfg):
        y, m = rc.dropout(x, 0.5, generator=g)
    ref, _ = oracle_dropout(x, 99, (1 << 32) - 13, 0.5)
    np.testing.assert_array_equal(y, ref)


# ---- p = 0 and p = 1

@pytest.mark.parametrize("cfg", CONFIGS, ids=cfg_id)
@pytest.mark.parametrize("kind", KINDS)
def test_p_edges(cfg, kind):
    x = data(333, np.float32, 8)
    x[:3] = [np.inf, np.nan, -np.inf]
    with backend(cfg):
        y1, m1 = rc.dropout(x, 1.0, generator=rc.Generator(1), mask=kind)
        d1 = rc.dropout_backward(x, m1)
        y0, m0 = rc.dropout(x, 0.0, generator=rc.Generator(1), mask=kind)
        d0 = rc.dropout_backward(x, m0)
    assert not y1.any() and not d1.any() and not np.signbit(y1).any()
    assert not m1.to_numpy().any() and m1.keep_probability == 0.0
    np.testing.assert_array_equal(y0, x)
    np.testing.assert_array_equal(d0, x)
    assert m0.to_numpy().all() and m0.keep_probability == 1.0


# ---- in place and dropconnect

@pytest.mark.parametrize("cfg", CONFIGS, ids=cfg_id)
@pytest.mark.parametrize("dtype", DTYPES)
def test_dropout_in_place(cfg, dtype):
    x = data((10, 101), dtype, 9)
    ref, k = oracle_dropout(x, 4, 0, 0.2)
    with backend(cfg):
        m = rc.dropout_(x, 0.2, generator=rc.Generator(4))
    np.testing.assert_array_equal(x, ref.astype(dtype))
    np.testing.assert_array_equal(m.to_numpy().reshape(-1), k)


@pytest.mark.parametrize("cfg", CONFIGS, ids=cfg_id)
def test_dropconnect(cfg):
    w = data((64, 48), np.float64, 10)
    with backend(cfg):
        wd, m = rc.dropconnect(w, 0.25, generator=rc.Generator(6), mask="bits")
        gw = rc.dropout_backward(np.ones_like(w), m)
    ref, k = oracle_dropout(w, 6, 0, 0.25)
    np.testing.assert_array_equal(wd, ref)
    np.testing.assert_array_equal(gw, np.where(k.reshape(w.shape), oracle_scale(0.25, "inverted", np.float64), 0.0))


@pytest.mark.parametrize("dtype", DTYPES)
def test_dropout_scale(dtype):
    x = data(100, dtype, 11)
    y = rc.dropout_scale(x, 0.3)
    assert y.dtype == dtype
    np.testing.assert_array_equal(y, (x.astype(np.float64) * float(np.dtype(dtype).type(0.7))).astype(dtype))


# ---- statistics (fixed seeds: deterministic)

@pytest.mark.parametrize("cfg", CONFIGS, ids=cfg_id)
@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_kept_fraction_and_unbiased_mean(cfg, p):
    n = 200_000
    x = np.full(n, 1.5, np.float32)
    with backend(cfg):
        y, m = rc.dropout(x, p, generator=rc.Generator(31337))
    q = 1 - p
    kept = int(m.to_numpy().sum())
    assert abs(kept - n * q) <= 5 * math.sqrt(n * q * (1 - q))  # binomial bound, 5 sigma
    sd_mean = 1.5 * math.sqrt((1 - q) / (q * n))
    assert abs(float(y.astype(np.float64).mean()) - 1.5) <= 5 * sd_mean  # E[y] = x


def test_disjoint_calls_differ():
    g = rc.Generator(5)
    x = np.ones(4096, np.float32)
    a = rc.dropout(x, 0.5, generator=g)[1].to_numpy()
    b = rc.dropout(x, 0.5, generator=g)[1].to_numpy()
    assert 0.4 < float((a == b).mean()) < 0.6


@settings(max_examples=25, deadline=None)
@given(shape=st.lists(st.integers(0, 40), min_size=1, max_size=3),
       p=st.floats(0.0, 1.0), kind=st.sampled_from(KINDS), dtype=st.sampled_from(DTYPES),
       offset=st.integers(0, 2**40), seed=st.integers(0, 2**64 - 1))
def test_property_matches_oracle(shape, p, kind, dtype, offset, seed):
    x = data(tuple(shape), dtype, 12)
    ref, _ = oracle_dropout(x, seed, offset, p)
    for cfg in CONFIGS:
        g = rc.Generator.from_state({"seed": seed, "offset": offset})
        with backend(cfg):
            y, m = rc.dropout(x, p, generator=g, mask=kind)
            dx = rc.dropout_backward(x, m)
        np.testing.assert_array_equal(y, ref.astype(dtype))
        np.testing.assert_array_equal(dx, ref.astype(dtype))


# ---- bad input: the named error, nothing written, no counter consumed

BAD_P = [(-0.1, ValueError), (1.5, ValueError), (float("nan"), ValueError), ("0.5", TypeError),
         (True, TypeError), (None, TypeError), (float("inf"), ValueError)]


@pytest.mark.parametrize("cfg", CONFIGS, ids=cfg_id)
@pytest.mark.parametrize("p,exc", BAD_P)
def test_bad_p(cfg, p, exc):
    x = data(50, np.float32, 13)
    before = x.copy()
    g = rc.Generator(1)
    with backend(cfg):
        for call in (lambda: rc.dropout(x, p, generator=g), lambda: rc.dropout_(x, p, generator=g),
                     lambda: rc.dropconnect(x, p, generator=g), lambda: rc.dropout_scale(x, p)):
            with pytest.raises(exc, match="^p: "):
                call()
    np.testing.assert_array_equal(x, before)
    assert g.offset == 0


@pytest.mark.parametrize("cfg", CONFIGS, ids=cfg_id)
def test_bad_options_and_arrays(cfg):
    x = data(50, np.float32, 14)
    before = x.copy()
    g = rc.Generator(1)
    with backend(cfg):
        with pytest.raises(ValueError, match="^mode: "):
            rc.dropout_(x, 0.5, generator=g, mode="scaled")
        with pytest.raises(ValueError, match="^mask: "):
            rc.dropout_(x, 0.5, generator=g, mask="bit")
        with pytest.raises(TypeError, match="^x: "):
            rc.dropout(np.arange(10), 0.5, generator=g)
        with pytest.raises(TypeError, match="^x: "):
            rc.dropout([1.0, 2.0], 0.5, generator=g)
        with pytest.raises(TypeError, match="^generator: "):
            rc.dropout_(x, 0.5, generator=42)
        ro = x.copy()
        ro.flags.writeable = False
        with pytest.raises(ValueError, match="^x: "):
            rc.dropout_(ro, 0.5, generator=g)
        strided = np.zeros(100, np.float32)[::2]
        with pytest.raises(ValueError, match="^x: "):
            rc.dropout_(strided, 0.5, generator=g)
        assert not strided.any()
        with pytest.raises(TypeError, match="^w: "):
            rc.dropconnect(np.ones(3, np.int64), 0.5, generator=g)
    np.testing.assert_array_equal(x, before)
    assert g.offset == 0


@pytest.mark.parametrize("cfg", CONFIGS, ids=cfg_id)
def test_bad_backward_input(cfg):
    x = data((4, 8), np.float32, 15)
    with backend(cfg):
        _, m = rc.dropout(x, 0.5, generator=rc.Generator(1))
        with pytest.raises(ValueError, match="^dy: .*shape"):
            rc.dropout_backward(np.ones((8, 4), np.float32), m)
        with pytest.raises(TypeError, match="^dy: .*dtype"):
            rc.dropout_backward(np.ones((4, 8), np.float64), m)
        with pytest.raises(TypeError, match="^dy: "):
            rc.dropout_backward(np.ones((4, 8), np.int32), m)
        with pytest.raises(TypeError, match="^mask: "):
            rc.dropout_backward(x, m.bits)
