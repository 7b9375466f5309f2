"""Per-call cost of regcore.torch's modules against torch's own: forward + backward
(``torch.autograd.grad``) at 256 elements (the Python and dispatch overhead) and at 64K elements
(the smallest size the issue's ">= 1.0x torch" target covers), one thread for both libraries.

Measured as CPU time of this process (``time.process_time``), median of 9 repeats: on a shared
machine CPU time is far less disturbed by other processes than wall time (the figures still rise
when another process shares the core's caches). Not a test; ``python -m regcore.bench --filter
torch_modules`` is the wall-clock benchmark.

    python bench/torch_overhead.py [NAME ...]   # only the rows of these modules (e.g. batchnorm2d layernorm)

The ``floor`` rows are the least any Python-registered operator pays: a ``torch.library``
operator whose kernel is ``x.clone()`` with a Python autograd formula (``grad -> grad``), the
way regcore's operators are declared, against torch's own ``clone``. What a regcore row costs
above its floor row is regcore's Python (checks, stream draw, array intake, output wrapping),
not the dispatcher.

The ``layernorm_python_autograd`` row puts torch's OWN layer-norm kernels (``native_layer_norm``
and its backward) behind a Python ``torch.autograd.Function``, in its regcore column: what any
module whose autograd formula is Python pays above torch's C++-registered module, whatever its
kernels. Where that row is below 1.0x, a Python-registered module reaches torch's module only with
kernels faster than torch's by at least the difference.
"""
from __future__ import annotations

import statistics
import sys
import time

import torch

import regcore
import regcore.torch as rct


def _cpu_us(fn, n):
    for _ in range(max(5, n // 10)):
        fn()
    samples = []
    for _ in range(9):
        t0 = time.process_time()
        for _ in range(n):
            fn()
        samples.append((time.process_time() - t0) / n)
    return statistics.median(samples) * 1e6


_FLOOR = torch.library.Library("regcore_overhead_floor", "DEF")
_FLOOR.define("clone(Tensor x) -> Tensor")
_FLOOR.impl("clone", lambda x: x.clone(), "CPU")


class _FloorAutograd(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        with torch._C._AutoDispatchBelowAutograd():
            return torch.ops.regcore_overhead_floor.clone(x)

    @staticmethod
    def backward(ctx, g):
        return g


_FLOOR.impl("clone", _FloorAutograd.apply, "Autograd")


class _FloorOp(torch.nn.Module):
    def forward(self, x):
        return torch.ops.regcore_overhead_floor.clone(x)


class _Clone(torch.nn.Module):
    def forward(self, x):
        return x.clone()


class _BiasGeluDropout(torch.nn.Module):
    def __init__(self, n):
        super().__init__()
        self.bias = torch.nn.Parameter(torch.zeros(n))

    def forward(self, x):
        return torch.nn.functional.dropout(torch.nn.functional.gelu(x + self.bias), 0.1)


class _Noise(torch.nn.Module):
    def forward(self, x):
        return x * (1.0 + 0.1 * torch.randn_like(x))


class _TorchLayerNormFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, w, b):
        y, mean, rstd = torch.ops.aten.native_layer_norm(x, (x.shape[-1],), w, b, 1e-5)
        ctx.save_for_backward(x, w, b, mean, rstd)
        return y

    @staticmethod
    def backward(ctx, dy):
        x, w, b, mean, rstd = ctx.saved_tensors
        return torch.ops.aten.native_layer_norm_backward(dy, x, (x.shape[-1],), mean, rstd, w, b, [True, True, True])


class _PythonAutogradLayerNorm(torch.nn.LayerNorm):
    def forward(self, x):
        return _TorchLayerNormFunction.apply(x, self.weight, self.bias)


# name, (regcore module, torch module) for a shape, shapes (256 and 64K elements), channels_last
ROWS = [
    ("floor", lambda s: (_FloorOp(), _Clone()), [(16, 16), (64, 1024)], False),
    ("dropout", lambda s: (rct.nn.Dropout(0.5), torch.nn.Dropout(0.5)), [(16, 16), (64, 1024)], False),
    ("bias_act_dropout", lambda s: (rct.nn.BiasActDropout(s[-1], "gelu", 0.1), _BiasGeluDropout(s[-1])),
     [(16, 16), (64, 1024)], False),
    ("gaussian_noise", lambda s: (rct.nn.GaussianNoise(0.1, mode="multiplicative"), _Noise()),
     [(16, 16), (64, 1024)], False),
    ("batchnorm2d", lambda s: (rct.nn.BatchNorm2d(s[1]), torch.nn.BatchNorm2d(s[1])),
     [(1, 4, 8, 8), (4, 64, 16, 16)], False),
    ("batchnorm2d_cl", lambda s: (rct.nn.BatchNorm2d(s[1]), torch.nn.BatchNorm2d(s[1])),
     [(1, 4, 8, 8), (4, 64, 16, 16)], True),
    ("batchnorm1d", lambda s: (rct.nn.BatchNorm1d(s[1]), torch.nn.BatchNorm1d(s[1])), [(16, 16), (256, 256)], False),
    ("layernorm", lambda s: (rct.nn.LayerNorm(s[-1]), torch.nn.LayerNorm(s[-1])), [(16, 16), (64, 1024)], False),
    ("groupnorm", lambda s: (rct.nn.GroupNorm(min(8, s[1]), s[1]), torch.nn.GroupNorm(min(8, s[1]), s[1])),
     [(1, 4, 8, 8), (4, 64, 16, 16)], False),
    ("instancenorm2d", lambda s: (rct.nn.InstanceNorm2d(s[1], affine=True),
                                  torch.nn.InstanceNorm2d(s[1], affine=True)), [(1, 4, 8, 8), (4, 64, 16, 16)], False),
    ("dropout2d", lambda s: (rct.nn.Dropout2d(0.5), torch.nn.Dropout2d(0.5)), [(1, 4, 8, 8), (16, 64, 8, 8)], False),
    ("alpha_dropout", lambda s: (rct.nn.AlphaDropout(0.1), torch.nn.AlphaDropout(0.1)), [(16, 16), (64, 1024)],
     False),
    ("layernorm_python_autograd", lambda s: (_PythonAutogradLayerNorm(s[-1]), torch.nn.LayerNorm(s[-1])),
     [(16, 16), (64, 1024)], False),
]


def _input(shape, channels_last):
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(0))
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    return x.requires_grad_()


def main():
    torch.set_num_threads(1)
    regcore.set_num_threads(1)
    print("| module | shape | regcore | torch | x torch |")
    print("|---|---|---|---|---|")
    only = set(sys.argv[1:])
    for name, make, shapes, channels_last in ROWS:
        if only and name not in only:
            continue
        for shape in shapes:
            n = 400 if len(shape) and torch.Size(shape).numel() <= 256 else 100
            times = []
            for module in make(shape):
                x = _input(shape, channels_last)
                wrt = [x, *module.parameters()]
                dy = torch.ones_like(x)
                times.append(_cpu_us(lambda: torch.autograd.grad(module(x), wrt, dy), n))
            print(f"| {name} | {'x'.join(map(str, shape))} | {times[0]:.0f} us | {times[1]:.0f} us | "
                  f"{times[1] / times[0]:.2f} |", flush=True)


if __name__ == "__main__":
    main()
