"""The averaging tests' shared sequence of updates (tests/test_averaging.py, the float32 averages of
16-bit parameters in tests/test_averaging_wide.py): tensor shapes, the steps, and a run of them."""
from __future__ import annotations

import numpy as np

import regcore as rc
from _switches import cpu_backend, num_threads

# Odd sizes, an empty tensor, one past a 65536-element chunk, several chunks plus a tail; the
# vector loops' two- and one-vector steps and the element tail all run.
SHAPES = [(7,), (0,), (3, 5), (1,), (65537,), (2, 70001), (33, 17)]
# EMA decays and SWA counts, ending at the end points: w = 1 (copy) and w = 0 (keep).
STEPS = [("ema", 0.999), ("ema", 0.9), ("ema", 0.3), ("ema", 0.5), ("swa", 0), ("swa", 1), ("swa", 2),
         ("swa", 7), ("ema", 0.0), ("ema", 1.0)]


def weight(kind, arg):
    """The weight w of the parameter in the step's average + w * (param - average)."""
    return 1.0 - arg if kind == "ema" else 1.0 / (arg + 1)


def step(kind, arg, avgs, params):
    (rc.ema_update_ if kind == "ema" else rc.swa_update_)(avgs, params, arg)


def run_steps(be, threads, avgs, params):
    """Every step of STEPS in turn on backend ``be`` with ``threads`` threads, the parameters
    rolled between steps; the averages after each step (a copy step would hide the earlier ones
    if only the end were compared)."""
    history = []
    with cpu_backend(be), num_threads(threads):
        for kind, arg in STEPS:
            step(kind, arg, avgs, params)
            history.append([a.copy() for a in avgs])
            params = [np.roll(p, 1) for p in params]
    return history
