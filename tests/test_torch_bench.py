"""The torch_modules benchmark section runs: every kernel of python/regcore/bench/
peers_torch_modules.py gives a regcore row and a torch row with a speed-up at its smallest size
(one repeat, no warm-up; no figure is asserted: timing never goes in a test)."""
from __future__ import annotations

from _torch_helpers import torch  # noqa: F401  (skips without torch)

import regcore
from regcore.bench import Options, _runner
from regcore.bench import run as bench_run


def test_torch_modules_section_runs():
    kernels = [k for k in _runner.python_kernels() if k.startswith("torch_modules.")]
    assert {"torch_modules.dropout", "torch_modules.batchnorm2d", "torch_modules.layernorm", "torch_modules.sgd_l1",
            "torch_modules.mlp_step", "torch_modules.cnn_step"} <= set(kernels)
    best = regcore.available_isas()[-1:] or None
    rep = bench_run(Options(sizes=[256], threads=[1], isas=best, filter="torch_modules.", quick=True, warmup=0,
                            repeats=1, min_sample_s=0.0, budget_s=0.0, numpy_backend=False, progress=False))
    ours = {r["name"]: r for r in rep["results"] if r["impl"] == "regcore"}
    theirs = {r["name"] for r in rep["results"] if r["impl"] == "peer" and r["backend"] == "torch"}
    assert set(ours) == set(kernels) == theirs
    for r in ours.values():
        assert r["median_s"] > 0 and "torch" in r["speedup"]
