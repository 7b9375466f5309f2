"""regcore's CUDA code path on the CPU, for the tests: the real CUDA bindings (csrc/bindings/
bind_*_cuda.cpp, device_view.cpp) over the real CUDA kernels (csrc/cuda/*.cu) executed by the
simt emulation (tests/cuda_on_cpu/), built as the extension module _regcore_cuda_sim.

``cuda_sim(module)`` sends host arrays to that module for the block, so a public call such as
``rc.dropout(x, 0.3, generator=g)`` runs exactly what it runs on a GPU: the same Python glue
(the O(C) normalization arithmetic in the Array API formulas, as for CUDA arrays), the same
bindings, the same kernels. Arrays enter the bindings as DLPack views of host memory, which the
view parser accepts when asked not to require CUDA.
"""
from __future__ import annotations

import concurrent.futures
import contextlib
import fcntl
import hashlib
import importlib.util
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

import numpy as np

from regcore._backend import override_host_backend
from regcore._backends.native import NativeBackend

ROOT = pathlib.Path(__file__).resolve().parent.parent
HARNESS = ROOT / "tests" / "cuda_on_cpu"


SANITIZE = ("-fsanitize=address,undefined", "-fno-sanitize-recover=undefined", "-fno-omit-frame-pointer")
# The two builds a test session uses: plain (the check binary and _regcore_cuda_sim) and the check
# binary under AddressSanitizer + UndefinedBehaviorSanitizer.
BUILDS = {"plain": ((), True), "sanitized": (SANITIZE, False)}


def build(out: pathlib.Path, python: str = sys.executable, flags=(), module: bool = True, jobs: int = 2,
          background: bool = False) -> None:
    """Build the harness binary (check_kernels) and, with ``module``, _regcore_cuda_sim into
    ``out``; raises with the compiler output. background: at a lower priority (nice), so that it
    takes what the tests running meanwhile leave of the processors."""
    env = dict(os.environ, CXX="g++", SIMT_MODULE="1" if module else "0", PYTHON=python, SIMT_JOBS=str(jobs))
    nice = ["nice", "-n", "10"] if background and shutil.which("nice") else []
    # its own process group, so that stop_builds ends the compilers too
    proc = subprocess.Popen([*nice, "bash", str(HARNESS / "build.sh"), str(ROOT), str(out), *flags],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True)
    _running.add(proc)
    try:
        stdout, stderr = proc.communicate()
    finally:
        _running.discard(proc)
    if proc.returncode != 0:
        raise RuntimeError(f"harness build failed:\n{stdout}\n{stderr}")


def _key(flags, module: bool) -> str:
    """What decides the build's output: every source it reads (csrc/, the harness), the compiler,
    the flags, and for the module the Python and pybind11 it is built for."""
    h = hashlib.sha256()
    for base in (ROOT / "csrc", HARNESS):
        for f in sorted(base.rglob("*")):
            if f.is_file() and "__pycache__" not in f.parts:
                h.update(str(f.relative_to(ROOT)).encode() + b"\0" + f.read_bytes() + b"\0")
    cxx = subprocess.run(["g++", "--version"], capture_output=True, text=True).stdout
    h.update(repr((cxx, tuple(flags), module)).encode())
    if module:
        import sysconfig

        try:
            import pybind11
            pb = pybind11.__version__
        except ImportError:                # build.sh then leaves the module out
            pb = None
        h.update(repr((sys.executable, sys.version, sysconfig.get_config_var("EXT_SUFFIX"), pb)).encode())
    return h.hexdigest()[:16]


def cached_build(cache: pathlib.Path, name: str, jobs: int = 2, background: bool = False,
                 keep: int = 4) -> pathlib.Path:
    """The output directory of build ``name`` (a key of BUILDS) for the sources as they are now:
    cache/<name>-<content hash>, built there once and reused by later sessions and by parallel
    test workers (a file lock makes the others wait for the first). A build is moved into place
    only when complete; the oldest other entries beyond ``keep`` per name are removed."""
    flags, module = BUILDS[name]
    cache.mkdir(parents=True, exist_ok=True)
    out = cache / f"{name}-{_key(flags, module)}"
    with open(cache / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not out.is_dir():
            tmp = pathlib.Path(tempfile.mkdtemp(prefix=f".{name}-", dir=cache))
            try:
                build(tmp, flags=flags, module=module, jobs=jobs, background=background)
                tmp.rename(out)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
        old = sorted((d for d in cache.glob(f"{name}-*") if d != out), key=lambda d: d.stat().st_mtime)
        for d in old[:max(0, len(old) - (keep - 1))]:
            shutil.rmtree(d, ignore_errors=True)
    os.utime(out)
    return out


_pool = None
_pending: dict = {}
_running: set = set()


def start_builds(cache: pathlib.Path, names) -> None:
    """Start the named builds in the background (each compiling one unit at a time, at a lower
    priority): the tests that need no build run meanwhile, which leaves a core to the compiler."""
    global _pool
    if _pool is None:
        _pool = concurrent.futures.ThreadPoolExecutor(max_workers=len(BUILDS))
    for name in names:
        if name not in _pending:
            _pending[name] = _pool.submit(cached_build, cache, name, 2, True)


def stop_builds() -> None:
    """End the background builds still running (a session that stops early does not wait for
    them; their unfinished output is removed)."""
    for proc in list(_running):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, 9)
    if _pool is not None:
        _pool.shutdown(wait=True)


def wait_build(cache: pathlib.Path, name: str) -> pathlib.Path:
    """The build started by start_builds (started now, in the foreground, if it was not)."""
    if name not in _pending:
        return cached_build(cache, name)
    return _pending[name].result()


def load_module(out: pathlib.Path):
    """The _regcore_cuda_sim module built into ``out``."""
    path = next(out.glob("_regcore_cuda_sim*"))
    spec = importlib.util.spec_from_file_location("_regcore_cuda_sim", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _ViewingExtension:
    """The module's kernels with every NumPy argument (also inside lists) made a device view."""

    def __init__(self, module):
        self._m = module

    def _view(self, a):
        if isinstance(a, np.ndarray):
            if a.dtype == np.uint16:
                # bfloat16 host data reaches a backend as its uint16 view (regcore/_dtypes.py); a
                # device array says bfloat16 itself (DLPack's kDLBfloat), as torch's does.
                import torch
                from torch.utils.dlpack import to_dlpack

                t = torch.from_numpy(a.view(np.int16)).view(torch.bfloat16)
                return self._m.view_from_dlpack(to_dlpack(t), "array", 0, require_cuda=False)
            return self._m.view_from_dlpack(a.__dlpack__(max_version=(1, 0)), "array", 0, require_cuda=False)
        if isinstance(a, (list, tuple)):
            return type(a)(self._view(v) for v in a)
        return a

    def __getattr__(self, name):
        fn = getattr(self._m, name)

        def call(*args, **kwargs):
            return fn(*(self._view(a) for a in args), **{k: self._view(v) for k, v in kwargs.items()})

        return call


@contextlib.contextmanager
def cuda_sim(module):
    """Run host arrays through the emulated CUDA backend inside the block."""
    with override_host_backend(NativeBackend(_ViewingExtension(module), "cuda-sim")):
        yield
