"""Weight averaging on CUDA: the same bits as the NumPy backend through the array API and
through regcore.torch's AveragedModel / EMA (skipped without a GPU)."""
from __future__ import annotations

import copy

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

STEPS = [("swa", 0), ("ema", 0.999), ("ema", 0.3), ("swa", 1), ("swa", 4), ("ema", 1.0), ("ema", 0.0), ("ema", 0.9)]


def _step(kind, arg, avgs, params):
    (rc.ema_update_ if kind == "ema" else rc.swa_update_)(avgs, params, arg)


@pytest.mark.parametrize("mix", [False, True], ids=["float32", "mixed"])
def test_cuda_update_matches_numpy_bits(mix):
    rng = np.random.default_rng(6)
    # More tensors than a launch table holds (64), one over more chunks than a launch (320).
    shapes = [(330 * 65536 + 3,)] + [(5, 7, 3)] * 100 + [(0, 3)] + [(64, 129)] * 30 + [(7,)]
    dts = [np.float64 if mix and i % 3 == 1 else np.float32 for i in range(len(shapes))]
    params = [[rng.standard_normal(s).astype(d) for s, d in zip(shapes, dts)] for _ in STEPS]
    ref = [rng.standard_normal(s).astype(d) for s, d in zip(shapes, dts)]
    dev = [torch.from_numpy(a.copy()).cuda() for a in ref]
    for (kind, arg), ps in zip(STEPS, params):
        with rc.use_backend("numpy"):
            _step(kind, arg, ref, ps)
        _step(kind, arg, dev, [torch.from_numpy(p).cuda() for p in ps])
        torch.cuda.synchronize()
        for i, (d, r) in enumerate(zip(dev, ref)):
            assert d.cpu().numpy().tobytes() == r.tobytes(), (kind, arg, i)


def test_cuda_torch_helpers_match_cpu_bits():
    from regcore.torch.optim import swa_utils

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.BatchNorm2d(8), torch.nn.Flatten(),
                                torch.nn.Linear(8 * 6 * 6, 4))
    gpu = copy.deepcopy(model).cuda()
    cpu_avg, gpu_avg = swa_utils.AveragedModel(model), swa_utils.AveragedModel(gpu)
    cpu_ema, gpu_ema = swa_utils.EMA(model, decay=0.9), swa_utils.EMA(gpu, decay=0.9)
    for step in range(4):
        with torch.no_grad():
            for p, q in zip(model.parameters(), gpu.parameters()):
                delta = torch.randn(p.shape, generator=torch.Generator().manual_seed(step))
                p.add_(delta)
                q.add_(delta.cuda())
        cpu_avg.update_parameters(model)
        gpu_avg.update_parameters(gpu)
        cpu_ema.update()
        gpu_ema.update()
    for a, b in zip(cpu_avg.parameters(), gpu_avg.parameters()):
        assert torch.equal(a, b.cpu())
    for a, b in zip(cpu_ema.shadow, gpu_ema.shadow):
        assert torch.equal(a, b.cpu())


def test_cuda_bad_input_writes_nothing():
    a = [torch.zeros(4, device="cuda"), torch.zeros(3, device="cuda")]
    with pytest.raises(ValueError, match=r"^params\[1\]: "):
        rc.ema_update_(a, [torch.ones(4, device="cuda"), torch.ones(5, device="cuda")], 0.5)
    with pytest.raises(ValueError, match=r"^params\[0\]: "):
        rc.ema_update_(a[:1], [torch.ones(4)], 0.5)
    assert all(int(torch.count_nonzero(t)) == 0 for t in a)
