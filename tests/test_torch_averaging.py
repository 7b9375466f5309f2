"""regcore.torch weight averaging: the fused operators (opcheck, CPU tensors), AveragedModel and
EMA against torch.optim.swa_utils (SWA and EMA, buffers and integer buffers), update_bn with
regcore's and torch's batch norms, EMA's swap in/out and checkpoints, bad input."""
from __future__ import annotations

import copy

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import regcore as rc  # noqa: E402
import regcore.torch as rct  # noqa: E402
from regcore.torch.optim import swa_utils  # noqa: E402
from torch.optim import swa_utils as tswa  # noqa: E402
from _torch_helpers import no_compile_caches  # noqa: E402


def small_net(seed=0, dtype=torch.float32):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
                               torch.nn.Flatten(), torch.nn.Linear(4 * 6 * 6, 5)).to(dtype)


def perturb(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=g, dtype=p.dtype))
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.add_(torch.randn(m.running_mean.shape, generator=g, dtype=m.running_mean.dtype))
                m.num_batches_tracked.add_(3)


def assert_models_close(a, b, rtol):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        if torch.is_floating_point(sa[k]):
            torch.testing.assert_close(sa[k], sb[k], rtol=rtol, atol=rtol, msg=k)
        else:
            assert torch.equal(sa[k], sb[k]), k


@pytest.mark.parametrize("name, args", [
    ("ema_update_", lambda: ([torch.randn(5), torch.randn(3, 4, dtype=torch.float64)],
                             [torch.randn(5), torch.randn(3, 4, dtype=torch.float64)], 0.9)),
    ("swa_update_", lambda: ([torch.randn(7), torch.randn(70000)], [torch.randn(7), torch.randn(70000)], 3)),
])
def test_opcheck(name, args):
    torch.library.opcheck(getattr(torch.ops.regcore, name).default, args())


def test_ops_equal_the_array_api_bit_for_bit():
    a, p = [torch.randn(1000), torch.randn(3, 70001)], [torch.randn(1000), torch.randn(3, 70001)]
    na, npar = [x.numpy().copy() for x in a], [x.numpy() for x in p]
    torch.ops.regcore.ema_update_(a, p, 0.97)
    rc.ema_update_(na, npar, 0.97)
    for x, y in zip(a, na):
        assert x.numpy().tobytes() == y.tobytes()


@pytest.mark.parametrize("dtype, rtol", [(torch.float32, 2e-6), (torch.float64, 1e-13)])
@pytest.mark.parametrize("use_buffers", [False, True])
def test_swa_matches_torch_averaged_model(dtype, rtol, use_buffers):
    model = small_net(1, dtype)
    ours = swa_utils.AveragedModel(model, use_buffers=use_buffers)
    theirs = tswa.AveragedModel(model, use_buffers=use_buffers)
    counter = model[1].num_batches_tracked
    for step in range(6):
        perturb(model, step)
        ours.update_parameters(model)
        if use_buffers:   # torch's SWA function raises on integer buffers: averaged without them
            model[1].num_batches_tracked = None
        theirs.update_parameters(model)
        model[1].num_batches_tracked = counter
    assert int(ours.n_averaged) == int(theirs.n_averaged) == 6
    if use_buffers:   # the counter takes the model's value
        assert torch.equal(ours.module[1].num_batches_tracked, counter)
        theirs.module[1].num_batches_tracked = ours.module[1].num_batches_tracked
    assert_models_close(ours, theirs, rtol)
    x = torch.randn(2, 3, 8, 8, dtype=dtype)
    ours.eval(), theirs.eval()
    torch.testing.assert_close(ours(x), theirs(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("decay", [0.9, 0.999, 0.25])
@pytest.mark.parametrize("use_buffers", [False, True])
def test_ema_matches_torch_averaged_model(decay, use_buffers):
    model = small_net(2)
    ours = swa_utils.AveragedModel(model, multi_avg_fn=swa_utils.get_ema_multi_avg_fn(decay), use_buffers=use_buffers)
    theirs = tswa.AveragedModel(model, multi_avg_fn=tswa.get_ema_multi_avg_fn(decay), use_buffers=use_buffers)
    helper = rct.optim.swa_utils.EMA(model, decay=decay, use_buffers=use_buffers)
    ours.update_parameters(model)
    theirs.update_parameters(model)
    for step in range(5):
        perturb(model, 10 + step)
        ours.update_parameters(model)
        theirs.update_parameters(model)
        helper.update()
    assert_models_close(ours, theirs, 2e-6)
    avg_params = list(ours.module.parameters())
    if use_buffers:
        avg_params += [b for b in ours.module.buffers() if torch.is_floating_point(b)]
    for s, a in zip(helper.shadow, avg_params):
        assert torch.equal(s, a)   # the same fused update, the same bits


def test_fused_averaged_model_equals_the_array_api():
    model = small_net(3)
    avg = swa_utils.AveragedModel(model)
    ref = [p.detach().numpy().copy() for p in model.parameters()]
    avg.update_parameters(model)
    for n in range(1, 4):
        perturb(model, 20 + n)
        avg.update_parameters(model)
        rc.swa_update_(ref, [p.detach().numpy() for p in model.parameters()], n)
    for a, r in zip(avg.module.parameters(), ref):
        assert a.detach().numpy().tobytes() == r.tobytes()


def test_channels_last_parameters():
    model = small_net(4).to(memory_format=torch.channels_last)
    conv = model[0].weight
    assert not conv.is_contiguous()
    ours = swa_utils.AveragedModel(model, multi_avg_fn=swa_utils.get_ema_multi_avg_fn(0.5))
    theirs = tswa.AveragedModel(model, multi_avg_fn=tswa.get_ema_multi_avg_fn(0.5))
    for step in range(3):
        perturb(model, 30 + step)
        ours.update_parameters(model)
        theirs.update_parameters(model)
    assert_models_close(ours, theirs, 2e-6)


def test_custom_avg_fn_runs_torchs_loop():
    model = small_net(5)
    calls = []

    def avg_fn(avg, cur, n):
        calls.append(int(n))
        return avg + (cur - avg) * 0.5

    ours = swa_utils.AveragedModel(model, avg_fn=avg_fn)
    theirs = tswa.AveragedModel(model, avg_fn=avg_fn)
    for step in range(3):
        perturb(model, 40 + step)
        ours.update_parameters(model)
        theirs.update_parameters(model)
    assert calls
    assert_models_close(ours, theirs, 0)


@pytest.mark.parametrize("regcore_bn", [False, True])
def test_update_bn_recomputes_running_statistics(regcore_bn):
    model = small_net(6)
    if regcore_bn:
        model = rct.convert(model)
        assert type(model[1]).__module__.startswith("regcore")
    reference = small_net(6)
    loader = [torch.randn(4, 3, 8, 8, generator=torch.Generator().manual_seed(i)) for i in range(3)]
    swa_utils.update_bn(loader, model)
    tswa.update_bn(loader, reference)
    torch.testing.assert_close(model[1].running_mean, reference[1].running_mean, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(model[1].running_var, reference[1].running_var, rtol=1e-5, atol=1e-6)
    # cumulative average over the three batches: the mean of the batch means
    means = [small_net(6)[0](x).mean(dim=(0, 2, 3)) for x in loader]
    torch.testing.assert_close(model[1].running_mean, torch.stack(means).mean(0).detach(), rtol=1e-5, atol=1e-6)
    assert model[1].momentum == 0.1


def test_ema_average_parameters_swaps_in_and_back_exactly():
    model = small_net(7)
    ema = swa_utils.EMA(model, decay=0.5)
    perturb(model, 50)
    ema.update()
    live = [p.detach().clone() for p in model.parameters()]
    with ema.average_parameters() as m:
        assert m is model
        for p, s in zip(model.parameters(), ema.shadow):
            assert torch.equal(p, s)
    for p, q in zip(model.parameters(), live):
        assert torch.equal(p, q)
    with pytest.raises(RuntimeError, match="boom"):
        with ema.average_parameters():
            raise RuntimeError("boom")
    for p, q in zip(model.parameters(), live):
        assert torch.equal(p, q)


def test_ema_in_a_training_loop_and_checkpoint():
    model = small_net(8)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    ema = swa_utils.EMA(model, decay=0.9)
    x, y = torch.randn(8, 3, 8, 8), torch.randint(0, 5, (8,))
    for _ in range(3):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
        ema.update()
    assert ema.num_updates == 3
    state = copy.deepcopy(ema.state_dict())
    other = swa_utils.EMA(small_net(9), decay=0.5)
    other.load_state_dict(state)
    assert other.decay == 0.9 and other.num_updates == 3
    for a, b in zip(other.shadow, ema.shadow):
        assert torch.equal(a, b)
    fresh = small_net(10)
    ema.copy_to(fresh)
    for p, s in zip(fresh.parameters(), ema.shadow):
        assert torch.equal(p, s)


def test_ema_pickles_with_its_model_and_keeps_updating_the_same():
    import pickle

    model = small_net(8)
    ema = swa_utils.EMA(model, decay=0.7)
    ema.update()
    twin = pickle.loads(pickle.dumps(ema))    # torch.save(ema) pickles it the same way
    assert twin.decay == 0.7 and twin.num_updates == 1
    for e in (ema, twin):
        with torch.no_grad():
            for p in e.model.parameters():
                p.add_(1.0)
        e.update()
    for a, b in zip(ema.shadow, twin.shadow):
        assert torch.equal(a, b)


def test_ema_decay_one_keeps_and_zero_copies():
    model = small_net(11)
    keep = swa_utils.EMA(model, decay=1.0)
    copy_ = swa_utils.EMA(model, decay=0.0)
    start = [s.clone() for s in keep.shadow]
    perturb(model, 60)
    keep.update()
    copy_.update()
    for s, s0, p in zip(keep.shadow, start, model.parameters()):
        assert torch.equal(s, s0)
    for s, p in zip(copy_.shadow, model.parameters()):
        assert torch.equal(s, p)


@pytest.mark.parametrize("bad, exc, pattern", [(1.5, ValueError, "^decay: "), (-0.1, ValueError, "^decay: "),
                                               ("x", TypeError, "^decay: ")])
def test_bad_decay(bad, exc, pattern):
    with pytest.raises(exc, match=pattern):
        swa_utils.EMA(small_net(), decay=bad)
    with pytest.raises(exc, match=pattern):
        swa_utils.get_ema_multi_avg_fn(bad)


def test_mismatched_model_writes_nothing():
    model = small_net(12)
    avg = swa_utils.AveragedModel(model)
    avg.update_parameters(model)
    perturb(model, 70)
    avg.update_parameters(model)
    before = {k: v.clone() for k, v in avg.state_dict().items()}
    other = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
                                torch.nn.Flatten(), torch.nn.Linear(4 * 6 * 6, 6))
    with pytest.raises(ValueError, match="^model: "):
        avg.update_parameters(other)
    with pytest.raises(ValueError, match="^model: "):
        avg.update_parameters(torch.nn.Linear(3, 3))
    for k, v in avg.state_dict().items():
        assert torch.equal(v, before[k]), k
    ema = swa_utils.EMA(model, decay=0.9)
    ema.model = other
    shadow = [s.clone() for s in ema.shadow]
    with pytest.raises(ValueError, match="^model: "):
        ema.update()
    for a, b in zip(ema.shadow, shadow):
        assert torch.equal(a, b)


def test_load_state_dict_checks_before_writing():
    ema = swa_utils.EMA(small_net(13), decay=0.9)
    shadow = [s.clone() for s in ema.shadow]
    bad = ema.state_dict()
    bad = dict(bad, shadow=bad["shadow"][:-1])
    with pytest.raises(ValueError, match="^state_dict: "):
        ema.load_state_dict(bad)
    with pytest.raises(ValueError, match="^state_dict: "):
        ema.load_state_dict(dict(ema.state_dict(), num_updates=-1))
    for a, b in zip(ema.shadow, shadow):
        assert torch.equal(a, b)


def test_swalr_is_torchs():
    assert swa_utils.SWALR is tswa.SWALR


def test_fused_update_compiles_without_graph_breaks():
    """The operators trace as one node each (fake kernel, declared mutation): fullgraph works and
    gives the eager bits."""
    torch._dynamo.reset()
    a = [torch.randn(5), torch.randn(3, 7)]
    p = [torch.randn(5), torch.randn(3, 7)]
    b = [t.clone() for t in a]

    def step(avgs, params):
        torch.ops.regcore.ema_update_(avgs, params, 0.9)
        torch.ops.regcore.swa_update_(avgs, params, 3)

    with no_compile_caches():
        torch.compile(step, fullgraph=True)(a, p)
    step(b, p)
    for x, y in zip(a, b):
        assert torch.equal(x, y)


def test_regcore_multi_avg_fns_work_inside_torchs_own_averaged_model():
    """torch's AveragedModel calls a multi_avg_fn per (device, dtype) group: the fused functions
    give the same bits there as in regcore's AveragedModel."""
    model = small_net(14)
    for make in (lambda: swa_utils.get_ema_multi_avg_fn(0.8), swa_utils.get_swa_multi_avg_fn):
        ours = swa_utils.AveragedModel(model, multi_avg_fn=make())
        theirs = tswa.AveragedModel(model, multi_avg_fn=make())
        for step in range(3):
            perturb(model, 80 + step)
            ours.update_parameters(model)
            theirs.update_parameters(model)
        for a, b in zip(ours.parameters(), theirs.parameters()):
            assert torch.equal(a, b)
