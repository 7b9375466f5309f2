"""Random draws (regcore.random): uniform, normal, raw bits.

Peers: numpy.random.Generator (PCG64), filling a preallocated array where NumPy allows it
(``out=``), and PyTorch's in-place fills (``torch.nn.init.uniform_`` / ``normal_``), CPU and
CUDA. Every peer generates its own stream, so the comparison is samples per second for the
same distribution and dtype, not the same bits.
"""
from __future__ import annotations

import numpy as np

from .. import random as rc_random
from ..generator import Generator
from . import _torch
from ._spec import Kernel, Peer, PeerUnavailable

_SEED = 20240607


def _out(shape, dtype, device):
    if device != "cpu":
        raise PeerUnavailable(f"regcore API rows run on cpu arrays only, not {device}")
    return np.zeros(shape, dtype)  # zeros, not empty: pages are mapped before timing


# ---- regcore's public API (the numpy-backend row)

def _ours(fill):
    def make(shape, dtype, device):
        x = _out(shape, dtype, device)
        g = Generator(_SEED)
        return lambda: fill(x, generator=g)
    return make


# ---- NumPy

def _np_16bit(dtype):
    if np.dtype(dtype).itemsize == 2:
        raise PeerUnavailable("NumPy has no 16-bit random fill")


def _np_uniform(shape, dtype, device):
    _np_16bit(dtype)
    x = _out(shape, dtype, device)
    rng = np.random.default_rng(_SEED)
    return lambda: rng.random(out=x, dtype=x.dtype)


def _np_normal(shape, dtype, device):
    _np_16bit(dtype)
    x = _out(shape, dtype, device)
    rng = np.random.default_rng(_SEED)
    return lambda: rng.standard_normal(out=x, dtype=x.dtype)


def _np_bits(shape, dtype, device):
    _out((0,), dtype, device)
    rng = np.random.default_rng(_SEED)
    # Generator.integers has no out=: this allocates, as a NumPy user's code would.
    return lambda: rng.integers(0, 1 << 32, size=shape, dtype=np.uint32)


# ---- PyTorch

def _torch_fill(method):
    def make(shape, dtype, device):
        torch = _torch.require()
        t = torch.zeros(shape, dtype=_torch.dtype(dtype), device=device)
        gen = torch.Generator(device=device)
        gen.manual_seed(_SEED)
        fill = getattr(torch.nn.init, method)
        return lambda: fill(t, generator=gen)
    return make


def _torch_bits(shape, dtype, device):
    torch = _torch.require()
    # torch has no uint32 random_: int32 random_ draws 31-bit integers, the closest fill.
    t = torch.zeros(shape, dtype=torch.int32, device=device)
    gen = torch.Generator(device=device)
    gen.manual_seed(_SEED)
    return lambda: t.random_(generator=gen)


_TORCH_DEVICES = ("cpu", "cuda")

KERNELS = [
    Kernel(
        name="random.uniform", dtypes=("float32", "float64", "bfloat16"), items="samples",
        ours=_ours(rc_random.uniform_),
        peers=(
            Peer("numpy", "numpy.random.Generator.random(out=)", _np_uniform),
            Peer("torch", "torch.nn.init.uniform_", _torch_fill("uniform_"), threaded=True,
                 devices=_TORCH_DEVICES),
        ),
    ),
    Kernel(
        name="random.normal", dtypes=("float32", "float64", "bfloat16"), items="samples",
        ours=_ours(rc_random.normal_),
        peers=(
            Peer("numpy", "numpy.random.Generator.standard_normal(out=)", _np_normal),
            Peer("torch", "torch.nn.init.normal_", _torch_fill("normal_"), threaded=True,
                 devices=_TORCH_DEVICES),
        ),
    ),
    Kernel(
        name="random.bits", dtypes=("uint32",), items="samples",
        ours=_ours(rc_random.bits_),
        peers=(
            Peer("numpy", "numpy.random.Generator.integers(uint32) (allocates)", _np_bits),
            Peer("torch", "torch.Tensor.random_ (int32, 31 bits)", _torch_bits, threaded=True,
                 devices=_TORCH_DEVICES),
        ),
    ),
]
