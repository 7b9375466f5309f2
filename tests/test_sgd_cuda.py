"""Penalized SGD on CUDA: the same bits as the NumPy backend (skipped without a GPU)."""
from __future__ import annotations

import numpy as np
import pytest

import regcore as rc
from regcore import _native

torch = None
try:
    import torch  # type: ignore
except Exception:
    torch = None

HAVE = (_native.cuda is not None and _native.cuda.devices() and torch is not None
        and torch.cuda.is_available())
pytestmark = [pytest.mark.cuda, pytest.mark.skipif(not HAVE, reason="no CUDA device, CUDA build or torch")]

ALL_ON = dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01, decoupled_weight_decay=0.02,
              l1=0.01, max_norm=2.0)
COMBOS = [dict(momentum=0.0), dict(momentum=0.9, dampening=0.1, maximize=True),
          dict(momentum=0.5, l1=0.02, l1_mode="subgradient", weight_decay=0.01),
          dict(ALL_ON, max_norm_axis=0), dict(ALL_ON, max_norm_axis=-1), dict(ALL_ON, max_norm_axis=1)]


def bits(x):
    return np.ascontiguousarray(x).view(np.uint8)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("opts", COMBOS, ids=[str(i) for i in range(len(COMBOS))])
def test_cuda_multi_step_matches_numpy_bits(dtype, opts):
    rng = np.random.default_rng(4)
    # 200 tensors (more than one launch table) and one over several chunks.
    shapes = [(3, 70001)] + [(5, 7, 3)] * 120 + [(0, 3)] + [(64, 129)] * 80
    ws = [rng.standard_normal(s).astype(dtype) for s in shapes]
    gss = [[rng.standard_normal(s).astype(dtype) for s in shapes] for _ in range(3)]
    ref = [w.copy() for w in ws]
    rb = None
    with rc.use_backend("numpy"):
        for gs in gss:
            rb = rc.sgd_step_multi_(ref, gs, rb, **opts)
    dw = [torch.from_numpy(w.copy()).cuda() for w in ws]
    db = None
    for gs in gss:
        db = rc.sgd_step_multi_(dw, [torch.from_numpy(g).cuda() for g in gs], db, **opts)
    torch.cuda.synchronize()
    for i in range(len(ws)):
        assert np.array_equal(bits(dw[i].cpu().numpy()), bits(ref[i])), i
        if opts.get("momentum"):
            assert np.array_equal(bits(db[i].cpu().numpy()), bits(rb[i])), i


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cuda_penalty_matches_numpy_bits(dtype):
    rng = np.random.default_rng(5)
    xs = [rng.standard_normal(s).astype(dtype) for s in [(200001,), (3, 17), (0,)]]
    with rc.use_backend("numpy"):
        want = rc.penalty(xs, l1=0.01, l2=0.5)
    assert rc.penalty([torch.from_numpy(x).cuda() for x in xs], l1=0.01, l2=0.5) == want


def test_cuda_bad_input_leaves_tensors_untouched():
    w = [torch.ones(10, device="cuda"), torch.ones(10, device="cuda")]
    g = [torch.ones(10, device="cuda"), torch.ones(10, device="cuda", dtype=torch.float64)]
    with pytest.raises(TypeError, match=r"grads\[1\]"):
        rc.sgd_step_multi_(w, g, None)
    assert all(bool((x == 1).all()) for x in w)
    with pytest.raises(ValueError, match=r"^grad: "):
        rc.sgd_step_(torch.ones(10, device="cuda"), np.ones(10, np.float32))
