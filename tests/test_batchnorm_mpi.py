"""Two real MPI processes run the split batch-norm API and must match single-process batch norm
(tests/mpi_batchnorm_worker.py does the work). Skipped without mpirun or mpi4py."""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys

import pytest

WORKER = os.path.join(os.path.dirname(__file__), "mpi_batchnorm_worker.py")


@pytest.mark.skipif(shutil.which("mpirun") is None, reason="mpirun (OpenMPI) not installed")
@pytest.mark.skipif(importlib.util.find_spec("mpi4py") is None, reason="mpi4py not installed")
def test_two_ranks_match_single_process():
    cmd = ["mpirun", "-n", "2", "--oversubscribe", "--allow-run-as-root", sys.executable, WORKER]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 failures" in proc.stdout
