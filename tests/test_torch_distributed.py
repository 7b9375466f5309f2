"""SyncBatchNorm over torch.distributed: two processes on gloo (CPU tensors), uneven batches and
a rank with an empty batch, equal to one process's batch norm on the concatenated batch (y,
dx, running statistics, and dgamma/dbeta summed over ranks), also inside
DistributedDataParallel on the CPU. The worker is tests/torch_syncbn_worker.py."""
from __future__ import annotations

import copy
import inspect
import os
import subprocess
import sys

import pytest

from _torch_helpers import rct, torch

nn = torch.nn
gloo = pytest.mark.skipif(not torch.distributed.is_available() or not torch.distributed.is_gloo_available(),
                          reason="torch.distributed with gloo is not available")

HERE = os.path.dirname(os.path.abspath(__file__))


def test_sync_batch_norm_is_torchs_batch_norm_but_not_torchs_sync_batch_norm():
    # DistributedDataParallel refuses CPU models holding an instance of torch's SyncBatchNorm
    m = rct.nn.SyncBatchNorm(4, 1e-3, None, True, False, "group")
    assert not isinstance(m, nn.SyncBatchNorm) and isinstance(m, nn.modules.batchnorm._BatchNorm)
    assert (m.eps, m.momentum, m.affine, m.track_running_stats, m.process_group) == (1e-3, None, True, False, "group")
    ours, theirs = (inspect.signature(c.__init__).parameters for c in (rct.nn.SyncBatchNorm, nn.SyncBatchNorm))
    positional = [(p.name, p.default) for p in theirs.values() if p.kind == p.POSITIONAL_OR_KEYWORD]
    assert [(p.name, p.default) for p in ours.values() if p.kind == p.POSITIONAL_OR_KEYWORD] == positional
    if "bias" in theirs:   # torch's keyword-only extras pass through
        assert rct.nn.SyncBatchNorm(4, bias=False).bias is None
    m = rct.nn.SyncBatchNorm(3, device="cpu", dtype=torch.float64)
    assert m.weight.dtype == torch.float64 and m.process_group is None
    with pytest.raises(ValueError, match="expected at least 2D input"):
        m(torch.ones(3, dtype=torch.float64))
    with pytest.raises(ValueError, match="input channels should be non-zero"):
        rct.nn.SyncBatchNorm(0)(torch.ones(2, 0))
    assert int(m.num_batches_tracked) == 0


def test_convert_takes_torchs_sync_batch_norm_and_leaves_regcores():
    model = nn.Sequential(nn.SyncBatchNorm(4), rct.nn.SyncBatchNorm(4))
    ours = model[1]
    rct.convert(model)
    assert type(model[0]) is rct.nn.SyncBatchNorm and model[1] is ours and type(ours) is rct.nn.SyncBatchNorm
    assert rct.convert_sync_batchnorm(model)[1] is ours
    assert rct.nn.SyncBatchNorm.convert_sync_batchnorm(ours) is ours
    theirs = nn.Sequential(nn.SyncBatchNorm(4, momentum=0.3).eval())   # (torch's recipe applied first)
    converted = rct.convert_sync_batchnorm(theirs)[0]
    assert type(converted) is rct.nn.SyncBatchNorm and converted.momentum == 0.3 and not converted.training


@gloo
def test_one_rank_data_parallel_on_cpu(tmp_path, monkeypatch):
    monkeypatch.setenv("GLOO_SOCKET_IFNAME", "lo")
    torch.distributed.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        ref = nn.Sequential(nn.Linear(8, 8), nn.BatchNorm1d(8))
        model = rct.convert_sync_batchnorm(copy.deepcopy(ref))
        assert type(model[1]) is rct.nn.SyncBatchNorm
        ddp = nn.parallel.DistributedDataParallel(model)
        x = torch.randn(6, 8, generator=torch.Generator().manual_seed(0))
        y, yr = ddp(x), ref(x)   # one rank: regcore's batch norm
        torch.testing.assert_close(y, yr)
        y.square().sum().backward(), yr.square().sum().backward()
        for a, b in zip(ref.parameters(), model.parameters()):
            torch.testing.assert_close(b.grad, a.grad, rtol=1e-4, atol=2e-5)
        torch.testing.assert_close(model[1].running_var, ref[1].running_var)
    finally:
        torch.distributed.destroy_process_group()


def run_ranks(script, tmp_path, *args, world=2):
    """Runs ``python script RANK WORLD STORE *args`` as ``world`` gloo processes over a file store;
    each must exit 0 and print "rank R: ok". Returns their outputs (rank order)."""
    env = dict(os.environ, GLOO_SOCKET_IFNAME="lo", OMP_NUM_THREADS="1")
    store = str(tmp_path / "store")
    procs = [subprocess.Popen([sys.executable, script, str(r), str(world), store, *args],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)
             for r in range(world)]
    outs = []
    for p in procs:
        try:
            out, _ = p.communicate(timeout=240)
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            raise
        outs.append((p.returncode, out))
    for rank, (code, out) in enumerate(outs):
        assert code == 0, f"rank {rank} failed:\n{out}"
        assert f"rank {rank}: ok" in out
    return [out for _, out in outs]


@gloo
def test_two_process_gloo_sync_batch_norm(tmp_path):
    run_ranks(os.path.join(HERE, "torch_syncbn_worker.py"), tmp_path)
