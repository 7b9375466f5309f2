"""The contention benchmark section runs (tiny mode): every family's row, idle and loaded, at the
default thread count and 1, with median and p90 (timing itself is never asserted)."""
from __future__ import annotations

import json
import subprocess
import sys


def test_contention_section_runs_in_tiny_mode(tmp_path):
    out = tmp_path / "c.json"
    r = subprocess.run([sys.executable, "-m", "regcore.bench", "--contention", "--quick", "--sizes", "4K",
                        "--repeats", "3", "--no-progress", "--json", str(out)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    res = json.loads(out.read_text())
    kernels = {row["kernel"] for row in res["rows"]}
    assert {"dropout", "batch_norm", "layer_norm", "random.normal_", "init.trunc_normal_", "sgd_step_"} <= kernels
    assert {row["load"] for row in res["rows"]} == {"idle", "blas2"}
    assert {1, res["default_threads"]} == {row["threads"] for row in res["rows"]}
    assert all(row["p90_s"] >= row["median_s"] > 0 for row in res["rows"])
    assert "| kernel | n | threads |" in r.stdout
