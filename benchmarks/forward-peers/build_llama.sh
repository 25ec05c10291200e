#!/usr/bin/env bash
# Builds llama.cpp's llama-bench and llama-batched-bench from the llama-cpp-python sdist (PyPI) into an
# ignored folder, once: a later run finds the binaries and returns at once.
# Usage (repo root): benchmarks/forward-peers/build_llama.sh   → prints the bin folder on its last line.
# Variables: LLAMA_CPP_PY_VERSION (default 0.3.36), TOOLS (default .tools), JOBS (default 2).
set -euo pipefail
cd "$(dirname "$0")/../.."
VER=${LLAMA_CPP_PY_VERSION:-0.3.36}
TOOLS=${TOOLS:-.tools}
JOBS=${JOBS:-2}
SRC="$TOOLS/llama-cpp-python-$VER"
BUILD="$SRC/build-bench"
BIN="$BUILD/bin"
if [ -x "$BIN/llama-bench" ] && [ -x "$BIN/llama-batched-bench" ]; then
  echo "$BIN"; exit 0
fi
for tool in cmake c++ pip; do
  command -v "$tool" >/dev/null || { echo "build_llama.sh: '$tool' not found (needed to build llama.cpp)" >&2; exit 1; }
done
mkdir -p "$TOOLS/dl"
TGZ="$TOOLS/dl/llama_cpp_python-$VER.tar.gz"
if [ ! -f "$TGZ" ]; then
  pip download --no-binary :all: --no-deps "llama-cpp-python==$VER" -d "$TOOLS/dl" >&2
fi
if [ ! -d "$SRC/vendor/llama.cpp" ]; then
  rm -rf "$SRC.tmp" && mkdir -p "$SRC.tmp"
  tar -xzf "$TGZ" -C "$SRC.tmp" --strip-components=1
  mv "$SRC.tmp" "$SRC"
fi
# Only the bench tools: no server, no tests, no examples beyond the two targets; native ISA (AVX-512 here).
cmake -S "$SRC/vendor/llama.cpp" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON \
  -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF -DBUILD_SHARED_LIBS=OFF >&2
cmake --build "$BUILD" --target llama-bench llama-batched-bench -j "$JOBS" >&2
[ -x "$BIN/llama-bench" ] || { echo "build_llama.sh: $BIN/llama-bench missing after the build" >&2; exit 1; }
echo "$BIN"
