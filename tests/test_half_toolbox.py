"""bfloat16 and float16 in channel dropout, alpha dropout, feature alpha dropout and weight
averaging (ema_update_ / swa_update_), docs/precision.md: every result is the float32 computation
of the float64-exact 16-bit inputs rounded once to nearest even (checked bit for bit against an
oracle written here, and against the float64 value with the stated bound), the keep decisions
are the float32 ones, and the bits are the same on every backend, ISA level and thread count."""
from __future__ import annotations

import numpy as np
import pytest

import regcore as rc

from _channel_dropout_oracle import ALPHA_LAMBDA, channel_keep
from _dropout_oracle import keep as keep_oracle
from _dropout_oracle import scale as scale_oracle
from _dropout_oracle import threshold, TWO32
from conftest import BACKENDS, cpu_backend, num_threads
from test_half import FORMATS, PUBLIC, round_oracle, ulp16

ml_dtypes = pytest.importorskip("ml_dtypes")
F32 = np.float32


def _bits(a):
    return np.ascontiguousarray(a).view(np.uint16)


def _x(fmt, shape, seed):
    return rc.random.normal(shape, dtype=PUBLIC[fmt], generator=rc.Generator(seed))


def _f32(v):
    """float64 values rounded to float32 and back (a float32 operation on float32 operands whose
    exact result float64 holds: products of a 16-bit and a float32 value, sums of two float32)."""
    with np.errstate(over="ignore", invalid="ignore"):
        return np.asarray(v, np.float64).astype(F32).astype(np.float64)


def _check_bound(fmt, y, exact, extra=0.0):
    """|y - exact| <= ulp16/2 + |exact| 2^-24 (+ extra: further float32 roundings)."""
    err = np.abs(y.astype(np.float64) - exact)
    assert np.all(err <= 0.5 * ulp16(fmt, exact) + np.abs(exact) * 2.0 ** -24 + extra)


def _alpha_f32(p):
    """(a, b, d) in float32, written from the formulas: a = ((1-p)(1 + p alpha'^2))^-1/2,
    b = a alpha' p, d = fl32(-alpha' a) + fl32(b) (PyTorch's order, in float32 for 16-bit data)."""
    if threshold(p) == TWO32:
        return 0.0, 0.0, 0.0
    al = ALPHA_LAMBDA
    a = 1.0 / np.sqrt((al * al * p + 1.0) * (1.0 - p))
    b = al * a * p
    d = _f32(_f32(-(al * a)) + _f32(b))
    return float(_f32(a)), float(_f32(b)), float(d)


# ---------------------------------------------------------------- channel dropout

@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("layout", ["channels_first", "channels_last"])
@pytest.mark.parametrize("mode", ["inverted", "vanilla", "alpha"])
def test_channel_dropout_oracle(backend, fmt, layout, mode):
    shape = (3, 37, 5, 7) if layout == "channels_first" else (3, 5, 7, 37)
    p = 0.3
    x, dy = _x(fmt, shape, 1), _x(fmt, shape, 2)
    with cpu_backend(backend):
        if mode == "alpha":
            y, m = rc.feature_alpha_dropout(x, p, layout=layout, generator=rc.Generator(9))
            dx = rc.feature_alpha_dropout_backward(dy, m)
        else:
            y, m = rc.channel_dropout(x, p, layout=layout, mode=mode, generator=rc.Generator(9))
            dx = rc.channel_dropout_backward(dy, m)
        y32, m32 = rc.channel_dropout(x.astype(F32), p, layout=layout, mode="inverted", generator=rc.Generator(9))
    assert y.dtype == dx.dtype == PUBLIC[fmt]
    assert np.array_equal(m.bits, m32.bits)           # the decisions do not depend on the dtype
    kb, _ = channel_keep(shape, layout, m.seed, m.offset, p)
    kb = np.broadcast_to(kb, shape)
    x64, dy64 = x.astype(np.float64), dy.astype(np.float64)
    if mode == "alpha":
        a, b, d = _alpha_f32(p)
        assert (float(m.scale), float(m.shift), float(m.dropped)) == (a, b, d)
        assert m.scale.dtype == np.float32
        want = np.where(kb, _f32(_f32(x64 * a) + b), d)
        exact = np.where(kb, x64 * a + b, d)
        _check_bound(fmt, y, exact, extra=np.abs(x64 * a) * 2.0 ** -24)
        s = a
    else:
        s = float(_f32(scale_oracle(p, mode, F32)))
        want = np.where(kb, _f32(x64 * s), 0.0)
        _check_bound(fmt, y, np.where(kb, x64 * s, 0.0))
    assert np.array_equal(_bits(y), round_oracle(fmt, want))
    assert np.array_equal(_bits(dx), round_oracle(fmt, np.where(kb, _f32(dy64 * s), 0.0)))


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("kind", ["bits", "none"])
def test_alpha_dropout_oracle(backend, fmt, kind):
    n, p = 4099, 0.2
    x, dy = _x(fmt, n, 3), _x(fmt, n, 4)
    with cpu_backend(backend):
        y, m = rc.alpha_dropout(x, p, mask=kind, generator=rc.Generator(5))
        dx = rc.alpha_dropout_backward(dy, m)
    k = keep_oracle(m.seed, m.offset, n, p)
    a, b, d = _alpha_f32(p)
    x64 = x.astype(np.float64)
    assert np.array_equal(_bits(y), round_oracle(fmt, np.where(k, _f32(_f32(x64 * a) + b), d)))
    _check_bound(fmt, y, np.where(k, x64 * a + b, d), extra=np.abs(x64 * a) * 2.0 ** -24)
    assert np.array_equal(_bits(dx), round_oracle(fmt, np.where(k, _f32(dy.astype(np.float64) * a), 0.0)))


def test_alpha_coefficients_of_16bit_dtypes_are_float32():
    for dt in PUBLIC.values():
        a, b, d = rc.alpha_coefficients(0.25, dt)
        assert a.dtype == b.dtype == d.dtype == np.float32
        assert (float(a), float(b), float(d)) == _alpha_f32(0.25)


def _same_everywhere(run):
    outs = []
    for b in BACKENDS:
        for t in (1, 2):
            with cpu_backend(b), num_threads(t):
                outs.append([np.ascontiguousarray(o).tobytes() for o in run()])
    for o in outs[1:]:
        assert o == outs[0]


def _with_specials(x):
    x.reshape(-1)[:5] = np.array([np.inf, -np.inf, np.nan, 0.0, -0.0], F32).astype(x.dtype)
    return x


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("layout", ["channels_first", "channels_last"])
def test_channel_and_alpha_dropout_identical_everywhere(fmt, layout):
    shape = (4, 70, 33, 31) if layout == "channels_first" else (4, 33, 31, 70)
    x = _with_specials(_x(fmt, shape, 6))
    xa = _with_specials(_x(fmt, 70001, 7))

    def run():
        y, m = rc.channel_dropout(x, 0.4, layout=layout, generator=rc.Generator(3))
        yf, mf = rc.feature_alpha_dropout(x, 0.4, layout=layout, mask="none", generator=rc.Generator(3))
        ya, ma = rc.alpha_dropout(xa, 0.4, generator=rc.Generator(3))
        return (y, m.bits, rc.channel_dropout_backward(x, m), yf, rc.feature_alpha_dropout_backward(x, mf),
                ya, ma.bits, rc.alpha_dropout_backward(xa, ma))

    _same_everywhere(run)


def test_channel_dropout_16bit_out_and_mixed_dtypes_refused():
    x = np.ones((2, 4, 3), PUBLIC["bfloat16"])
    y, m = rc.channel_dropout(x, 0.5, out=x, generator=rc.Generator(1))
    assert y is x
    dy = np.ones((2, 4, 3), np.float16)
    out = np.full((2, 4, 3), 7, np.float16)
    with pytest.raises(TypeError, match=r"dy: expected dtype bfloat16"):
        rc.channel_dropout_backward(dy, m, out=out)
    assert np.all(out == 7)
    with pytest.raises(TypeError, match="out: expected dtype float16"):
        rc.alpha_dropout(np.ones(8, np.float16), 0.5, out=np.empty(8, np.float32))


# ---------------------------------------------------------------- weight averaging

def _avg_oracle(a64, p64, w64):
    """core/average.h in float32 on the float64-exact 16-bit values: w rounded once to float32,
    the two-sided blend, each operation rounded to float32."""
    w = float(_f32(w64))
    if w == 0.0:
        return a64
    if w == 1.0:
        return p64
    d = _f32(p64 - a64)
    if w < 0.5:
        return _f32(a64 + _f32(w * d))
    return _f32(p64 - _f32((1.0 - w) * d))


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("op, arg, w", [("ema", 0.9, 0.1), ("ema", 0.3, 0.7), ("swa", 2, 1 / 3),
                                         ("swa", 0, 1.0), ("ema", 1.0, 0.0), ("ema", 0.999, 0.001)])
def test_averaging_oracle(backend, fmt, op, arg, w):
    avgs = [_x(fmt, 1001, 10), _x(fmt, (7, 9), 11)]
    params = [_x(fmt, 1001, 12), _x(fmt, (7, 9), 13)]
    before = [a.astype(np.float64) for a in avgs]
    fn = rc.ema_update_ if op == "ema" else rc.swa_update_
    with cpu_backend(backend):
        fn(avgs, params, arg)
    for a, a64, p in zip(avgs, before, params):
        assert a.dtype == PUBLIC[fmt]
        p64 = p.astype(np.float64)
        want = _avg_oracle(a64, p64, w)
        assert np.array_equal(_bits(a), round_oracle(fmt, want).reshape(a.shape))
        # against the exact average: the 16-bit rounding plus the float32 ones (w, d, the product, the sum)
        exact = a64 + w * (p64 - a64)
        _check_bound(fmt, a, exact, extra=4 * 2.0 ** -24 * (np.abs(p64 - a64) + np.abs(a64) + np.abs(p64)))


@pytest.mark.parametrize("fmt", FORMATS)
def test_averaging_identical_everywhere(fmt):
    a0 = [_with_specials(_x(fmt, 70001, 20)), _x(fmt, 33, 21)]
    ps = [_x(fmt, 70001, 22), _with_specials(_x(fmt, 33, 23))]

    def run():
        avgs = [a.copy() for a in a0]
        rc.ema_update_(avgs, ps, 0.95)
        out = [a.copy() for a in avgs]
        rc.swa_update_(avgs, ps, 3)
        return out + avgs

    _same_everywhere(run)


def test_averaging_lists_may_mix_dtypes():
    avgs = [np.zeros(8, PUBLIC["bfloat16"]), np.zeros(8, np.float16), np.zeros(8, F32)]
    params = [np.ones(8, PUBLIC["bfloat16"]), np.ones(8, np.float16), np.ones(8, F32)]
    rc.swa_update_(avgs, params, 1)
    for a in avgs:
        assert np.all(a.astype(F32) == 0.5)


@pytest.mark.parametrize("adt, pdt, extra", [
    (np.float64, "bfloat16", ""), (F32, np.float64, " or bfloat16 or float16"),
    ("bfloat16", "float16", ""), ("float16", F32, "")])
def test_averaging_dtype_pairs_refused_naming_both(adt, pdt, extra):
    """Only float32 averages may hold 16-bit parameters (tests/test_averaging_wide.py); other
    unequal pairs are refused, naming both arguments and the accepted dtypes."""
    adt, pdt = (PUBLIC.get(d, d) if isinstance(d, str) else d for d in (adt, pdt))
    good = np.zeros(4, F32)
    avgs = [good, np.full(4, 3, adt)]
    params = [np.ones(4, F32), np.ones(4, pdt)]
    with pytest.raises(TypeError, match=rf"params\[1\]: expected the dtype of averages\[1\] \({np.dtype(adt)}\)") as e:
        rc.ema_update_(avgs, params, 0.5)
    assert f"({np.dtype(adt)}){extra}, got 'dtype {np.dtype(pdt)}'" in str(e.value)
    assert np.all(good == 0) and np.all(avgs[1].astype(F32) == 3)   # nothing written


# ---------------------------------------------------------------- regcore.torch

def _t2np(t):
    import torch

    return t.detach().view(torch.int16).numpy().view(np.uint16) if t.dtype == torch.bfloat16 else t.detach().numpy()


@pytest.mark.parametrize("tdtype", ["bfloat16", "float16"])
def test_torch_modules_16bit_equal_the_array_api(tdtype):
    torch = pytest.importorskip("torch")
    import regcore.torch as rct

    dt = getattr(torch, tdtype)
    x = torch.randn(3, 6, 5, 4).to(dt)
    xn = x.view(torch.int16).numpy().view(PUBLIC[tdtype]) if tdtype == "bfloat16" else x.numpy()
    cases = [(rct.nn.Dropout2d(0.4, generator=rc.Generator(9)), rc.channel_dropout),
             (rct.nn.FeatureAlphaDropout(0.4, generator=rc.Generator(9)), rc.feature_alpha_dropout),
             (rct.nn.AlphaDropout(0.4, generator=rc.Generator(9)), rc.alpha_dropout)]
    for mod, fn in cases:
        xg = x.clone().requires_grad_()
        y = mod(xg)
        assert y.dtype == dt
        ref, m = fn(xn, 0.4, generator=rc.Generator(9))
        assert np.array_equal(_t2np(y), ref.view(np.uint16) if tdtype == "bfloat16" else ref)
        dy = torch.randn_like(y)
        y.backward(dy)
        dyn = _t2np(dy).view(PUBLIC[tdtype]) if tdtype == "bfloat16" else dy.numpy()
        back = rc.alpha_dropout_backward if fn is rc.alpha_dropout else rc.channel_dropout_backward
        dref = back(dyn, m)
        assert xg.grad.dtype == dt
        assert np.array_equal(_t2np(xg.grad), dref.view(np.uint16) if tdtype == "bfloat16" else dref)
    x1 = torch.randn(4, 7, 9).to(dt)
    y1 = rct.nn.Dropout1d(0.5, generator=rc.Generator(2))(x1)
    x1n = x1.view(torch.int16).numpy().view(PUBLIC[tdtype]) if tdtype == "bfloat16" else x1.numpy()
    r1, _ = rc.channel_dropout(x1n, 0.5, generator=rc.Generator(2))
    assert np.array_equal(_t2np(y1), r1.view(np.uint16) if tdtype == "bfloat16" else r1)


@pytest.mark.parametrize("tdtype", ["bfloat16", "float16"])
def test_torch_averaging_16bit_equal_the_array_api(tdtype):
    torch = pytest.importorskip("torch")
    from regcore.torch.optim import swa_utils

    dt = getattr(torch, tdtype)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.Linear(4, 3)).to(dt)

    def np_params():
        return [_t2np(p).copy().view(PUBLIC[tdtype]) if tdtype == "bfloat16" else _t2np(p).copy()
                for p in model.parameters()]

    ema = swa_utils.EMA(model, decay=0.9)
    avg = swa_utils.AveragedModel(model)
    ema_ref, swa_ref = np_params(), np_params()
    avg.update_parameters(model)
    for n in range(1, 4):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p))
        ema.update()
        avg.update_parameters(model)
        cur = np_params()
        rc.ema_update_(ema_ref, cur, 0.9)
        rc.swa_update_(swa_ref, cur, n)
    for s, r in zip(ema.shadow, ema_ref):
        assert s.dtype == dt and np.array_equal(_t2np(s), _bits(r) if tdtype == "bfloat16" else r)
    for a, r in zip(avg.module.parameters(), swa_ref):
        assert a.dtype == dt and np.array_equal(_t2np(a), _bits(r) if tdtype == "bfloat16" else r)


def _np_view(t):
    """The array API's view of a CPU tensor (bfloat16 through ml_dtypes)."""
    return _t2np(t).view(PUBLIC["bfloat16"]) if str(t.dtype) == "torch.bfloat16" else t.detach().numpy()


@pytest.mark.parametrize("tdtype", ["bfloat16", "float16"])
def test_torch_float32_averages_of_a_16bit_model_equal_the_array_api(tdtype):
    """EMA(..., dtype=torch.float32) and AveragedModel(..., dtype=torch.float32) keep float32
    averages of a 16-bit model: the array API's float32-average pair, bit for bit."""
    torch = pytest.importorskip("torch")
    from regcore.torch.optim import swa_utils

    dt = getattr(torch, tdtype)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.BatchNorm1d(4), torch.nn.Linear(4, 3)).to(dt)
    ema = swa_utils.EMA(model, decay=0.9, dtype=torch.float32)
    ema_buf = swa_utils.EMA(model, decay=0.9, use_buffers=True, dtype=torch.float32)
    avg = swa_utils.AveragedModel(model, dtype=torch.float32)
    ema_model = swa_utils.AveragedModel(model, multi_avg_fn=swa_utils.get_ema_multi_avg_fn(0.9), dtype=torch.float32)
    assert all(s.dtype == torch.float32 for s in ema.shadow + ema_buf.shadow)
    assert all(t.dtype == torch.float32 for t in avg.module.state_dict().values() if torch.is_floating_point(t))
    ema_ref = [_np_view(p).astype(F32) for p in model.parameters()]
    swa_ref = [r.copy() for r in ema_ref]
    avg.update_parameters(model)
    ema_model.update_parameters(model)
    for n in range(1, 4):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p))
        ema.update()
        ema_buf.update()
        avg.update_parameters(model)
        ema_model.update_parameters(model)
        cur = [_np_view(p).copy() for p in model.parameters()]
        rc.ema_update_(ema_ref, cur, 0.9)
        rc.swa_update_(swa_ref, cur, n)
    ema_params = [a for a in ema_model.module.parameters()]
    for got, want in [(ema.shadow, ema_ref), (list(avg.module.parameters()), swa_ref), (ema_params, ema_ref),
                      (ema_buf.shadow[:len(ema_ref)], ema_ref)]:
        for s, r in zip(got, want):
            assert s.dtype == torch.float32 and s.detach().numpy().tobytes() == r.tobytes()
    # swapped in: rounded to the model's dtype (nearest even); the live weights come back exactly
    live = [p.detach().clone() for p in model.parameters()]
    with ema.average_parameters():
        for p, s in zip(model.parameters(), ema.shadow):
            assert p.dtype == dt and torch.equal(p, s.to(dt))
    for p, q in zip(model.parameters(), live):
        assert torch.equal(p, q)
    # the float32 averaged model runs in float32
    assert avg(torch.randn(2, 5)).dtype == torch.float32


def test_torch_dtype_option_refuses_other_dtypes():
    torch = pytest.importorskip("torch")
    from regcore.torch.optim import swa_utils

    model = torch.nn.Linear(3, 2).to(torch.bfloat16)
    for bad in (torch.float64, torch.bfloat16, "float32"):
        with pytest.raises(TypeError, match=r"^dtype: expected None or torch.float32"):
            swa_utils.EMA(model, dtype=bad)
        with pytest.raises(TypeError, match=r"^dtype: expected None or torch.float32"):
            swa_utils.AveragedModel(model, dtype=bad)
    # float32 and float64 tensors keep their dtype under dtype=torch.float32
    mixed = torch.nn.Linear(3, 2).to(torch.float64)
    assert all(s.dtype == torch.float64 for s in swa_utils.EMA(mixed, dtype=torch.float32).shadow)
