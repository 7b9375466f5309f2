"""One rank of the two-process SyncBatchNorm test (tests/test_torch_distributed.py): gloo over
a file store; every rank builds the whole batch from a shared seed, runs regcore's
SyncBatchNorm on its own slice, and checks its slice of y and dx, the running statistics and
the rank-summed dgamma/dbeta against one process's batch norm on the concatenated batch."""
from __future__ import annotations

import sys

import torch
import torch.distributed as dist

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
    dist.destroy_process_group()
    print(f"rank {rank}: ok")


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3])
