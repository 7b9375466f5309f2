"""bfloat16 and float16 (docs/precision.md): the conversions over every 16-bit pattern on every
backend and ISA level against a float64 oracle written here, and the families that take 16-bit
data (random fills, init samplers, dropout): bit identity across backends / ISA levels / threads,
and the value each element must have by the oracle."""
from __future__ import annotations

import numpy as np
import pytest

import regcore as rc
from regcore import _dtypes, _native
from regcore._backends.numpy_backend import _half

from conftest import BACKENDS, cpu_backend, num_threads

ml_dtypes = pytest.importorskip("ml_dtypes")
BF16 = np.dtype(ml_dtypes.bfloat16)
F16 = np.dtype(np.float16)

# (name, exponent bits, fraction bits) of each format; the oracle below is written from these.
FORMATS = {"bfloat16": (8, 7), "float16": (5, 10)}
STORAGE = {"bfloat16": np.dtype(np.uint16), "float16": F16}   # what the kernels are handed
PUBLIC = {"bfloat16": BF16, "float16": F16}


# ---------------------------------------------------------------- float64 oracle

def decode(fmt, h):
    """float64 values of 16-bit patterns h (NaN for NaN patterns), from sign/exponent/fraction."""
    ebits, mbits = FORMATS[fmt]
    h = np.asarray(h, np.int64)
    sign = np.where(h >> 15, -1.0, 1.0)
    e = (h >> mbits) & ((1 << ebits) - 1)
    m = (h & ((1 << mbits) - 1)).astype(np.float64)
    bias = (1 << (ebits - 1)) - 1
    emax = (1 << ebits) - 1
    with np.errstate(over="ignore"):
        normal = np.ldexp(1.0 + m / 2.0 ** mbits, (e - bias).astype(np.int32))
    sub = np.ldexp(m, 1 - bias - mbits)
    v = np.where(e == 0, sub, normal)
    v = np.where(e == emax, np.where(m == 0, np.inf, np.nan), v)
    return sign * v


def quiet_nan_f32(fmt, h):
    """float32 bits a NaN pattern h converts to: sign, all-ones exponent, payload, quiet bit."""
    ebits, mbits = FORMATS[fmt]
    h = np.asarray(h, np.uint32)
    payload = (h & ((1 << mbits) - 1)) << (23 - mbits)
    return ((h & 0x8000) << 16) | np.uint32(0x7F800000) | payload | np.uint32(0x400000)


def round_oracle(fmt, x):
    """Patterns of float64 values x rounded to fmt: nearest, ties to the even pattern, overflow
    to inf; NaN -> quiet NaN with the top payload bits of a float32 NaN (x must then be float32)."""
    with np.errstate(all="ignore"):
        return _round_oracle(fmt, x)


def _round_oracle(fmt, x):
    ebits, mbits = FORMATS[fmt]
    pos = np.arange(0, (((1 << ebits) - 1) << mbits) + 1, dtype=np.int64)   # +0 .. +inf
    vals = decode(fmt, pos)
    # +inf stands at 2^(emax+1): the value the largest finite value rounds up to
    vals[-1] = 2.0 ** ((1 << (ebits - 1)))
    x = np.asarray(x, np.float64)
    a = np.abs(x)
    with np.errstate(invalid="ignore"):
        i = np.clip(np.searchsorted(vals, a, side="left"), 1, len(vals) - 1)
    lo, hi = vals[i - 1], vals[i]
    dlo, dhi = a - lo, hi - a
    pick_hi = (dhi < dlo) | ((dhi == dlo) & (pos[i] % 2 == 0))
    pat = np.where(pick_hi, pos[i], pos[i - 1])
    pat = np.where(a >= vals[-1], pos[-1], pat)          # beyond: inf
    pat = np.where(a == 0, 0, pat)
    pat = pat | np.where(np.signbit(x), 0x8000, 0)
    nan = np.isnan(x)
    if nan.any():
        u = x[nan].astype(np.float32).view(np.uint32)
        qbit = 1 << (mbits - 1)
        pat[nan] = ((u >> 16) & 0x8000) | (((1 << ebits) - 1) << mbits) | qbit | ((u & 0x7FFFFF) >> (23 - mbits))
    return pat.astype(np.uint16)


def ulp16(fmt, v):
    """The spacing of fmt's values at |v| (its subnormal spacing below the normal range)."""
    ebits, mbits = FORMATS[fmt]
    emin = 2 - (1 << (ebits - 1))
    with np.errstate(divide="ignore"):
        e = np.floor(np.log2(np.abs(np.asarray(v, np.float64))))
    return np.ldexp(1.0, (np.maximum(np.nan_to_num(e, neginf=emin), emin) - mbits).astype(np.int32))


def all_patterns():
    return np.arange(65536, dtype=np.uint32).astype(np.uint16)


def f32_probe(fmt):
    """float32 inputs that exercise every rounding case: every 16-bit value, the exact midpoints
    between neighbours (ties), one float32 ulp either side of them, float32 subnormals, values
    around the overflow threshold, infinities, NaNs (signalling and quiet) and random patterns."""
    h = all_patterns()
    v = decode(fmt, h).astype(np.float32)
    fin = np.isfinite(decode(fmt, h)) & (h < 0x8000)
    d = decode(fmt, h[fin])
    nxt = decode(fmt, h[fin].astype(np.uint32) + 1)
    mid = ((d + nxt) / 2)[np.isfinite(nxt)].astype(np.float32)   # exact in float32
    up, down = np.nextafter(mid, np.float32(np.inf)), np.nextafter(mid, np.float32(-np.inf))
    rng = np.random.default_rng(14)
    rand = rng.integers(0, 2 ** 32, 200_000, dtype=np.uint64).astype(np.uint32).view(np.float32)
    sub = np.array([1, 2, 3, 0x7FFFFF, 0x400000, 0x3FFFFF], np.uint32).view(np.float32)
    special = np.array([0x7F800000, 0xFF800000, 0x7F800001, 0x7FC00000, 0xFFBFFFFF, 0x7FA00000,
                        0x7F7FFFFF, 0x477FF000, 0x477FEFFF, 0x477FF001], np.uint32).view(np.float32)
    x = np.concatenate([v, mid, up, down, rand, sub, special])
    x = np.concatenate([x, -x, rand[:37]])            # a length that is no SIMD multiple
    return np.ascontiguousarray(x)


def _convert_to_f32(backend, fmt, h):
    if backend == "numpy":
        return _half.bf16_to_f32(h) if fmt == "bfloat16" else _half.f16_to_f32(h.view(F16))
    out = np.empty(h.shape, np.float32)
    with cpu_backend(backend):
        _native.cpu.convert_to_f32(h.view(STORAGE[fmt]), out)
    return out


def _convert_from_f32(backend, fmt, x):
    if backend == "numpy":
        r = _half.f32_to_bf16(x) if fmt == "bfloat16" else _half.f32_to_f16(x)
        return r.view(np.uint16)
    out = np.empty(x.shape, STORAGE[fmt])
    with cpu_backend(backend):
        _native.cpu.convert_from_f32(x, out)
    return out.view(np.uint16)


@pytest.mark.parametrize("fmt", FORMATS)
def test_to_float32_every_pattern(backend, fmt):
    h = np.concatenate([all_patterns(), all_patterns()[:13]])   # a tail that is no SIMD multiple
    got = _convert_to_f32(backend, fmt, h).view(np.uint32)
    want_v = decode(fmt, h)
    nan = np.isnan(want_v)
    want = np.where(nan, quiet_nan_f32(fmt, h), want_v.astype(np.float32).view(np.uint32))
    bad = np.flatnonzero(got != want)
    assert bad.size == 0, f"{fmt} {backend}: {bad.size} patterns, first {h[bad[0]]:#06x} -> {got[bad[0]]:#010x}"


@pytest.mark.parametrize("fmt", FORMATS)
def test_from_float32_rounding(backend, fmt):
    x = f32_probe(fmt)
    got = _convert_from_f32(backend, fmt, x)
    with np.errstate(invalid="ignore"):
        want = round_oracle(fmt, x.astype(np.float64))
    # NaN inputs: the oracle needs the float32 bits, not the float64 value
    nan = np.isnan(x)
    want[nan] = round_oracle(fmt, x[nan])
    bad = np.flatnonzero(got != want)
    assert bad.size == 0, (f"{fmt} {backend}: {bad.size} values, first {x[bad[0]]!r} "
                           f"({x.view(np.uint32)[bad[0]]:#010x}) -> {got[bad[0]]:#06x}, want {want[bad[0]]:#06x}")


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip_every_pattern(backend, fmt):
    """Every non-NaN pattern survives 16 -> 32 -> 16; NaNs come back quiet."""
    h = all_patterns()
    back = _convert_from_f32(backend, fmt, _convert_to_f32(backend, fmt, h))
    nan = np.isnan(decode(fmt, h))
    assert np.array_equal(back[~nan], h[~nan])
    qbit = 1 << (FORMATS[fmt][1] - 1)
    assert np.all(back[nan] == (h[nan] | qbit))


def test_ml_dtypes_agrees_on_finite_values():
    """An outside cross-check of the oracle: ml_dtypes' and NumPy's float32 -> 16-bit casts."""
    x = f32_probe("float16")
    x = x[np.isfinite(x)]
    with np.errstate(over="ignore"):
        assert np.array_equal(round_oracle("float16", x.astype(np.float64)), x.astype(F16).view(np.uint16))
    assert np.array_equal(round_oracle("bfloat16", x.astype(np.float64)), x.astype(BF16).view(np.uint16))


def test_scalar_rounding_is_single():
    """Host-side rounding of float64 scalars / arrays (bounds, init values) rounds once: a value
    just above a 16-bit midpoint must not round to the midpoint in float32 first."""
    mid = 1.0 + 2.0 ** -8                     # the bfloat16 midpoint between 1 and 1 + 2^-7
    above = mid + 2.0 ** -40                  # rounds to mid in float32, then (ties to even) to 1
    assert float(_dtypes.round_scalar(BF16, above)) == 1.0 + 2.0 ** -7
    assert float(_dtypes.round_array(BF16, np.array([above]))[0]) == 1.0 + 2.0 ** -7
    assert float(_dtypes.round_scalar(BF16, mid)) == 1.0
    x = np.random.default_rng(1).standard_normal(10_000) * 100
    for d in (BF16, F16):
        fmt = d.name
        got = _dtypes.round_array(d, x).view(np.uint16)
        assert np.array_equal(got, round_oracle(fmt, x))


# ---------------------------------------------------------------- families

def _bits(a):
    a = np.asarray(a)
    return a.view(np.uint16) if a.dtype.itemsize == 2 else a


def _rounded_f32(fmt, f32):
    """The oracle of a 16-bit result computed in float32: the float32 value rounded to fmt."""
    return round_oracle(fmt, np.asarray(f32, np.float32).astype(np.float64))


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("draw", ["uniform", "normal"])
def test_fill_is_rounded_float32_fill(backend, fmt, draw):
    n = 4099
    args = (-3.0, 5.0) if draw == "uniform" else (0.5, 2.0)
    with cpu_backend(backend):
        got = getattr(rc.random, draw)(n, *args, dtype=PUBLIC[fmt], generator=rc.Generator(7))
        ref = getattr(rc.random, draw)(n, *args, dtype=np.float32, generator=rc.Generator(7))
    assert got.dtype == PUBLIC[fmt]
    if draw == "uniform":   # the clamp: the largest 16-bit value below high (bounds are 16-bit values)
        ref = np.minimum(ref, np.float32(_dtypes.next_below(PUBLIC[fmt], _dtypes.round_scalar(PUBLIC[fmt], 5.0))))
    assert np.array_equal(_bits(got), _rounded_f32(fmt, ref))


@pytest.mark.parametrize("fmt", FORMATS)
def test_uniform_stays_below_high(fmt):
    """Draws that would round up to high are clamped to the largest 16-bit value below it."""
    x = rc.random.uniform(1 << 16, 1.0, 1.0 + 2.0 ** -6, dtype=PUBLIC[fmt], generator=rc.Generator(3))
    v = x.astype(np.float64)
    assert v.min() >= 1.0 and v.max() < 1.0 + 2.0 ** -6
    assert len(np.unique(v)) >= 2


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("threads", [1, 2])
def test_fills_identical_everywhere(fmt, threads):
    n = 3 * 65536 + 77
    outs = []
    for b in BACKENDS:
        with cpu_backend(b), num_threads(threads):
            g = rc.Generator(11)
            g.reserve(5)
            outs.append((_bits(rc.random.normal(n, dtype=PUBLIC[fmt], generator=g)),
                         _bits(rc.random.uniform(n, dtype=PUBLIC[fmt], generator=g)),
                         _bits(rc.init.trunc_normal((n // 7, 7), std=0.02, dtype=PUBLIC[fmt], generator=g))))
    for o in outs[1:]:
        for a, b in zip(outs[0], o):
            assert np.array_equal(a, b)


@pytest.mark.parametrize("fmt", FORMATS)
def test_init_samplers(backend, fmt):
    d = PUBLIC[fmt]
    with cpu_backend(backend):
        tn = rc.init.trunc_normal((64, 33), mean=0.1, std=1.0, a=-0.5, b=0.75, dtype=d, generator=rc.Generator(2))
        tn32 = rc.init.trunc_normal((64, 33), mean=0.1, std=1.0, a=-0.5, b=0.75, dtype=np.float32,
                                    generator=rc.Generator(2))
        kn = rc.init.kaiming_normal((64, 33), dtype=d, generator=rc.Generator(5))
        kn32 = rc.init.kaiming_normal((64, 33), dtype=np.float32, generator=rc.Generator(5))
        c = rc.init.constant((5, 3), 1.0 + 2.0 ** -8 + 2.0 ** -30, dtype=d)
        orth = rc.init.orthogonal((8, 16), dtype=d, generator=rc.Generator(6))
        sp = rc.init.sparse((16, 32), 5, dtype=d, generator=rc.Generator(8))
        sp32 = rc.init.sparse((16, 32), 5, dtype=np.float32, generator=rc.Generator(8))
    v = tn.astype(np.float64)
    assert v.min() >= -0.5 and v.max() <= 0.75
    # the 16-bit sample is the float32 sample (the bounds inward-rounded to 16-bit values) rounded
    assert np.array_equal(_bits(tn), _rounded_f32(fmt, np.clip(tn32, *[float(b) for b in
                          rc._truncnorm.inward_bounds(d, -0.5, 0.75)])))
    assert np.array_equal(_bits(kn), _rounded_f32(fmt, kn32))
    assert np.all(_bits(c) == round_oracle(fmt, np.array([1.0 + 2.0 ** -8 + 2.0 ** -30]))[0])
    o = orth.astype(np.float64)
    assert np.allclose(o @ o.T, np.eye(8), atol=0.05)
    assert np.array_equal(_bits(sp), _rounded_f32(fmt, sp32))


def test_xavier_uniform_bf16_bounds():
    """The uniform bounds are rounded to the 16-bit format first: all draws inside them."""
    w = rc.init.xavier_uniform((300, 200), dtype=BF16, generator=rc.Generator(4)).astype(np.float64)
    bound = np.sqrt(6.0 / 500)
    lo = float(_dtypes.round_scalar(BF16, -bound))
    hi = float(_dtypes.round_scalar(BF16, bound))
    assert w.min() >= lo and w.max() < hi


def _dropout_oracle(fmt, x, keep, scale32):
    """float32 product of the float64-exact 16-bit inputs, rounded to fmt (what docs/precision.md
    states), and the float64 bound it must satisfy: within half a 16-bit ulp of the exact product
    plus the float32 rounding in between."""
    p = x.astype(np.float64) * np.float64(scale32)
    f32 = np.where(keep, p, 0.0).astype(np.float32)
    return round_oracle(fmt, f32.astype(np.float64)), np.where(keep, p, 0.0)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("kind", ["bits", "bytes", "none"])
def test_dropout(backend, fmt, kind):
    n = 5000 + 3
    x = rc.random.normal(n, dtype=PUBLIC[fmt], generator=rc.Generator(1))
    dy = rc.random.normal(n, dtype=PUBLIC[fmt], generator=rc.Generator(2))
    x32 = x.astype(np.float32)
    with cpu_backend(backend):
        y, m = rc.dropout(x, 0.3, mask=kind, generator=rc.Generator(9))
        dx = rc.dropout_backward(dy, m)
        y32, m32 = rc.dropout(x32, 0.3, mask=kind, generator=rc.Generator(9))
    with cpu_backend(backend):   # which elements the generator state keeps
        k1, _ = rc.dropout(np.ones(n, np.float32), 0.3, mask="none", generator=rc.Generator(9))
    km = k1 != 0
    assert np.array_equal(y32 != 0, km & (x32 != 0))
    # masks unchanged: the same generator state drops the same elements as float32
    if kind == "bits":
        assert np.array_equal(m.bits, m32.bits)
    scale = np.float32(m.scale)
    assert m.scale.dtype == np.float32 and scale == m32.scale
    want, exact = _dropout_oracle(fmt, x, km, scale)
    assert np.array_equal(_bits(y), want)
    ulp = ulp16(fmt, exact)
    assert np.all(np.abs(y.astype(np.float64) - exact) <= 0.5 * ulp + np.abs(exact) * 2.0 ** -24)
    want_dx, _ = _dropout_oracle(fmt, dy, km, scale)
    assert np.array_equal(_bits(dx), want_dx)


@pytest.mark.parametrize("fmt", FORMATS)
def test_dropout_identical_everywhere(fmt):
    n = 2 * 65536 + 45
    x = rc.random.normal(n, dtype=PUBLIC[fmt], generator=rc.Generator(1))
    x.reshape(-1)[:4] = np.array([np.inf, -np.inf, np.nan, 0.0], np.float32).astype(PUBLIC[fmt])
    outs = []
    for b in BACKENDS:
        for t in (1, 2):
            with cpu_backend(b), num_threads(t):
                y, m = rc.dropout(x, 0.5, generator=rc.Generator(3))
                outs.append((_bits(y), m.bits, _bits(rc.dropout_backward(x, m))))
    for o in outs[1:]:
        for a, b in zip(outs[0], o):
            nan = np.isnan(outs[0][0].view(PUBLIC[fmt]).astype(np.float32)) if a.dtype == np.uint16 else None
            if nan is not None:
                assert np.array_equal(a[~nan], b[~nan]) and np.all(np.isnan(b.view(PUBLIC[fmt])[nan].astype(np.float32)))
            else:
                assert np.array_equal(a, b)


# ---------------------------------------------------------------- intake and refusals

def test_torch_bfloat16_tensors_through_the_array_api():
    torch = pytest.importorskip("torch")
    x = torch.randn(1000).to(torch.bfloat16)
    y, m = rc.dropout(x, 0.25, generator=rc.Generator(5))
    assert isinstance(y, torch.Tensor) and y.dtype == torch.bfloat16
    xn = x.view(torch.int16).numpy().view(BF16)
    yn, _ = rc.dropout(xn, 0.25, generator=rc.Generator(5))
    assert np.array_equal(y.view(torch.int16).numpy().view(np.uint16), yn.view(np.uint16))
    t = torch.empty(100, dtype=torch.float16)
    rc.random.normal_(t, generator=rc.Generator(1))
    assert np.array_equal(t.numpy(), rc.random.normal(100, dtype=np.float16, generator=rc.Generator(1)))


def test_without_ml_dtypes_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setattr(_dtypes, "_bf16", None)
    monkeypatch.setattr(_dtypes, "bfloat16", lambda: None)
    with pytest.raises(TypeError, match="dtype: bfloat16 data needs the ml_dtypes package"):
        rc.random.uniform(10, dtype="bfloat16")
    with pytest.raises(TypeError, match="pip install ml_dtypes"):
        rc.random.uniform_(np.zeros(10, np.uint16))
    # float16 is NumPy's own: no ml_dtypes needed
    assert rc.random.uniform(10, dtype="float16").dtype == F16


def test_uint16_is_not_bfloat16():
    with pytest.raises(TypeError, match="x: expected"):
        rc.random.uniform_(np.zeros(10, np.uint16))


# ---------------------------------------------------------------- regcore.torch

@pytest.mark.parametrize("tdtype", ["bfloat16", "float16"])
def test_torch_dropout_16bit_matches_torch_formula(tdtype):
    """regcore.torch dropout of a 16-bit tensor, forward and backward, against PyTorch's own CPU
    dropout formula applied with the same mask (input * (mask / q) in the 16-bit dtype), within
    torch.testing.assert_close's default tolerances for that dtype."""
    torch = pytest.importorskip("torch")
    import regcore.torch.nn.functional as RF

    dt = getattr(torch, tdtype)
    p = 0.3
    x = torch.randn(4099, dtype=torch.float32).to(dt).requires_grad_()
    y = RF.dropout(x, p, generator=torch.Generator().manual_seed(3))
    assert y.dtype == dt
    keep = (y != 0) | (x.detach() == 0)
    noise = keep.to(dt) / (1 - p)                 # torch's _dropout_impl: bernoulli_(q).div_(q)
    torch.testing.assert_close(y, x.detach() * noise)
    dy = torch.randn(4099).to(dt)
    (gx,) = torch.autograd.grad(y, x, dy)
    assert gx.dtype == dt
    torch.testing.assert_close(gx, dy * noise)
    # the kept fraction is q within 5 standard deviations
    q = 1 - p
    assert abs(keep.float().mean().item() - q) < 5 * (q * p / 4099) ** 0.5


def test_torch_dropout_module_and_statistics_match_torch():
    """nn.Dropout on bf16 next to torch's bf16 dropout: same kept fraction and mean within a
    statistical bound (different streams), dtype preserved, under autocast too."""
    torch = pytest.importorskip("torch")
    import regcore.torch.nn as rnn

    x = torch.ones(1 << 16, dtype=torch.bfloat16)
    m = rnn.Dropout(0.5)
    y = m(x)
    yt = torch.nn.functional.dropout(x, 0.5)
    assert y.dtype == yt.dtype == torch.bfloat16
    for t in (y, yt):
        assert abs(t.float().mean().item() - 1.0) < 5 * (1.0 / (1 << 16)) ** 0.5
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert m(torch.ones(100)).dtype == torch.float32       # not on autocast's lists: input dtype
        assert m(torch.ones(100, dtype=torch.bfloat16)).dtype == torch.bfloat16


def test_torch_init_16bit():
    torch = pytest.importorskip("torch")
    import regcore.torch.nn.init as rinit

    for dt in (torch.bfloat16, torch.float16):
        w = torch.empty(64, 32, dtype=dt)
        rinit.kaiming_normal_(w, generator=rc.Generator(1))
        ref = rc.init.kaiming_normal((64, 32), dtype=PUBLIC[str(dt).split(".")[1]], generator=rc.Generator(1))
        assert np.array_equal(w.view(torch.int16).numpy().view(np.uint16), ref.view(np.uint16))


def test_mixed_16bit_dtypes_refused_naming_both():
    """A float16 gradient for a bfloat16 forward is no documented combination: TypeError naming
    dy and the mask's dtype, nothing written."""
    x = np.ones(64, BF16)
    y, m = rc.dropout(x, 0.5, generator=rc.Generator(1))
    dy = np.ones(64, F16)
    out = np.full(64, 7, F16)
    with pytest.raises(TypeError, match=r"dy: expected dtype bfloat16 \(the mask's\), got 'dtype float16'"):
        rc.dropout_backward(dy, m, out=out)
    assert np.all(out == 7)
    with pytest.raises(TypeError, match="out: expected dtype bfloat16"):
        rc.dropout(x, 0.5, out=np.empty(64, F16))


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("mode", ["additive", "multiplicative"])
def test_gaussian_noise(backend, fmt, mode):
    """x op z with z the float32 draw of random.normal (never rounded to 16 bits), rounded once."""
    n = 70_001
    x = rc.random.uniform(n, -2, 2, dtype=PUBLIC[fmt], generator=rc.Generator(4))
    with cpu_backend(backend):
        y = rc.gaussian_noise(x, 0.5, mode=mode, generator=rc.Generator(8))
    mean = 1.0 if mode == "multiplicative" else 0.0
    z = rc.random.normal(n, mean, 0.5, dtype=np.float32, generator=rc.Generator(8))
    xf = x.astype(np.float32)
    want = (xf * z) if mode == "multiplicative" else (xf + z)
    assert y.dtype == PUBLIC[fmt]
    assert np.array_equal(_bits(y), _rounded_f32(fmt, want))


ACTS = ["identity", "relu", "gelu", "gelu_tanh", "tanh", "sigmoid"]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("act", ACTS)
def test_bias_act_dropout_identical_everywhere(fmt, act):
    """Forward and backward (dx, dbias) of 16-bit bias+activation dropout: the same bits on every
    backend, ISA level and thread count; dbias = the float64 column sums of the stored dx,
    rounded once; y within a float32 evaluation of the same formula (the activations are the
    float32 lane templates) rounded to the format."""
    d = PUBLIC[fmt]
    rows, cols = 70, 37                      # words cross row ends; a partial last word
    x = rc.random.normal((rows, cols), dtype=d, generator=rc.Generator(1))
    b = rc.random.normal(cols, 0, 0.5, dtype=d, generator=rc.Generator(2))
    res = rc.random.normal((rows, cols), dtype=d, generator=rc.Generator(3))
    dy = rc.random.normal((rows, cols), dtype=d, generator=rc.Generator(4))
    outs = []
    for be in BACKENDS:
        for t in (1, 2):
            with cpu_backend(be), num_threads(t):
                y, st = rc.bias_act_dropout(x, b, act, 0.3, residual=res, generator=rc.Generator(9))
                dx, db, _ = rc.bias_act_dropout_backward(dy, st)
            outs.append((_bits(y), _bits(dx), _bits(db)))
    for o in outs[1:]:
        for a, c in zip(outs[0], o):
            assert np.array_equal(a, c)
    assert y.dtype == d and dx.dtype == d and db.dtype == d
    assert np.array_equal(_bits(db), round_oracle(fmt, dx.astype(np.float64).sum(axis=0)))
    # against the float32 kernels on the same (16-bit) values: y differs by the final rounding only
    x32, b32, r32 = (a.astype(np.float32) for a in (x, b, res))
    y32, _ = rc.bias_act_dropout(x32, b32, act, 0.3, residual=r32, generator=rc.Generator(9))
    assert np.array_equal(_bits(y), _rounded_f32(fmt, y32))


# Patterns the vector loads and stores must carry as the scalar formulas do: signalling and
# quiet NaNs (with payloads), infinities, the largest finite value (its products overflow when
# rounded back), the smallest normal and subnormals.
NANS = {"bfloat16": [0x7F81, 0xFFC1, 0x7FC0], "float16": [0x7C01, 0xFE01, 0x7E00]}
NON_NANS = {"bfloat16": [0x7F80, 0xFF80, 0x7F7F, 0xFF7F, 0x0080, 0x0001, 0x807F],
            "float16": [0x7C00, 0xFC00, 0x7BFF, 0xFBFF, 0x0400, 0x0001, 0x83FF]}


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("act", ["relu", "gelu", "identity"])
def test_bias_act_dropout_special_values_identical_everywhere(fmt, act):
    """NaNs (signalling ones too), infinities, overflow and subnormals in x, bias, residual and
    dy: forward and backward store the same bits on every backend, ISA level and thread count
    (the full-word lanes against the NumPy backend's element formulas). At most one operand of
    an element is a NaN: which payload wins when two NaNs meet is the compiler's operand order,
    which the contract leaves open (docs/precision.md); GELU meets its own input twice (z and
    erf(z)), so its NaN rows would test the compiler's operand order too: it gets the other
    specials in their places."""
    d = PUBLIC[fmt]
    rows, cols = 64, 48                       # whole words, inside and across row ends
    gen = np.random.default_rng(5)
    nans = NANS[fmt] if act in ("relu", "identity") else NON_NANS[fmt]
    x, res, dy = (rc.random.normal((rows, cols), 0, 2.0, dtype=d, generator=rc.Generator(20 + k)) for k in range(3))
    b = rc.random.normal(cols, 0, 2.0, dtype=d, generator=rc.Generator(23))
    nan_cols = gen.choice(cols, size=6, replace=False)
    b.view(np.uint16)[nan_cols] = gen.choice(nans, size=nan_cols.size)
    # NaN places of x, res, dy: disjoint, outside the NaN-bias columns
    free = np.flatnonzero(~np.isin(np.arange(rows * cols) % cols, nan_cols))
    places = gen.permutation(free)[:3 * 40].reshape(3, 40)
    for a, at in zip((x, res, dy), places):
        u = a.view(np.uint16).reshape(-1)
        u[at] = gen.choice(nans, size=at.size)
        other = gen.choice(np.setdiff1d(np.arange(u.size), places), size=40, replace=False)
        u[other] = gen.choice(NON_NANS[fmt], size=other.size)
    outs = []
    for be in BACKENDS:
        for t in (1, 2):
            with cpu_backend(be), num_threads(t), np.errstate(all="ignore"):
                y, st = rc.bias_act_dropout(x, b, act, 0.3, residual=res, generator=rc.Generator(9))
                dx, db, _ = rc.bias_act_dropout_backward(dy, st)
            outs.append((be, t, _bits(y), _bits(dx), _bits(db), np.isnan(db.astype(np.float32))))
    for be, t, y_bits, dx_bits, db_bits, db_nan in outs[1:]:
        assert np.array_equal(y_bits, outs[0][2]), (be, t)
        assert np.array_equal(dx_bits, outs[0][3]), (be, t)
        # dbias sums a column's NaNs with one another: its NaN payloads are open, its places not
        assert np.array_equal(db_nan, outs[0][5]), (be, t)
        assert np.array_equal(db_bits[~db_nan], outs[0][4][~db_nan]), (be, t)


def test_bias_act_dropout_mixed_dtypes_refused():
    x = np.ones((4, 3), F16)
    y = np.full((4, 3), 7, F16)
    with pytest.raises(TypeError, match=r"bias: expected dtype float16 \(x's\), got 'dtype bfloat16'"):
        rc.bias_act_dropout(x, np.ones(3, BF16), out=y)
    assert np.all(y == 7)


def test_torch_bias_act_dropout_and_noise_16bit():
    """regcore.torch's bias+activation dropout and Gaussian noise on bf16 tensors: dtype kept,
    gradients in bf16, and the same bits as the array API on the same values."""
    torch = pytest.importorskip("torch")
    import regcore.torch.nn.functional as RF

    x = torch.randn(64, 32).to(torch.bfloat16).requires_grad_()
    b = torch.randn(32).to(torch.bfloat16).requires_grad_()
    y = RF.bias_act_dropout(x, b, "gelu", 0.2, generator=rc.Generator(4))
    assert y.dtype == torch.bfloat16
    gx, gb = torch.autograd.grad(y.float().sum(), (x, b))
    assert gx.dtype == gb.dtype == torch.bfloat16
    # dbias: the float64 column sums of the stored dx, rounded once
    sums = gx.float().numpy().astype(np.float64).sum(axis=0)
    assert np.array_equal(gb.view(torch.int16).numpy().view(np.uint16), round_oracle("bfloat16", sums))
    n = RF.gaussian_noise(torch.ones(100, dtype=torch.float16), 0.5, generator=rc.Generator(2))
    ref = rc.gaussian_noise(np.ones(100, np.float16), 0.5, generator=rc.Generator(2))
    assert n.dtype == torch.float16 and np.array_equal(n.numpy(), ref)


_LAZY_ML_DTYPES = r"""
import sys
import numpy as np
import regcore as rc
assert "ml_dtypes" not in sys.modules, "import regcore loaded ml_dtypes"
y, _ = rc.dropout(np.ones(64, np.float32), 0.5, generator=rc.Generator(1))
assert "ml_dtypes" not in sys.modules, "a float32 call loaded ml_dtypes"
g = rc.Generator(3)
a = rc.random.uniform(10, dtype="bfloat16", generator=g)   # by name: regcore loads ml_dtypes itself
import ml_dtypes
x = np.linspace(-2, 2, 64, dtype=np.float32).astype(ml_dtypes.bfloat16)
y, m = rc.dropout(x, 0.5, generator=rc.Generator(1))   # checks made before the import take bfloat16
dx = rc.dropout_backward(np.ones_like(x), m)
assert y.dtype == dx.dtype == x.dtype
with rc.use_backend("numpy"):
    y2, _ = rc.dropout(x, 0.5, generator=rc.Generator(1))
assert np.array_equal(y.view(np.uint16), y2.view(np.uint16))
try:
    rc.dropout(np.ones(8, np.int16), 0.5)
except TypeError as e:
    assert "bfloat16" in str(e) and "float16" in str(e), e
else:
    raise AssertionError("int16 accepted")
print("ok")
"""


def test_import_regcore_does_not_load_ml_dtypes_and_bfloat16_still_works():
    """ml_dtypes is loaded only when bfloat16 data or the name appears (its import costs most of
    `import regcore`); dtype checks made before the user imported it still take bfloat16 data."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", _LAZY_ML_DTYPES], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_torch_bfloat16_tensor_loads_ml_dtypes_when_it_arrives():
    pytest.importorskip("torch")
    import subprocess
    import sys

    code = ("import sys, torch, numpy as np, regcore as rc\n"
            "assert 'ml_dtypes' not in sys.modules\n"
            "x = torch.linspace(-2, 2, 64).to(torch.bfloat16)\n"
            "y, _ = rc.dropout(x, 0.5, generator=rc.Generator(1))\n"
            "assert y.dtype == torch.bfloat16 and 'ml_dtypes' in sys.modules\n"
            "print('ok')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
