"""Timing from Python, for what the native registry cannot time: peers (NumPy, PyTorch) and
regcore's own API rows. Same protocol as csrc/bench/timer.h (warm-ups, enough calls per sample
to last min_sample_s, median of the samples), with time.perf_counter; a row stops early after
budget_s once it has 3 samples, so a slow peer cannot stall the run.
"""
from __future__ import annotations

import math
import statistics
import time


def time_callable(fn, *, warmup: int, repeats: int, min_sample_s: float, budget_s: float,
                  sync=None, max_inner: int = 1 << 14) -> dict:
    sync = sync or (lambda: None)

    def sample(inner: int) -> float:
        sync()
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        sync()
        return time.perf_counter() - t0

    start = time.perf_counter()
    one = 0.0
    for _ in range(max(1, warmup)):
        one = sample(1)
        if time.perf_counter() - start > budget_s:
            break
    inner = 1
    if one > 0 and min_sample_s > 0:
        inner = int(min(max_inner, max(1, math.ceil(min_sample_s / one))))
    times = []
    start = time.perf_counter()
    for i in range(repeats):
        times.append(sample(inner) / inner)
        if i >= 2 and time.perf_counter() - start > budget_s:
            break
    return {"times_s": times, "median_s": statistics.median(times), "min_s": min(times),
            "max_s": max(times), "inner": inner}
