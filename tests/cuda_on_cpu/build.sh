#!/usr/bin/env bash
# Build the CPU-executed CUDA check binary: every csrc/cuda/*.cu rewritten by simt_rewrite.py
# (launch syntax only) and compiled as C++ with include/simt.h forced in, linked with
# check_kernels.cpp (scalar references from csrc/core, compiled without the shim).
# Incremental: a rewritten file whose text is unchanged keeps its object, so rebuilding an
# output directory after one source changed (the mutation check) recompiles only what changed.
# With SIMT_MODULE=1 it also links _regcore_cuda_sim (sim_module.cpp): the real CUDA bindings of
# csrc/bindings over the same emulated kernels, as a Python extension module for the tests that
# run regcore's public API through the CUDA code path (tests/_cuda_sim.py). Needs pybind11.
# usage: build.sh SRC_ROOT OUT_DIR [extra compiler flags, e.g. -fsanitize=address,undefined]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
src="$1"; out="$2"; shift 2
extra=("$@")
mkdir -p "$out/sim"
cxx="${CXX:-g++}"
flags=(-std=c++17 -O1 -g0 -fPIC -ffp-contract=off -fno-math-errno -Wall -Wno-unknown-pragmas -Wno-unused-function "${extra[@]}")
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
py="${PYTHON:-python3}"
module=0
if [ "${SIMT_MODULE:-0}" = 1 ] && ! "$py" -c "import pybind11" 2>/dev/null; then
  echo "build.sh: pybind11 is not installed for $py: _regcore_cuda_sim not built" >&2
elif [ "${SIMT_MODULE:-0}" = 1 ]; then
  module=1
  # The bindings as one unit that includes each file (compiled first, beside the kernels): each
  # file alone re-parses pybind11 and Python's headers, most of its compile time (about 7 s of
  # CPU each on the 9 files, 14 s for the one unit). The bindings see the emulation's runtime
  # header (include/cuda_runtime.h), not CUDA's.
  read -r -a pyinc <<<"$("$py" -m pybind11 --includes)"
  suffix="$("$py" -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')"
  mkdir -p "$out/bind"
  rm -f "$out"/bind/*.o
  : >"$out/bind/bindings.cpp"
  for g in "$src"/csrc/bindings/device_view.cpp "$src"/csrc/bindings/bind_{random,dropout,init,sgd,batchnorm,channel_dropout,average}_cuda.cpp "$here/sim_module.cpp"; do
    echo "#include \"$(cd "$(dirname "$g")" && pwd)/$(basename "$g")\"" >>"$out/bind/bindings.cpp"
  done
  "$cxx" "${flags[@]}" -fvisibility=hidden -DREGCORE_ISA_TAG=simt -I"$here/include" -I"$src/csrc/cuda" \
    -I"$src/csrc/bindings" "${pyinc[@]}" -c "$out/bind/bindings.cpp" -o "$out/bind/bindings.o" &
  pids+=($!)
fi
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
if [ "$module" = 1 ]; then
  "$cxx" "${flags[@]}" -shared -o "$out/_regcore_cuda_sim$suffix" "$out"/bind/bindings.o "$out"/sim/*.o
fi
