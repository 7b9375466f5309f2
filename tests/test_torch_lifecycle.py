"""regcore's modules through the lifecycle a PyTorch model goes through: deferred initialization
(meta device, to_empty, reset_parameters, skip_init), dtype and memory-format moves,
load_state_dict(assign=True), share_memory, saving and loading (weights-only included), deep
copies, and torch's autograd features around a module (anomaly mode, saved-tensor hooks,
inference mode, retain_graph, module backward hooks). Each is compared with torch's own module
built with the same constructor arguments (docs/torch.md, "Module lifecycle")."""
from __future__ import annotations

import copy
import io
import warnings

import pytest
from _torch_helpers import TOL, rct, torch

import regcore as rc

nn = torch.nn
R = rct.nn

# (name, constructor given a module namespace (torch.nn or regcore.torch.nn), input shape)
NORMS = [
    ("BatchNorm1d", lambda M: M.BatchNorm1d(4), (5, 4)),
    ("BatchNorm2d-cma", lambda M: M.BatchNorm2d(4, momentum=None), (3, 4, 3, 3)),
    ("BatchNorm3d", lambda M: M.BatchNorm3d(4), (2, 4, 2, 2, 2)),
    ("LayerNorm", lambda M: M.LayerNorm((3, 4)), (5, 3, 4)),
    ("GroupNorm", lambda M: M.GroupNorm(2, 4), (3, 4, 5)),
    ("InstanceNorm1d", lambda M: M.InstanceNorm1d(4, affine=True, track_running_stats=True), (3, 4, 5)),
    ("InstanceNorm2d", lambda M: M.InstanceNorm2d(4), (3, 4, 3, 3)),
    ("SyncBatchNorm", lambda M: M.SyncBatchNorm(4), (5, 4)),
]
RANDOM = [
    ("Dropout", lambda M: M.Dropout(0.3), (5, 4)),
    ("Dropout2d", lambda M: M.Dropout2d(0.3), (3, 4, 3, 3)),
    ("AlphaDropout", lambda M: M.AlphaDropout(0.3), (5, 4)),
    ("FeatureAlphaDropout", lambda M: M.FeatureAlphaDropout(0.3), (3, 4, 3, 3)),
]
# regcore's own modules (no torch counterpart): deferred init compares them with themselves
OWN = [
    ("BiasActDropout", lambda: R.BiasActDropout(4, "gelu", 0.3), (5, 4)),
    ("DropConnectLinear", lambda: R.DropConnectLinear(4, 3, p=0.3), (5, 4)),
    ("GaussianNoise", lambda: R.GaussianNoise(0.2, mode="multiplicative"), (5, 4)),
]
PAIRS = NORMS + RANDOM


def _ids(cases):
    return [c[0] for c in cases]


def _forward_backward(m, x, seed=7):
    """y, x's gradient and the parameters' gradients of m at x (a fresh leaf), masks from seed."""
    x = x.detach().clone().requires_grad_()
    torch.manual_seed(seed)
    y = m(x)
    y.backward(torch.linspace(-1, 1, y.numel(), dtype=y.dtype).reshape(y.shape))
    return y.detach(), [x.grad] + [p.grad for p in m.parameters()]


def _same(a, b):
    a, b = list(a), list(b)
    return len(a) == len(b) and all(torch.equal(u, v) for u, v in zip(a, b))


# ------------------------------------------------------------------ deferred initialization

def _deferred(make):
    with torch.device("meta"):
        m = make()
    m.to_empty(device="cpu")
    for sub in m.modules():
        if hasattr(sub, "reset_parameters"):
            sub.reset_parameters()
    return m


@pytest.mark.parametrize("case", NORMS + RANDOM, ids=_ids(NORMS + RANDOM))
def test_meta_then_to_empty_and_reset_parameters_builds_torchs_module(case):
    _, make, shape = case
    torch.manual_seed(0)
    normal, theirs = make(R), make(nn)
    deferred, theirs_deferred = _deferred(lambda: make(R)), _deferred(lambda: make(nn))
    for m in (deferred, theirs_deferred):
        assert all(t.device.type == "cpu" for t in m.state_dict().values())
    sd, ref = deferred.state_dict(), theirs_deferred.state_dict()
    assert sd.keys() == ref.keys() == normal.state_dict().keys()
    for k in sd:
        assert sd[k].dtype == ref[k].dtype and torch.equal(sd[k], ref[k])
        assert torch.equal(sd[k], normal.state_dict()[k])
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(1))
    for mode in ("train", "eval"):
        for m in (normal, deferred, theirs):
            getattr(m, mode)()
        a, b = _forward_backward(deferred, x), _forward_backward(normal, x)
        assert torch.equal(a[0], b[0]) and _same(a[1], b[1])
        if case in NORMS:
            torch.testing.assert_close(a[0], _forward_backward(theirs, x)[0], **TOL[torch.float32])
    assert _same(deferred.state_dict().values(), normal.state_dict().values())   # running statistics too


@pytest.mark.parametrize("case", OWN, ids=_ids(OWN))
def test_meta_then_to_empty_and_reset_parameters_for_regcores_own_modules(case):
    # BiasActDropout had no reset_parameters: after to_empty its bias kept uninitialized memory
    _, make, shape = case
    torch.manual_seed(0)
    normal = make()
    torch.manual_seed(0)
    with torch.device("meta"):
        deferred = make()
    deferred.to_empty(device="cpu")
    with torch.no_grad():   # fill with garbage, as to_empty may
        for p in deferred.parameters():
            p.fill_(float("nan"))
    torch.manual_seed(0)
    for m in deferred.modules():
        if hasattr(m, "reset_parameters"):
            m.reset_parameters()
    for k, v in normal.state_dict().items():
        assert torch.equal(deferred.state_dict()[k], v), k
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(1))
    a, b = _forward_backward(deferred, x), _forward_backward(normal, x)
    assert torch.equal(a[0], b[0]) and _same(a[1], b[1])


def test_deferred_init_keeps_an_explicit_generator_and_draws_nothing():
    g = rc.Generator(5)
    state = g.state
    with torch.device("meta"):
        model = nn.Sequential(R.BiasActDropout(4, p=0.5, generator=g), R.Dropout(0.5, generator=g))
    model.to_empty(device="cpu")
    model[0].reset_parameters()
    assert model[0].generator is g and model[1].generator is g and g.state == state
    y = model(torch.ones(3, 4))
    g2 = rc.Generator(5)
    ref = nn.Sequential(R.BiasActDropout(4, p=0.5, generator=g2), R.Dropout(0.5, generator=g2))
    assert torch.equal(y, ref(torch.ones(3, 4))) and g.state == g2.state


SKIP_INIT = [   # (class, arguments, keyword arguments, input shape)
    (R.BatchNorm2d, (4,), {"momentum": None}, (3, 4, 3, 3)),
    (R.LayerNorm, ((3, 4),), {}, (5, 3, 4)),
    (R.GroupNorm, (2, 4), {}, (3, 4, 5)),
    (R.InstanceNorm1d, (4,), {"affine": True, "track_running_stats": True}, (3, 4, 5)),
    (R.SyncBatchNorm, (4,), {}, (5, 4)),
    (R.BiasActDropout, (4, "gelu", 0.3), {}, (5, 4)),
    (R.DropConnectLinear, (4, 3), {"p": 0.3}, (5, 4)),
]


@pytest.mark.parametrize("case", SKIP_INIT, ids=[c[0].__name__ for c in SKIP_INIT])
def test_skip_init_then_load_state_dict(case):
    cls, args, kwargs, shape = case
    src = cls(*args, **kwargs)
    m = torch.nn.utils.skip_init(cls, *args, **kwargs)
    assert type(m) is cls
    m.load_state_dict(src.state_dict())
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(1))
    a, b = _forward_backward(m, x), _forward_backward(src, x)
    assert torch.equal(a[0], b[0]) and _same(a[1], b[1])


# ------------------------------------------------------------------ dtype, memory format, assign, sharing

def _cnn(M):
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3), M.BatchNorm2d(8), nn.ReLU(), M.GroupNorm(2, 8),
                         M.InstanceNorm2d(8, affine=True, track_running_stats=True), M.Dropout2d(0.0),
                         nn.Flatten(), M.Dropout(0.0), M.LayerNorm(8 * 4 * 4))


MOVES = {
    "double": (lambda m: m.double(), torch.float64),
    "to-float64": (lambda m: m.to(torch.float64), torch.float64),
    "bfloat16": (lambda m: m.bfloat16(), torch.bfloat16),
    "half": (lambda m: m.half(), torch.float16),
    "channels_last": (lambda m: m.to(memory_format=torch.channels_last), torch.float32),
    "share_memory": (lambda m: m.share_memory(), torch.float32),
}


MOVE_TOL = {torch.float32: dict(rtol=1e-3, atol=1e-4), torch.float64: dict(rtol=1e-9, atol=1e-11),
            torch.bfloat16: dict(rtol=5e-2, atol=5e-2), torch.float16: dict(rtol=1e-2, atol=1e-2)}


@pytest.mark.parametrize("move", list(MOVES))
def test_dtype_and_memory_format_moves_work_as_with_torchs_modules(move):
    if move == "bfloat16":
        pytest.importorskip("ml_dtypes")
    f, dtype = MOVES[move]
    x0 = torch.randn(4, 3, 6, 6, generator=torch.Generator().manual_seed(1)).to(dtype)
    if move == "channels_last":
        x0 = x0.to(memory_format=torch.channels_last)
    outs, formats = [], []
    for M in (R, nn):
        m = f(_cnn(M))
        seen = []
        for layer in m[1:6]:   # the 4-d outputs' memory formats
            layer.register_forward_hook(
                lambda _m, _i, y: seen.append(y.is_contiguous(memory_format=torch.channels_last)))
        x = x0.clone().requires_grad_()
        y = m(x)
        y.float().square().sum().backward()
        outs.append((y.detach(), x.grad, m[1].running_var, m[4].running_mean, m[1].weight.grad, m[0].weight.grad))
        formats.append(seen)
        assert y.dtype == dtype and x.grad.dtype == dtype and m[1].running_mean.dtype == dtype
        assert m[1].num_batches_tracked == 1
        if move == "share_memory":
            assert all(t.is_shared() for t in m.state_dict().values())
    for a, b in zip(*outs):
        torch.testing.assert_close(a.float(), b.float(), **MOVE_TOL[dtype])
    assert formats[0] == formats[1]


def _strided_state(module):
    """module's state_dict, each floating-point tensor replaced by an equal strided view."""
    out = {}
    for k, v in module.state_dict().items():
        if v.is_floating_point():
            wide = torch.zeros(*v.shape, 2, dtype=v.dtype)
            wide[..., 1] = v
            v = wide[..., 1]
            assert not v.is_contiguous()
        out[k] = v if v.is_floating_point() else v.clone()
    return out


STRIDED = [c for c in NORMS if c[0] not in ("InstanceNorm2d",)]   # (no parameters or buffers)


@pytest.mark.parametrize("case", STRIDED, ids=_ids(STRIDED))
def test_load_state_dict_assign_takes_strided_tensors_as_torch_does(case):
    # regcore's batch, group and instance norms refused a strided weight or running statistic
    # (ValueError "expected a C-contiguous array"); torch's modules take them
    _, make, shape = case
    torch.manual_seed(0)
    src = make(R)
    with torch.no_grad():
        for t in src.state_dict().values():
            if t.is_floating_point():
                t.add_(torch.rand(t.shape) * 0.5)
    mine, ref, theirs = make(R), make(R), make(nn)
    strided = _strided_state(src)
    mine.load_state_dict(strided, assign=True)
    theirs.load_state_dict(_strided_state(src), assign=True)
    ref.load_state_dict(src.state_dict())
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(1))
    for mode in ("train", "eval", "train"):
        for m in (mine, ref, theirs):
            getattr(m, mode)()
        a, b, c = (_forward_backward(m, x) for m in (mine, ref, theirs))
        assert torch.equal(a[0], b[0]) and _same(a[1], b[1])
        torch.testing.assert_close(a[0], c[0], **TOL[torch.float32])
    for k, v in ref.state_dict().items():   # the statistics went into the strided tensors themselves
        assert torch.equal(mine.state_dict()[k], v) and mine.state_dict()[k].data_ptr() == strided[k].data_ptr()


def test_load_state_dict_assign_into_a_meta_model():
    src = _cnn(R)
    src(torch.randn(4, 3, 6, 6))
    with torch.device("meta"):
        m = _cnn(R)
    m.load_state_dict(src.state_dict(), assign=True)
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in m.parameters())
    x = torch.randn(4, 3, 6, 6)
    a, b = _forward_backward(m, x), _forward_backward(src, x)
    assert torch.equal(a[0], b[0]) and _same(a[1], b[1])


# ------------------------------------------------------------------ saving, loading, copying

def _roundtrip(obj, weights_only=True):
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=weights_only)


def _mlp(M, **extras):
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 8), M.BatchNorm1d(8), nn.ReLU(), M.Dropout(0.3, **extras), M.LayerNorm(8))


def test_state_dict_weights_only_loads_into_regcores_and_torchs_modules():
    trained = _mlp(R)
    trained(torch.randn(5, 6))
    sd = _roundtrip(trained.state_dict())
    mine, theirs = _mlp(R), _mlp(nn)
    mine.load_state_dict(sd)
    theirs.load_state_dict(sd)
    back = _mlp(R)
    back.load_state_dict(_roundtrip(theirs.state_dict()))
    x = torch.randn(5, 6)
    for m in (trained, mine, theirs, back):
        m.eval()
    assert torch.equal(mine(x), trained(x)) and torch.equal(back(x), trained(x))
    torch.testing.assert_close(theirs(x), trained(x), **TOL[torch.float32])


@pytest.mark.parametrize("generator", [None, "regcore", "torch"])
def test_whole_model_save_and_deepcopy_after_training_steps(generator):
    # an explicit generator is copied with the model at its current state (torch.Generator and
    # regcore.Generator alike): the copy draws the masks the original draws next, independently;
    # generator=None draws from torch's default generator, as torch's modules do
    g = {None: None, "regcore": rc.Generator(3), "torch": torch.Generator().manual_seed(3)}[generator]
    model = _mlp(R, generator=g)
    for _ in range(2):
        model(torch.randn(5, 6)).sum().backward()
    copies = [copy.deepcopy(model), _roundtrip(model, weights_only=False)]
    with pytest.raises(Exception, match="Weights only load failed"):
        _roundtrip(model)   # torch's default for a whole pickled model
    for c in copies:
        assert (c[3].generator is None) if g is None else (c[3].generator is not g)
        for k, v in model.state_dict().items():
            assert torch.equal(c.state_dict()[k], v) and c.state_dict()[k].data_ptr() != v.data_ptr()
    x = torch.randn(5, 6)
    torch.manual_seed(11)
    want = model(x)
    for c in copies:
        if g is None:
            torch.manual_seed(11)
        assert torch.equal(c(x), want)
        assert c[1].num_batches_tracked == 3   # its own buffers moved on, not the original's
    assert model[1].num_batches_tracked == 3


def test_copies_keep_a_generator_shared_between_layers_shared():
    g = rc.Generator(4)
    model = nn.Sequential(R.Dropout(0.5, generator=g), R.Dropout2d(0.5, generator=g))
    for c in (copy.deepcopy(model), _roundtrip(model, weights_only=False)):
        assert c[0].generator is c[1].generator and c[0].generator is not g


@pytest.mark.parametrize("extras", [
    {},
    {"l1": 1e-3, "max_norm": 2.0, "momentum": 0.9},
    {"l1": 1e-3, "l1_mode": "subgradient", "max_norm": 2.0, "max_norm_axis": -1, "decoupled_weight_decay": 1e-4,
     "momentum": 0.9, "nesterov": True},
])
def test_optimizer_state_dict_round_trips_weights_only(extras):
    # regcore's extra group keys are plain Python values (floats, str, int, None) that torch's
    # weights-only unpickler accepts; the state loads into regcore's SGD and torch's
    def run(opt, m, steps):
        for i in range(steps):
            opt.zero_grad()
            m(torch.randn(5, 6, generator=torch.Generator().manual_seed(i))).square().sum().backward()
            opt.step()

    model = _mlp(R).eval()
    opt = rct.optim.SGD(model.parameters(), lr=0.1, **extras)
    run(opt, model, 2)
    sd = _roundtrip(opt.state_dict())
    for k in extras:
        assert sd["param_groups"][0][k] == extras[k]
    resumed = copy.deepcopy(model)
    opt2 = rct.optim.SGD(resumed.parameters(), lr=0.5)
    opt2.load_state_dict(sd)
    torch.optim.SGD(_mlp(nn).parameters(), lr=0.5).load_state_dict(sd)
    run(opt, model, 1)
    run(opt2, resumed, 1)
    assert _same(model.parameters(), resumed.parameters())


def test_stochastic_rounding_state_round_trips_weights_only():
    pytest.importorskip("ml_dtypes")
    m = nn.Linear(4, 4).bfloat16()
    opt = rct.optim.SGD(m.parameters(), lr=0.1, momentum=0.9, stochastic_rounding=True,
                        generator=rc.Generator(2**64 - 1))
    m(torch.randn(3, 4).bfloat16()).float().sum().backward()
    opt.step()
    sd = _roundtrip(opt.state_dict())
    other = rct.optim.SGD(copy.deepcopy(m).parameters(), lr=0.1, momentum=0.9, stochastic_rounding=True,
                          generator=rc.Generator(1))
    other.load_state_dict(sd)
    assert other.generator.state == opt.generator.state


# ------------------------------------------------------------------ autograd features

def _taking_a_namespace(make):
    return lambda M: make()


# every module, each constructor taking a namespace (regcore's own modules ignore it)
ALL = PAIRS + [(n, _taking_a_namespace(mk), s) for n, mk, s in OWN]
THEIRS = {n for n, _, _ in PAIRS}


def _run(make, shape, M=R, **kw):
    torch.manual_seed(0)
    m = make(M)
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(1))
    return _forward_backward(m, x, **kw)


@pytest.mark.parametrize("case", ALL, ids=_ids(ALL))
def test_anomaly_mode_raises_no_false_alarm(case):
    _, make, shape = case
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with torch.autograd.set_detect_anomaly(True):
            a = _run(make, shape)
    b = _run(make, shape)
    assert torch.equal(a[0], b[0]) and _same(a[1], b[1])


@pytest.mark.parametrize("M", [nn, R], ids=["torch", "regcore"])
@pytest.mark.parametrize("make, op", [(lambda M: M.LayerNorm(4), "layer_norm"),
                                      (lambda M: M.BatchNorm1d(4), "batch_norm"),
                                      (lambda M: M.GroupNorm(2, 4), "group_norm")],
                         ids=["LayerNorm", "BatchNorm1d", "GroupNorm"])
def test_anomaly_mode_names_the_norm_whose_backward_made_a_nan(M, make, op):
    m = make(M)
    with torch.no_grad():
        m.weight[1] = float("nan")
    y = m(torch.randn(5, 4, requires_grad=True))
    with torch.autograd.set_detect_anomaly(True), warnings.catch_warnings():
        warnings.simplefilter("ignore")   # (anomaly mode's warning with the forward's traceback)
        with pytest.raises(RuntimeError, match=r"Function '\w+' returned nan values") as info:
            y.sum().backward()
    if M is R:   # the regcore operator's node
        assert f"Function '{op}_autogradBackward'" in str(info.value)


@pytest.mark.parametrize("case", ALL, ids=_ids(ALL))
def test_saved_tensor_hooks_see_every_saved_tensor(case):
    _, make, shape = case
    store = {}

    def pack(t):
        store[len(store)] = t.clone()
        return len(store) - 1

    def unpack(i):
        return store.pop(i)

    with torch.autograd.graph.saved_tensors_hooks(pack, unpack):
        a = _run(make, shape)
    assert not store   # every packed tensor was unpacked by the backward
    with torch.autograd.graph.save_on_cpu(pin_memory=False):
        b = _run(make, shape)
    c = _run(make, shape)
    assert torch.equal(a[0], c[0]) and _same(a[1], c[1]) and torch.equal(b[0], c[0]) and _same(b[1], c[1])


@pytest.mark.parametrize("case", ALL, ids=_ids(ALL))
def test_inference_mode_and_no_grad_forwards(case):
    name, make, shape = case
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(1))
    states = []
    for M in ([R, nn] if name in THEIRS else [R]):
        torch.manual_seed(0)
        m = make(M)
        torch.manual_seed(3)
        with torch.inference_mode():
            y = m(x)
        assert y.is_inference() and not y.requires_grad
        z = y * 2 + 1   # used outside inference mode
        torch.manual_seed(3)
        with torch.no_grad():
            y2 = m(x)
        assert y2.grad_fn is None and not y2.requires_grad and not y2.is_inference() and torch.equal(y2, y)
        assert torch.equal(z, y2 * 2 + 1)
        _forward_backward(m, x)   # training goes on after it
        states.append(m.state_dict())
    if len(states) == 2:   # running statistics moved as torch's did
        for k, v in states[1].items():
            torch.testing.assert_close(states[0][k], v, **TOL[torch.float32])


RETAIN = [(c, "default") for c in ALL] + [(c, "none") for c in ALL if hasattr(c[1](R), "mask")]


@pytest.mark.parametrize("case, mask", RETAIN, ids=[f"{c[0]}-{m}" for c, m in RETAIN])
def test_retain_graph_then_a_second_backward_and_torchs_error_without_it(case, mask):
    name, make, shape = case
    torch.manual_seed(0)
    m = make(R)
    if mask == "none":
        m.mask = "none"
    x = torch.randn(*shape, requires_grad=True)
    torch.manual_seed(3)
    y = m(x)
    g = torch.randn_like(y)
    y.backward(g, retain_graph=True)
    first = x.grad.clone()
    y.backward(g)
    assert torch.equal(x.grad, first * 2)
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.backward(g)
    y = m(x)
    y.backward(g)
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.backward(g)


def _hook_record(m):
    seen = []
    shapes = (lambda ts: [None if t is None else tuple(t.shape) for t in ts])
    m.register_full_backward_pre_hook(lambda _m, go: seen.append(("pre", shapes(go))))
    m.register_full_backward_hook(lambda _m, gi, go: seen.append(("post", shapes(gi), shapes(go))))
    return seen


@pytest.mark.parametrize("case", PAIRS, ids=_ids(PAIRS))
def test_full_backward_hooks_see_what_they_see_on_torchs_modules(case):
    _, make, shape = case
    records = []
    for M in (R, nn):
        for train in (True, False):
            m = make(M).train(train)
            seen = _hook_record(m)
            x = torch.randn(*shape, requires_grad=True)
            m(x).sum().backward()
            records.append(seen)
    assert records[:2] == records[2:] and records[0]


def test_full_backward_hooks_on_regcores_own_modules():
    m = R.BiasActDropout(4, "relu", 0.3)
    seen = _hook_record(m)
    x, r = torch.randn(3, 4, requires_grad=True), torch.randn(3, 4, requires_grad=True)
    m(x, r).sum().backward()
    assert seen == [("pre", [(3, 4)]), ("post", [(3, 4), (3, 4)], [(3, 4)])]
    m = R.DropConnectLinear(4, 6)
    seen = _hook_record(m)
    m(torch.randn(3, 4, requires_grad=True)).sum().backward()
    assert seen == [("pre", [(3, 6)]), ("post", [(3, 4)], [(3, 6)])]


_SYNC_RANK = r"""
import sys, torch, torch.distributed as dist
import regcore.torch as rct
rank, store = int(sys.argv[1]), sys.argv[2]
dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=2)
g = torch.Generator().manual_seed(0)
src = rct.nn.SyncBatchNorm(4)
with torch.no_grad():
    src.weight.uniform_(0.5, 1.5, generator=g), src.bias.uniform_(-1, 1, generator=g)
state = {}
for k, v in src.state_dict().items():
    if v.is_floating_point():
        wide = torch.zeros(*v.shape, 2)
        wide[..., 1] = v
        v = wide[..., 1]
    state[k] = v.clone() if not v.is_floating_point() else v
strided, plain = rct.nn.SyncBatchNorm(4), rct.nn.SyncBatchNorm(4)
strided.load_state_dict(state, assign=True)
plain.load_state_dict(src.state_dict())
x = torch.randn(3 + rank, 4, 5, generator=torch.Generator().manual_seed(rank))
for step in range(2):
    outs = []
    for m in (strided, plain):
        xi = x.clone().requires_grad_()
        y = m(xi)
        outs.append([y, *torch.autograd.grad(y, [xi, m.weight, m.bias], torch.cos(y))])
    assert all(torch.equal(a, b) for a, b in zip(*outs)), step
assert all(torch.equal(a, b) for a, b in zip(strided.state_dict().values(), plain.state_dict().values()))
assert strided.running_var.data_ptr() == state["running_var"].data_ptr()
print(f"rank {rank}: ok")
"""


@pytest.mark.skipif(not torch.distributed.is_available() or not torch.distributed.is_gloo_available(),
                    reason="torch.distributed with gloo is not available")
def test_sync_batch_norm_across_two_ranks_takes_strided_state(tmp_path):
    # the cross-rank path (an autograd.Function of its own) refused a strided weight too
    import os
    import subprocess
    import sys

    env = dict(os.environ, GLOO_SOCKET_IFNAME="lo", OMP_NUM_THREADS="1")
    procs = [subprocess.Popen([sys.executable, "-c", _SYNC_RANK, str(r), str(tmp_path / "store")],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)
             for r in range(2)]
    try:
        outs = [p.communicate(timeout=240)[0] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for rank, (p, out) in enumerate(zip(procs, outs)):
        assert p.returncode == 0 and f"rank {rank}: ok" in out, out


def test_eval_batch_norm_differentiates_the_forward_that_ran():
    # the documented difference: regcore saves the running statistics the forward used (float64
    # copies), so moving the buffers before the backward changes no gradient; torch raises
    def grads(M, touch):
        m = M.BatchNorm1d(4).eval()
        with torch.no_grad():
            m.running_var.fill_(2.0)
        x = torch.randn(5, 4, generator=torch.Generator().manual_seed(0), requires_grad=True)
        y = m(x)
        if touch:
            m.running_var.mul_(3)
        y.backward(torch.ones_like(y))
        return x.grad

    torch.testing.assert_close(grads(R, True), grads(R, False), rtol=0, atol=0)
    torch.testing.assert_close(grads(R, False), grads(nn, False), **TOL[torch.float32])
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        grads(nn, True)
