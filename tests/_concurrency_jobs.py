"""Units of work for the Python-thread tests (tests/test_concurrency_threads.py): ``job(i)``
builds its own modules, data and generators from ``i`` alone and returns a digest of every
result (outputs, gradients, statistics, running statistics, masks), so the same ``i`` gives the
same digest on any thread, in any order, next to any other work.

Jobs cycle through regcore's modules (forward + backward) and array-API calls on NumPy arrays,
float32 / float64 / bfloat16 / float16, four in a row of one kind and dtype: two of the same
shape (one cached plan of the operators' signature caches, _fastpath.py, run by two threads at
once), two of shapes that change from job to job (new signatures: the caches fill and start
over), and every ``BIG_EVERY``-th job large enough (over 1 MiB an output) for the output buffer
cache and the thread pool. Module parameters start at torch's constant values (ones, zeros) and inputs come
from a generator of the job's own: nothing reads torch's default generator, which other
threads share."""
from __future__ import annotations

import hashlib

import numpy as np
import torch

import regcore as rc
import regcore.torch as rct

DTYPES = (torch.float32, torch.float64, torch.bfloat16, torch.float16)
BIG_EVERY = 17
BIG = 1 << 18   # elements: 1 MiB in float32, the output buffer cache's threshold
RANDOM = ("dropout", "dropout_torch_generator", "bias_act_dropout", "dropout2d", "array_dropout")
NORMS = ("layer_norm", "batch_norm2d", "group_norm", "instance_norm2d", "array_layer_norm", "array_batch_norm")
KINDS = RANDOM + NORMS


def digest(results) -> str:
    h = hashlib.sha256()
    for r in results:
        if r is None:
            h.update(b"-")
        elif isinstance(r, np.ndarray):
            h.update(np.ascontiguousarray(r).view(np.uint8).tobytes())
        else:
            h.update(r.detach().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def job(i: int, kinds=KINDS) -> str:
    group = i // 4   # (4 jobs in a row of one kind and dtype: the pool's 4 threads run them at once)
    kind = kinds[group % len(kinds)]
    dtype = DTYPES[(group // len(kinds)) % len(DTYPES)]
    if i % BIG_EVERY == 0:
        n = 2 + (i // BIG_EVERY) % 3
        length = BIG // (n * 4)
    elif i % 4 < 2:   # two at once with one signature (one cached plan)
        n, length = 3, 8
    else:             # and signatures that vary
        n, length = 2 + (i // 5) % 3, 5 + (7 * i) % 13
    if kind.startswith("array_"):
        return _array_job(kind, i, n, length)
    g = torch.Generator().manual_seed(i)
    if kind == "dropout":
        m, shape = rct.nn.Dropout(0.3, generator=rc.Generator(i)), (n, length)
    elif kind == "dropout_torch_generator":
        m, shape = rct.nn.Dropout(0.3, mask="none", generator=torch.Generator().manual_seed(i)), (n, length)
    elif kind == "bias_act_dropout":
        m, shape = rct.nn.BiasActDropout(length, "gelu", 0.2, generator=rc.Generator(i), dtype=dtype), (n, length)
    elif kind == "dropout2d":
        m, shape = rct.nn.Dropout2d(0.3, generator=rc.Generator(i)), (n, 4, 3, length)
    elif kind == "layer_norm":
        m, shape = rct.nn.LayerNorm(length, dtype=dtype), (n, 3, length)
    elif kind == "batch_norm2d":
        m, shape = rct.nn.BatchNorm2d(4, dtype=dtype), (n, 4, 3, length)
    elif kind == "group_norm":
        m, shape = rct.nn.GroupNorm(2, 4, dtype=dtype), (n, 4, length)
    else:
        m, shape = rct.nn.InstanceNorm2d(4, affine=True, track_running_stats=True, dtype=dtype), (n, 4, 3, length)
    x = torch.randn(shape, generator=g).to(dtype)
    if len(shape) == 4 and i % 2:
        x = x.contiguous(memory_format=torch.channels_last)
    x.requires_grad_()
    y = m(x)
    y.backward(torch.randn(shape, generator=g).to(dtype))
    return digest([y, x.grad, *(p.grad for p in m.parameters()), *m.buffers()])


def _array_job(kind, i, n, length):
    x = np.random.default_rng(i).standard_normal((n, length)).astype(np.float32 if i % 2 else np.float64)
    if kind == "array_dropout":
        y, mask = rc.dropout(x, 0.4, generator=rc.Generator(i))
        return digest([y, rc.dropout_backward(x, mask)])
    if kind == "array_layer_norm":
        y, saved = rc.layer_norm(x, np.ones(length, x.dtype), np.zeros(length, x.dtype))
        return digest([y, saved.mean, saved.var, *rc.layer_norm_backward(x * 0.5, x, np.ones(length, x.dtype), saved)])
    C = length
    rm, rv, w = np.zeros(C, x.dtype), np.ones(C, x.dtype), np.ones(C, x.dtype)
    y, saved = rc.batch_norm(x, w, np.zeros(C, x.dtype), rm, rv, True)
    return digest([y, rm, rv, saved.mean, saved.var, *rc.batch_norm_backward(x * 0.25, x, w, saved)])
