#!/usr/bin/env bash
# Build the CPU-executed CUDA check binary: every csrc/cuda/*.cu rewritten by simt_rewrite.py
# (launch syntax only) and compiled as C++ with include/simt.h forced in, linked with
# check_kernels.cpp (scalar references from csrc/core, compiled without the shim).
# Incremental: a rewritten file whose text is unchanged keeps its object, so rebuilding an
# output directory after one source changed (the mutation check) recompiles only what changed.
# usage: build.sh SRC_ROOT OUT_DIR [extra compiler flags, e.g. -fsanitize=address,undefined]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
src="$1"; out="$2"; shift 2
extra=("$@")
mkdir -p "$out/sim"
cxx="${CXX:-g++}"
flags=(-std=c++17 -O1 -g0 -ffp-contract=off -fno-math-errno -Wall -Wno-unknown-pragmas -Wno-unused-function "${extra[@]}")
header_changed=0
for g in "$src"/csrc/cuda/*.cu "$src"/csrc/cuda/*.cuh; do
  b="$(basename "$g")"
  case "$b" in *.cu) o="${b%.cu}.cpp" ;; *) o="$b" ;; esac
  python3 "$here/simt_rewrite.py" "$g" "$out/sim/$o.new"
  if cmp -s "$out/sim/$o.new" "$out/sim/$o"; then rm "$out/sim/$o.new"
  else
    mv "$out/sim/$o.new" "$out/sim/$o"
    case "$o" in *.cuh) header_changed=1 ;; esac
  fi
done
jobs="${SIMT_JOBS:-2}"
pids=()
for g in "$out"/sim/*.cpp; do
  obj="${g%.cpp}.o"
  if [ -f "$obj" ] && [ "$obj" -nt "$g" ] && [ "$header_changed" = 0 ]; then continue; fi
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n; done
  "$cxx" "${flags[@]}" -DREGCORE_ISA_TAG=simt -I"$here/include" -I"$src/csrc/cuda" -include simt.h -c "$g" -o "$obj" &
  pids+=($!)
done
if ! [ -f "$out/check_kernels.o" ] || [ "$here/check_kernels.cpp" -nt "$out/check_kernels.o" ]; then
  "$cxx" "${flags[@]}" -DREGCORE_ISA_TAG=ref -I"$src/csrc" -c "$here/check_kernels.cpp" -o "$out/check_kernels.o" &
  pids+=($!)
fi
for p in "${pids[@]}"; do wait "$p"; done
"$cxx" "${flags[@]}" -o "$out/check_kernels" "$out/check_kernels.o" "$out"/sim/*.o
