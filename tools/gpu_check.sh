#!/usr/bin/env bash
# One-shot GPU check (a few minutes on one GPU): builds the CUDA module for this GPU's
# architecture only, runs the CUDA tests (PyTorch CUDA tensors or CuPy; their oracles are the
# NumPy backend, bit for bit where the docs promise it, as tests/test_cuda_on_cpu.py checks the
# CPU-executed kernels against the same core/ formulas), a compute-sanitizer memcheck and
# racecheck pass over a small subset, and the GPU benchmarks (regcore vs D2D copy, PyTorch CUDA
# dropout and cuDNN batch norm through PyTorch). Everything goes to one report file.
#
# usage: tools/gpu_check.sh [--dry-run] [REPORT]   (default report: gpu_check_report.md)
# --dry-run prints the commands without running them (works on machines without a GPU).
set -euo pipefail
cd "$(dirname "$0")/.."

dry=0
if [ "${1:-}" = "--dry-run" ]; then dry=1; shift; fi
report="${1:-gpu_check_report.md}"
build_dir="${GPU_CHECK_BUILD_DIR:-build/gpu_check}"

step() {  # step TITLE TIMEOUT_S CMD...: run one step under a time limit, append its output
  local title="$1" limit="$2"; shift 2
  if [ "$dry" = 1 ]; then printf '[dry-run] %s: timeout %ss %s\n' "$title" "$limit" "$*"; return 0; fi
  local t0 rc=0; t0=$(date +%s)
  { printf '\n## %s\n\n```\n$ %s\n' "$title" "$*"; } >>"$report"
  timeout "$limit" "$@" >>"$report" 2>&1 || rc=$?
  printf '```\nexit %s, %ss\n' "$rc" "$(( $(date +%s) - t0 ))" >>"$report"
  [ "$rc" = 0 ] || failures=$((failures + 1))
}

arch=""
if [ "$dry" = 0 ]; then
  command -v nvidia-smi >/dev/null || { echo "gpu_check: no nvidia-smi: no GPU here" >&2; exit 2; }
  arch="$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d '. ')"
  { echo "# regcore GPU check"; echo; date -u; nvidia-smi --query-gpu=name,compute_cap,driver_version --format=csv;
    nvcc --version | tail -1; } >"$report"
else
  arch="90"
fi
failures=0

step "build (sm_${arch} only)" 240 env CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" REGCORE_CUDA=ON \
  CMAKE_ARGS="-DCMAKE_CUDA_ARCHITECTURES=${arch}" \
  python -m pip install --no-build-isolation -e . "-Cbuild-dir=${build_dir}"
step "CUDA tests" 150 python -m pytest -q -x -m cuda tests
step "CPU execution of the same kernels (orders, sanitizers)" 120 python -m pytest -q tests/test_cuda_on_cpu.py
step "compute-sanitizer memcheck (subset)" 60 compute-sanitizer --tool memcheck --error-exitcode 1 \
  python -m pytest -q -x -m cuda tests/test_dropout_cuda.py -k "float32 and (bits or bias_act)"
step "compute-sanitizer racecheck (reductions)" 60 compute-sanitizer --tool racecheck --error-exitcode 1 \
  python -m pytest -q -x -m cuda tests/test_batchnorm_cuda.py tests/test_norms_cuda.py
step "GPU benchmarks (vs D2D copy, torch dropout, cuDNN batch norm)" 120 \
  python -m regcore.bench --quick --filter dropout,batchnorm,sgd,average --threads 1 --markdown "${report%.md}_bench.md"

if [ "$dry" = 0 ]; then
  echo "$failures failed step(s); report: $report" | tee -a "$report"
  [ "$failures" = 0 ]
fi
