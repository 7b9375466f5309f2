"""One rank of the two-process SyncBatchNorm test (tests/test_torch_distributed.py): gloo over
a file store; every rank builds the whole batch from a shared seed, runs regcore's
SyncBatchNorm on its own slice, and checks its slice of y and dx, the running statistics and
the rank-summed dgamma/dbeta against one process's batch norm on the concatenated batch; then
the same under DistributedDataParallel, training a few SGD steps."""
from __future__ import annotations

import sys

import torch
import torch.distributed as dist
from torch import nn

import regcore.torch as rct


def main(rank: int, world: int, store: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world)
    cases = [([3, 6], torch.float64, False), ([5, 0], torch.float64, False), ([4, 2], torch.float32, True),
             ([1, 2], torch.float64, True)]
    for sizes, dtype, channels_last in cases:
        g = torch.Generator().manual_seed(sum(sizes))
        C = 4
        full = torch.randn(sum(sizes), C, 3, 5, generator=g, dtype=dtype) * 3 + 2
        dy_full = torch.randn(full.shape, generator=g, dtype=dtype)
        lo = sum(sizes[:rank])
        x, dy = full[lo:lo + sizes[rank]], dy_full[lo:lo + sizes[rank]]
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        ref = torch.nn.BatchNorm2d(C).to(dtype)
        with torch.no_grad():
            ref.weight.uniform_(0.5, 1.5, generator=g), ref.bias.uniform_(-1, 1, generator=g)
        sync = rct.convert_sync_batchnorm(torch.nn.Sequential(torch.nn.BatchNorm2d(C).to(dtype)))[0]
        sync.load_state_dict(ref.state_dict())
        xr, xs = full.clone().requires_grad_(), x.detach().clone().requires_grad_()
        for step in range(2):
            yr, ys = ref(xr), sync(xs)
            gr = torch.autograd.grad(yr, [xr, ref.weight, ref.bias], dy_full)
            gs = torch.autograd.grad(ys, [xs, sync.weight, sync.bias], dy)
            tol = dict(rtol=1e-10, atol=1e-10) if dtype == torch.float64 else dict(rtol=1e-4, atol=1e-5)
            sl = slice(lo, lo + sizes[rank])
            torch.testing.assert_close(ys, yr[sl], **tol)
            torch.testing.assert_close(gs[0], gr[0][sl], **tol)
            for local, total in zip(gs[1:], gr[1:]):
                summed = local.clone()
                dist.all_reduce(summed)
                torch.testing.assert_close(summed, total, **tol)
            torch.testing.assert_close(sync.running_mean, ref.running_mean, **tol)
            torch.testing.assert_close(sync.running_var, ref.running_var, **tol)
            assert int(sync.num_batches_tracked) == step + 1
    sync.eval()
    ones = torch.ones(2, C, 3, 3, dtype=torch.float64)
    torch.testing.assert_close(sync(ones), ref.eval()(ones))
    for sizes in ([5, 3], [4, 0]):
        data_parallel(rank, world, sizes)
    dist.destroy_process_group()
    print(f"rank {rank}: ok")


def data_parallel(rank: int, world: int, sizes: list) -> None:
    """Linear -> SyncBatchNorm under DDP (CPU, float32), against one process's Linear ->
    torch BatchNorm1d on the concatenated batch. Each rank's loss is sum(y * dy) over its slice
    and DDP averages parameter gradients over the ranks, so the one-process loss is the mean of
    the ranks' losses; the input gradient of a rank's slice is then the one-process one times
    the world size."""
    g = torch.Generator().manual_seed(11 + sum(sizes))
    ref = nn.Sequential(nn.Linear(8, 8), nn.BatchNorm1d(8, momentum=None))
    with torch.no_grad():
        for p in ref.parameters():
            p.uniform_(-1, 1, generator=g)
    model = rct.convert_sync_batchnorm(nn.Sequential(nn.Linear(8, 8), nn.BatchNorm1d(8, momentum=None)))
    model.load_state_dict(ref.state_dict())
    ddp = nn.parallel.DistributedDataParallel(model)
    opt_ref, opt = torch.optim.SGD(ref.parameters(), lr=0.1), torch.optim.SGD(ddp.parameters(), lr=0.1)
    lo, tol = sum(sizes[:rank]), dict(rtol=1e-4, atol=2e-5)
    sl = slice(lo, lo + sizes[rank])
    for step in range(3):
        full = torch.randn(sum(sizes), 8, generator=g) * 3 + 2
        dy_full = torch.randn(full.shape, generator=g)
        xr, xs = full.clone().requires_grad_(), full[sl].clone().requires_grad_()
        yr, ys = ref(xr), ddp(xs)
        (yr * dy_full).sum().div(world).backward()
        (ys * dy_full[sl]).sum().backward()
        torch.testing.assert_close(ys, yr[sl], **tol)
        torch.testing.assert_close(xs.grad, xr.grad[sl] * world, **tol)
        for (name, a), b in zip(ref.named_parameters(), model.parameters()):
            torch.testing.assert_close(b.grad, a.grad, **tol, msg=lambda m: f"{name} step {step}: {m}")
        for (name, a), b in zip(ref.named_buffers(), model.buffers()):
            torch.testing.assert_close(b, a, **tol, msg=lambda m: f"{name} step {step}: {m}")
        opt_ref.step(), opt.step()
        opt_ref.zero_grad(), opt.zero_grad()
    for a, b in zip(ref.parameters(), model.parameters()):
        torch.testing.assert_close(b, a, **tol)


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3])
