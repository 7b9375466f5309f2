"""Smoke test of the benchmark harness: every registered case runs and the report has the
documented structure. No timing assertions (figures on a shared machine prove nothing)."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

import regcore
from regcore import _native
from regcore.bench import Options, _report, _runner, _torch
from regcore.bench import run as bench_run

from _bench_report import FAMILIES, check_row

native = pytest.mark.skipif(_native.cpu is None, reason="native CPU module not built")

CASE_KEYS = {"id", "name", "family", "kernel", "dtype", "backend", "uses_isa", "bytes_formula",
             "state_formula", "items", "sizes", "quick_sizes", "shape"}


def _tiny_n(case) -> int:
    """The smallest size a case's geometry allows (a whole layer of batch 1, 4 SGD tensors), else
    1000: not a multiple of any vector width or of the chunk size."""
    return min(case["quick_sizes"]) if case["quick_sizes"] else 1000


def _cases():
    return list(_native.cpu.bench_cases()) if _native.cpu is not None else []


@native
def test_registration_survives_linking():
    ids = {c["id"] for c in _cases()}
    # Registered from separate object files by file-scope initializers: all must be there.
    assert {"baseline.copy:float32", "baseline.copy:float64"} <= ids
    assert {"random.bits:uint32", "random.uniform:float32", "random.uniform:float64",
            "random.normal:float32", "random.normal:float64"} <= ids
    assert len(ids) == len(_cases())  # ids are unique
    assert {c["family"] for c in _cases()} >= FAMILIES
    for c in _cases():
        assert set(c) == CASE_KEYS
        assert c["backend"] in ("cpu", "cuda")
        assert c["id"] == f"{c['family']}.{c['kernel']}:{c['dtype']}"
        assert c["bytes_formula"] and c["state_formula"]
        # a fixed geometry states both its full and its quick sizes
        assert bool(c["sizes"]) == bool(c["quick_sizes"])
        assert all(n > 0 for n in c["sizes"] + c["quick_sizes"])


@native
@pytest.mark.parametrize("case", _cases(), ids=lambda c: c["id"])
def test_every_case_runs_at_every_isa(case):
    isas = regcore.available_isas() if case["uses_isa"] else [""]
    n = _tiny_n(case)
    for isa in isas:
        r = _native.cpu.bench_run(case["name"], case["dtype"], n, threads=1, isa=isa, warmup=0,
                                  repeats=2, min_sample_s=0.0)
        assert len(r["times_s"]) == 2 and all(t > 0 for t in r["times_s"])
        assert r["min_s"] <= r["median_s"] <= r["max_s"]
        assert r["threads"] == 1 and r["inner"] == 1
        if isa:
            assert r["isa"] == isa
        mb, sb = _native.cpu.bench_bytes(case["name"], case["dtype"], n)
        assert (r["min_bytes"], r["state_bytes"]) == (mb, sb)
        assert mb >= n * np.dtype(case["dtype"]).itemsize  # every kernel writes its output
        assert sb >= 0


@native
@native
def test_fixed_geometry_case_refuses_a_size_its_shape_cannot_hold():
    with pytest.raises(ValueError, match="n"):
        _native.cpu.bench_run("batchnorm.forward_nchw", "float32", 1000, threads=1, warmup=0,
                              repeats=1, min_sample_s=0.0)


def test_python_kernels_match_native_geometry():
    """A peers module lays out n as its native case does and runs at the same sizes."""
    natives = _runner.native_cases()
    kernels = _runner.python_kernels()
    assert {k.family for k in kernels.values()} >= FAMILIES
    for k in kernels.values():
        for d in k.dtypes:
            hit = natives.get((k.name, d, "cpu"))
            if hit is None:
                continue
            case = hit[1]
            assert list(k.sizes or []) == list(case["sizes"]), k.name
            assert list(k.quick_sizes or []) == list(case["quick_sizes"]), k.name
            for n in list(case["sizes"]) + list(case["quick_sizes"]):
                assert math.prod(k.shape_for(n)) == n


@native
def test_run_restores_isa_and_threads():
    isa, threads = regcore.active_isa(), regcore.get_num_threads()
    _native.cpu.bench_run("random.uniform", "float32", 4096, threads=1, isa="scalar", warmup=0,
                          repeats=1, min_sample_s=0.0)
    assert (regcore.active_isa(), regcore.get_num_threads()) == (isa, threads)


@native
@pytest.mark.parametrize("kwargs, needle", [
    (dict(name="random.nope", dtype="float32", n=10), "name"),
    (dict(name="random.uniform", dtype="int8", n=10), "name"),
    (dict(name="random.uniform", dtype="float32", n=0), "n"),
    (dict(name="random.uniform", dtype="float32", n=10, threads=-1), "threads"),
    (dict(name="random.uniform", dtype="float32", n=10, isa="sse9"), "sse9"),
    (dict(name="random.uniform", dtype="float32", n=10, repeats=0), "repeats"),
])
def test_bad_run_arguments(kwargs, needle):
    isa, threads = regcore.active_isa(), regcore.get_num_threads()
    with pytest.raises(ValueError, match=needle):
        _native.cpu.bench_run(**kwargs)
    assert (regcore.active_isa(), regcore.get_num_threads()) == (isa, threads)


def test_python_kernels_state_their_bytes():
    natives = _runner.native_cases()
    for k in _runner.python_kernels().values():
        assert "." in k.name and k.dtypes
        for d in k.dtypes:
            hit = natives.get((k.name, d, "cpu"))
            assert hit or k.min_bytes, f"{k.name}:{d} has neither a native case nor min_bytes"
            if hit and k.min_bytes:  # both: they must agree
                n = 1 << 16
                assert hit[0].bench_bytes(k.name, d, n)[0] == k.min_bytes(n, np.dtype(d).itemsize)


def _tiny_run(folder):
    rep = bench_run(Options(sizes=[4096], threads=[1], quick=True, warmup=0, repeats=1, progress=False))
    (folder / "report.json").write_text(json.dumps(rep))


@pytest.fixture
def tiny_report(once):
    """One tiny in-process run, made once per test session (under pytest-xdist the first worker to
    ask runs it and the others read it, instead of each worker paying its seconds), read back from
    its JSON as the command line's report.json is."""
    return json.loads((once("bench-smoke-tiny-report", _tiny_run) / "report.json").read_text())


def test_report_structure(tiny_report):
    rep = tiny_report
    assert rep["schema"] == _runner.SCHEMA
    assert {"cpu_model", "logical_cpus", "isa_levels", "numpy", "torch", "regcore"} <= set(rep["machine"])
    assert rep["options"]["sizes"] == [4096] and rep["options"]["threads"] == [1]
    for r in rep["results"]:
        check_row(r)
        if r["impl"] == "regcore":
            assert set(r["speedup"]) <= {p["backend"] for p in rep["results"] if p["impl"] == "peer"}
            assert all(v > 0 for v in r["speedup"].values())
    for s in rep["skipped"]:
        assert s["reason"] and s["name"]
    # every family has regcore rows and peer rows
    assert {r["family"] for r in rep["results"] if r["impl"] == "regcore"} >= FAMILIES
    assert {r["family"] for r in rep["results"] if r["impl"] == "peer"} >= FAMILIES
    if _native.cpu is None:
        return
    # Every native case appears at every ISA level it depends on; copy ran before and after.
    ids = {(r["id"], r["isa"]) for r in rep["results"] if r["timing"] == "native"}
    for c in _cases():
        if c["family"] == "baseline":
            continue
        for isa in (regcore.available_isas() if c["uses_isa"] else [None]):
            assert (c["id"], isa) in ids
    before, after = rep["baseline"]["before"], rep["baseline"]["after"]
    assert before and len(before) == len(after)
    for b, a in zip(before, after):
        assert (b["n"], b["dtype"], b["threads"]) == (a["n"], a["dtype"], a["threads"])
        assert b["gbps"] > 0 and "drift" in b
    assert all(r["pct_copy"] is not None for r in rep["results"] if r["device"] == "cpu")
    # The pure-NumPy backend runs as a row of its own.
    assert any(r["backend"] == "numpy" and r["impl"] == "regcore" for r in rep["results"])


def test_report_renders(tiny_report, tmp_path):
    text = _report.terminal(tiny_report)
    md = _report.markdown(tiny_report)
    for r in tiny_report["results"]:
        assert r["name"] in text and r["name"] in md
    assert "| kernel |" in md


def test_plot(tiny_report, tmp_path):
    pytest.importorskip("matplotlib")
    if not any(r.get("pct_copy") is not None for r in tiny_report["results"]):
        pytest.skip("no copy baseline without the native module")
    from regcore.bench import _plot

    path = tmp_path / "bench.png"
    _plot.plot(tiny_report, str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_without_torch_peers_are_skipped_not_failed(monkeypatch):
    monkeypatch.setattr(_torch, "get", lambda: None)
    monkeypatch.setattr(_torch, "cuda_available", lambda: False)
    rep = bench_run(Options(sizes=[4096], threads=[1], filter="random.uniform:float32", warmup=0,
                            repeats=1, progress=False))
    assert rep["results"] and not any(r["backend"].startswith("torch") for r in rep["results"])
    assert any("PyTorch is not installed" in s["reason"] for s in rep["skipped"])


def test_unmerged_family_is_skipped_with_reason():
    rep_kernels = _runner.python_kernels()
    for name in ("init.trunc_normal", "init.kaiming_normal"):
        k = rep_kernels[name]
        reason = k.available()
        has_native = (name, "float32", "cpu") in _runner.native_cases()
        if reason is None or has_native:
            continue
        tasks, skipped = _runner.plan(Options(sizes=[4096], threads=[1], filter=name).resolved())
        assert not tasks
        assert any(s["name"] == name and "init" in s["reason"] for s in skipped)


def test_default_plan_without_ml_dtypes_skips_bfloat16_rows(monkeypatch):
    """The main job on a machine without ml_dtypes: its bfloat16 rows are skipped with the
    reason, not a TypeError from NumPy (which knows no bfloat16 without it)."""
    from regcore import _dtypes

    monkeypatch.setattr(_dtypes, "bfloat16", lambda: None)
    tasks, skipped = _runner.plan(Options().resolved())
    assert tasks and all(t.dtype != "bfloat16" for t in tasks)
    bf16 = [s for s in skipped if s["dtype"] == "bfloat16"]
    assert bf16 and all("ml_dtypes" in s["reason"] for s in bf16)


def test_quick_run_plans_every_family():
    """`--quick` with no filter (what CI runs) covers every registered kernel of every family."""
    tasks, _ = _runner.plan(Options(quick=True).resolved())
    assert {t.name.split(".")[0] for t in tasks if t.kind != "copy"} >= FAMILIES
    planned = {(t.name, t.dtype) for t in tasks}
    for (name, dtype, dev) in _runner.native_cases():
        if dev == "cpu":
            assert (name, dtype) in planned


cuda_module = pytest.mark.skipif(_native.cuda is None or not hasattr(_native.cuda, "bench_cases"),
                                 reason="CUDA module not built")


@native
@cuda_module
def test_cuda_cases_mirror_cpu_cases():
    # Registered in the CUDA module (no GPU needed to list them): same ids and byte counts as
    # the CPU cases, so cuda rows line up with cpu rows and the device copy baseline.
    cpu_ids = {c["id"] for c in _cases()}
    cuda_cases = list(_native.cuda.bench_cases())
    assert {"baseline.copy:float32", "baseline.copy:float64"} <= {c["id"] for c in cuda_cases}
    for c in cuda_cases:
        assert set(c) == CASE_KEYS and c["backend"] == "cuda"
        if c["id"] in cpu_ids:
            for n in (1000, 1 << 20):
                assert _native.cuda.bench_bytes(c["name"], c["dtype"], n) == \
                    _native.cpu.bench_bytes(c["name"], c["dtype"], n)


@pytest.mark.cuda
@cuda_module
def test_every_cuda_case_runs():
    if not _native.cuda.devices():
        pytest.skip("no CUDA device visible")
    for c in _native.cuda.bench_cases():
        r = _native.cuda.bench_run(c["name"], c["dtype"], _tiny_n(c), warmup=1, repeats=2, min_sample_s=0.0)
        assert len(r["times_s"]) == 2 and all(t > 0 for t in r["times_s"])
        assert r["min_s"] <= r["median_s"] <= r["max_s"]
