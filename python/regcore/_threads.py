"""Threads of the native CPU kernels: one process-wide setting (docs/threading.md).

* ``set_num_threads(n)`` / ``get_num_threads()``: the setting every Python thread sees;
  ``1 <= n <= thread_limit()`` (4 x the machine's logical CPUs), else ``ValueError`` naming ``n``.
* ``threadpool_limits(n)``: the same for a block of code, restored afterwards.
* At import: ``REGCORE_NUM_THREADS``, or else ``OMP_NUM_THREADS`` (what regcore's OpenMP build
  honoured, and what data-loader recipes set), gives the initial count; a value that is not a
  count in range is an ImportError naming the variable. Without either: the CPUs this process may
  run on (affinity mask, cgroup quota).
* ``threadpoolctl``: regcore registers a controller, so ``threadpoolctl.threadpool_limits(1)``
  caps regcore too and ``threadpool_info()`` lists it, whichever of the two is imported first.

Results never depend on the thread count (fixed chunks, reductions in chunk order).
"""
from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import os
import sys
import threading

from . import _native
from ._errors import value_error
from ._validate import integer

__all__ = ["set_num_threads", "get_num_threads", "threadpool_limits", "thread_limit"]


def thread_limit() -> int:
    """The largest accepted thread count (1 without the native CPU module)."""
    return 1 if _native.cpu is None else int(_native.cpu.thread_limit())


def set_num_threads(n) -> None:
    """Threads for CPU kernels, process-wide (every Python thread); results never depend on it.

    ``1 <= n <= thread_limit()``; the workers are started here, so a system that cannot start them
    says so here (RuntimeError, the count then stays at what could be started)."""
    limit = thread_limit()
    n = integer("n", n)
    if not 1 <= n <= limit:
        raise value_error("n", f"an integer in [1, {limit}] (4 x the {limit // 4} logical CPUs of this "
                          "machine; more threads cannot speed up a memory-bound kernel)", n)
    if _native.cpu is None:
        return
    try:
        _native.cpu.set_threads(n)
    except RuntimeError as exc:
        raise RuntimeError(str(exc)) from None


def get_num_threads() -> int:
    return 1 if _native.cpu is None else int(_native.cpu.max_threads())


# The blocks of threadpool_limits open now, in every Python thread, and the count before the first
# of them opened. The count is the smallest of it and their caps, worked out again whenever a block
# opens or closes: when each block restored the count it saw on entry, two threads' overlapping
# blocks left the count at the cap for the rest of the process (the last to close restored the
# first one's cap), and the block open longer ran uncapped once the other closed.
_caps_lock = threading.Lock()
_caps: list = []
_uncapped = 1


def _apply_caps(caps) -> None:
    if _native.cpu is not None:
        _native.cpu.set_threads(min([_uncapped, *caps]))


@contextlib.contextmanager
def threadpool_limits(n):
    """Run the block with at most ``n`` kernel threads (process-wide, like threadpoolctl), then
    restore the previous count (the one before the outermost block, when blocks of several
    threads overlap). ``n=None`` leaves the count unchanged."""
    global _uncapped
    cap = thread_limit() if n is None else integer("n", n, lo=1)
    with _caps_lock:
        if not _caps:
            _uncapped = get_num_threads()
        _apply_caps([*_caps, cap])
        _caps.append(cap)
    try:
        yield get_num_threads()
    finally:
        with _caps_lock:
            _caps.remove(cap)
            _apply_caps(_caps)


# ------------------------------------------------------------------ environment, at import

def _env_threads():
    """(variable, count) from REGCORE_NUM_THREADS, else OMP_NUM_THREADS; (None, None) if unset."""
    for name in ("REGCORE_NUM_THREADS", "OMP_NUM_THREADS"):
        raw = os.environ.get(name)
        if raw is None or raw.strip() == "":
            continue
        # OMP_NUM_THREADS may be a list for nested levels ("4,2"): the first applies.
        text = raw.split(",")[0].strip() if name == "OMP_NUM_THREADS" else raw.strip()
        limit = thread_limit()
        try:
            n = int(text, 10)
        except ValueError:
            n = None
        if n is None or not 1 <= n <= limit:
            raise ImportError(f"{name}={raw!r}: expected a positive integer <= {limit} "
                              f"(4 x the logical CPUs), the number of threads for regcore's CPU kernels")
        return name, n
    return None, None


def apply_environment() -> None:
    name, n = _env_threads()
    if n is not None and _native.cpu is not None:
        try:
            _native.cpu.set_threads(n)
        except RuntimeError as exc:
            raise ImportError(f"{name}={n}: {exc}") from None


# ------------------------------------------------------------------ threadpoolctl

def _register_with_threadpoolctl(tpc) -> None:
    if _native.cpu is None or getattr(tpc, "_regcore_registered", False):
        return
    base = getattr(tpc, "LibController", None)
    if base is None or not hasattr(tpc, "register"):
        return

    class RegcoreController(base):
        user_api = "regcore"
        internal_api = "regcore"
        filename_prefixes = ("_regcore_cpu",)

        def get_num_threads(self):
            return get_num_threads()

        def set_num_threads(self, num_threads):
            set_num_threads(max(1, min(int(num_threads), thread_limit())))

        def get_version(self):
            from ._build_info import __version__
            return __version__

    tpc.register(RegcoreController)
    tpc._regcore_registered = True


class _ThreadpoolctlHook(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Registers regcore's controller right after ``threadpoolctl`` is imported (only that name)."""

    def find_spec(self, fullname, path, target=None):
        if fullname != "threadpoolctl":
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return None
        self._loader = spec.loader
        spec.loader = self
        return spec

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        if self in sys.meta_path:
            sys.meta_path.remove(self)
        try:
            _register_with_threadpoolctl(module)
        except Exception:  # a threadpoolctl without the controller API: nothing to register with
            pass


def hook_threadpoolctl() -> None:
    if _native.cpu is None:
        return
    if "threadpoolctl" in sys.modules:
        _register_with_threadpoolctl(sys.modules["threadpoolctl"])
    elif not any(isinstance(f, _ThreadpoolctlHook) for f in sys.meta_path):
        sys.meta_path.insert(0, _ThreadpoolctlHook())
