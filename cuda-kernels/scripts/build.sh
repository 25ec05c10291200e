#!/usr/bin/env bash
# Builds the CUDA kernel library and its test programs when nvcc is found; otherwise says so and exits 0
# (the CUDA backend is optional). nvcc is looked up in: $NVCC, $CUDA_HOME/bin, PATH, then the PyPI-wheel
# install of scripts/setup-nvcc.sh (<repo>/.tools/nvcc-venv).
#   out: cuda-kernels/target/native/{libsafetune_kernels.so, test_ops, bench}
#   always (gcc only): cuda-kernels/target/native/ref_check  (the CPU references' own checks) and
#                      cuda-kernels/target/host/libsafetune_kernels.so (the C API on the host, for tests)
# Env: ST_ARCHS="80 90" (SASS targets; PTX of the last one is embedded too), ST_RUN_REF_CHECK=1 runs ref_check.
set -euo pipefail
HERE="$(cd "$(dirname "$0")/.." && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
OUT="$HERE/target/native"
mkdir -p "$OUT"

CC=${CC:-gcc}
CXX=${CXX:-g++}
"$CC" -std=c11 -O2 -Wall -I"$HERE/ref" -o "$OUT/ref_check" "$HERE/test/ref_check.c" "$HERE/ref/safetune_ref.c" -lm
if [[ "${ST_RUN_REF_CHECK:-0}" == 1 ]]; then "$OUT/ref_check"; fi
# the C API on the host (host/safetune_host.c over the CPU references), for the native module's tests of the Java
# CUDA backend without a GPU; the real library's soname, in its own folder so it never replaces the real one
mkdir -p "$HERE/target/host"
"$CC" -std=c11 -O2 -Wall -fPIC -shared -fvisibility=hidden -Wl,-soname,libsafetune_kernels.so -I"$HERE/include" \
  -I"$HERE/src" -I"$HERE/ref" -o "$HERE/target/host/libsafetune_kernels.so" "$HERE/host/safetune_host.c" "$HERE/ref/safetune_ref.c" -lm

nvcc=""
for c in "${NVCC:-}" "${CUDA_HOME:+$CUDA_HOME/bin/nvcc}" "$(command -v nvcc 2>/dev/null || true)" \
         $(ls "$ROOT"/.tools/nvcc-venv/lib/python3*/site-packages/nvidia/cu13/bin/nvcc 2>/dev/null || true); do
  if [[ -n "$c" && -x "$c" ]]; then nvcc="$c"; break; fi
done
if [[ -z "$nvcc" ]]; then
  echo "[safetune] nvcc not found (CUDA_HOME, PATH, .tools/nvcc-venv): the CUDA backend was NOT built." \
       "Run cuda-kernels/scripts/setup-nvcc.sh to get nvcc 13.0 from PyPI wheels."
  exit 0
fi
NV_HOME="$(cd "$(dirname "$nvcc")/.." && pwd)"
LIBDIR=""
for d in "$NV_HOME/lib64" "$NV_HOME/lib" "$NV_HOME/targets/x86_64-linux/lib"; do
  if ls "$d"/libcublas.so* >/dev/null 2>&1; then LIBDIR="$d"; break; fi
done
if [[ -z "$LIBDIR" ]]; then
  # the nvcc wheels keep cuBLAS in a sibling wheel; setup-nvcc.sh installs it into the same cu13 folder
  echo "[safetune] cuBLAS not found next to $nvcc: the CUDA backend was NOT built." >&2
  exit 0
fi
# Link cuBLAS by its soname so the wheels (which ship only libcublas.so.13) and a full toolkit both work.
CUBLAS=$(ls "$LIBDIR"/libcublas.so.[0-9]* 2>/dev/null | grep -E 'libcublas\.so\.[0-9]+$' | head -1)
CUBLAS_FLAG="-lcublas"
[[ -n "$CUBLAS" ]] && CUBLAS_FLAG="-l:$(basename "$CUBLAS")"
GENCODE=()
ARCHS=(${ST_ARCHS:-80 90})
for a in "${ARCHS[@]}"; do GENCODE+=(-gencode "arch=compute_$a,code=sm_$a"); done
last=${ARCHS[${#ARCHS[@]}-1]}
GENCODE+=(-gencode "arch=compute_$last,code=compute_$last")

# incremental: nothing to do when the library and test programs are newer than every source
if [[ -f "$OUT/libsafetune_kernels.so" && -x "$OUT/test_ops" && -x "$OUT/bench" && -z "${ST_FORCE:-}" ]] && \
   [[ -z "$(find "$HERE/src" "$HERE/include" "$HERE/ref" "$HERE/test" "$0" -newer "$OUT/bench" -type f 2>/dev/null)" ]]; then
  echo "[safetune] CUDA kernels up to date: $OUT/libsafetune_kernels.so"
  exit 0
fi
echo "[safetune] building CUDA kernels with $("$nvcc" --version | tail -2 | head -1) ($nvcc), SASS ${ARCHS[*]} + PTX $last"
# one object per op family, compiled in parallel (nvcc for two SASS targets is the slow part of the build);
# an object is rebuilt when its .cu, a shared header or this script is newer
mkdir -p "$OUT/obj"
stale=()
for src in "$HERE"/src/*.cu; do
  obj="$OUT/obj/$(basename "$src" .cu).o"
  if [[ ! -f "$obj" || -n "${ST_FORCE:-}" || -n "$(find "$src" "$HERE/include" "$HERE"/src/*.cuh "$HERE"/src/*.h "$0" -newer "$obj" -type f 2>/dev/null)" ]]; then
    stale+=("$src")
  fi
done
export nvcc HERE OUT
if (( ${#stale[@]} )); then
  printf '%s\n' "${stale[@]}" | xargs -P "${ST_JOBS:-$(nproc)}" -I{} sh -c \
    '"$nvcc" -O3 -std=c++17 -c -Xcompiler -fPIC,-fvisibility=hidden,-Wall -I"$HERE/include" '"${GENCODE[*]}"' -o "$OUT/obj/$(basename {} .cu).o" {}'
fi
"$nvcc" -shared -cudart static "${GENCODE[@]}" -o "$OUT/libsafetune_kernels.so" "$OUT"/obj/*.o -L"$LIBDIR" $CUBLAS_FLAG
# test programs: plain g++, linked to the library, found next to them at run time
"$CC" -std=c11 -O2 -c -I"$HERE/ref" -o "$OUT/safetune_ref.o" "$HERE/ref/safetune_ref.c"
for t in test_ops bench; do
  "$CXX" -std=c++17 -O2 -Wall -I"$HERE/include" -I"$HERE/ref" -o "$OUT/$t" "$HERE/test/$t.cpp" "$OUT/safetune_ref.o" \
    -L"$OUT" -lsafetune_kernels -Wl,-rpath,'$ORIGIN' -Wl,--allow-shlib-undefined
done
echo "[safetune] CUDA backend built: $OUT/libsafetune_kernels.so (cuBLAS from $LIBDIR)"
