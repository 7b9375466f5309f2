"""Every regcore.torch module, functional op, optimizer and init function under
rc.use_backend("numpy") against the native CPU backend, in each dtype it takes, three calls in a
row: the first call of an argument signature runs the checked array API, later ones the
signature's cached plan (torch/_fastpath.py), which hands bfloat16 over as ml_dtypes' own view
rather than the checked path's uint16 one. Random streams, element formulas, SGD and averaging
give the same bits (docs/dropout.md, sgd.md, averaging.md); the normalizations' statistics are
float64 sums in each backend's own order (docs/batchnorm.md, precision.md), so their results
match within a few float32 / one 16-bit ulp, and each backend's three calls on the same input
give the same bits (the checked call and the cached ones)."""
from __future__ import annotations

import pytest

from _torch_helpers import rct, torch

import regcore as rc

F = rct.nn.functional
nn = rct.nn
DTYPES = [torch.float32, torch.float64, torch.bfloat16, torch.float16]
CALLS = 3


def _x(*shape, dtype, seed=0, grad=True):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=torch.float64).to(dtype).requires_grad_(grad)


def _fwd_bwd(fn, x, params=()):
    """fn(x), then the gradients of a fixed weighting of it: (y, dx, d<each param>)."""
    for t in (x, *params):
        t.grad = None
    y = fn(x)
    w = _x(*y.shape, dtype=y.dtype, seed=99, grad=False)
    y.backward(w)
    return [y, x.grad, *(p.grad for p in params)]


def _module(m, dtype, *shape, param_dtype=None, channels_last=False):
    """A module's three calls in training mode: outputs, grads and buffers after each."""
    m = m.to(param_dtype or dtype)
    x = _x(*shape, dtype=dtype)
    if channels_last:
        x = x.detach().to(memory_format=torch.channels_last).requires_grad_()
    params = [p for p in m.parameters() if p.requires_grad]
    out = []
    for _ in range(CALLS):
        out += _fwd_bwd(m, x, params) + [b.clone() for b in m.buffers() if b.is_floating_point()]
    return out


# ------------------------------------------------------------------ cases: name -> dtype -> tensors

RANDOM = {
    "dropout-bits": lambda d: _module(nn.Dropout(0.3), d, 5, 7),
    "dropout-none-vanilla": lambda d: _module(nn.Dropout(0.3, mask="none", mode="vanilla"), d, 5, 7),
    "dropout-inplace-nograd": lambda d: _inplace_dropout(d),
    "dropout1d": lambda d: _module(nn.Dropout1d(0.4), d, 3, 6, 5),
    "dropout2d-none": lambda d: _module(nn.Dropout2d(0.4, mask="none"), d, 3, 6, 2, 3),
    "dropout2d-channels-last": lambda d: _module(nn.Dropout2d(0.4), d, 3, 6, 2, 3, channels_last=True),
    "dropout3d": lambda d: _module(nn.Dropout3d(0.4), d, 2, 5, 2, 2, 3),
    "alpha": lambda d: _module(nn.AlphaDropout(0.2), d, 5, 7),
    "alpha-none": lambda d: _module(nn.AlphaDropout(0.2, mask="none"), d, 5, 7),
    "feature-alpha": lambda d: _module(nn.FeatureAlphaDropout(0.3), d, 3, 6, 5),
    "noise-add": lambda d: _module(nn.GaussianNoise(0.5), d, 5, 7),
    "noise-mul": lambda d: _module(nn.GaussianNoise(0.5, mode="multiplicative"), d, 5, 7),
    "drop-connect": lambda d: _module(nn.DropConnectLinear(7, 4, p=0.3), d, 5, 7),
    **{f"bias-act-{a}-{m}": (lambda a, m: lambda d: _module(nn.BiasActDropout(7, a, p=0.3, mask=m), d, 5, 7))(a, m)
       for a in F.ACTIVATIONS for m in F.MASKS},
    "bias-act-residual": lambda d: _bias_act_residual(d),
}

NORMS = {
    "batch1d": lambda d: _module(nn.BatchNorm1d(6), d, 5, 6, 3),
    "batch2d": lambda d: _module(nn.BatchNorm2d(3), d, 4, 3, 2, 5),
    "batch3d-no-affine": lambda d: _module(nn.BatchNorm3d(3, affine=False), d, 2, 3, 2, 2, 3),
    "batch2d-mixed": lambda d: _mixed_batch_norm(d),
    "batch2d-channels-last": lambda d: _module(nn.BatchNorm2d(3), d, 4, 3, 2, 5, channels_last=True),
    "batch-cumulative": lambda d: _module(nn.BatchNorm1d(6, momentum=None), d, 5, 6, 3),
    "batch-no-running": lambda d: _module(nn.BatchNorm1d(6, track_running_stats=False), d, 5, 6),
    "batch-eval": lambda d: _eval(nn.BatchNorm1d(6), d, 5, 6),
    "sync-batch": lambda d: _module(nn.SyncBatchNorm(4), d, 5, 4, 3),
    "layer": lambda d: _module(nn.LayerNorm((3, 5)), d, 4, 3, 5),
    "layer-float32-params": lambda d: _module(nn.LayerNorm(5), d, 4, 3, 5, param_dtype=torch.float32),
    "layer-no-affine": lambda d: _module(nn.LayerNorm(5, elementwise_affine=False), d, 4, 3, 5),
    "group-no-affine": lambda d: _module(nn.GroupNorm(3, 6, affine=False), d, 3, 6, 2, 2),
    "group": lambda d: _module(nn.GroupNorm(2, 6), d, 3, 6, 5),
    "group-float32-params": lambda d: _module(nn.GroupNorm(3, 6), d, 3, 6, 5, param_dtype=torch.float32),
    "instance1d": lambda d: _module(nn.InstanceNorm1d(4, affine=True, track_running_stats=True), d, 3, 4, 7),
    "instance2d": lambda d: _module(nn.InstanceNorm2d(3), d, 2, 3, 4, 3),
    "instance-eval": lambda d: _eval(nn.InstanceNorm1d(4, affine=True, track_running_stats=True), d, 3, 4, 7),
    "functional-batch": lambda d: _functional_batch_norm(d),
}

STEPS = {
    "sgd": lambda d: _sgd(d, dict(momentum=0.9, weight_decay=0.01, nesterov=True)),
    "sgd-l1-maxnorm": lambda d: _sgd(d, dict(momentum=0.5, l1=0.01, max_norm=1.0, decoupled_weight_decay=0.1)),
    "sgd-master": lambda d: _sgd(d, dict(momentum=0.9, master_weights=True), half_only=True),
    "sgd-stochastic-rounding": lambda d: _sgd(d, dict(momentum=0.9, stochastic_rounding=True,
                                                      generator=rc.Generator(7)), half_only=True),
    "swa": lambda d: _averaged(d, rct.optim.swa_utils.AveragedModel),
    "ema": lambda d: _averaged(d, lambda m: rct.optim.swa_utils.AveragedModel(
        m, multi_avg_fn=rct.optim.swa_utils.get_ema_multi_avg_fn(0.9))),
    "ema-class": lambda d: _ema(d),
    **{f"init-{name}": (lambda name: lambda d: _init(d, name))(name)
       for name in ("uniform_", "normal_", "trunc_normal_", "xavier_uniform_", "xavier_normal_", "kaiming_uniform_",
                    "kaiming_normal_", "orthogonal_", "sparse_")},
}


def _inplace_dropout(dtype):
    out = []
    with torch.no_grad():
        for _ in range(CALLS):
            x = _x(5, 7, dtype=dtype, grad=False)
            out.append(F.dropout(x, 0.3, inplace=True))
    return out


def _bias_act_residual(dtype):
    x, b, r = _x(5, 7, dtype=dtype), _x(7, dtype=dtype, seed=1), _x(5, 7, dtype=dtype, seed=2)
    out = []
    for _ in range(CALLS):
        out += _fwd_bwd(lambda t: F.bias_act_dropout(t, b, "gelu_tanh", 0.3, residual=r, mask="none"), x, (b, r))
    return out


def _mixed_batch_norm(dtype):
    """16-bit data with float32 parameters and running statistics (torch's mixed batch norm)."""
    if dtype not in (torch.bfloat16, torch.float16):
        pytest.skip("16-bit data")
    m = nn.BatchNorm2d(3)
    x = _x(4, 3, 2, 5, dtype=dtype)
    out = []
    for _ in range(CALLS):
        out += _fwd_bwd(m, x, list(m.parameters())) + [m.running_mean.clone(), m.running_var.clone()]
    return out


def _eval(m, dtype, *shape):
    m = m.to(dtype)
    with torch.no_grad():
        for b in m.buffers():
            if b.is_floating_point():
                b.uniform_(0.5, 1.5)
    m.eval()
    x = _x(*shape, dtype=dtype)
    out = []
    for _ in range(CALLS):
        out += _fwd_bwd(m, x, [p for p in m.parameters()])
    return out


def _functional_batch_norm(dtype):
    x, w, b = _x(5, 4, 3, dtype=dtype), _x(4, dtype=dtype, seed=1), _x(4, dtype=dtype, seed=2)
    rm, rv = torch.zeros(4, dtype=dtype), torch.ones(4, dtype=dtype)
    out = []
    for _ in range(CALLS):
        out += _fwd_bwd(lambda t: F.batch_norm(t, rm, rv, w, b, training=True, momentum=0.2), x, (w, b))
        out += [rm.clone(), rv.clone()]
    return out


def _sgd(dtype, options, half_only=False):
    if half_only and dtype not in (torch.bfloat16, torch.float16):
        pytest.skip("a 16-bit option")
    ws = [_x(4, 5, dtype=dtype, seed=1), _x(5, dtype=dtype, seed=2)]
    opt = rct.optim.SGD(ws, lr=0.1, **options)
    out = []
    for step in range(CALLS):
        for i, w in enumerate(ws):
            w.grad = _x(*w.shape, dtype=dtype, seed=10 * step + i, grad=False)
        opt.step()
        out += [w.detach().clone() for w in ws]
    return out


def _net(dtype):
    torch.manual_seed(5)
    return torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3)).to(dtype)


def _nudge(model, step):
    with torch.no_grad():
        for i, p in enumerate(model.parameters()):
            p.copy_(_x(*p.shape, dtype=p.dtype, seed=20 * step + i, grad=False))


def _averaged(dtype, make):
    model = _net(dtype)
    avg = make(model)
    out = []
    for step in range(CALLS):
        _nudge(model, step)
        avg.update_parameters(model)
        out += [p.detach().clone() for p in avg.parameters()]
    return out


def _ema(dtype):
    model = _net(dtype)
    ema = rct.optim.swa_utils.EMA(model, decay=0.75)
    out = []
    for step in range(CALLS):
        _nudge(model, step)
        ema.update()
        with ema.average_parameters():
            out += [p.detach().clone() for p in model.parameters()]
    return out


def _init(dtype, name):
    fill = getattr(rct.nn.init, name)
    args = (0.5,) if name == "sparse_" else ()
    out = []
    for _ in range(CALLS):
        t = torch.empty(6, 5, dtype=dtype)
        fill(t, *args)
        out.append(t)
    return out


# ------------------------------------------------------------------ running and comparing

def _run(case, dtype, numpy):
    """The case's tensors, or the exception class it raised (a dtype the op refuses)."""
    torch.manual_seed(0)   # the draws of the calls without a generator
    try:
        if numpy:
            with rc.use_backend("numpy"):
                out = case(dtype)
        else:
            out = case(dtype)
    except (TypeError, ValueError, RuntimeError) as e:
        if "the native CPU backend is not built" in str(e):
            raise
        return type(e)
    return [t.detach().clone() if t is not None else None for t in out]


def _bits(t):
    return t.view({2: torch.int16, 4: torch.int32, 8: torch.int64}[t.element_size()])


def _pairs(case, dtype):
    if rc._native.cpu is None:
        pytest.skip("no native CPU backend to compare with")
    # the numpy backend first: its first call meets a signature this test has not run yet
    ours = _run(case, dtype, numpy=True)
    ref = _run(case, dtype, numpy=False)
    if isinstance(ref, type) or isinstance(ours, type):
        assert ours is ref, f"numpy backend: {ours}, native: {ref}"
        pytest.skip(f"{dtype} refused ({ref.__name__}) by both backends")
    assert len(ours) == len(ref)
    return list(zip(ours, ref))


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: str(d)[6:])
@pytest.mark.parametrize("name", list(RANDOM) + list(STEPS))
def test_same_bits_as_the_native_backend(name, dtype):
    for i, (a, b) in enumerate(_pairs({**RANDOM, **STEPS}[name], dtype)):
        assert (a is None) == (b is None), i
        if a is not None:
            assert a.dtype == b.dtype and a.shape == b.shape, i
            assert torch.equal(_bits(a), _bits(b)), f"tensor {i}: {(a.double() - b.double()).abs().max()}"


# a few float32 roundings of the per-channel coefficients (relative to the values combined,
# about 1 for these inputs); one 16-bit ulp where a float64 sum moved a value across a rounding
# boundary of the store (docs/precision.md)
_TOL = {torch.float32: dict(rtol=1e-5, atol=1e-5), torch.float64: dict(rtol=1e-12, atol=1e-12),
        torch.bfloat16: dict(rtol=2 ** -7, atol=1e-5), torch.float16: dict(rtol=2 ** -10, atol=1e-5)}


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: str(d)[6:])
@pytest.mark.parametrize("name", list(NORMS))
def test_normalization_matches_the_native_backend(name, dtype):
    pairs = _pairs(NORMS[name], dtype)
    for i, (a, b) in enumerate(pairs):
        assert (a is None) == (b is None), i
        if a is not None:
            assert a.dtype == b.dtype and a.shape == b.shape, i
            torch.testing.assert_close(a, b, **_TOL[a.dtype], msg=lambda m: f"tensor {i}: {m}")
    per_call = len(pairs) // CALLS
    for backend in (0, 1):   # same input each call: the checked call and the cached ones agree
        calls = [[p[backend] for p in pairs[c * per_call:(c + 1) * per_call]] for c in range(CALLS)]
        for c in range(1, CALLS):
            for i, (a, b) in enumerate(zip(calls[0], calls[c])):
                if a is not None and not _is_running_stat(name, i, per_call):
                    assert torch.equal(_bits(a), _bits(b)), f"{('numpy', 'native')[backend]} call {c}, tensor {i}"


def _is_running_stat(name, i, per_call):
    """Running statistics move from call to call; every other tensor of a call is the same."""
    return i >= per_call - _RUNNING.get(name, 0)


_RUNNING = dict.fromkeys(("batch1d", "batch-cumulative", "batch2d", "batch2d-channels-last", "batch3d-no-affine",
                          "batch2d-mixed", "sync-batch", "instance1d", "functional-batch"), 2)


# ------------------------------------------------------------------ the numpy backend's entry

def test_every_numpy_kernel_takes_both_bfloat16_views():
    """bfloat16 data reaches a backend as the checked path's uint16 view or as a cached plan's
    ml_dtypes array; every kernel the numpy backend exports takes both as the same data."""
    ml_dtypes = pytest.importorskip("ml_dtypes")
    import numpy as np

    from regcore._backends import numpy_backend as nb

    exported = {n for n, v in vars(nb).items() if callable(v) and not n.startswith("_")}
    assert exported and all(hasattr(getattr(nb, n), "__wrapped__") for n in exported)   # (each wrapped)
    rng = np.random.default_rng(0)
    x, bias = (rng.standard_normal(s).astype(ml_dtypes.bfloat16) for s in ((6, 5), (5,)))
    for act in range(6):
        ys = []
        for view in (lambda a: a.view(np.uint16), lambda a: a):
            y = view(np.empty_like(x))
            nb.bias_act_dropout_forward(view(x), view(bias), None, y, None, None, act, 3, 0, 2 ** 31, False,
                                        np.float32(2.0))
            ys.append(y.view(np.uint16))
        np.testing.assert_array_equal(ys[0], ys[1], err_msg=f"activation {act}")
