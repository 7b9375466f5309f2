"""Fixtures any family's tests can reuse: run a test at every ISA level, on every CPU backend
(numpy + native at each ISA level), or at 1 and 2 threads, restoring the previous setting; and the
builds of the CUDA sources executed on the CPU (started in the background, cached); ``once``, for
a subprocess run several tests read, made once per session also under pytest-xdist."""
from __future__ import annotations

import fcntl
import os
import pathlib
import shutil
import tempfile

import pytest

import regcore as rc
import _schedule
from _switches import cpu_backend, isa_level, num_threads  # noqa: F401

ISAS = rc.available_isas()
BACKENDS = ["numpy"] + [f"cpu-{isa}" for isa in ISAS]


@pytest.fixture(params=ISAS or [pytest.param(None, marks=pytest.mark.skip(reason="no native CPU module"))])
def isa(request):
    """Each ISA level the processor and build support, set for the test."""
    with isa_level(request.param):
        yield request.param


@pytest.fixture(params=BACKENDS)
def backend(request):
    """'numpy', then 'cpu-<isa>' for each supported level, set for the test."""
    with cpu_backend(request.param):
        yield request.param


@pytest.fixture(params=[1, 2])
def threads(request):
    """1 and 2 threads."""
    with num_threads(request.param):
        yield request.param


@pytest.fixture(scope="session")
def once(tmp_path_factory):
    """once(name, make) -> a folder that make(folder) filled, once per test session: under
    pytest-xdist the first worker to ask makes it (the others wait on a file lock) and all read it.
    For the expensive subprocess runs several tests read (a benchmark run of the command line)."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):   # basetemp/popen-gwN: the parent is the session's
        root = root.parent

    def get(name, make):
        folder = root / f"once-{name}"
        with open(root / f"once-{name}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not (folder / ".done").exists():
                shutil.rmtree(folder, ignore_errors=True)
                folder.mkdir()
                make(folder)
                (folder / ".done").touch()
        return folder

    return get


# The CUDA-on-CPU harness (tests/cuda_on_cpu/, tests/_cuda_sim.py) is compiled twice: plain (the
# check binary and _regcore_cuda_sim) and under the sanitizers, minutes of compiler time on 2 cores.
# Both builds start in the background as soon as the collected tests are known to need them, so
# they run while the other tests do; the tests that use them run after the other long tests
# (_order below), the short ones last. The outputs are cached by
# content hash under pytest's cache directory: a later session with the same sources, compiler and
# Python reuses them, and parallel workers build each once.
_BUILD_USERS = {"cuda_on_cpu_build": "plain", "sanitized_harness_build": "sanitized"}


def _builds_needed(item):
    return {build for fixture, build in _BUILD_USERS.items() if fixture in item.fixturenames}


def _harness_cache(config):
    if not hasattr(config, "_regcore_harness_cache"):
        if getattr(config, "cache", None) is not None:
            config._regcore_harness_cache = config.cache.mkdir("cuda_on_cpu")
        else:                            # -p no:cacheprovider: a folder for this session only
            config._regcore_harness_cache = pathlib.Path(tempfile.mkdtemp(prefix="regcore-cuda-on-cpu-"))
            config.add_cleanup(lambda: shutil.rmtree(config._regcore_harness_cache, ignore_errors=True))
    return config._regcore_harness_cache


def pytest_configure(config):
    """Under pytest-xdist's default load distribution, hand the tests out one at a time as workers
    free up (--maxschedchunk=1) instead of in blocks of a quarter of the suite, so that the order
    below decides what starts first on every worker. An explicit --maxschedchunk is kept."""
    if getattr(config.option, "dist", "no") == "load" and getattr(config.option, "maxschedchunk", 0) is None:
        config.option.maxschedchunk = 1


def _order(item):
    """Long tests first, longest first (tests/_schedule.py); the check-binary runs that wait for a
    harness build after the other long ones, so the build has their time to finish; then the short
    tests in their collected order; the short tests that use a build last."""
    seconds = _schedule.seconds(item.nodeid)
    build = bool(_builds_needed(item))
    if seconds:
        return (0, build, -seconds)
    return (1, build, 0.0)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """Order only (stable sort; every test still runs): see _order."""
    items.sort(key=_order)


def pytest_collection_finish(session):
    if session.config.option.collectonly:
        return
    needed = set().union(*(_builds_needed(item) for item in session.items)) if session.items else set()
    if needed and shutil.which("g++") is not None:
        from _cuda_sim import start_builds

        start_builds(_harness_cache(session.config), sorted(needed))


def pytest_sessionfinish(session, exitstatus):
    """A session that stops early (Ctrl-C, -x, --maxfail) ends its background builds. One that
    ran to its end lets them finish: under pytest-xdist a worker whose share of the tests is done
    may hold the lock of a build that another worker's harness tests are waiting for."""
    import _cuda_sim

    if exitstatus != pytest.ExitCode.INTERRUPTED and not (session.shouldstop or session.shouldfail):
        for build in list(_cuda_sim._pending.values()):
            build.exception()            # waits; a failed build was reported by the tests using it
    _cuda_sim.stop_builds()


def _harness_build(request, name):
    if shutil.which("g++") is None:
        pytest.skip("g++ is needed to execute the CUDA sources on the CPU")
    from _cuda_sim import wait_build

    return wait_build(_harness_cache(request.config), name)


@pytest.fixture(scope="session")
def cuda_on_cpu_build(request):
    """The plain build of the CUDA sources executed on the CPU (tests/cuda_on_cpu/): the check
    binary and the _regcore_cuda_sim module; its directory (do not write into it: it is cached)."""
    return _harness_build(request, "plain")


@pytest.fixture(scope="session")
def sanitized_harness_build(request):
    """The check binary built under AddressSanitizer + UndefinedBehaviorSanitizer; its directory."""
    return _harness_build(request, "sanitized")


@pytest.fixture(scope="session")
def cuda_sim_module(cuda_on_cpu_build):
    """_regcore_cuda_sim: regcore's CUDA bindings and kernels run on the CPU (tests/_cuda_sim.py)."""
    from _cuda_sim import load_module

    if not any(cuda_on_cpu_build.glob("_regcore_cuda_sim*")):
        pytest.skip("pybind11 is needed to build the CUDA bindings over the emulated kernels")
    return load_module(cuda_on_cpu_build)


@pytest.fixture(params=["avx512_bf16-on", "avx512_bf16-off"])
def avx512_bf16_both(request):
    """Runs a test twice where the processor has AVX512_BF16: with the extension (the default) and
    without it, so the avx512 level's plain bfloat16 store runs on such processors too (elsewhere
    only the plain store exists and the "on" run is skipped)."""
    from regcore import _native
    from _switches import avx512_bf16

    if _native.cpu is None:
        pytest.skip("no native CPU module")
    on = request.param.endswith("-on")
    if on and not _native.cpu.avx512_bf16_supported():
        pytest.skip("the processor has no AVX512_BF16")
    with avx512_bf16(on):
        yield on
