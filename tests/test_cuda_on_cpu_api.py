"""regcore's public API through the CUDA code path (real CUDA bindings and kernels, executed on the
CPU: tests/_cuda_sim.py) against the native CPU backend and the NumPy backend, with the promises
of the docs: random streams, masks, dropout outputs, init samplers, the SGD step and the
normalization element formulas bit-identical (docs/random.md, dropout.md, sgd.md, batchnorm.md);
the device reductions (batch/layer/group/instance norm statistics and backward sums) within the
tolerances docs/batchnorm.md states for their other summation order.

The emulation runs every CUDA thread as a fiber, so sizes stay small (a few thousand elements),
odd, and past one block (256 threads) and one grid-stride wrap. On a machine with a GPU, every case
also runs on the real device and must give the emulation's bits (tools/gpu_check.sh)."""
from __future__ import annotations

import numpy as np
import pytest

import regcore as rc
from _cuda_libs import LIBS, to_device
from _cuda_sim import cuda_sim
from _switches import cpu_backend

DTYPES = [np.float32, np.float64]
REFERENCES = ["numpy", f"cpu-{rc.available_isas()[-1]}"] if rc.available_isas() else ["numpy"]


def _state():
    return {"seed": 1234, "offset": 2**32 - 5}  # the counter crosses a 32-bit boundary


def _host(v):
    """A result as a NumPy array (device arrays copied back)."""
    if hasattr(v, "to_numpy"):        # a dropout mask
        return v.to_numpy()
    if hasattr(v, "detach"):          # torch
        return v.detach().cpu().numpy()
    if hasattr(v, "get"):             # cupy
        return v.get()
    return np.asarray(v)


def _leaves(v):
    if isinstance(v, (list, tuple)):
        return [x for item in v for x in _leaves(item)]
    return [_host(v)]


def _run(where, sim, fn, inputs):
    """fn(**inputs) on the emulated CUDA backend ("cuda-sim"), a CPU backend, or a real GPU
    ("gpu-<lib>": the inputs copied to the device first)."""
    if where == "cuda-sim":
        with cuda_sim(sim):
            return _leaves(fn(**{k: v.copy() for k, v in inputs.items()}))
    if where.startswith("gpu-"):
        lib = where[4:]
        return _leaves(fn(**{k: to_device(lib, v) for k, v in inputs.items()}))
    with cpu_backend(where):
        return _leaves(fn(**{k: v.copy() for k, v in inputs.items()}))


def _same_bits(a, b, what):
    assert a.dtype == b.dtype and a.shape == b.shape, what
    assert a.tobytes() == b.tobytes(), f"{what}: {np.flatnonzero(a.view(np.uint8) != b.view(np.uint8))[:5]}"


def _everywhere(sim, fn, inputs, what, compare=None):
    """fn(**inputs) on the emulated CUDA backend, compared with each CPU reference backend (bit
    for bit, or ``compare`` where the docs allow another summation order), and, where a GPU
    exists, with the real GPU bit for bit: the same code in the same order, so anything but the
    same bits is a defect of the emulation (the CUB stand-in included) or of the kernels."""
    got = _run("cuda-sim", sim, fn, inputs)
    for where in REFERENCES + [f"gpu-{lib}" for lib in LIBS]:
        want = _run(where, sim, fn, inputs)
        check = _same_bits if where.startswith("gpu-") else (compare or _same_bits)
        assert len(got) == len(want), what
        for i, (a, b) in enumerate(zip(got, want)):
            check(a, b, f"{what} [{i}] vs {where}")


# ---------------------------------------------------------------- random fills and init

SIZES = [1, 7, 1029, 4099]


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_random_fills(cuda_sim_module, n, dtype):
    def run(like):
        g = rc.Generator.from_state(_state())
        return [rc.random.uniform((n,), -2.0, 3.0, dtype=dtype, generator=g, like=like),
                rc.random.normal((n,), 0.5, 2.0, dtype=dtype, generator=g, like=like),
                rc.random.bits((n,), generator=g, like=like)]
    _everywhere(cuda_sim_module, run, dict(like=np.zeros(1, dtype)), f"random n={n}")


SAMPLERS = {
    "trunc_normal": lambda s, dt, g, k: rc.init.trunc_normal(s, 0.5, 2.0, -1.0, 3.0, dtype=dt, generator=g, like=k),
    "trunc_normal_tail": lambda s, dt, g, k: rc.init.trunc_normal(s, 0.0, 1.0, 4.0, 8.0, dtype=dt, generator=g, like=k),
    "kaiming_normal": lambda s, dt, g, k: rc.init.kaiming_normal(s, 0.0, "fan_out", "relu", dtype=dt, generator=g, like=k),
    "xavier_uniform": lambda s, dt, g, k: rc.init.xavier_uniform(s, 1.2, dtype=dt, generator=g, like=k),
    "orthogonal": lambda s, dt, g, k: rc.init.orthogonal(s, 0.9, dtype=dt, generator=g, like=k),
    "sparse": lambda s, dt, g, k: rc.init.sparse(s, 3, dtype=dt, generator=g, like=k),
}


@pytest.mark.parametrize("name", list(SAMPLERS))
@pytest.mark.parametrize("dtype", DTYPES)
def test_init_samplers(cuda_sim_module, name, dtype):
    def run(like):
        return SAMPLERS[name]((37, 29), dtype, rc.Generator.from_state(_state()), like)
    _everywhere(cuda_sim_module, run, dict(like=np.zeros(1, dtype)), name)


# ---------------------------------------------------------------- dropout family

@pytest.mark.parametrize("mask", ["bits", "bytes", "none"])
@pytest.mark.parametrize("n", [33, 4099])
@pytest.mark.parametrize("dtype", DTYPES)
def test_dropout_forward_backward(cuda_sim_module, mask, n, dtype):
    rng = np.random.default_rng(n)

    def run(x, dy):
        y, m = rc.dropout(x, 0.3, generator=rc.Generator.from_state(_state()), mask=mask)
        return y, m, rc.dropout_backward(dy, m)
    _everywhere(cuda_sim_module, run, dict(x=rng.standard_normal(n).astype(dtype), dy=rng.standard_normal(n).astype(dtype)),
                f"dropout mask={mask}")


@pytest.mark.parametrize("activation", ["identity", "relu", "gelu", "gelu_tanh", "tanh", "sigmoid"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_bias_act_dropout(cuda_sim_module, activation, dtype):
    rng = np.random.default_rng(5)
    inputs = dict(x=rng.standard_normal((131, 37)).astype(dtype), bias=rng.standard_normal(37).astype(dtype),
                  res=rng.standard_normal((131, 37)).astype(dtype), dy=rng.standard_normal((131, 37)).astype(dtype))

    def forward(x, bias, res):
        return rc.bias_act_dropout(x, bias, activation, 0.25, residual=res, generator=rc.Generator.from_state(_state()))

    def run(x, bias, res, dy):
        y, st = forward(x, bias, res)
        return y, rc.bias_act_dropout_backward(dy, st)[0]
    _everywhere(cuda_sim_module, run, inputs, f"bias_act_dropout {activation}")

    # dbias: float64 sums in another order on CUDA (64-row chunks, docs/dropout.md), so equal
    # within float64 summation rounding, exactly the same for float32 data here (131 rows of
    # float32 products sum exactly enough in float64 to round to the same float32)
    def dbias(x, bias, res, dy):
        return rc.bias_act_dropout_backward(dy, forward(x, bias, res)[1])[1]
    compare = _same_bits if dtype == np.float32 else _close(1e-14)
    _everywhere(cuda_sim_module, dbias, inputs, f"bias_act_dropout dbias {activation}", compare)


@pytest.mark.parametrize("mode", ["additive", "multiplicative"])
def test_gaussian_noise(cuda_sim_module, mode):
    x = np.random.default_rng(2).standard_normal(2053).astype(np.float32)
    _everywhere(cuda_sim_module, lambda x: rc.gaussian_noise(x, 0.4, mode=mode, generator=rc.Generator.from_state(_state())),
                dict(x=x), f"gaussian_noise {mode}")


# ---------------------------------------------------------------- SGD (docs/sgd.md: same bits)

@pytest.mark.parametrize("opts", [
    dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-2),
    dict(lr=0.05, momentum=0.9, dampening=0.1, l1=1e-3, decoupled_weight_decay=1e-2),
    dict(lr=0.1, momentum=0.0, l1=1e-2, l1_mode="subgradient", maximize=True),
    dict(lr=0.5, momentum=0.9, max_norm=0.3, max_norm_axis=0),
])
@pytest.mark.parametrize("dtype", DTYPES)
def test_sgd_multi_tensor_step(cuda_sim_module, opts, dtype):
    rng = np.random.default_rng(9)
    shapes = [(3, 5), (300,), (17, 33), (1,), (64, 9)]
    if opts.get("max_norm"):
        shapes = [s for s in shapes if len(s) == 2]
    inputs = {f"w{i}": rng.standard_normal(s).astype(dtype) for i, s in enumerate(shapes)}
    inputs.update({f"g{i}": rng.standard_normal(s).astype(dtype) for i, s in enumerate(shapes)})

    def run(**a):
        ws = [a[f"w{i}"] for i in range(len(shapes))]
        gs = [a[f"g{i}"] for i in range(len(shapes))]
        bufs = None
        for _ in range(3):
            bufs = rc.optim.sgd_step_multi_(ws, gs, bufs, **opts)
        return ws, [b for b in (bufs or []) if b is not None]
    _everywhere(cuda_sim_module, run, inputs, f"sgd {opts}")


@pytest.mark.parametrize("mode", ["nearest", "master", "stochastic"])
@pytest.mark.parametrize("opts", [
    dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-2),
    dict(lr=0.05, momentum=0.9, dampening=0.1, l1=1e-3, decoupled_weight_decay=1e-2),
    dict(lr=0.5, momentum=0.9, max_norm=0.3, max_norm_axis=0),
], ids=["nesterov", "l1", "maxnorm"])
@pytest.mark.parametrize("half", ["bfloat16", "float16"])
def test_sgd_16bit_step(cuda_sim_module, opts, half, mode):
    """16-bit parameters (docs/sgd.md): nearest rounding, a float32 master, stochastic rounding
    with words from a generator whose counter crosses a 32-bit boundary; the same bits."""
    ml_dtypes = pytest.importorskip("ml_dtypes")
    dtype = np.dtype(ml_dtypes.bfloat16) if half == "bfloat16" else np.dtype(np.float16)
    rng = np.random.default_rng(4)
    shapes = [(3, 5), (17, 33), (1, 7), (64, 9)]
    inputs = {f"w{i}": rng.standard_normal(s).astype(np.float32).astype(dtype) for i, s in enumerate(shapes)}
    inputs.update({f"g{i}": rng.standard_normal(s).astype(np.float32).astype(dtype) for i, s in enumerate(shapes)})
    if mode == "master":
        inputs.update({f"m{i}": inputs[f"w{i}"].astype(np.float32) for i in range(len(shapes))})

    def run(**a):
        ws = [a[f"w{i}"] for i in range(len(shapes))]
        gs = [a[f"g{i}"] for i in range(len(shapes))]
        ms = [a[f"m{i}"] for i in range(len(shapes))] if mode == "master" else None
        gen = rc.Generator.from_state(_state()) if mode == "stochastic" else None
        bufs = None
        for _ in range(3):
            bufs = rc.optim.sgd_step_multi_(ws, gs, bufs, master_params=ms, stochastic_rounding=mode == "stochastic",
                                            generator=gen, **opts)
        return ws, [b for b in (bufs or []) if b is not None], ms or []
    _everywhere(cuda_sim_module, run, inputs, f"sgd {half} {mode} {opts}")


def test_penalty_16bit(cuda_sim_module):
    x = np.random.default_rng(1).standard_normal(70001).astype(np.float16)
    _everywhere(cuda_sim_module, lambda x: np.array(rc.penalty([x], l1=0.5, l2=2.0)), dict(x=x), "penalty f16")


# ---------------------------------------------------------------- normalization

def _close(rtol):
    def compare(a, b, what):
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        scale = max(1.0, float(np.max(np.abs(b)))) if b.size else 1.0
        np.testing.assert_allclose(a, b, rtol=0, atol=rtol * scale, err_msg=what)
    return compare


TOL = {np.float32: 2e-5, np.float64: 1e-11}


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_batch_norm_forward_backward(cuda_sim_module, layout, dtype):
    rng = np.random.default_rng(3)
    shape = (5, 7, 9, 11) if layout == "NCHW" else (5, 9, 11, 7)
    axis = 1 if layout == "NCHW" else -1
    inputs = dict(x=(rng.standard_normal(shape) * 3 + 10).astype(dtype), dy=rng.standard_normal(shape).astype(dtype),
                  gamma=rng.uniform(0.5, 2, 7).astype(dtype), beta=rng.standard_normal(7).astype(dtype),
                  rm=np.zeros(7, dtype), rv=np.ones(7, dtype))

    def run(x, dy, gamma, beta, rm, rv):
        y, saved = rc.batch_norm(x, gamma, beta, rm, rv, True, axis=axis, activation="relu")
        return (y, rm, rv) + tuple(rc.batch_norm_backward(dy, x, gamma, saved))
    _everywhere(cuda_sim_module, run, inputs, f"batch_norm {layout}", _close(TOL[dtype]))


@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("dtype", DTYPES)
def test_layer_norm_forward_backward(cuda_sim_module, affine, dtype):
    rng = np.random.default_rng(4)
    inputs = dict(x=(rng.standard_normal((13, 3, 47)) + 5).astype(dtype), dy=rng.standard_normal((13, 3, 47)).astype(dtype))
    if affine:
        inputs.update(gamma=rng.uniform(0.5, 2, (3, 47)).astype(dtype), beta=rng.standard_normal((3, 47)).astype(dtype))

    def run(x, dy, gamma=None, beta=None):
        y, saved = rc.layer_norm(x, gamma, beta, axes=(-2, -1))
        return (y,) + tuple(v for v in rc.layer_norm_backward(dy, x, gamma, saved) if v is not None)
    _everywhere(cuda_sim_module, run, inputs, f"layer_norm affine={affine}", _close(TOL[dtype]))


@pytest.mark.parametrize("dtype", DTYPES)
def test_group_and_instance_norm(cuda_sim_module, dtype):
    rng = np.random.default_rng(6)
    inputs = dict(x=(rng.standard_normal((4, 6, 5, 7)) - 3).astype(dtype), dy=rng.standard_normal((4, 6, 5, 7)).astype(dtype),
                  gamma=rng.uniform(0.5, 2, 6).astype(dtype), beta=rng.standard_normal(6).astype(dtype))

    def run(x, dy, gamma, beta):
        yg, sg = rc.group_norm(x, 3, gamma, beta)
        yi, si = rc.instance_norm(x, gamma, beta)
        return ((yg,) + tuple(rc.group_norm_backward(dy, x, gamma, sg))
                + (yi,) + tuple(rc.instance_norm_backward(dy, x, gamma, si)))
    _everywhere(cuda_sim_module, run, inputs, "group/instance norm", _close(TOL[dtype]))


# ---------------------------------------------------------------- normalization, 16-bit data

def _half_dtypes():
    ml_dtypes = pytest.importorskip("ml_dtypes")
    return {"bfloat16": np.dtype(ml_dtypes.bfloat16), "float16": np.dtype(np.float16)}


def _close16(dtype):
    """One ulp of the 16-bit format at the largest magnitude: a float64 sum in another order can
    move a value across a rounding boundary of the final 16-bit store (docs/precision.md)."""
    return _close(2.0 ** -7 if dtype.name == "bfloat16" else 2.0 ** -10)


@pytest.mark.parametrize("kind", ["mixed", "half"])
@pytest.mark.parametrize("fmt", ["bfloat16", "float16"])
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_batch_norm_16bit(cuda_sim_module, kind, fmt, layout):
    pytest.importorskip("torch")   # bfloat16 reaches the emulated device as a torch DLPack view
    T = _half_dtypes()[fmt]
    P = np.dtype(np.float32) if kind == "mixed" else T
    rng = np.random.default_rng(3)
    shape = (5, 7, 9, 11) if layout == "NCHW" else (5, 9, 11, 7)
    axis = 1 if layout == "NCHW" else -1
    inputs = dict(x=(rng.standard_normal(shape) * 3 + 10).astype(np.float32).astype(T),
                  dy=rng.standard_normal(shape).astype(np.float32).astype(T),
                  gamma=rng.uniform(0.5, 2, 7).astype(np.float32).astype(P),
                  beta=rng.standard_normal(7).astype(np.float32).astype(P),
                  rm=np.zeros(7, P), rv=np.ones(7, P))

    def run(x, dy, gamma, beta, rm, rv):
        y, saved = rc.batch_norm(x, gamma, beta, rm, rv, True, axis=axis, activation="relu")
        return (y, rm, rv) + tuple(rc.batch_norm_backward(dy, x, gamma, saved))
    _everywhere(cuda_sim_module, run, inputs, f"batch_norm {fmt} {kind} {layout}", _close16(T))

    # the element passes alone, with the same statistics and sums: the same bits everywhere
    with cpu_backend("numpy"):
        stats = rc.batch_norm_stats(inputs["x"], axis=axis)
        _, saved = rc.batch_norm_apply(inputs["x"], stats, inputs["gamma"], inputs["beta"], axis=axis,
                                       activation="relu")
        red = rc.batch_norm_backward_reduce(inputs["dy"], inputs["x"], saved)

    def elementwise(x, dy, gamma, beta, stats, red):
        y, saved = rc.batch_norm_apply(x, stats, gamma, beta, axis=axis, activation="relu")
        return (y,) + tuple(rc.batch_norm_backward_apply(dy, x, gamma, saved, red))
    el_inputs = dict(x=inputs["x"], dy=inputs["dy"], gamma=inputs["gamma"], beta=inputs["beta"], stats=stats, red=red)
    _everywhere(cuda_sim_module, elementwise, el_inputs, f"batch_norm elementwise {fmt} {kind} {layout}")


@pytest.mark.parametrize("fmt", ["bfloat16", "float16"])
def test_layer_group_instance_norm_16bit(cuda_sim_module, fmt):
    pytest.importorskip("torch")
    T = _half_dtypes()[fmt]
    rng = np.random.default_rng(6)
    f32 = np.float32
    inputs = dict(x=(rng.standard_normal((4, 6, 5, 7)) - 3).astype(f32).astype(T),
                  dy=rng.standard_normal((4, 6, 5, 7)).astype(f32).astype(T),
                  gamma=rng.uniform(0.5, 2, 6).astype(f32).astype(T), beta=rng.standard_normal(6).astype(f32),
                  lg=rng.uniform(0.5, 2, (5, 7)).astype(f32), lb=rng.standard_normal((5, 7)).astype(f32))

    def run(x, dy, gamma, beta, lg, lb):
        yg, sg = rc.group_norm(x, 3, gamma, beta.astype(T))
        yi, si = rc.instance_norm(x, gamma, beta.astype(T))
        yl, sl = rc.layer_norm(x, lg, lb, axes=(-2, -1))     # mixed: float32 parameters
        return ((yg,) + tuple(rc.group_norm_backward(dy, x, gamma, sg))
                + (yi,) + tuple(rc.instance_norm_backward(dy, x, gamma, si))
                + (yl,) + tuple(rc.layer_norm_backward(dy, x, lg, sl)))
    _everywhere(cuda_sim_module, run, inputs, f"group/instance/layer norm {fmt}", _close16(T))


# ---------------------------------------------------------------- channel / alpha dropout, averaging

def _toolbox_dtypes():
    """float32/float64, and the 16-bit formats (docs/precision.md) where ml_dtypes and torch are
    installed (bfloat16 reaches the emulated device as a torch DLPack view)."""
    out = [np.dtype(np.float32), np.dtype(np.float64)]
    try:
        import ml_dtypes
        import torch  # noqa: F401
    except ImportError:
        return out
    return out + [np.dtype(ml_dtypes.bfloat16), np.dtype(np.float16)]


@pytest.mark.parametrize("layout", ["channels_first", "channels_last"])
@pytest.mark.parametrize("dtype", _toolbox_dtypes(), ids=str)
def test_channel_and_alpha_dropout(cuda_sim_module, layout, dtype):
    rng = np.random.default_rng(8)
    shape = (3, 37, 5, 7) if layout == "channels_first" else (3, 5, 7, 37)
    x = rng.standard_normal(shape).astype(np.float32).astype(dtype)
    x.reshape(-1)[:3] = np.array([np.inf, np.nan, -0.0], np.float32).astype(dtype)
    dy = rng.standard_normal(shape).astype(np.float32).astype(dtype)

    def run(x, dy):
        y, m = rc.channel_dropout(x, 0.3, layout=layout, generator=rc.Generator.from_state(_state()))
        yf, mf = rc.feature_alpha_dropout(x, 0.3, layout=layout, mask="none", generator=rc.Generator.from_state(_state()))
        ya, ma = rc.alpha_dropout(x, 0.3, generator=rc.Generator.from_state(_state()))
        return (y, m, rc.channel_dropout_backward(dy, m), yf, rc.feature_alpha_dropout_backward(dy, mf),
                ya, ma, rc.alpha_dropout_backward(dy, ma))
    _everywhere(cuda_sim_module, run, dict(x=x, dy=dy), f"channel/alpha dropout {dtype} {layout}")


@pytest.mark.parametrize("dtype", _toolbox_dtypes(), ids=str)
def test_weight_averaging(cuda_sim_module, dtype):
    rng = np.random.default_rng(9)
    sizes = [4099, 33, 1]
    inputs = {f"a{i}": rng.standard_normal(n).astype(np.float32).astype(dtype) for i, n in enumerate(sizes)}
    inputs.update({f"p{i}": rng.standard_normal(n).astype(np.float32).astype(dtype) for i, n in enumerate(sizes)})

    def run(**t):
        avgs = [t[f"a{i}"] for i in range(len(sizes))]
        ps = [t[f"p{i}"] for i in range(len(sizes))]
        rc.ema_update_(avgs, ps, 0.9)      # low mode
        out = [_host(a).copy() for a in avgs]
        rc.ema_update_(avgs, ps, 0.3)      # high mode
        rc.swa_update_(avgs, ps, 4)
        return out + avgs
    _everywhere(cuda_sim_module, run, inputs, f"ema/swa {dtype}")


@pytest.mark.parametrize("half", [d for d in _toolbox_dtypes() if d.itemsize == 2], ids=str)
def test_weight_averaging_float32_averages_of_16bit_params(cuda_sim_module, half):
    """The float32-average pair (docs/averaging.md) through the CUDA bindings and kernels, in a
    list with a float32 and a float64 pair, every mode (copy widens the parameter exactly)."""
    rng = np.random.default_rng(10)
    pairs = [(np.float32, half, 70001), (np.float32, np.float32, 33), (np.float64, np.float64, 7),
             (np.float32, half, 1)]
    inputs = {f"a{i}": rng.standard_normal(n).astype(np.float32).astype(a) for i, (a, _, n) in enumerate(pairs)}
    inputs.update({f"p{i}": rng.standard_normal(n).astype(np.float32).astype(p) for i, (_, p, n) in enumerate(pairs)})

    def run(**t):
        avgs = [t[f"a{i}"] for i in range(len(pairs))]
        ps = [t[f"p{i}"] for i in range(len(pairs))]
        rc.ema_update_(avgs, ps, 0.9)      # low mode
        out = [_host(a).copy() for a in avgs]
        rc.ema_update_(avgs, ps, 0.3)      # high mode
        out += [_host(a).copy() for a in avgs]
        rc.swa_update_(avgs, ps, 0)        # copy mode: the widened parameter
        return out + avgs
    _everywhere(cuda_sim_module, run, inputs, f"ema/swa float32 averages of {half}")
