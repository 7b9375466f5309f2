"""Executes every CUDA source of csrc/cuda/ on the CPU (tests/cuda_on_cpu/: each CUDA thread a
fiber, checked barriers and warp intrinsics, permuted thread and block orders) and checks the
kernels' results bit for bit against scalar references built from csrc/core.

Two builds (tests/conftest.py: in the background, cached by content hash): plain, and under
AddressSanitizer + UndefinedBehaviorSanitizer. The plain build also links _regcore_cuda_sim (the real CUDA bindings over the emulated kernels): the public
API is run through it and compared with the CPU backends in tests/test_cuda_on_cpu_api.py.
Skipped only where no g++ is installed."""
from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
HARNESS = ROOT / "tests" / "cuda_on_cpu"

pytestmark = pytest.mark.skipif(shutil.which("g++") is None, reason="g++ is needed to execute the CUDA sources on the CPU")


def run(binary: pathlib.Path, order: str, sms: int, timeout: float = 600) -> subprocess.CompletedProcess:
    env = dict(os.environ, SIMT_ORDER=order, SIMT_SMS=str(sms),
               ASAN_OPTIONS="detect_leaks=0:detect_stack_use_after_return=0",
               UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1")
    return subprocess.run([str(binary)], capture_output=True, text=True, env=env, timeout=timeout)


@pytest.fixture(scope="session")
def plain_binary(cuda_on_cpu_build):
    return cuda_on_cpu_build / "check_kernels"


@pytest.fixture(scope="session")
def sanitized_binary(sanitized_harness_build):
    return sanitized_harness_build / "check_kernels"


def _assert_passed(r: subprocess.CompletedProcess):
    tail = (r.stdout + r.stderr)[-4000:]
    assert r.returncode == 0, tail
    last = r.stdout.strip().splitlines()[-1]
    assert last.endswith(" 0 failed") and int(last.split()[0]) > 1_000_000, tail


# Thread/block orders x SM counts: the order exposes missing barriers and lockstep assumptions,
# the SM count changes the grids (grid_for), so grid-stride loops wrap differently.
@pytest.mark.parametrize("order,sms", [("fwd", 1), ("rev", 5), ("rand:7", 132), ("rand:3", 2)])
def test_cuda_kernels_on_cpu(plain_binary, order, sms):
    _assert_passed(run(plain_binary, order, sms))


def test_cuda_kernels_on_cpu_sanitized(sanitized_binary):
    _assert_passed(run(sanitized_binary, "rev", 3))


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("REGCORE_MUTATION_CHECK") != "1",
                    reason="about 5 minutes on 2 cores: set REGCORE_MUTATION_CHECK=1 (or run tests/cuda_on_cpu/mutate.py)")
def test_planted_bugs_are_caught(plain_binary):
    r = subprocess.run([sys.executable, str(HARNESS / "mutate.py"), str(plain_binary.parent)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]


def test_gpu_check_dry_run():
    """tools/gpu_check.sh cannot run without a GPU; its plan can: one build for one architecture,
    the CUDA tests, both compute-sanitizer tools, the benchmarks."""
    r = subprocess.run(["bash", str(ROOT / "tools" / "gpu_check.sh"), "--dry-run"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "-DCMAKE_CUDA_ARCHITECTURES=90 " in out and out.count("[dry-run]") == 6
    for needle in ("-m cuda tests", "--tool memcheck", "--tool racecheck", "regcore.bench"):
        assert needle in out
    if shutil.which("shellcheck"):
        s = subprocess.run(["shellcheck", str(ROOT / "tools" / "gpu_check.sh"), str(HARNESS / "build.sh")],
                           capture_output=True, text=True)
        assert s.returncode == 0, s.stdout


def test_every_planted_bug_still_applies():
    """The mutation check (opt-in, minutes) needs each planted bug's text exactly once in its
    source; a kernel rewrite that moves that text must update mutations.py. Checked on every run."""
    sys.path.insert(0, str(HARNESS))
    try:
        import mutations
    finally:
        sys.path.pop(0)
    for m in mutations.MUTATIONS:
        name, fname, old = m[0], m[1], m[2]
        text = (ROOT / "csrc" / "cuda" / fname).read_text()
        assert text.count(old) == 1, f"planted bug {name!r}: its text occurs {text.count(old)} times in {fname}"
