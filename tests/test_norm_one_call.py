"""The one-call trusted entry points of the normalization family (batch_norm_trusted,
batch_norm_backward_trusted, layer_norm_trusted, layer_norm_backward_trusted, group_norm_trusted,
instance_norm_trusted, instance_norm_inference_into and group_norm_backward_trusted, which is
instance norm's too: one backend
call per pass, csrc/cpu/*_step.h on the native CPU backend, the numpy backend's composition of
its own passes) give the very bits of the checked, phase-by-phase API:
y, the saved statistics, the updated running statistics, dx, dgamma, dbeta; every CPU backend
and ISA level, float32 / float64 / float16 / bfloat16 (16-bit data with parameters of its own
dtype or float32), channel-first rows, channels-last and 2-D cols views, with and without
affine parameters and running statistics, training and inference. Then the same through the
regcore.torch operators, whose CPU kernels run these entry points once a signature has passed."""
from __future__ import annotations

import numpy as np
import pytest

import regcore as rc
from regcore import _dtypes
from regcore import batchnorm as bn
from regcore import norms

ml_dtypes = pytest.importorskip("ml_dtypes")
BF16 = np.dtype(ml_dtypes.bfloat16)
# (data dtype, parameter dtype)
DTYPES = [(np.float32, np.float32), (np.float64, np.float64), (np.float16, np.float16), (np.float16, np.float32),
          (BF16, BF16), (BF16, np.float32)]
EPS = 1e-4


def _rand(shape, dtype, seed, loc=0.0, scale=1.0):
    v = np.random.default_rng(seed).normal(loc, scale, size=shape)
    return _dtypes.round_array(np.dtype(dtype), v) if _dtypes.is_half(np.dtype(dtype)) else v.astype(dtype)


def _kv(a):
    return None if a is None else _dtypes.kernel_view(a)


def _copy(a):
    return None if a is None else a.copy()


def _channel_params(C, pdt, affine, running):
    """gamma, beta (when affine) and running mean, var (when running) of C channels."""
    g = _rand((C,), pdt, 1, loc=1.0) if affine else None
    b = _rand((C,), pdt, 2) if affine else None
    rm = _rand((C,), pdt, 3) if running else None
    rv = np.abs(_rand((C,), pdt, 4)) + np.asarray(0.5, pdt) if running else None
    return g, b, rm, rv


def _bits(a):
    a = _kv(np.asarray(a))
    return a.view(f"u{a.dtype.itemsize}")


def _same(a, b, what):
    assert (a is None) == (b is None), what
    if a is not None:
        assert a.shape == b.shape and np.array_equal(_bits(a), _bits(b)), what


def _empty_like(a):
    return None if a is None else np.empty_like(_kv(a))


# ------------------------------------------------------------------ batch norm

BN_VIEWS = [((3, 5, 4, 2), 1), ((9, 6), 1), ((2, 3, 4, 5), -1)]   # rows; 2-D cols; channels-last cols
# (training, running statistics given, affine, factor): momentum=None is a factor 1/(n+1) here
BN_MODES = [(True, True, True, 0.1), (True, True, False, 1.0 / 3.0), (True, False, True, 0.1),
            (False, True, True, 0.1), (False, True, False, 0.1), (False, False, True, 0.1)]


@pytest.mark.parametrize("view", BN_VIEWS)
@pytest.mark.parametrize("dtypes", DTYPES, ids=lambda d: f"{np.dtype(d[0])}-{np.dtype(d[1])}")
@pytest.mark.parametrize("mode", BN_MODES)
def test_batch_norm_one_call_gives_the_phase_bits(backend, view, dtypes, mode):
    shape, axis = view
    dt, pdt = dtypes
    training, running, affine, factor = mode
    C = shape[axis]
    x = _rand(shape, dt, 0, loc=2.0, scale=3.0)
    g, b, rm, rv = _channel_params(C, pdt, affine, running)

    rm_a, rv_a = _copy(rm), _copy(rv)
    y_a, saved = rc.batch_norm(x, g, b, rm_a, rv_a, training, momentum=factor, eps=EPS, axis=axis)
    rm_b, rv_b = _kv(_copy(rm)), _kv(_copy(rv))
    y_b, mean, var = np.empty_like(_kv(x)), np.empty(C), np.empty(C)
    bn.batch_norm_trusted(_kv(x), _kv(g), _kv(b), rm_b, rv_b, training or rm is None, factor, EPS, axis,
                          y_b, mean, var)
    _same(y_a, y_b, "y")
    _same(saved.mean, mean, "mean")
    _same(saved.var, var, "var")
    _same(rm_a, rm_b, "running_mean")
    _same(rv_a, rv_b, "running_var")

    dy = _rand(shape, dt, 5)
    batch_stats = training or rm is None
    rebuilt = rc.batch_norm_saved(x, saved.mean, saved.var, g, b, eps=EPS, axis=axis, batch_stats=batch_stats)
    dx_a, dg_a, db_a = rc.batch_norm_backward(dy, x, g, rebuilt)
    dx_b, dg_b, db_b = np.empty_like(_kv(x)), _empty_like(g), _empty_like(b)
    bn.batch_norm_backward_trusted(_kv(dy), _kv(x), _kv(g), _kv(b), mean, var, None, EPS, axis, batch_stats,
                                   dx_b, dg_b, db_b)
    _same(dx_a, dx_b, "dx")
    _same(dg_a, dg_b, "dgamma")
    _same(db_a, db_b, "dbeta")


def test_batch_norm_one_call_refuses_one_value_per_channel(backend):
    """The one native call checks what the checked API refuses before anything is written (a
    trusted caller should never get there; the check costs nothing)."""
    x = np.ones((1, 3), np.float32)
    y = np.full_like(x, 7.0)
    with pytest.raises(ValueError, match="more than one value per channel"):
        bn.batch_norm_trusted(x, None, None, None, None, True, 0.1, EPS, 1, y, np.empty(3), np.empty(3))
    assert np.all(y == 7.0)


# ------------------------------------------------------------------ layer norm

# (2, 70000): rows longer than a statistics piece (65536 values, merged in order by the fused
# forward as by bn_moments); (3, 300), (3, 1024): column sums 2400 and 8192 bytes long.
LN_VIEWS = [((4, 6), 1), ((3, 4, 5), 2), ((2, 3, 33), 1), ((0, 5), 1), ((3, 0), 1), ((2, 70000), 1), ((3, 300), 1),
            ((3, 1024), 1)]


@pytest.mark.parametrize("view", LN_VIEWS)
@pytest.mark.parametrize("dtypes", DTYPES, ids=lambda d: f"{np.dtype(d[0])}-{np.dtype(d[1])}")
@pytest.mark.parametrize("affine", [True, False])
def test_layer_norm_one_call_gives_the_phase_bits(backend, view, dtypes, affine):
    shape, k = view
    dt, pdt = dtypes
    nshape = shape[len(shape) - k:]
    L = int(np.prod(nshape))
    R = int(np.prod(shape[:len(shape) - k]))
    x = _rand(shape, dt, 0, loc=-1.0, scale=2.0)
    g = _rand(nshape, pdt, 1, loc=1.0) if affine else None
    b = _rand(nshape, pdt, 2) if affine else None
    axes = tuple(range(-k, 0))

    y_a, saved = rc.layer_norm(x, g, b, axes=axes, eps=EPS)
    y_b, mean, var = np.empty_like(_kv(x)), np.empty(R), np.empty(R)
    norms.layer_norm_trusted(_kv(x), _kv(g), _kv(b), k, EPS, y_b, mean, var)
    _same(y_a, y_b, "y")
    _same(saved.mean, mean, "mean")
    _same(saved.var, var, "var")
    assert L == 0 or R == 0 or saved.mean.shape == (R,)

    dy = _rand(shape, dt, 5)
    rebuilt = rc.layer_norm_saved(x, saved.mean, saved.var, g, b, axes=axes, eps=EPS)
    dx_a, dg_a, db_a = rc.layer_norm_backward(dy, x, g, rebuilt)
    dx_b, dg_b, db_b = np.empty_like(_kv(x)), _empty_like(g), _empty_like(b)
    norms.layer_norm_backward_trusted(_kv(dy), _kv(x), _kv(g), _kv(b), mean, var, k, EPS, dx_b, dg_b, db_b)
    _same(dx_a, dx_b, "dx")
    _same(dg_a, dg_b, "dgamma")
    _same(db_a, db_b, "dbeta")


# ------------------------------------------------------------------ group / instance norm

GN_VIEWS = [((3, 6, 4, 2), 3), ((2, 8, 5), 8), ((4, 6, 33), 1), ((2, 4, 1), 2), ((0, 4, 3), 2), ((2, 4, 0), 4)]


@pytest.mark.parametrize("view", GN_VIEWS)
@pytest.mark.parametrize("dtypes", DTYPES, ids=lambda d: f"{np.dtype(d[0])}-{np.dtype(d[1])}")
@pytest.mark.parametrize("affine", [True, False])
def test_group_norm_one_call_gives_the_phase_bits(backend, view, dtypes, affine):
    shape, G = view
    dt, pdt = dtypes
    C = shape[1]
    x = _rand(shape, dt, 0, loc=1.5, scale=2.0)
    g = _rand((C,), pdt, 1, loc=1.0) if affine else None
    b = _rand((C,), pdt, 2) if affine else None
    y_a, saved = rc.group_norm(x, G, g, b, eps=EPS)
    y_b, mean, var = np.empty_like(_kv(x)), np.empty(shape[0] * G), np.empty(shape[0] * G)
    norms.group_norm_trusted(_kv(x), G, _kv(g), _kv(b), EPS, y_b, mean, var)
    _same(y_a, y_b, "y")
    _same(saved.mean, mean, "mean")
    _same(saved.var, var, "var")

    dy = _rand(shape, dt, 5)
    rebuilt = rc.group_norm_saved(x, G, saved.mean, saved.var, g, b, eps=EPS)
    _same_grads(rc.group_norm_backward(dy, x, g, rebuilt), dy, x, g, b, mean, var, G, True)


def _same_grads(checked, dy, x, g, b, mean, var, groups, batch_stats):
    """group_norm_backward_trusted (one backend call) gives the checked backward's bits."""
    dx_b, dg_b, db_b = np.empty_like(_kv(x)), _empty_like(g), _empty_like(b)
    norms.group_norm_backward_trusted(_kv(dy), _kv(x), _kv(g), _kv(b), mean, var, groups, EPS, batch_stats,
                                      dx_b, dg_b, db_b)
    for a, got, what in zip(checked, (dx_b, dg_b, db_b), ("dx", "dgamma", "dbeta")):
        _same(a, got, what)


@pytest.mark.parametrize("bad", ["groups", "mean", "dgamma"])
def test_group_norm_backward_one_call_refuses_bad_arguments(backend, bad):
    """The native call's own checks (a trusted caller never trips them) name the argument and
    come before anything is written."""
    if backend == "numpy":
        pytest.skip("the numpy backend's passes are the checked API's; only the native call checks")
    x = _rand((2, 4, 3), np.float32, 0)
    dy = _rand((2, 4, 3), np.float32, 1)
    g = np.ones(4, np.float32)
    groups = 3 if bad == "groups" else 2                           # 3 does not divide 4 channels
    mean, var = np.zeros(3 if bad == "mean" else 4), np.ones(4)    # N * groups = 4 statistics
    dx, dg = np.full_like(x, 7.0), np.full(4, 7.0, np.float64 if bad == "dgamma" else np.float32)
    with pytest.raises((ValueError, TypeError), match=bad):
        norms.group_norm_backward_trusted(dy, x, g, None, mean, var, groups, EPS, True, dx, dg, None)
    assert np.all(dx == 7.0) and np.all(dg == 7.0)


@pytest.mark.parametrize("shape", [(3, 5, 4, 2), (2, 3, 7), (0, 3, 4), (2, 0, 4)])
@pytest.mark.parametrize("dtypes", DTYPES, ids=lambda d: f"{np.dtype(d[0])}-{np.dtype(d[1])}")
@pytest.mark.parametrize("mode", [(True, True, 0.1), (True, False, 1.0 / 3.0), (False, True, 0.1)])
def test_instance_norm_one_call_gives_the_phase_bits(backend, shape, dtypes, mode):
    dt, pdt = dtypes
    affine, running, factor = mode
    C = shape[1]
    x = _rand(shape, dt, 0, loc=-2.0, scale=3.0)
    g, b, rm, rv = _channel_params(C, pdt, affine, running)
    rm_a, rv_a = _copy(rm), _copy(rv)
    y_a, saved = rc.instance_norm(x, g, b, rm_a, rv_a, True, momentum=factor, eps=EPS)
    rm_b, rv_b = _kv(_copy(rm)), _kv(_copy(rv))
    n = shape[0] * C
    y_b, mean, var = np.empty_like(_kv(x)), np.empty(n), np.empty(n)
    norms.instance_norm_trusted(_kv(x), _kv(g), _kv(b), rm_b, rv_b, factor, EPS, y_b, mean, var)
    _same(y_a, y_b, "y")
    _same(saved.mean, mean, "mean")
    _same(saved.var, var, "var")
    _same(rm_a, rm_b, "running_mean")
    _same(rv_a, rv_b, "running_var")

    dy = _rand(shape, dt, 5)
    rebuilt = rc.instance_norm_saved(x, saved.mean, saved.var, g, b, eps=EPS)
    _same_grads(rc.instance_norm_backward(dy, x, g, rebuilt), dy, x, g, b, mean, var, C, True)
    if running:   # inference: the running statistics normalize, constants for the gradient
        y_a, saved = rc.instance_norm(x, g, b, rm_a, rv_a, False, eps=EPS)
        y_b, mean_b, var_b = np.full_like(_kv(x), 7), np.empty(C), np.empty(C)
        norms.instance_norm_inference_into(_kv(x), _kv(g), _kv(b), _kv(rm_a), _kv(rv_a), EPS, y_b, mean_b, var_b)
        _same(y_a, y_b, "inference y")
        _same(saved.mean, mean_b, "inference mean")
        _same(saved.var, var_b, "inference var")
        rebuilt = rc.instance_norm_saved(x, saved.mean, saved.var, g, b, eps=EPS, batch_stats=False)
        _same_grads(rc.instance_norm_backward(dy, x, g, rebuilt), dy, x, g, b, saved.mean, saved.var, C, False)


# Group norm's one-call passes run fused per block of whole groups (csrc/cpu/groupnorm_api.h):
# these views span many blocks of kGnBlock elements and reach the thread pool (128K elements and
# more); (2, 4, 200, 200) in 2 groups has groups larger than one statistics piece (kRowsPiece:
# the separate passes). (2, 13, 20, 65) as instance norm has blocks of 12 sets of 1300 values
# and a last one of 2: the run kernels' totals a vector of sets at a time and the sets left over
# (kAccBatch is 4 or 8). Native backend, every ISA level, 1 and 2 threads; the checked API's
# separate passes are the reference.
GN_LARGE = [((64, 64, 16, 16), 8, np.float64), ((64, 64, 16, 16), 64, np.float64), ((9, 12, 30, 70), 3, np.float32),
            ((2, 4, 200, 200), 2, np.float32), ((2, 13, 20, 65), 13, np.float64)]


@pytest.mark.parametrize("case", GN_LARGE, ids=lambda c: f"{c[0]}-G{c[1]}-{np.dtype(c[2])}")
def test_group_norm_one_call_gives_the_phase_bits_across_blocks_and_threads(isa, threads, case):
    shape, G, dt = case
    N, C = shape[:2]
    x = _rand(shape, dt, 0, loc=40.0, scale=3.0)
    g, b = _rand((C,), dt, 1, loc=1.0), _rand((C,), dt, 2)
    y_a, saved = rc.group_norm(x, G, g, b, eps=EPS)
    y_b, mean, var = np.empty_like(x), np.empty(N * G), np.empty(N * G)
    norms.group_norm_trusted(x, G, g, b, EPS, y_b, mean, var)
    _same(y_a, y_b, "y")
    _same(saved.mean, mean, "mean")
    _same(saved.var, var, "var")
    dy = _rand(shape, dt, 5)
    _same_grads(rc.group_norm_backward(dy, x, g, saved), dy, x, g, b, mean, var, G, True)
    if G == C:   # instance norm in inference: per-channel running statistics normalize, constants for dx
        rm, rv = _rand((C,), dt, 3), np.abs(_rand((C,), dt, 4)) + 0.5
        y_a, saved = rc.instance_norm(x, g, b, rm, rv, False, eps=EPS)
        y_b, mean_b, var_b = np.empty_like(x), np.empty(C), np.empty(C)
        norms.instance_norm_inference_into(x, g, b, rm, rv, EPS, y_b, mean_b, var_b)
        _same(y_a, y_b, "inference y")
        rebuilt = rc.instance_norm_saved(x, saved.mean, saved.var, g, b, eps=EPS, batch_stats=False)
        _same_grads(rc.instance_norm_backward(dy, x, g, rebuilt), dy, x, g, b, saved.mean, saved.var, C, False)


# ------------------------------------------------------------------ through regcore.torch

torch = pytest.importorskip("torch")


def _t(shape, dtype, seed, loc=0.0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(*shape, generator=g, dtype=torch.float64) + loc).to(dtype)


def _same_t(a, b, what):
    for i, (u, v) in enumerate(zip(a, b)):
        assert u.dtype == v.dtype and u.shape == v.shape, (what, i)
        assert torch.equal(u, v) or (u.numel() == 0 and v.numel() == 0), (what, i)


TORCH_DTYPES = [(torch.float32, torch.float32), (torch.float64, torch.float64), (torch.float16, torch.float16),
                (torch.float16, torch.float32)]


@pytest.mark.parametrize("dtypes", TORCH_DTYPES, ids=str)
@pytest.mark.parametrize("layout", ["nchw", "channels_last", "2d"])
@pytest.mark.parametrize("mode", BN_MODES)
def test_torch_batch_norm_operators_give_the_phase_bits(dtypes, layout, mode):
    """ops.batch_norm / batch_norm_backward (the one-call kernels once the signature passed)
    against the operators' checked kernels (the phase-by-phase array API) on the same tensors."""
    from regcore.torch import _ops_norm

    dt, pdt = dtypes
    training, running, affine, factor = mode
    shape = {"nchw": (3, 13, 4, 2), "channels_last": (3, 4, 2, 13), "2d": (10, 13)}[layout]
    axis = -1 if layout == "channels_last" else 1
    C = 13
    x = _t(shape, dt, 0, loc=2.0)
    w, b = (_t((C,), pdt, 1, loc=1.0), _t((C,), pdt, 2)) if affine else (None, None)
    rm, rv = (_t((C,), pdt, 3), _t((C,), pdt, 4).abs() + 0.5) if running else (None, None)
    args = (x, w, b, rm, rv, training, factor, EPS, axis)
    with torch.no_grad():
        phases = _ops_norm._bn_impl(*args)
    for _ in range(2):   # the second call of a signature always takes the one-call path
        _same_t(torch.ops.regcore.batch_norm(*args), phases, "forward")
    dy = _t(shape, dt, 5)
    batch_stats = training or rm is None
    bargs = (dy, x, w, b, phases[1], phases[2], batch_stats, 0.0, EPS, axis)
    with torch.no_grad():
        ref = torch.ops.regcore.batch_norm_backward(*bargs)   # the first call of this signature may be either
    checked = _ops_norm.CHECKED_BACKWARD["batch_norm_backward"](*bargs)
    _same_t(ref, checked, "backward")
    _same_t(torch.ops.regcore.batch_norm_backward(*bargs), checked, "backward")


@pytest.mark.parametrize("dtypes", TORCH_DTYPES, ids=str)
@pytest.mark.parametrize("affine", [True, False])
def test_torch_layer_norm_operators_give_the_phase_bits(dtypes, affine):
    from regcore.torch import _ops_norm

    dt, pdt = dtypes
    x = _t((3, 7, 11), dt, 0, loc=-1.0)
    w, b = (_t((7, 11), pdt, 1, loc=1.0), _t((7, 11), pdt, 2)) if affine else (None, None)
    phases = _ops_norm._ln_impl(x, w, b, 2, EPS)
    for _ in range(2):
        _same_t(torch.ops.regcore.layer_norm(x, w, b, 2, EPS), phases, "forward")
    dy = _t(x.shape, dt, 5)
    bargs = (dy, x, w, b, phases[1], phases[2], 2, EPS)
    checked = _ops_norm.CHECKED_BACKWARD["layer_norm_backward"](*bargs)
    for _ in range(2):
        _same_t(torch.ops.regcore.layer_norm_backward(*bargs), checked, "backward")


@pytest.mark.parametrize("dtypes", TORCH_DTYPES, ids=str)
@pytest.mark.parametrize("affine", [True, False])
def test_torch_group_and_instance_norm_operators_give_the_phase_bits(dtypes, affine):
    from regcore.torch import _ops_norm

    dt, pdt = dtypes
    x = _t((3, 6, 5, 3), dt, 0, loc=1.0)
    w, b = (_t((6,), pdt, 1, loc=1.0), _t((6,), pdt, 2)) if affine else (None, None)
    phases = _ops_norm._gn_impl(x, 3, w, b, EPS)
    for _ in range(2):
        _same_t(torch.ops.regcore.group_norm(x, 3, w, b, EPS), phases, "group_norm")
    dy = _t(x.shape, dt, 5)
    bargs = (dy, x, w, b, phases[1], phases[2], 3, EPS)
    checked = _ops_norm.CHECKED_BACKWARD["group_norm_backward"](*bargs)
    for _ in range(2):   # the second call of a signature always takes the one-call path
        _same_t(torch.ops.regcore.group_norm_backward(*bargs), checked, "group_norm_backward")
    for use_input_stats in (True, False):
        rm, rv = _t((6,), pdt, 3), _t((6,), pdt, 4).abs() + 0.5
        args = (x, w, b, rm, rv, use_input_stats, 0.25, EPS)
        phases = _ops_norm._in_impl(*args)
        for _ in range(2):
            _same_t(torch.ops.regcore.instance_norm(*args), phases, f"instance_norm {use_input_stats}")
        bargs = (dy, x, w, b, phases[1], phases[2], use_input_stats, EPS)
        checked = _ops_norm.CHECKED_BACKWARD["instance_norm_backward"](*bargs)
        for _ in range(2):
            _same_t(torch.ops.regcore.instance_norm_backward(*bargs), checked,
                    f"instance_norm_backward {use_input_stats}")


def test_torch_instance_norm_of_no_channels():
    """x (N, 0, S): one group per channel is no group at all; the one-call path takes it as the
    checked path does, on every call of the signature."""
    x, dy = torch.zeros(2, 0, 4), torch.zeros(2, 0, 4)
    for _ in range(3):
        y, mean, var, _, _ = torch.ops.regcore.instance_norm(x, None, None, None, None, True, 0.1, EPS)
        assert y.shape == x.shape and mean.shape == var.shape == (0,)
        dx, _, _ = torch.ops.regcore.instance_norm_backward(dy, x, None, None, mean, var, True, EPS)
        assert dx.shape == x.shape
