"""SyncBatchNorm over torch.distributed: two processes on gloo (CPU tensors), uneven batches and
a rank with an empty batch, equal to one process's batch norm on the concatenated batch (y,
dx, running statistics, and dgamma/dbeta summed over ranks). The worker is
tests/torch_syncbn_worker.py."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from _torch_helpers import torch

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.mark.skipif(not torch.distributed.is_available() or not torch.distributed.is_gloo_available(),
                    reason="torch.distributed with gloo is not available")
def test_two_process_gloo_sync_batch_norm(tmp_path):
    env = dict(os.environ, GLOO_SOCKET_IFNAME="lo", OMP_NUM_THREADS="1")
    store = str(tmp_path / "store")
    procs = [subprocess.Popen([sys.executable, os.path.join(HERE, "torch_syncbn_worker.py"), str(r), "2", store],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)
             for r in range(2)]
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
