#!/usr/bin/env bash
# Issue 4 "Performance": our Java forward pass side by side with its peers, in one run on this machine,
# SmolLM2-135M, CPU, 2 threads:
#   prefill 4 x 256 fp32          ours (ForwardBench, weights dequantized once)  vs HF transformers (PyTorch CPU)
#   decode batch 1 x 64, batch 16 ours (ForwardBench, the GGUF's Q4_1/Q8_0 as loaded) vs llama.cpp llama-bench /
#                                 llama-batched-bench on the same GGUF
#   prefill 1 x 256 (quantized)   ours vs llama-bench pp256 (information; no goal in the issue)
#   decode batch 1 on one thread, both sides (a busy box slows both alike: no thread hand-offs to wait for)
#   peak RSS (VmHWM) of the decode run, and GGUF load time (GgufLoadOnce, a fresh JVM)
# and prints one table: measurement, ours, peer, ratio, goal.
#
# Usage (from anywhere; relative paths below are relative to the repo root): benchmarks/forward-peers/run.sh
# Variables (defaults in brackets):
#   MODEL    [../shared/models/SmolLM2-135M-Instruct.Q4_1.gguf]  THREADS [2]
#   PY       python with torch + transformers + gguf [.venv-bench/bin/python, else /work/train2/.venv-bench/bin/python;
#            .venv-bench is made with pip when neither has them]
#   LLAMA_BIN folder with llama-bench and llama-batched-bench [built from the llama-cpp-python sdist by
#            build_llama.sh into .tools/, once; LLAMA_CPP_PY_VERSION picks the sdist]
#   JAR      [benchmarks/target/benchmarks.jar; rebuilt with mvn unless BUILD=0 (then only when missing)]
#   JAVA [java]  JAVA_OPTS [-Xmx2g]  OUT (logs and results) [target/forward-peers]  HF_REPS (timed HF runs) [3]
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
cd "$HERE/../.."
MODEL=${MODEL:-../shared/models/SmolLM2-135M-Instruct.Q4_1.gguf}
THREADS=${THREADS:-2}
JAR=${JAR:-benchmarks/target/benchmarks.jar}
JAVA=${JAVA:-java}
JAVA_OPTS=${JAVA_OPTS:--Xmx2g}
OUT=${OUT:-target/forward-peers}
mkdir -p "$OUT"
die() { echo "forward-peers: $*" >&2; exit 1; }

[ -f "$MODEL" ] || die "model $MODEL not found (set MODEL=path/to/SmolLM2-135M-Instruct.Q4_1.gguf)"
command -v "$JAVA" >/dev/null || die "'$JAVA' not found (set JAVA=/path/to/java, JDK 17+)"
command -v python3 >/dev/null || die "python3 not found (needed for the venv and to read the results)"

# ---- builds (not timed): llama.cpp in the background while the jar and the venv are made ----------------
LLAMA_BUILD_PID=
if [ -z "${LLAMA_BIN:-}" ]; then
  "$HERE/build_llama.sh" > "$OUT/llama-build.out" 2> "$OUT/llama-build.log" &
  LLAMA_BUILD_PID=$!
fi
if [ ! -f "$JAR" ] || [ "${BUILD:-1}" = 1 ]; then
  command -v mvn >/dev/null || die "$JAR missing and mvn not found"
  mvn -B -q -pl core,benchmarks -am package -DskipTests > "$OUT/mvn.log" 2>&1 || die "mvn package failed: see $OUT/mvn.log"
fi
if [ -z "${PY:-}" ]; then
  PY=.venv-bench/bin/python
  # the CI box's shared benchmark venv, when there is one, saves a multi-GB torch download
  if [ ! -x "$PY" ] && /work/train2/.venv-bench/bin/python -c "import torch, transformers, gguf" 2>/dev/null; then
    PY=/work/train2/.venv-bench/bin/python
  fi
  if ! "$PY" -c "import torch, transformers, gguf" 2>/dev/null; then
    echo "forward-peers: making $PY (torch, transformers, gguf)..." >&2
    python3 -m venv .venv-bench
    .venv-bench/bin/pip install -q torch transformers gguf numpy > "$OUT/pip.log" 2>&1 || die "pip install failed: see $OUT/pip.log"
  fi
fi
"$PY" -c "import torch, transformers, gguf" 2>/dev/null || die "$PY lacks torch/transformers/gguf (set PY=...)"
if [ -n "$LLAMA_BUILD_PID" ]; then
  echo "forward-peers: waiting for the llama.cpp build (log: $OUT/llama-build.log)..." >&2
  wait "$LLAMA_BUILD_PID" || die "llama.cpp build failed: see $OUT/llama-build.log"
  LLAMA_BIN=$(tail -n 1 "$OUT/llama-build.out")
fi
[ -x "$LLAMA_BIN/llama-bench" ] || die "$LLAMA_BIN/llama-bench not found (set LLAMA_BIN)"
[ -x "$LLAMA_BIN/llama-batched-bench" ] || die "$LLAMA_BIN/llama-batched-bench not found (set LLAMA_BIN)"

maxrss() { # maxrss FILE CMD...: runs CMD, writes its peak RSS in kB to FILE when /usr/bin/time exists
  local f=$1; shift
  if [ -x /usr/bin/time ]; then /usr/bin/time -f "%M" -o "$f" "$@"; else echo "" > "$f"; "$@"; fi
}

# ---- measurements, one at a time --------------------------------------------------------------------
uptime | tee "$OUT/uptime.txt"
JV=("$JAVA" --add-modules jdk.incubator.vector $JAVA_OPTS -cp "$JAR")
ours() { # ours NAME CLASS ARGS...: one fresh JVM, stdout to OUT/NAME.txt, stderr to OUT/NAME.log
  local name=$1; shift
  echo "forward-peers: $name (ours)..." >&2
  "${JV[@]}" "$@" > "$OUT/$name.txt" 2> "$OUT/$name.log" || die "$* failed: see $OUT/$name.log"
  cat "$OUT/$name.txt"
}
ours ours-load ai.safetune.bench.GgufLoadOnce "$MODEL"
# the quantized base as loaded (Q4_1/Q8_0 stay quantized; fused products for few rows)
ours ours-quantized ai.safetune.bench.ForwardBench "$MODEL" "$THREADS" false decode:1:64 decode:16:64 prefill:1:256
# weights dequantized once to fp32, as the issue's fp32 prefill asks
ours ours-fp32 ai.safetune.bench.ForwardBench "$MODEL" "$THREADS" true prefill:4:256
# one thread each: no thread hand-offs, so a box shared with other jobs slows both sides alike
ours ours-1thread ai.safetune.bench.ForwardBench "$MODEL" 1 false decode:1:64
echo "forward-peers: llama-bench..." >&2
maxrss "$OUT/llama-bench.rss" "$LLAMA_BIN/llama-bench" -m "$MODEL" -t "$THREADS" -p 256 -n 64 -o json \
  > "$OUT/llama-bench.json" 2> "$OUT/llama-bench.log" || die "llama-bench failed: see $OUT/llama-bench.log"
"$LLAMA_BIN/llama-bench" -m "$MODEL" -t 1 -p 0 -n 64 -o json > "$OUT/llama-bench-1thread.json" 2>> "$OUT/llama-bench.log" \
  || die "llama-bench -t 1 failed: see $OUT/llama-bench.log"
echo "forward-peers: llama-batched-bench (16 x 64)..." >&2
"$LLAMA_BIN/llama-batched-bench" -m "$MODEL" -t "$THREADS" -tb "$THREADS" -c 2048 -npp 16 -ntg 64 -npl 16 \
  --output-format jsonl > "$OUT/llama-batched.txt" 2>&1 || die "llama-batched-bench failed: see $OUT/llama-batched.txt"
echo "forward-peers: HF transformers prefill..." >&2
"$PY" "$HERE/hf_prefill.py" "$MODEL" --threads "$THREADS" --batch 4 --length 256 --reps "${HF_REPS:-3}" > "$OUT/hf.json" 2> "$OUT/hf.log" \
  || die "HF prefill failed: see $OUT/hf.log"
uptime | tee -a "$OUT/uptime.txt"

python3 "$HERE/table.py" "$OUT" | tee "$OUT/table.md"
