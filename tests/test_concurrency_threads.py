"""Python threads calling regcore at once (a ThreadPoolExecutor of 4, as a serving process or a
data pipeline runs it) get the bits the same work gets run serially: regcore's modules forward
and backward, array-API calls on NumPy arrays, each job with generators of its own. Meanwhile
another thread changes the thread counts (and, for the random operators, whose bits are the same
at every ISA level, the ISA level), with the operators' signature caches as they are and kept
tiny (cleared while other threads read them). What is checked is deterministic (per-job digests
against the serial run); what interleaves is not: the interpreter switches threads every 10 us,
and a planted fault (one output buffer per cached plan, shared by the threads running it) was
caught by several of these tests in every run tried."""
from __future__ import annotations

import concurrent.futures
import contextlib
import os
import subprocess
import sys
import threading
import time

import pytest
from _torch_helpers import rct, torch

import _concurrency_jobs as jobs
import regcore as rc
from regcore import _native

native = pytest.mark.skipif(_native.cpu is None, reason="native CPU module not built")
WORKERS = 4


@pytest.fixture(params=["tiny caches", "default caches"])
def caches(request, monkeypatch):
    """Signature caches that start over every few entries (cleared all the time, under the other
    threads' lookups), or as they are (a signature's plan runs for several threads at once)."""
    from regcore.torch import _autograd, _fastpath

    if request.param == "tiny caches":
        monkeypatch.setattr(_fastpath, "_SEEN_MAX", 2)
        monkeypatch.setattr(_autograd, "_NEXT_KEYS_MAX", 2)


@contextlib.contextmanager
def switching(isa=False):
    """A thread that keeps changing regcore's and torch's thread counts (and the ISA level) until
    the block ends; everything is restored afterwards."""
    before = rc.get_num_threads(), torch.get_num_threads(), rc.active_isa()
    levels = rc.available_isas() if isa else []
    stop = threading.Event()

    def switch():
        k = 0
        while not stop.is_set():
            k += 1
            rc.set_num_threads(1 + k % 2)
            torch.set_num_threads(1 + (k // 2) % 2)
            if levels:
                rc.set_isa(levels[k % len(levels)])
            time.sleep(0.0005)

    t = threading.Thread(target=switch)
    t.start()
    try:
        yield
    finally:
        stop.set()
        t.join()
        rc.set_num_threads(before[0])
        torch.set_num_threads(before[1])
        if before[2] is not None:
            rc.set_isa(before[2])


def concurrently(fn, items):
    # (the interpreter switches threads every 10 us instead of 5 ms: far more interleavings)
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        with concurrent.futures.ThreadPoolExecutor(WORKERS) as pool:
            return list(pool.map(fn, items))
    finally:
        sys.setswitchinterval(interval)


def assert_same(got, want, label):
    bad = [i for i, (a, b) in enumerate(zip(got, want)) if a != b]
    assert not bad, f"{label}: {len(bad)} of {len(want)} results differ from the serial run, e.g. {bad[:8]}"


@native
def test_threads_running_modules_and_array_calls_get_the_serial_bits(caches):
    ids = range(24 * len(jobs.KINDS))
    serial = [jobs.job(i) for i in ids]
    with switching():
        for _ in range(2):
            assert_same(concurrently(jobs.job, ids), serial, "concurrent jobs")


@native
def test_random_operators_in_threads_get_the_serial_bits_while_the_isa_level_changes(caches):
    def random_job(i):
        return jobs.job(i, jobs.RANDOM)
    ids = range(12 * len(jobs.RANDOM))
    serial = [random_job(i) for i in ids]
    with switching(isa=True):
        for _ in range(2):
            assert_same(concurrently(random_job, ids), serial, "concurrent random jobs")


def test_one_eval_model_served_from_threads_gives_the_serial_outputs(caches):
    # one model shared by every thread (inference: nothing in it changes), under no_grad and
    # inference_mode
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), rct.nn.BatchNorm2d(8), rct.nn.GroupNorm(2, 8),
                                torch.nn.Flatten(), rct.nn.LayerNorm(8 * 6 * 6), rct.nn.Dropout(0.3)).eval()

    def serve(i):
        x = torch.randn(1 + i % 5, 3, 8, 8, generator=torch.Generator().manual_seed(i))
        with torch.inference_mode() if i % 2 else torch.no_grad():
            return jobs.digest([model(x)])
    ids = range(120)
    serial = [serve(i) for i in ids]
    with switching():
        assert_same(concurrently(serve, ids), serial, "served requests")


@native
def test_threads_first_to_call_regcore_in_a_fresh_process_get_the_serial_bits():
    # Everything regcore sets up on first use (backends, the pool's workers, ml_dtypes, the
    # operators' caches, the bindings' dtype lookups) is first used by four threads at once. A
    # deadlock there would hang: the run is bounded.
    code = (f"import sys; sys.path.insert(0, {os.path.dirname(__file__)!r})\n"
            "import concurrent.futures, _concurrency_jobs as jobs\n"
            "ids = range(4 * len(jobs.KINDS))\n"
            f"with concurrent.futures.ThreadPoolExecutor({WORKERS}) as pool:\n"
            "    got = list(pool.map(jobs.job, ids))\n"
            "print(sum(a != jobs.job(i) for i, a in zip(ids, got)))\n")
    env = {k: v for k, v in os.environ.items() if k not in ("REGCORE_NUM_THREADS", "OMP_NUM_THREADS")}
    env["REGCORE_NUM_THREADS"] = "2"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["0"], done.stdout + done.stderr[-2000:]


def test_threads_drawing_from_one_generator_get_disjoint_counter_ranges():
    # One regcore.Generator shared by every thread (one module called from several threads, or
    # the array API's calls): which thread draws first is up to the scheduler, but no two calls
    # may read the same counter blocks, and none may be lost.
    from regcore.torch import _rng

    g = rc.Generator(7)
    sizes = [(1 + i % 9) * 40 for i in range(160)]

    def draw(i):
        x = torch.ones(sizes[i])
        if i % 2:
            rct.nn.functional.dropout(x, 0.5, generator=g)
            return None
        mask = rc.dropout(x.numpy(), 0.5, generator=g)[1]
        return mask.offset, _rng.blocks_for(sizes[i])
    ranges = sorted(r for r in concurrently(draw, range(len(sizes))) if r is not None)
    assert g.offset == sum(_rng.blocks_for(n) for n in sizes)
    assert all(a + n <= b for (a, n), (b, _) in zip(ranges, ranges[1:])), "two calls read the same counter blocks"


@native
def test_overlapping_threadpool_limits_of_two_threads_cap_both_blocks_and_restore_the_count():
    # Each block restored the count it had seen on entry: thread A's block opened (2 -> 1), then
    # B's (seeing 1), then A's closed (back to 2, with B's block still open: uncapped), then B's
    # (to 1, for the rest of the process).
    before = rc.get_num_threads()
    rc.set_num_threads(2)
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    seen = {}

    def a():
        with rc.threadpool_limits(1):
            a_in.set()
            b_in.wait(10)
        a_out.set()

    def b():
        a_in.wait(10)
        with rc.threadpool_limits(1):
            b_in.set()
            a_out.wait(10)
            seen["inside B after A"] = rc.get_num_threads()
    try:
        threads = [threading.Thread(target=a), threading.Thread(target=b)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(20)
        seen["after both"] = rc.get_num_threads()
    finally:
        rc.set_num_threads(before)
    assert seen == {"inside B after A": 1, "after both": 2}
