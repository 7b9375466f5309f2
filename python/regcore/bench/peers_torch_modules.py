"""The ``torch_modules`` section: regcore.torch's modules, optimizer and training steps against
the torch modules they replace, forward + backward, in the same run (``--filter torch_modules``).

Each row is one call of ``fn()`` that runs the module's forward and backward (autograd through
``torch.autograd.grad``), so the per-call overhead of the custom operators is inside the figure;
the 256-element rows are that overhead. The regcore rows run at the best ISA level with torch's
thread count set to regcore's (the autograd engine and the matmuls of the training steps are
torch's); the torch rows run at each thread count. Rows:

* ``dropout`` (p = 0.5, 1-bit masks) vs nn.Dropout; ``bias_act_dropout`` (gelu, p = 0.1) vs
  ``dropout(gelu(x + b))``; ``gaussian_noise`` (multiplicative) vs ``x * (1 + std * randn_like(x))``;
* ``batchnorm2d`` (N, 64, 16, 16) NCHW and ``batchnorm2d_cl`` channels_last, ``batchnorm1d``
  (N, 256), ``layernorm`` (N, 1024), ``groupnorm`` (N, 64, 16, 16) in 8 groups,
  ``instancenorm2d`` (N, 64, 16, 16) affine; training mode; each in float32 and in bfloat16
  (bfloat16 input; the norm modules keep float32 parameters, on both sides);
* ``sgd_l1``: one step over 200 tensors of 50k (momentum 0.9, weight decay, proximal L1) vs torch's
  loss-term L1 (``l1 * sum |w|`` backward) plus torch.optim.SGD's step;
* ``mlp_step``: 784-2048-2048-10 MLP, batch norm, dropout 0.5, batch 256, cross entropy, SGD
  momentum; ``cnn_step``: a small CNN (two 3x3 conv + batch norm + ReLU, dropout) on 64 32x32 RGB
  images; regcore modules + optimizer vs torch's.
"""
from __future__ import annotations

import numpy as np

from .. import _backend, _build_info
from . import _torch
from ._spec import Kernel, Peer, PeerUnavailable

K = 1 << 10
M = 1 << 20
SIZES = (256, 16 * K, 64 * K, M, 16 * M)
QUICK = (256, 64 * K)
_P = 0.5


def _torch_and_rct():
    torch = _torch.require()
    try:
        import regcore.torch as rct
    except ImportError as exc:
        raise PeerUnavailable(f"regcore.torch: {exc}") from None
    return torch, rct


def _ours_guard():
    """regcore.torch is timed on the native backend at the best ISA level (other rows would time
    the same Python around slower kernels); torch's threads follow regcore's."""
    if _backend.cpu_backend_name() == "numpy":
        raise PeerUnavailable("regcore.torch rows are timed on the native backend")
    best = _build_info.available_isas()[-1] if _build_info.available_isas() else None
    if best is not None and _build_info.active_isa() != best:
        raise PeerUnavailable(f"regcore.torch rows are timed at the best ISA level ({best})")
    torch = _torch.require()
    n = _build_info.get_num_threads()
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)


def _cpu(device):
    if device != "cpu":
        raise PeerUnavailable(f"cpu tensors only, not {device}")


def _fwd_bwd(torch, module, x, extra=()):
    params = [p for p in module.parameters() if p.requires_grad]
    dy = torch.ones_like(x)

    def run():
        y = module(x, *extra)
        torch.autograd.grad(y, [x, *params], dy)
    return run


# The module rows' dtypes: bfloat16 beside float32 (the input's dtype; the norm modules keep
# float32 parameters for bfloat16 input, as torch's mixed batch norm and a model under autocast do).
_DTYPES = ("float32", "bfloat16")


def _module_kernel(name, doc, make_ours, make_torch, shape, min_bytes, formula, sizes=SIZES):
    """One fwd+bwd row pair: make_*(torch, rct, shape, dtype) -> (module, input)."""
    def ours(shp, dtype, device):
        _cpu(device)
        torch, rct = _torch_and_rct()
        module, x = make_ours(torch, rct, shp, _torch.dtype(dtype))
        run = _fwd_bwd(torch, module, x)

        def fn():
            _ours_guard()
            run()
        return fn

    def peer(shp, dtype, device):
        _cpu(device)
        torch, rct = _torch_and_rct()
        module, x = make_torch(torch, shp, _torch.dtype(dtype))
        return _fwd_bwd(torch, module, x)

    return Kernel(name=f"torch_modules.{name}", dtypes=_DTYPES, ours=ours,
                  peers=(Peer("torch", doc, peer, threaded=True),), shape=shape, min_bytes=min_bytes,
                  bytes_formula=formula, sizes=sizes, quick_sizes=QUICK)


def _x(torch, shape, dtype, channels_last=False):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(*shape, generator=g, dtype=dtype)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    return x.requires_grad_()


def _rows(cols):
    """(n / cols, cols); tiny n: 16 rows (batch statistics need more than one row)."""
    def shape(n):
        c = cols if n >= 16 * cols else max(1, n // 16)
        return (n // c, c)
    return shape


def _nchw(n):
    if n >= 16 * K:
        return (n // (16 * K), 64, 16, 16)
    return (1, 4, 8, n // 32)


# ---------------------------------------------------------------- modules

def _dropout_pair():
    return (lambda torch, rct, s, d: (rct.nn.Dropout(_P), _x(torch, s, d)),
            lambda torch, s, d: (torch.nn.Dropout(_P), _x(torch, s, d)))


def _bias_act():
    def ours(torch, rct, s, d):
        return rct.nn.BiasActDropout(s[-1], "gelu", 0.1, dtype=d), _x(torch, s, d)

    def ref(torch, s, d):
        class BiasGeluDropout(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.bias = torch.nn.Parameter(torch.zeros(s[-1], dtype=d))

            def forward(self, x):
                return torch.nn.functional.dropout(torch.nn.functional.gelu(x + self.bias), 0.1)
        return BiasGeluDropout(), _x(torch, s, d)
    return ours, ref


def _noise():
    def ref(torch, s, d):
        class Noise(torch.nn.Module):
            def forward(self, x):
                return x * (1.0 + 0.1 * torch.randn_like(x))
        return Noise(), _x(torch, s, d)
    return (lambda torch, rct, s, d: (rct.nn.GaussianNoise(0.1, mode="multiplicative"), _x(torch, s, d)), ref)


def _norm(kind, channels_last=False):
    def build(nn, s, x_dtype):
        d = _param_dtype(x_dtype)
        if kind == "bn2d":
            return nn.BatchNorm2d(s[1], dtype=d)
        if kind == "bn1d":
            return nn.BatchNorm1d(s[1], dtype=d)
        if kind == "ln":
            return nn.LayerNorm(s[-1], dtype=d)
        if kind == "gn":
            return nn.GroupNorm(min(8, s[1]), s[1], dtype=d)
        return nn.InstanceNorm2d(s[1], affine=True, dtype=d)
    return (lambda torch, rct, s, d: (build(rct.nn, s, d), _x(torch, s, d, channels_last)),
            lambda torch, s, d: (build(torch.nn, s, d), _x(torch, s, d, channels_last)))


def _param_dtype(x_dtype):
    """A norm module's parameter dtype for input of x_dtype: float32 for 16-bit input."""
    torch = _torch.require()
    return torch.float32 if x_dtype in (torch.bfloat16, torch.float16) else x_dtype


def _bytes_elementwise(reads_writes):
    return lambda n, size: int(reads_writes * n * size)


KERNELS = [
    _module_kernel("dropout", "torch.nn.Dropout(0.5) fwd+bwd", *_dropout_pair(), _rows(1024),
                   lambda n, s: 4 * n * s + n // 4, "x, y, dy, dx + 1-bit mask written and read"),
    _module_kernel("bias_act_dropout", "dropout(gelu(x + bias), 0.1) fwd+bwd", *_bias_act(), _rows(1024),
                   lambda n, s: 5 * n * s + n // 4, "x, y; dy, x, dx + 1-bit mask"),
    _module_kernel("gaussian_noise", "x * (1 + 0.1 * randn_like(x)) fwd+bwd", *_noise(), _rows(1024),
                   _bytes_elementwise(4), "x, y, dy, dx"),
    _module_kernel("batchnorm2d", "torch.nn.BatchNorm2d(64) fwd+bwd, NCHW", *_norm("bn2d"), _nchw,
                   _bytes_elementwise(8), "fwd 3 passes, bwd 5 passes of x"),
    _module_kernel("batchnorm2d_cl", "torch.nn.BatchNorm2d(64) fwd+bwd, channels_last", *_norm("bn2d", True), _nchw,
                   _bytes_elementwise(8), "fwd 3 passes, bwd 5 passes of x"),
    _module_kernel("batchnorm1d", "torch.nn.BatchNorm1d(256) fwd+bwd", *_norm("bn1d"), _rows(256),
                   _bytes_elementwise(8), "fwd 3 passes, bwd 5 passes of x"),
    _module_kernel("layernorm", "torch.nn.LayerNorm(1024) fwd+bwd", *_norm("ln"), _rows(1024),
                   _bytes_elementwise(8), "fwd 3 passes, bwd 5 passes of x"),
    _module_kernel("groupnorm", "torch.nn.GroupNorm(8, 64) fwd+bwd", *_norm("gn"), _nchw,
                   _bytes_elementwise(8), "fwd 3 passes, bwd 5 passes of x"),
    _module_kernel("instancenorm2d", "torch.nn.InstanceNorm2d(64, affine=True) fwd+bwd", *_norm("in"), _nchw,
                   _bytes_elementwise(8), "fwd 3 passes, bwd 5 passes of x"),
]


# ---------------------------------------------------------------- optimizer and training steps

_SGD_TENSORS, _SGD_EACH = 200, 50_000


def _sgd_params(torch, dtype):
    g = torch.Generator().manual_seed(1)
    params = [torch.nn.Parameter(torch.randn(_SGD_EACH, generator=g, dtype=dtype) * 0.1) for _ in range(_SGD_TENSORS)]
    for p in params:
        p.grad = torch.randn(_SGD_EACH, generator=g, dtype=dtype) * 1e-3
    return params


def _sgd_ours(shape, dtype, device):
    _cpu(device)
    torch, rct = _torch_and_rct()
    params = _sgd_params(torch, _torch.dtype(dtype))
    opt = rct.optim.SGD(params, lr=0.01, momentum=0.9, weight_decay=1e-4, l1=1e-5)

    def fn():
        _ours_guard()
        opt.step()
    return fn


def _sgd_torch(shape, dtype, device):
    _cpu(device)
    torch, _ = _torch_and_rct()
    params = _sgd_params(torch, _torch.dtype(dtype))
    opt = torch.optim.SGD(params, lr=0.01, momentum=0.9, weight_decay=1e-4)

    def fn():
        (1e-5 * sum(p.abs().sum() for p in params)).backward()   # the loss-term L1 a torch user writes
        opt.step()
    return fn


def _step_kernel(name, doc, build, batch_shape, classes):
    n = int(np.prod(batch_shape))
    torch = _torch.get()
    params = sum(p.numel() for p in build(torch.nn).parameters()) if torch is not None else 0

    def make(regcore_side):
        def factory(shape, dtype, device):
            _cpu(device)
            torch, rct = _torch_and_rct()
            torch.manual_seed(0)
            model = build(torch.nn).to(_torch.dtype(dtype))
            if regcore_side:
                model = rct.convert(model)
            opt = (rct.optim.SGD if regcore_side else torch.optim.SGD)(model.parameters(), lr=0.01, momentum=0.9,
                                                                         weight_decay=1e-4)
            g = torch.Generator().manual_seed(2)
            x = torch.randn(*batch_shape, generator=g, dtype=_torch.dtype(dtype))
            y = torch.randint(0, classes, (batch_shape[0],), generator=g)

            def step():
                if regcore_side:
                    _ours_guard()
                opt.zero_grad()
                torch.nn.functional.cross_entropy(model(x), y).backward()
                opt.step()
            return step
        return factory

    return Kernel(name=f"torch_modules.{name}", dtypes=("float32",), ours=make(True),
                  peers=(Peer("torch", doc, make(False), threaded=True),), shape=lambda _n: batch_shape,
                  sizes=(n,), quick_sizes=(n,), items="samples",
                  min_bytes=lambda _n, size: 5 * params * size,
                  bytes_formula=f"the SGD step over the {params} parameters only (w, g, buf read; w, buf written)")


def _mlp(nn):
    return nn.Sequential(nn.Linear(784, 2048), nn.BatchNorm1d(2048), nn.ReLU(), nn.Dropout(0.5),
                         nn.Linear(2048, 2048), nn.BatchNorm1d(2048), nn.ReLU(), nn.Dropout(0.5), nn.Linear(2048, 10))


def _cnn(nn):
    return nn.Sequential(nn.Conv2d(3, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
                         nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Dropout(0.25), nn.Flatten(), nn.Linear(64 * 16 * 16, 10))


KERNELS += [
    Kernel(name="torch_modules.sgd_l1", dtypes=("float32",), ours=_sgd_ours,
           peers=(Peer("torch", "loss-term L1 backward + torch.optim.SGD(momentum, weight_decay).step()", _sgd_torch,
                       threaded=True),),
           sizes=(_SGD_TENSORS * _SGD_EACH,), quick_sizes=(_SGD_TENSORS * _SGD_EACH,),
           min_bytes=lambda n, s: 5 * n * s, bytes_formula="w, g, buf read; w, buf written"),
    _step_kernel("mlp_step", "the same MLP with torch's modules and torch.optim.SGD", _mlp, (256, 784), 10),
    _step_kernel("cnn_step", "the same CNN with torch's modules and torch.optim.SGD", _cnn, (64, 3, 32, 32), 10),
]
