"""What every row of a benchmark report holds (tests/test_bench_smoke.py checks reports made in the
test process, tests/test_bench_cli.py the ones the command line writes)."""
from __future__ import annotations

import math

ROW_KEYS = {
    "id", "name", "family", "kernel", "dtype", "n", "shape", "impl", "backend", "label", "device",
    "isa", "threads", "timing", "median_s", "min_s", "max_s", "times_s", "inner", "min_bytes",
    "bytes_formula", "state_bytes", "state_formula", "items", "gbps", "items_per_s", "copy_gbps",
    "pct_copy", "speedup",
}
FAMILIES = {"random", "init", "dropout", "batchnorm", "sgd"}


def check_row(r):
    assert ROW_KEYS <= set(r), ROW_KEYS - set(r)
    assert r["impl"] in ("regcore", "peer")
    assert r["median_s"] > 0 and r["min_s"] <= r["median_s"] <= r["max_s"]
    assert r["timing"] in ("native", "python") or r["timing"].startswith("native-")
    assert r["shape"] and math.prod(r["shape"]) == r["n"]
    if r["min_bytes"] is not None:
        assert math.isclose(r["gbps"], r["min_bytes"] / r["median_s"] / 1e9)
    assert math.isclose(r["items_per_s"], r["n"] / r["median_s"])
    if r["pct_copy"] is not None:
        assert math.isclose(r["pct_copy"], 100 * r["gbps"] / r["copy_gbps"])
