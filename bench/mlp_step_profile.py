"""Where one training step of the MLP benchmark (784-2048-2048-10, batch norm, dropout 0.5,
batch 256, SGD with momentum and weight decay) spends its time, regcore's modules and optimizer
against torch's: self CPU time per step of the matrix products (aten::mm / aten::addmm, the same
on both sides) and of everything else, from torch.profiler over 5 steps, one thread each.

The step ratio can be no better than (matmuls + torch's rest) / matmuls, whatever regcore's own
kernels cost: bench/RESULTS.md uses this to bound the MLP step target. Not a test.

    python bench/mlp_step_profile.py
"""
from __future__ import annotations

import torch
from torch.profiler import ProfilerActivity, profile

import regcore
import regcore.torch as rct

_MATMULS = ("aten::mm", "aten::addmm")
_STEPS = 5


def _mlp(nn):
    return nn.Sequential(nn.Linear(784, 2048), nn.BatchNorm1d(2048), nn.ReLU(), nn.Dropout(0.5),
                         nn.Linear(2048, 2048), nn.BatchNorm1d(2048), nn.ReLU(), nn.Dropout(0.5), nn.Linear(2048, 10))


def _profile(regcore_side):
    torch.manual_seed(0)
    model = _mlp(torch.nn)
    if regcore_side:
        model = rct.convert(model)
    make = rct.optim.SGD if regcore_side else torch.optim.SGD
    opt = make(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    x, y = torch.randn(256, 784), torch.randint(0, 10, (256,))

    def step():
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()

    for _ in range(3):
        step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(_STEPS):
            step()
    events = prof.key_averages()
    ms = lambda e: e.self_cpu_time_total / _STEPS / 1000   # noqa: E731
    total = sum(ms(e) for e in events)
    matmuls = sum(ms(e) for e in events if e.key in _MATMULS)
    rest = sorted((e for e in events if e.key not in _MATMULS), key=ms, reverse=True)[:6]
    return total, matmuls, [(e.key, round(ms(e), 2)) for e in rest]


def main():
    torch.set_num_threads(1)
    regcore.set_num_threads(1)
    results = {}
    for side in ("regcore", "torch"):
        total, matmuls, rest = _profile(side == "regcore")
        results[side] = (total, matmuls)
        print(f"{side}: {total:.1f} ms per step, matmuls {matmuls:.1f} ms, everything else {total - matmuls:.1f} ms")
        print(f"    largest others (ms): {rest}")
    (rt, rm), (tt, tm) = results["regcore"], results["torch"]
    print(f"step ratio {tt / rt:.2f}x; at most {tt / tm:.2f}x with regcore's non-matmul part free")


if __name__ == "__main__":
    main()
