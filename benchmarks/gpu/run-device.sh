#!/usr/bin/env bash
# Everything the GPU machine checks, in ONE call (the device tool's `run`, from the repository root):
#   1. builds the CUDA kernels there with its nvcc (falls back to the carried cuda-kernels/target/native)
#   2. runs the C++ op tests (every kernel fwd+bwd vs the CPU references) and the micro-benchmarks
#   3. runs the PEFT LoRA-layer baseline on the same GPU (python3 there has torch + peft)
#   4. if benchmarks/gpu/prepare-carry.sh was run here and .carry/ travelled: the Java GPU tests on a
#      jlinked runtime
#   5. compute-sanitizer memcheck over the op tests, time permitting
# Results go to $OUT (at most 8 files come back): run.log, build.txt, test_ops.txt, bench.txt, peft.txt,
# java.txt, memcheck.txt. A short summary is printed last.
#   run: command="bash benchmarks/gpu/run-device.sh", carry=[".carry", "cuda-kernels/target/native"]
# The device tool sends the checkout its session started in. From another worktree (a helper's), copy the
# tree into an ignored folder of that checkout and carry it, as the runs in RESULTS.md did:
#   git ls-files -z | xargs -0 cp --parents -t <checkout>/.device/cuda
#   cp -r --parents cuda-kernels/target/native .carry <checkout>/.device/cuda/
#   run: command="cd .device/cuda && bash benchmarks/gpu/run-device.sh", carry=[".device"]
# A run takes ~55 s on an H100 once the machine is up (the tree is ~55 MB with .carry).
set -u
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
OUT="${OUT:-$ROOT/.device-out}"
mkdir -p "$OUT"
exec > >(tee "$OUT/run.log") 2>&1
T0=$(date +%s)
el() { echo "$(( $(date +%s) - T0 ))s"; }
echo "== $(date -u +%FT%TZ) $(hostname)"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv 2>&1 | tail -2
which nvcc && nvcc --version | tail -2

source "$ROOT/benchmarks/gpu/cublas-path.sh"

# --- 1. build there (16 cores) or use what travelled
NATIVE="$ROOT/cuda-kernels/target/native"
if command -v nvcc >/dev/null; then
  cp -r "$NATIVE" "$ROOT/cuda-kernels/target/native-carried" 2>/dev/null
  if ST_JOBS=16 cuda-kernels/scripts/build.sh > "$OUT/build.txt" 2>&1 && [[ -x "$NATIVE/test_ops" ]]; then
    echo "built here: $(tail -1 "$OUT/build.txt") [$(el)]"
  else
    echo "build here FAILED (see build.txt); using the carried build"
    rm -rf "$NATIVE"; cp -r "$ROOT/cuda-kernels/target/native-carried" "$NATIVE"
  fi
fi
[[ -x "$NATIVE/test_ops" ]] || { echo "no kernel build available"; exit 1; }

# --- 2. op tests + benchmarks
timeout 120 "$NATIVE/test_ops" > "$OUT/test_ops.txt" 2>&1; OPS_RC=$?
timeout 60 "$NATIVE/test_ops" 20261126 >> "$OUT/test_ops.txt" 2>&1 || OPS_RC=$((OPS_RC + 100))  # a second, fixed seed
echo "test_ops rc=$OPS_RC [$(el)]"
timeout 150 "$NATIVE/bench" > "$OUT/bench.txt" 2>&1; echo "bench rc=$? [$(el)]"

# --- 3. PEFT baseline
timeout 90 python3 benchmarks/gpu/peft_layer_bench.py > "$OUT/peft.txt" 2>&1; echo "peft rc=$? [$(el)]"

# --- 4. Java GPU tests
JAVA_RC=skipped
[[ -f .carry/unpack.sh ]] && bash .carry/unpack.sh
if [[ -x .carry/jre/bin/java && -f .carry/run-java-tests.sh ]]; then
  timeout 150 bash .carry/run-java-tests.sh > "$OUT/java.txt" 2>&1; JAVA_RC=$?
  echo "java tests rc=$JAVA_RC [$(el)]"
fi

# --- 5. memcheck (only with time left: the tool budget is tight)
if command -v compute-sanitizer >/dev/null && (( $(date +%s) - T0 < 200 )); then
  timeout 100 compute-sanitizer --tool memcheck --print-limit 20 "$NATIVE/test_ops" 7 > "$OUT/memcheck.txt" 2>&1
  echo "memcheck rc=$? [$(el)]"
fi

echo "================ summary ================"
grep -E "^(FAIL|SKIP)|checks passed|device:" "$OUT/test_ops.txt" | head -40
grep -E "lora" "$OUT/test_ops.txt" | sort -t= -k4 -g | tail -3
cat "$OUT/bench.txt" | head -60
cat "$OUT/peft.txt"
[[ -f "$OUT/java.txt" ]] && grep -E "✔|✘|■|tests (successful|failed|aborted)|Exception|expected|loss gpu|worst cosine" "$OUT/java.txt" | head -30
[[ -f "$OUT/memcheck.txt" ]] && tail -4 "$OUT/memcheck.txt"
echo "test_ops rc=$OPS_RC java=$JAVA_RC total $(el)"
