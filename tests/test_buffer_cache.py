"""The cache of large CPU output buffers (regcore._buffer_cache): an output's memory is reused by
the next output of its size only once every view of it (NumPy or torch.from_numpy) is gone, the
idle memory never exceeds the cap, 0 turns it off, and reused memory gives the same results."""
from __future__ import annotations

import gc
import os
import threading

import numpy as np
import pytest

import regcore as rc
import _fresh_import
from regcore import _arrays

pytestmark = pytest.mark.skipif(not rc.build_info()["native_cpu"], reason="native CPU module not built")

MB = 1 << 20
N = 2 * MB // 4      # float32 elements of a 2 MiB output: above the cache's 1 MiB threshold


def addr(a) -> int:
    return int(np.asarray(a).__array_interface__["data"][0]) if isinstance(a, np.ndarray) else int(a.data_ptr())


@pytest.fixture
def cache():
    """A known cache state (64 MiB cap, nothing idle), the previous cap restored afterwards."""
    gc.collect()
    old = rc.set_buffer_cache_limit(64 * MB)
    rc.empty_buffer_cache()
    yield
    rc.set_buffer_cache_limit(old)


def out(n=N, dtype=np.float32):
    return _arrays.empty_like_place(None, (n,), np.dtype(dtype))[0]


def test_reuse_after_the_output_dies(cache):
    a = out()
    p = addr(a)
    assert p % 64 == 0
    del a
    info = rc.buffer_cache_info()
    assert info["cached_buffers"] == 1 and info["cached_bytes"] == 2 * MB
    hits = info["hits"]
    b = out((N // 2), np.float64)   # same byte size, another dtype: same buffer
    assert addr(b) == p and rc.buffer_cache_info()["hits"] == hits + 1
    assert rc.buffer_cache_info()["cached_bytes"] == 0


def test_no_reuse_while_a_numpy_view_lives(cache):
    a = out()
    p = addr(a)
    v = a[3:].reshape(-1)[::2]
    del a
    assert rc.buffer_cache_info()["cached_buffers"] == 0
    b = out()
    assert addr(b) != p
    v[:] = 5            # still our memory: b is elsewhere
    assert not np.shares_memory(b, v)
    del v
    c = out()
    assert addr(c) == p


def test_no_reuse_while_a_torch_view_lives(cache):
    torch = pytest.importorskip("torch")
    a = out()
    p = addr(a)
    t = torch.from_numpy(a)[10:]
    del a
    gc.collect()
    assert addr(out()) != p
    del t
    assert addr(out()) == p


def test_regcore_torch_outputs_return_when_the_tensor_dies(cache):
    torch = pytest.importorskip("torch")
    import regcore.torch as rt

    x = torch.randn(N, requires_grad=True)
    drop = rt.nn.Dropout(0.5)
    y = drop(x)
    p = addr(y)
    y.sum().backward()
    del y
    gc.collect()
    y2 = drop(x)
    assert addr(y2) == p


def test_cap_is_respected_newest_idle_kept(cache):
    rc.set_buffer_cache_limit(5 * MB)
    arrays = [out() for _ in range(4)]          # 4 x 2 MiB, returned in order 0..3
    ptrs = [addr(a) for a in arrays]
    for i in range(4):
        arrays[i] = None
    info = rc.buffer_cache_info()
    assert info["cached_bytes"] == 4 * MB and info["cached_buffers"] == 2
    a, b = out(), out()
    assert (addr(a), addr(b)) == (ptrs[3], ptrs[2])
    del a, b
    big = out(8 * MB // 4)                      # larger than the cap: freed at once when it dies
    del big
    assert rc.buffer_cache_info()["cached_bytes"] == 4 * MB
    rc.set_buffer_cache_limit(2 * MB)           # lowering the cap frees the excess now
    assert rc.buffer_cache_info()["cached_bytes"] == 2 * MB


def test_zero_limit_disables_and_empty_frees(cache):
    a = out()
    del a
    assert rc.buffer_cache_info()["cached_bytes"] == 2 * MB
    rc.empty_buffer_cache()
    assert rc.buffer_cache_info()["cached_bytes"] == 0
    rc.set_buffer_cache_limit(0)
    hits = rc.buffer_cache_info()["hits"]
    for _ in range(3):
        a = out()
        del a
    info = rc.buffer_cache_info()
    assert info["cached_bytes"] == 0 and info["hits"] == hits and info["limit"] == 0


def test_small_outputs_are_not_cached(cache):
    a = out(1000)
    del a
    assert rc.buffer_cache_info()["cached_buffers"] == 0


def test_reused_memory_gives_the_same_results(cache):
    x = np.random.default_rng(0).standard_normal(N).astype(np.float32)
    rc.set_buffer_cache_limit(0)
    y0, m0 = rc.dropout(x, 0.3, generator=rc.Generator(9))
    n0 = rc.gaussian_noise(x, 0.5, generator=rc.Generator(9))
    dx0 = rc.dropout_backward(x, m0)
    rc.set_buffer_cache_limit(64 * MB)
    for _ in range(3):   # dirty buffers come back in every round
        junk = [out() for _ in range(4)]
        for j in junk:
            j[:] = np.nan
        del junk, j
        y1, m1 = rc.dropout(x, 0.3, generator=rc.Generator(9))
        np.testing.assert_array_equal(y1, y0)
        np.testing.assert_array_equal(rc.gaussian_noise(x, 0.5, generator=rc.Generator(9)), n0)
        np.testing.assert_array_equal(rc.dropout_backward(x, m1), dx0)
        del y1, m1
    assert rc.buffer_cache_info()["hits"] > 0


def test_threads_never_share_a_live_buffer(cache):
    errors = []

    def work():
        try:
            for _ in range(50):
                a, b = out(), out()
                a[:] = 1
                b[:] = 2
                if addr(a) == addr(b) or a[0] != 1:
                    errors.append("shared")
                del a, b
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(repr(exc))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert rc.buffer_cache_info()["cached_bytes"] <= 64 * MB


def test_limit_argument_is_checked():
    with pytest.raises(ValueError, match="nbytes"):
        rc.set_buffer_cache_limit(-1)
    with pytest.raises(TypeError, match="nbytes"):
        rc.set_buffer_cache_limit(1.5)


def test_environment_variable_sets_the_cap():
    ok = _fresh_import.run("import regcore; print(regcore.buffer_cache_info()['limit'])",
                           {**os.environ, "REGCORE_BUFFER_CACHE_MB": "0"})
    assert ok.returncode == 0 and ok.stdout.strip() == "0", ok.stderr
    ok = _fresh_import.run("import regcore; print(regcore.buffer_cache_info()['limit'])",
                           {**os.environ, "REGCORE_BUFFER_CACHE_MB": "3"})
    assert ok.returncode == 0 and ok.stdout.strip() == str(3 * MB), ok.stderr
    bad = _fresh_import.run("import regcore", {**os.environ, "REGCORE_BUFFER_CACHE_MB": "lots"})
    assert bad.returncode != 0 and "REGCORE_BUFFER_CACHE_MB='lots'" in bad.stderr


def test_failed_allocation_frees_idle_buffers_first(cache):
    a = out()
    del a
    assert rc.buffer_cache_info()["cached_bytes"] == 2 * MB
    with pytest.raises(MemoryError):
        _arrays.empty_like_place(None, (2**58,), np.dtype(np.uint8))   # more than any address space
    assert rc.buffer_cache_info()["cached_bytes"] == 0


def test_without_the_native_module_outputs_are_plain_numpy(monkeypatch):
    from regcore import _native

    monkeypatch.setattr(_native, "cpu", None)
    a = out()
    assert addr(a) % 64 == 0 and a.shape == (N,)
    assert rc.set_buffer_cache_limit(5) == 0
    assert rc.buffer_cache_info() == {"limit": 0, "cached_bytes": 0, "cached_buffers": 0, "hits": 0, "misses": 0}
