"""regcore.torch under torch.distributed's training stacks on the CPU (gloo): FSDP2
(``fully_shard``: DTensor parameters) and distributed checkpoint state_dicts,
DistributedDataParallel's options and comm hooks, ZeroRedundancyOptimizer, and DTensor inputs.

The two-rank cases run this file as each rank's worker (``python this_file.py RANK WORLD STORE
CASE``, through test_torch_distributed.run_ranks); the one-rank cases run in the test process."""
from __future__ import annotations

import contextlib
import copy
import os
import sys

import pytest

from _torch_helpers import rct, torch
from test_torch_distributed import gloo, run_ranks

import regcore
import regcore.optim

nn = torch.nn
THIS = os.path.abspath(__file__)
KW = dict(lr=0.05, momentum=0.9, weight_decay=1e-3, nesterov=True)
# float32 results of one computation split differently over ranks (reductions in another order)
CLOSE = dict(rtol=1e-5, atol=1e-6)


def mlp(seed=0, dropout=True):
    """A small MLP (float32) with regcore's LayerNorm and GroupNorm, and with ``dropout`` regcore's
    BiasActDropout and Dropout (seeded regcore generators, so that two copies draw the same masks)."""
    torch.manual_seed(seed)
    if not dropout:
        return nn.Sequential(nn.Linear(8, 16), rct.nn.LayerNorm(16), nn.ReLU(), nn.Linear(16, 6),
                             rct.nn.GroupNorm(2, 6), nn.Linear(6, 4))
    return nn.Sequential(nn.Linear(8, 16), rct.nn.LayerNorm(16), rct.nn.BiasActDropout(16, "relu", 0.1,
                         generator=regcore.Generator(1)), nn.Linear(16, 6), rct.nn.GroupNorm(2, 6),
                         rct.nn.Dropout(0.2, generator=regcore.Generator(2)), nn.Linear(6, 4))


class WithUnused(nn.Module):
    """mlp() and a layer the loss never reaches (its parameters keep grad None)."""

    def __init__(self):
        super().__init__()
        self.body, self.unused = mlp(), nn.Linear(4, 3)

    def forward(self, x):
        return self.body(x)


def assert_same_params(a, b, **tol):
    for (name, p), q in zip(a.named_parameters(), b.parameters()):
        p, q = (t.full_tensor() if hasattr(t, "full_tensor") else t for t in (p, q))
        torch.testing.assert_close(p.detach(), q.detach(), msg=name, **(tol or CLOSE))


# ---------------------------------------------------------------- two ranks (worker side)

def fsdp2(rank, world):
    """fully_shard(regcore's LayerNorm and GroupNorm among torch's Linear layers; FSDP frees the
    gathered parameters by resizing their storage) + regcore's SGD: equal to torch's SGD under the
    same sharding; regcore's extras (l1, max-norm along the sharded dim 0) equal regcore's SGD in one
    process on the whole batch; a distributed-checkpoint state_dict round trip continues the run
    exactly. (No dropout: each rank's masks differ from one process's. The one-process comparison is
    skipped where FSDP2 over gloo does not average the gradients: FSDP2_SUMS.)"""
    from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict, set_optimizer_state_dict
    from torch.distributed.fsdp import fully_shard

    def sharded(opt_class, **kw):
        m = mlp(dropout=False)
        fully_shard(m[0]), fully_shard(m)
        return m, opt_class(m.parameters(), **kw)

    def train(m, opt, steps, seed, whole=False):
        g = torch.Generator().manual_seed(seed)
        for _ in range(steps):
            x = torch.randn(2 * world, 8, generator=g)
            (m(x) if whole else m(x[2 * rank:2 * rank + 2])).square().mean().backward()
            opt.step(), opt.zero_grad()

    ours, ref = sharded(rct.optim.SGD, **KW), sharded(torch.optim.SGD, **KW)
    for m, opt in (ours, ref):
        train(m, opt, 2, 5)
    assert_same_params(ours[0], ref[0])
    assert isinstance(ours[1].state[next(ours[0].parameters())]["momentum_buffer"], type(next(ours[0].parameters())))

    extras = dict(KW, l1=1e-2, max_norm=0.3, decoupled_weight_decay=1e-2)
    ours = sharded(rct.optim.SGD, **extras)
    train(*ours, 2, 6)
    if fsdp2_averages_gradients(rank, world):
        single = mlp(dropout=False)
        single_opt = rct.optim.SGD(single.parameters(), **extras)
        train(single, single_opt, 2, 6, whole=True)
        assert_same_params(ours[0], single)
    else:
        print(f"rank {rank}: {SKIP_MARK}{FSDP2_SUMS}", flush=True)

    saved = copy.deepcopy(get_optimizer_state_dict(*ours))   # (a saved checkpoint: its state is the live one)
    assert isinstance(saved["state"]["0.weight"]["momentum_buffer"], type(next(ours[0].parameters())))
    resumed = sharded(rct.optim.SGD, **extras)
    resumed[0].load_state_dict(ours[0].state_dict())
    set_optimizer_state_dict(*resumed, saved)
    train(*ours, 2, 7)
    train(*resumed, 2, 7)
    assert_same_params(resumed[0], ours[0], rtol=0, atol=0)


SKIP_MARK = "skipped a check: "
FSDP2_SUMS = ("this torch's FSDP2 over gloo sums the ranks' gradients instead of averaging them (its float32 "
              "reduce-scatter asks for ReduceOp.AVG, which this torch's gloo reduce_scatter_tensor computes as a "
              "sum: pytorch/pytorch#162338, seen on torch 2.8), so a sharded run's gradients are world_size times "
              "one process's on the whole batch and the two runs differ")


def fsdp2_averages_gradients(rank, world):
    """Whether fully_shard's gradient of a parameter is the ranks' mean (it is with NCCL, and with
    gloo on torch 2.13; the one-process comparison needs it)."""
    from torch.distributed.fsdp import fully_shard

    layer = nn.Linear(1, world, bias=False)   # (one weight row per rank: no padding)
    fully_shard(layer)
    layer(torch.full((1, 1), float(rank + 1))).sum().backward()   # rank r's gradient: r + 1
    return bool((layer.weight.grad.full_tensor() == (world + 1) / 2).all())


def ddp(rank, world, options=True):
    """DDP with regcore's modules and SGD: each option of DistributedDataParallel and the fp16
    comm hook, equal to torch's SGD on the same model. Returns the runner (zero() uses it)."""
    from torch.distributed.algorithms.ddp_comm_hooks import default_hooks
    from torch.distributed.optim import ZeroRedundancyOptimizer

    def run(ddp_kw=None, hook=None, accumulate=1, unused=False, opt_of=None):
        models, opts = [], []
        for opt_class in (rct.optim.SGD, torch.optim.SGD):
            m = WithUnused() if unused else mlp()
            d = nn.parallel.DistributedDataParallel(m, **(ddp_kw or {}))
            if hook is not None:
                d.register_comm_hook(None, hook)
            models.append(d)
            opts.append(opt_of(opt_class, d) if opt_of else opt_class(d.parameters(), **KW))
        g = torch.Generator().manual_seed(rank)
        for _ in range(2):
            for micro in range(accumulate):
                x = torch.randn(4, 8, generator=g)
                for d in models:
                    sync = micro == accumulate - 1
                    with contextlib.nullcontext() if sync else d.no_sync():
                        d(x).square().mean().backward()
            for opt in opts:
                opt.step()
            ours = opts[0].optim if isinstance(opts[0], ZeroRedundancyOptimizer) else opts[0]
            for p in models[0].parameters():   # no state aliases a gradient (bucket views)
                buf = ours.state.get(p, {}).get("momentum_buffer")
                assert buf is None or p.grad is None or buf.data_ptr() != p.grad.data_ptr()
            for opt in opts:
                opt.zero_grad()
        assert_same_params(models[0].module, models[1].module)

    if not options:
        return run
    run()
    run(accumulate=2)
    run(dict(static_graph=True))
    run(dict(find_unused_parameters=True), unused=True)
    run(dict(gradient_as_bucket_view=True), accumulate=2)   # (grads are views into DDP's buckets)
    run(hook=default_hooks.fp16_compress_hook)
    return run


def zero(rank, world):
    """ZeroRedundancyOptimizer(optimizer_class=regcore's SGD) equal to ZeRO with torch's SGD, and
    with regcore's extras equal to regcore's SGD unsharded."""
    from torch.distributed.optim import ZeroRedundancyOptimizer

    run = ddp(rank, world, options=False)
    run(opt_of=lambda c, d: ZeroRedundancyOptimizer(d.parameters(), optimizer_class=c, **KW))
    # ZeRO partitions whole parameters over the ranks: max-norm along any axis is exact
    extras = dict(KW, l1=1e-2, max_norm=0.5, max_norm_axis=-1)
    run(opt_of=lambda c, d: (ZeroRedundancyOptimizer(d.parameters(), optimizer_class=rct.optim.SGD, **extras)
                             if c is rct.optim.SGD else rct.optim.SGD(d.parameters(), **extras)))


@gloo
@pytest.mark.parametrize("case", ["fsdp2", "ddp", "zero"])
def test_two_ranks(case, tmp_path):
    if case == "fsdp2" and not hasattr(pytest.importorskip("torch.distributed.fsdp"), "fully_shard"):
        pytest.skip("this torch has no torch.distributed.fsdp.fully_shard (FSDP2)")
    skipped = {line.split(SKIP_MARK, 1)[1] for out in run_ranks(THIS, tmp_path, case)
               for line in out.splitlines() if SKIP_MARK in line}
    if skipped:   # (the case's other checks ran and passed)
        pytest.skip("; ".join(sorted(skipped)))


# ---------------------------------------------------------------- one rank, in this process

@pytest.fixture
def mesh(tmp_path, monkeypatch):
    if not torch.distributed.is_available() or not torch.distributed.is_gloo_available():
        pytest.skip("torch.distributed with gloo is not available")
    monkeypatch.setenv("GLOO_SOCKET_IFNAME", "lo")
    torch.distributed.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        from torch.distributed.tensor import init_device_mesh

        yield init_device_mesh("cpu", (1,))
    finally:
        torch.distributed.destroy_process_group()


def _placements():
    from torch.distributed.tensor import Replicate, Shard

    return [Replicate(), Shard(0)]


def test_sgd_steps_dtensor_parameters_as_their_local_tensors(mesh):
    from torch.distributed.tensor import distribute_tensor

    kw = dict(KW, l1=1e-2, max_norm=0.5, decoupled_weight_decay=1e-2)
    for placement in _placements():
        g = torch.Generator().manual_seed(0)
        plain = [torch.randn(6, 5, generator=g, dtype=dt).requires_grad_() for dt in (torch.float32, torch.float64)]
        grads = [torch.randn(p.shape, generator=g, dtype=p.dtype) for p in plain]
        dist = [nn.Parameter(distribute_tensor(p.detach().clone(), mesh, [placement])) for p in plain]
        for p, d, gr in zip(plain, dist, grads):
            p.grad, d.grad = gr.clone(), distribute_tensor(gr.clone(), mesh, [placement])
        a, b = rct.optim.SGD(plain, **kw), rct.optim.SGD(dist, **kw)
        for _ in range(2):
            a.step(), b.step()
        for p, d in zip(plain, dist):
            assert torch.equal(d.to_local(), p.detach())   # the same kernels on the same values
            buf = b.state[d]["momentum_buffer"]
            assert type(buf) is type(d) and buf.placements == d.placements
            assert torch.equal(buf.to_local(), a.state[p]["momentum_buffer"])


def test_max_norm_over_a_sharded_dimension_is_refused(mesh):
    from torch.distributed.tensor import Partial, Shard, DTensor, distribute_tensor

    w = nn.Parameter(distribute_tensor(torch.ones(4, 3), mesh, [Shard(0)]))
    with pytest.raises(ValueError, match=r"max_norm with max_norm_axis=1 needs each neuron's whole weight vector"):
        rct.optim.SGD([w], lr=0.1, max_norm=1.0, max_norm_axis=1)
    rct.optim.SGD([w], lr=0.1, max_norm=1.0)   # dim 0: whole neurons on every rank
    # set later on the group: refused by step(), before anything is written
    opt = rct.optim.SGD([w], lr=0.1, momentum=0.9)
    w.grad = distribute_tensor(torch.ones(4, 3), mesh, [Shard(0)])
    opt.param_groups[0].update(max_norm=1.0, max_norm_axis=-1)
    with pytest.raises(ValueError, match="shard it along max_norm_axis"):
        opt.step()
    assert torch.equal(w.to_local(), torch.ones(4, 3)) and not opt.state
    pending = nn.Parameter(DTensor.from_local(torch.ones(4, 3), mesh, [Partial()]))
    with pytest.raises(ValueError, match="Shard or Replicate placements"):
        rct.optim.SGD([pending], lr=0.1)
    w.grad = torch.ones(4, 3)   # a plain gradient of a DTensor parameter
    with pytest.raises(TypeError, match="grad: expected a DTensor for a DTensor parameter"):
        rct.optim.SGD([w], lr=0.1).step()


def test_checkpoint_helpers_leave_the_weights_alone(mesh):
    """get/set_optimizer_state_dict make a fresh optimizer's state with a zero-gradient lr = 0 step:
    it must not max-norm-clip the model (rows of norm 2 here, max_norm=1)."""
    from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict, set_optimizer_state_dict

    model = nn.Linear(3, 4)
    with torch.no_grad():
        model.weight.fill_(2 / 3 ** 0.5)
    before = copy.deepcopy(model.state_dict())
    opt = rct.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, max_norm=1.0)
    saved = get_optimizer_state_dict(model, opt)
    set_optimizer_state_dict(model, rct.optim.SGD(model.parameters(), lr=0.1, max_norm=1.0), saved)
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert all(p.grad is None for p in model.parameters()) and opt.param_groups[0]["lr"] == 0.1


def test_checkpoint_helpers_draw_no_rounding_words(mesh):
    """... nor draw stochastic-rounding words: a run that saved a checkpoint before its first step
    rounds as one that did not."""
    pytest.importorskip("ml_dtypes")
    from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict

    runs = []
    for save in (True, False):
        torch.manual_seed(0)
        model = nn.Linear(3, 4).to(torch.bfloat16)
        opt = rct.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, stochastic_rounding=True,
                            generator=regcore.Generator(7))
        if save:
            get_optimizer_state_dict(model, opt)
            assert opt.generator.state["offset"] == 0
        model(torch.ones(2, 3, dtype=torch.bfloat16)).float().square().sum().backward()
        opt.step()
        runs.append([p.detach().clone() for p in model.parameters()])
    for a, b in zip(*runs):
        assert torch.equal(a, b)


def test_zero_lr_clips_only_with_a_gradient():
    w = torch.full((2, 4), 1.0, requires_grad=True)   # rows of norm 2
    opt = rct.optim.SGD([w], lr=0.0, max_norm=1.0)
    w.grad = torch.zeros(2, 4)
    opt.step()
    assert torch.equal(w.detach(), torch.ones(2, 4))
    w.grad[0, 0] = 1.0   # a step with a gradient keeps w in the max-norm ball, even at lr = 0
    opt.step()
    torch.testing.assert_close(w.detach().norm(dim=1), torch.ones(2))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_parameters_storage_stays_resizable(dtype):
    """FSDP frees gathered parameters with storage.resize_(0); Tensor.numpy() forbids that for
    good, so regcore must read parameters without it (also through the plain regcore.* API)."""
    if dtype == torch.bfloat16:
        pytest.importorskip("ml_dtypes")
    for module, x in ((rct.nn.LayerNorm(8), torch.randn(3, 8)), (rct.nn.GroupNorm(2, 4), torch.randn(3, 4, 5)),
                      (rct.nn.BatchNorm1d(4), torch.randn(3, 4))):
        module.to(dtype)
        for _ in range(2):   # (the first call of a signature is checked, later ones take the fast path)
            module(x.to(dtype).requires_grad_()).sum().backward()
        for p in module.parameters():
            p.untyped_storage().resize_(0)
    w = nn.Parameter(torch.ones(4, 3))
    regcore.optim.sgd_step_(w, torch.ones(4, 3), lr=0.1)   # the array API's view of a torch tensor
    w.untyped_storage().resize_(0)


def test_dtensor_inputs_are_refused_not_computed(mesh):
    """regcore's operators register no DTensor sharding rules: a DTensor input is refused by
    torch's DTensor dispatch (docs/torch.md), never computed on part of the data."""
    from torch.distributed.tensor import distribute_tensor

    x = torch.randn(4, 6, 8)
    for placement in _placements():
        dx = distribute_tensor(x, mesh, [placement])
        for module in (rct.nn.LayerNorm(8), rct.nn.GroupNorm(2, 6), rct.nn.BatchNorm1d(6),
                       rct.nn.Dropout(0.5, generator=regcore.Generator(1)), rct.nn.InstanceNorm1d(6),
                       rct.nn.BiasActDropout(8, p=0.1, generator=regcore.Generator(1))):
            with pytest.raises((RuntimeError, NotImplementedError), match="DTensor|sharding strategy"):
                module(dx)
        # the documented recipe: the local tensor, where the op's rows are whole on each rank
        torch.testing.assert_close(rct.nn.LayerNorm(8)(dx.to_local()), rct.nn.LayerNorm(8)(x))


if __name__ == "__main__":
    import torch.distributed as dist

    rank_, world_, store_, case_ = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
    dist.init_process_group("gloo", init_method=f"file://{store_}", rank=rank_, world_size=world_)
    {"fsdp2": fsdp2, "ddp": ddp, "zero": zero}[case_](rank_, world_)
    dist.destroy_process_group()
    print(f"rank {rank_}: ok")
