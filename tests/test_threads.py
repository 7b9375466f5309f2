"""The CPU thread pool as a user meets it (docs/threading.md): one process-wide thread count,
bounded, scoped with threadpool_limits (and threadpoolctl), set from the environment at import;
results identical for any thread count, also with more threads than CPUs and with concurrent
callers; idle workers asleep; a forked child (a PyTorch DataLoader worker) can call regcore."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

import regcore as rc
from regcore import _native
import _fresh_import

native = pytest.mark.skipif(_native.cpu is None, reason="native CPU module not built")
LIMIT = rc._threads.thread_limit()


def run_python(code: str, env_extra=None, timeout=120):
    env = dict(os.environ)
    env.pop("REGCORE_NUM_THREADS", None)
    env.pop("OMP_NUM_THREADS", None)
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True,
                          text=True, timeout=timeout)


def fresh_import(code: str, env_extra):
    """run_python's result from a forked child that has imported NumPy but not regcore
    (tests/_fresh_import.py): for the tests of what `import regcore` reads from the environment."""
    env = {k: v for k, v in os.environ.items() if k not in ("REGCORE_NUM_THREADS", "OMP_NUM_THREADS")}
    env.update(env_extra)
    return _fresh_import.run(code, env)


@pytest.fixture
def restore_threads():
    before = rc.get_num_threads()
    yield
    rc.set_num_threads(before)


# ------------------------------------------------------------------ the setting

@native
def test_set_num_threads_applies_to_every_python_thread(restore_threads):
    rc.set_num_threads(1)
    seen = []
    t = threading.Thread(target=lambda: seen.append(rc.get_num_threads()))
    t.start()
    t.join()
    assert seen == [1]
    seen.clear()
    t = threading.Thread(target=lambda: rc.set_num_threads(2))
    t.start()
    t.join()
    assert rc.get_num_threads() == 2


@native
@pytest.mark.parametrize("n", [0, -1, LIMIT + 1, 2**31, 2**64, 10**400])
def test_set_num_threads_refuses_out_of_range_counts_naming_n(n, restore_threads):
    before = rc.get_num_threads()
    with pytest.raises(ValueError, match=r"^n: expected an integer in \[1, "):
        rc.set_num_threads(n)
    assert rc.get_num_threads() == before


@pytest.mark.parametrize("n", [1.5, True, "2", None, np.float64(2.0)])
def test_set_num_threads_refuses_non_integers_naming_n(n):
    with pytest.raises(TypeError, match=r"^n: "):
        rc.set_num_threads(n)


@native
def test_thread_limit_is_four_times_the_logical_cpus_and_accepted(restore_threads):
    assert LIMIT == 4 * os.cpu_count()
    rc.set_num_threads(LIMIT)
    assert rc.get_num_threads() == LIMIT
    assert rc.build_info()["thread_limit"] == LIMIT


@native
def test_threadpool_limits_caps_for_a_block_and_restores(restore_threads):
    rc.set_num_threads(2)
    with rc.threadpool_limits(1) as n:
        assert n == 1 and rc.get_num_threads() == 1
    assert rc.get_num_threads() == 2
    with rc.threadpool_limits(LIMIT):       # a cap above the setting leaves it as it is
        assert rc.get_num_threads() == 2
    with pytest.raises(KeyError):
        with rc.threadpool_limits(1):
            raise KeyError("inside")
    assert rc.get_num_threads() == 2
    with pytest.raises(ValueError, match="^n: "):
        with rc.threadpool_limits(0):
            pass


@native
@pytest.mark.parametrize("order", ["regcore_first", "threadpoolctl_first"])
def test_threadpoolctl_caps_and_lists_regcore(order):
    pytest.importorskip("threadpoolctl")
    imports = "import regcore as rc; import threadpoolctl" if order == "regcore_first" else \
              "import threadpoolctl; import regcore as rc"
    out = run_python(f"""
        {imports}
        rc.set_num_threads(2)
        info = [i for i in threadpoolctl.threadpool_info() if i["user_api"] == "regcore"]
        assert len(info) == 1 and info[0]["num_threads"] == 2, info
        with threadpoolctl.threadpool_limits(limits=1):
            assert rc.get_num_threads() == 1
        assert rc.get_num_threads() == 2
        with threadpoolctl.threadpool_limits(limits=1, user_api="regcore"):
            assert rc.get_num_threads() == 1
        print("ok")
    """)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


# ------------------------------------------------------------------ environment at import

@native
@pytest.mark.parametrize("env,expected", [
    ({"REGCORE_NUM_THREADS": "1"}, 1),
    ({"OMP_NUM_THREADS": "1"}, 1),
    ({"OMP_NUM_THREADS": "3,1"}, 3),            # nested OpenMP list: the first level applies
    ({"REGCORE_NUM_THREADS": "2", "OMP_NUM_THREADS": "1"}, 2),
    ({"OMP_NUM_THREADS": ""}, None),            # empty: unset
])
def test_thread_count_from_the_environment(env, expected):
    out = fresh_import("import regcore as rc; print(rc.get_num_threads())", env)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) == (expected if expected is not None else rc._native.cpu.usable_cpus())


@native
@pytest.mark.parametrize("env", [{"REGCORE_NUM_THREADS": "abc"}, {"REGCORE_NUM_THREADS": "0"},
                                 {"REGCORE_NUM_THREADS": str(LIMIT + 1)}, {"OMP_NUM_THREADS": "-2"},
                                 {"REGCORE_NUM_THREADS": "1.5"}])
def test_bad_thread_count_in_the_environment_fails_import_naming_it(env):
    out = fresh_import("import regcore", env)
    name = next(iter(env))
    assert out.returncode != 0
    assert "ImportError" in out.stderr and f"{name}=" in out.stderr and "positive integer" in out.stderr


# ------------------------------------------------------------------ results and behaviour

def _calls(threads):
    """A streaming kernel, ordered reductions (batch norm statistics, dbias, penalty, layer norm
    column sums), SGD work items and max-norm blocks, all large enough to use the pool."""
    with rc.threadpool_limits(LIMIT):
        rc.set_num_threads(threads)
        g = rc.Generator(11)
        x = rc.random.normal((64, 80, 9, 9), generator=g)
        y, _ = rc.dropout(x, 0.3, generator=g)
        bn, saved = rc.batch_norm(x, np.ones(80, np.float32), np.zeros(80, np.float32))
        dx, dg, db = rc.batch_norm_backward(y, x, np.ones(80, np.float32), saved)
        z = x.reshape(-1, 81 * 4)
        ba, st = rc.bias_act_dropout(z, np.full(z.shape[1], 0.1, np.float32), "gelu", 0.2, generator=g)
        bdx, bdb = rc.bias_act_dropout_backward(ba, st)
        ln, ls = rc.layer_norm(z, np.ones(z.shape[1], np.float32), np.zeros(z.shape[1], np.float32))
        ldx, ldg, ldb = rc.layer_norm_backward(ln, z, np.ones(z.shape[1], np.float32), ls)
        w = rc.random.normal((1000, 300), generator=g)
        buf = rc.sgd_step_(w, x.reshape(-1)[: w.size].reshape(w.shape), None, max_norm=0.5, max_norm_axis=1)
        pen = rc.penalty([w, x], l1=1e-3, l2=1e-2)
        return [y, bn, dx, dg, db, ba, bdx, bdb, ln, ldx, ldg, ldb, w, buf, np.array(pen)]


@native
def test_results_identical_for_any_thread_count_including_more_than_cpus(restore_threads):
    ref = _calls(1)
    for threads in sorted({2, 3, LIMIT}):
        for a, b in zip(ref, _calls(threads)):
            np.testing.assert_array_equal(a, b)


@native
def test_concurrent_callers_get_the_single_thread_results(restore_threads):
    ref = _calls(1)
    results, errors = [], []

    def worker():
        try:
            results.append(_calls(2))
        except Exception as exc:  # surfaced below
            errors.append(exc)

    ts = [threading.Thread(target=worker) for _ in range(3)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors
    for got in results:
        for a, b in zip(ref, got):
            np.testing.assert_array_equal(a, b)


def _thread_cpu_ticks():
    """utime + stime (clock ticks) of every thread of this process but the calling one."""
    me = threading.get_native_id()
    total = 0
    for tid in os.listdir("/proc/self/task"):
        if int(tid) == me:
            continue
        try:
            with open(f"/proc/self/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total


@native
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/task")
def test_idle_workers_sleep_instead_of_spinning(restore_threads):
    """After a parallel call the workers spin for at most the wait policy's bound (tens of
    microseconds), then sleep: over half a second of idleness they accumulate (almost) no CPU
    time. (OpenMP's default policy spins for a while; a spinning worker would gather ~50 ticks.)"""
    import time

    rc.set_num_threads(2)
    x = np.ones(1 << 22, np.float32)
    rc.dropout(x, 0.5, generator=rc.Generator(1))
    time.sleep(0.05)
    before = _thread_cpu_ticks()
    time.sleep(0.5)
    assert _thread_cpu_ticks() - before <= 5


FORK_CHILD = """
    import os, sys
    import numpy as np
    import regcore as rc
    rc.set_num_threads(2)
    x = np.arange(1 << 22, dtype=np.float32)
    ref, _ = rc.dropout(x, 0.5, generator=rc.Generator(4))     # the parent's workers now exist
    pid = os.fork()
    if pid == 0:
        y, _ = rc.dropout(x, 0.5, generator=rc.Generator(4))   # the child starts its own workers
        s = rc.batch_norm_stats(x.reshape(64, 16, -1))
        os._exit(0 if np.array_equal(y, ref) and np.isfinite(s).all() else 3)
    _, status = os.waitpid(pid, 0)
    print(os.waitstatus_to_exitcode(status))
"""


@native
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_a_forked_child_can_call_regcore():
    out = run_python(FORK_CHILD, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "0"


@native
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_pytorch_dataloader_workers_forked_from_a_busy_parent_can_call_regcore():
    pytest.importorskip("torch")
    out = run_python("""
        import numpy as np, torch, regcore as rc
        rc.set_num_threads(2)
        rc.dropout(np.ones(1 << 22, np.float32), 0.5, generator=rc.Generator(1))   # workers running

        class Data(torch.utils.data.Dataset):
            def __len__(self):
                return 8
            def __getitem__(self, i):
                x = np.full(1 << 20, float(i), np.float32)
                y, _ = rc.dropout(x, 0.5, generator=rc.Generator(i))
                return torch.from_numpy(y)

        loader = torch.utils.data.DataLoader(Data(), batch_size=2, num_workers=2,
                                             multiprocessing_context="fork")
        total = sum(float(b.sum()) for b in loader)
        ref = sum(float(rc.dropout(np.full(1 << 20, float(i), np.float32), 0.5,
                                   generator=rc.Generator(i))[0].sum()) for i in range(8))
        print(total == ref)
    """, timeout=180)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("True")
