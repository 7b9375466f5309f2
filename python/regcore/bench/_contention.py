"""The ``contention`` section: each family's kernel idle and beside a co-running BLAS load.

Training loops run regcore next to BLAS matmuls, PyTorch's pool and data loaders. This section
times one kernel per family at each size, float32, four ways: {idle, loaded} x {default thread
count, 1 thread}, where "loaded" is a second process running 2-thread NumPy matmuls for the
whole measurement. Each row reports the median and the 90th percentile of per-call times (the
tail is where a preempted thread that holds work shows). A copy (np.copyto) of the same bytes
is timed before and after every row; if the copy drifts by more than 25% within one load
condition of the run, the figures are not comparable and the report says so.

Not part of the default run: ``python -m regcore.bench --contention`` (``--quick`` for a tiny
smoke run).
"""
from __future__ import annotations

import multiprocessing as mp
import os
import statistics
import time

import numpy as np

import regcore as rc

DRIFT_LIMIT = 0.25


def _blas_load(stop, ready):
    # 2-thread BLAS: set before NumPy loads its BLAS in this fresh (spawned) interpreter
    os.environ["OMP_NUM_THREADS"] = os.environ["OPENBLAS_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = "2"
    import numpy as _np

    a = _np.random.default_rng(0).standard_normal((384, 384))
    ready.set()
    while not stop.is_set():
        a = (a @ a) * (1.0 / 384.0)


def _kernels(n: int):
    """One kernel per family on n float32 values (with their outputs preallocated)."""
    g = rc.Generator(1)
    x = np.random.default_rng(0).standard_normal(n).astype(np.float32)
    out = np.empty_like(x)
    C = 64
    xb = x.reshape(-1, C, 1) if n % C == 0 else x.reshape(-1, 1, 1)
    rm, rv = np.zeros(xb.shape[1], np.float32), np.ones(xb.shape[1], np.float32)
    w, gr, buf = x.copy(), np.full_like(x, 1e-3), np.zeros_like(x)
    ln = x.reshape(-1, 1024) if n % 1024 == 0 else x.reshape(1, -1)
    return {
        "dropout": lambda: rc.dropout(x, 0.1, out=out, generator=g),
        "batch_norm": lambda: rc.batch_norm(xb, running_mean=rm, running_var=rv),
        "layer_norm": lambda: rc.layer_norm(ln),
        "random.normal_": lambda: rc.random.normal_(out, generator=g),
        "init.trunc_normal_": lambda: rc.init.trunc_normal_(out, generator=g),
        "sgd_step_": lambda: rc.sgd_step_(w, gr, buf, lr=1e-3, momentum=0.9),
    }, x, out


def _times(fn, repeats: int, warmup: int = 2) -> list:
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return ts


def _summary(ts: list) -> dict:
    s = sorted(ts)
    return {"median_s": statistics.median(s), "p90_s": s[min(len(s) - 1, int(round(0.9 * (len(s) - 1))))]}


def run_contention(sizes=(1 << 20, 1 << 24), repeats: int = 30, threads=None, progress=print) -> dict:
    """{"rows": [...], "copy": [...], "warnings": [...]} for every (kernel, size, load, threads)."""
    default = rc.get_num_threads()
    thread_counts = threads or sorted({default, 1}, reverse=True)
    rows, copies, warnings = [], [], []
    ctx = mp.get_context("spawn")
    for n in sizes:
        kernels, x, out = _kernels(n)
        copy = lambda: np.copyto(out, x)   # noqa: E731
        for load in ("idle", "blas2"):
            stop, ready, proc = ctx.Event(), ctx.Event(), None
            if load == "blas2":
                proc = ctx.Process(target=_blas_load, args=(stop, ready), daemon=True)
                proc.start()
                ready.wait(60)
                time.sleep(0.2)
            size_copies = []   # drift is judged within one load condition (the load itself slows copies)
            try:
                for name, fn in kernels.items():
                    for t in thread_counts:
                        with rc.threadpool_limits(t):
                            c0 = _summary(_times(copy, max(5, repeats // 3)))["median_s"]
                            s = _summary(_times(fn, repeats))
                            c1 = _summary(_times(copy, max(5, repeats // 3)))["median_s"]
                        copies += [c0, c1]
                        size_copies += [c0, c1]
                        row = {"kernel": name, "n": n, "load": load, "threads": t, **s}
                        rows.append(row)
                        if progress:
                            progress(f"  {name:20s} {n:>9d} {load:6s} t={t}: median {s['median_s'] * 1e3:8.3f} ms"
                                     f"  p90 {s['p90_s'] * 1e3:8.3f} ms")
            finally:
                if proc is not None:
                    stop.set()
                    proc.join(10)
                    if proc.is_alive():
                        proc.terminate()
            lo, hi = min(size_copies), max(size_copies)
            if lo > 0 and (hi - lo) / lo > DRIFT_LIMIT:
                warnings.append(f"copy baseline at n={n} ({load}) drifted by {100 * (hi - lo) / lo:.0f}% within "
                                f"the run ({lo * 1e3:.3f}..{hi * 1e3:.3f} ms): figures are not comparable")
    for w in warnings:
        if progress:
            progress("WARNING: " + w)
    return {"rows": rows, "copy_s": copies, "warnings": warnings, "default_threads": default}


def markdown(result: dict) -> str:
    """One table: per kernel and size, median / p90 in ms for idle and loaded at each thread count."""
    lines = ["| kernel | n | threads | idle median | idle p90 | loaded median | loaded p90 |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    by = {(r["kernel"], r["n"], r["threads"], r["load"]): r for r in result["rows"]}
    for (k, n, t, load), r in by.items():
        if load != "idle":
            continue
        lr = by.get((k, n, t, "blas2"))
        lines.append(f"| {k} | {n} | {t} | {r['median_s'] * 1e3:.3f} | {r['p90_s'] * 1e3:.3f} | "
                     f"{lr['median_s'] * 1e3:.3f} | {lr['p90_s'] * 1e3:.3f} |")
    lines += ["", *("> " + w for w in result["warnings"])]
    return "\n".join(lines) + "\n"
