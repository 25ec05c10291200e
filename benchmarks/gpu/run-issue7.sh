#!/usr/bin/env bash
# Issue 7 on the GPU machine in ONE call of the device tool's `run` (from the repository root):
#   1. builds the CUDA kernels there (16 cores) and runs the op tests (test_ops: every kernel fwd+bwd vs the C
#      references, now including the r = 0 frozen-matmul backward in all three precisions)
#   2. the Java GPU tests on the carried runtime: CudaBackendTest (every op vs the CPU backend; the bf16 and
#      bf16-tiled frozen matmuls within their derived bounds; device sumOfSquares/AdamW vs the host defaults) and
#      CudaTrainingStepTest (tiny-model step vs CPU and PEFT in f32; the bf16 step within its derived bound;
#      device AdamW vs host AdamW on the same gradients), plus the no-GPU unit tests of the package
#   3. whole-model LoRA training throughput (LoraTrainBench, AdamW on the device) for the SmolLM2-135M and the
#      1B shape in the precisions f32, bf16 (cuBLAS) and bf16-tiled, one bf16 run with the old host-AdamW
#      path (what the optimizer on the device saves), and HF transformers + PEFT bf16 on the same GPU
#   4. one table: tokens/s, × PEFT bf16, MFU (benchmarks/gpu/train_table.py)
#   5. compute-sanitizer memcheck over test_ops, only if time is left
# Needs .carry/ from `bash benchmarks/gpu/prepare-carry.sh` (run here; jlinked JDK 17, jars with the kernel
# library, native test classes, the tiny model). Results under $OUT: run.log (everything), build.txt,
# test_ops.txt, java.txt, train.log, table.md.
#   run: command="bash benchmarks/gpu/run-issue7.sh", carry=[".carry"], timeout_s=480
# Here (no GPU): `ST_DRY_RUN=1 ST_LIMIT=120 bash benchmarks/gpu/run-issue7.sh` checks the plumbing (carry, class
# path, flags, table) with the benchmark on the CPU backend's tiny shape; GPU tests skip, PEFT fails (no CUDA).
# Time: every part has its own budget below and the whole script stops starting parts at ST_LIMIT seconds
# (default 420) so the call ends inside timeout_s with the table printed; measured parts on an H100 before
# this script: build ~30 s, test_ops ~15 s per seed, Java tests ~10 s + JVM, 135M bench ~10 s, 1B f32 ~40 s,
# PEFT ~30 s per shape (torch import included).
set -u
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
OUT="${OUT:-$ROOT/.device-out}"
mkdir -p "$OUT"
exec > >(tee "$OUT/run.log") 2>&1
LIMIT="${ST_LIMIT:-420}"
T0=$(date +%s)
el() { echo "$(( $(date +%s) - T0 ))s"; }
# budget N: the timeout for a part whose own budget is N s, cut to what is left before LIMIT (0 = skip it)
budget() { local left=$(( LIMIT - ($(date +%s) - T0) )); (( left < 10 )) && { echo 0; return; }; (( $1 < left )) && echo "$1" || echo "$left"; }
echo "== $(date -u +%FT%TZ) $(hostname); commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'); limit ${LIMIT}s"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>&1 | tail -2
source "$ROOT/benchmarks/gpu/cublas-path.sh"
[[ -f .carry/unpack.sh ]] && bash .carry/unpack.sh
[[ -x .carry/jre/bin/java ]] || { echo "no .carry/: run benchmarks/gpu/prepare-carry.sh before the call and carry .carry"; exit 1; }
CP="$(ls .carry/lib/*.jar | tr '\n' ':').carry/test-classes"

# --- 1. kernels and op tests (budget: build 120 s, test_ops 60 s for a fresh seed + 40 s for a fixed one)
NATIVE="$ROOT/cuda-kernels/target/native"
OPS_RC=skipped
# ST_SKIP_KERNELS=1: no build and no test_ops (a second call on kernels a first call of the session built and tested;
# the Java side uses the kernel library carried in the jar either way)
if [[ "${ST_SKIP_KERNELS:-0}" != 1 ]] && command -v nvcc >/dev/null && ST_JOBS=16 timeout "$(budget 120)" cuda-kernels/scripts/build.sh > "$OUT/build.txt" 2>&1 \
   && [[ -x "$NATIVE/test_ops" ]]; then
  echo "kernels built here [$(el)]"
  timeout "$(budget 60)" "$NATIVE/test_ops" > "$OUT/test_ops.txt" 2>&1; OPS_RC=$?
  # a second, fixed seed (the runs in RESULTS.md used 20261126 too); ST_PLAN=quick and ab skip it
  [[ "${ST_PLAN:-full}" == quick || "${ST_PLAN:-full}" == ab ]] || timeout "$(budget 40)" "$NATIVE/test_ops" 20261126 >> "$OUT/test_ops.txt" 2>&1 || OPS_RC=$((OPS_RC + 100))
  echo "test_ops rc=$OPS_RC: $(grep -c '^PASS' "$OUT/test_ops.txt") passed, $(grep -c '^FAIL' "$OUT/test_ops.txt") failed [$(el)]"
else
  echo "kernel build FAILED or no nvcc (see build.txt); the Java tests still use the kernel library carried in the jar [$(el)]"
fi

# --- 2. Java GPU tests (budget 150 s): the whole ai.safetune.cuda package on the carried runtime
JAVA_RC=skipped
if (( $(budget 150) > 0 )); then
  timeout "$(budget 150)" bash .carry/run-java-tests.sh > "$OUT/java.txt" 2>&1; JAVA_RC=$?
  echo "java tests rc=$JAVA_RC [$(el)]"
fi

# --- 3. training throughput (budgets per run below; the most informative runs first)
TRAIN="$OUT/train.log"
: > "$TRAIN"
# enough BUDGET T: whether T seconds (what budget gave) are at least 60% of the part's own budget BUDGET; a part
# started with less would likely be killed before it prints its RESULT line
enough() { (( $2 > 0 && $2 * 10 >= $1 * 6 )); }
ours() {  # ours BUDGET SHAPE WARMUP STEPS ARGS...
  local t; t=$(budget "$1"); enough "$1" "$t" || { echo "ours $2 ${*:5}: skipped, ${t}s left of its ${1}s" | tee -a "$TRAIN"; return; }
  local args=(cuda "$2" "${ST_BATCH:-4}" 512 "$3" "$4" bf16 "${@:5}")
  # ST_DRY_RUN=1 (no GPU): the same calls on the CPU backend with the tiny shape, to check the plumbing here
  [[ "${ST_DRY_RUN:-0}" == 1 ]] && args=(cpu tiny 1 32 "$3" 2 f32 "${@:7}")
  # ST_JAVA_OPTS: extra JVM options, e.g. -Dsafetune.cuda.fusedLora=false for an A/B in the same call
  timeout "$t" .carry/jre/bin/java -Xmx48g ${ST_JAVA_OPTS:-} --add-modules jdk.incubator.vector -cp "$CP" ai.safetune.cuda.LoraTrainBench \
    "${args[@]}" 2>&1 | grep -v "^WARNING" >> "$TRAIN"
  echo "ours $2 ${*:5}${ST_JAVA_OPTS:+ $ST_JAVA_OPTS} rc=${PIPESTATUS[0]} [$(el)]" | tee -a "$TRAIN"
}
peft() {  # peft BUDGET SHAPE WARMUP STEPS DTYPE
  local t; t=$(budget "$1"); enough "$1" "$t" || { echo "peft $2 $5: skipped, ${t}s left of its ${1}s" | tee -a "$TRAIN"; return; }
  PYTHONUNBUFFERED=1 timeout "$t" python3 benchmarks/gpu/peft_train_bench.py "$2" "${ST_BATCH:-4}" 512 "$3" "$4" "$5" 2>&1 \
    | grep -v Warning >> "$TRAIN"
  echo "peft $2 $5 rc=${PIPESTATUS[0]} [$(el)]" | tee -a "$TRAIN"
}
ncu_step() {  # ncu_step BATCH NAME MODE [JVM OPTIONS...]: every kernel of one bracketed 1B step, grouped (ncu_table.py;
  # MODE: the table's mode label of the runs with the same options, whose median step it sets the kernels against)
  command -v ncu >/dev/null && (( $(budget 90) >= 60 )) || { echo "ncu step $2: skipped (no ncu or under 60 s left)"; return; }
  local b=$1 name=$2 mode=$3; shift 3
  timeout "$(budget 90)" ncu --profile-from-start off --clock-control none --metrics gpu__time_duration.sum --csv \
    --print-units base --target-processes all .carry/jre/bin/java -Xmx48g -Dsafetune.bench.ncu=true "$@" \
    --add-modules jdk.incubator.vector -cp "$CP" ai.safetune.cuda.LoraTrainBench cuda llama-1b "$b" 512 1 1 bf16 \
    --precision bf16 --optimizer device > "$OUT/ncu-$name.csv" 2> "$OUT/ncu-$name.err"
  echo "ncu step $name rc=$? [$(el)]"
  python3 benchmarks/gpu/ncu_table.py "$OUT/ncu-$name.csv" "$TRAIN" "$mode" "$b" > "$OUT/ncu-$name.txt" 2>&1
  head -45 "$OUT/ncu-$name.txt"
  rm -f "$OUT/ncu-$name.csv"
}
if [[ "${ST_PLAN:-full}" == mfu ]]; then
  # ST_PLAN=mfu: the 1B shape at batch 6, 8, 4 and 7 (the issue fixes the sequence length, not the batch), each next to
  # PEFT at the same batch, three ways: the default (since the 2026-11-27 mfu call: the bf16 copies of the
  # RMSNorm/SwiGLU/loss-gradient outputs plus the bf16 rank-r products: u, du, dB and dA read the bf16 x and dout the
  # frozen GEMMs read, half the bytes of the ~17 GB the TF32 rank-r products moved per b4 step), the copies alone
  # (-Dsafetune.cuda.bf16Rank=false: same bits as both off, so those two final losses agree to the printed digits;
  # the device optimizer's atomic gradient norm may move the last one), and both off. Why these batches:
  # PEFT's step hardly grows from b4 to b8 (112.6 → 114.6 ms, call 1 of GPU session 3: host-bound), so the × PEFT
  # ratio falls with the batch while MFU rises (b4: 43%, 2.2–2.9×; b8: 48.6%, 1.55–1.99×); a line through our b4
  # and b8 steps (~9 ms fixed + 14.7 µs per token) puts b6 near 47% and 2.1× before the copies and the rank-r
  # products. Run with timeout_s=600 and ST_LIMIT=560; parts that would start after ST_LIMIT are skipped and say so.
  COPIES=-Dsafetune.cuda.bf16Rank=false
  OFF="$COPIES -Dsafetune.cuda.bf16Copies=false"
  mfu_batch() {
    ST_BATCH=$1 ours 50 llama-1b 2 8 --precision bf16 --optimizer device
    ST_BATCH=$1 ST_JAVA_OPTS=$COPIES ours 50 llama-1b 2 8 --precision bf16 --optimizer device
    ST_BATCH=$1 ST_JAVA_OPTS=$OFF ours 50 llama-1b 2 8 --precision bf16 --optimizer device
    ST_BATCH=$1 peft 60 llama-1b 3 10 bf16
  }
  for b in 6 8 4; do mfu_batch $b; done
  # where the b6 step's time goes with both switches (for the session after, if 50% is still short), then batch 7
  ncu_step 6 b6-rank bf16+copies+rank
  mfu_batch 7
elif [[ "${ST_PLAN:-full}" == confirm ]]; then
  # ST_PLAN=confirm: the 1B b6 step with the defaults (bf16 copies and bf16 rank-r products on since the mfu call)
  # and with both off, interleaved with two PEFT runs, so the goal rows (≥ 2× PEFT, ≥ 50% MFU) are measured twice
  # against two peers in one call; then b5 and b7 with the defaults and their PEFT runs
  OFF="-Dsafetune.cuda.bf16Copies=false -Dsafetune.cuda.bf16Rank=false"
  for round in 1 2; do
    ST_BATCH=6 ours 50 llama-1b 2 10 --precision bf16 --optimizer device
    ST_BATCH=6 peft 60 llama-1b 3 12 bf16
    ST_BATCH=6 ST_JAVA_OPTS=$OFF ours 50 llama-1b 2 10 --precision bf16 --optimizer device
  done
  ST_BATCH=6 ours 50 llama-1b 2 10 --precision bf16 --optimizer device
  for b in 5 7; do
    ST_BATCH=$b ours 50 llama-1b 2 10 --precision bf16 --optimizer device
    ST_BATCH=$b peft 60 llama-1b 3 12 bf16
  done
  ours 30 smollm2-135m 3 10 --precision bf16 --optimizer device
  peft 50 smollm2-135m 3 16 bf16
elif [[ "${ST_PLAN:-full}" == diag ]]; then
  # ST_PLAN=diag: the LoRA layer A/B (default cuBLAS TF32 rank-r products, the exact fp32 kernels, default) around PEFT at batch 4, every
  # kernel of one 1B step timed by Nsight Compute (only the bracketed step; clocks left alone), grouped by kernel
  # and set against the step's wall time; then batch 8 and the 135M shape with their PEFT runs
  EXACT=-Dsafetune.cuda.rankKernels=true  # the A/B: exact fp32 rank-r kernels (opt-in) vs the default cuBLAS TF32
  if [[ "$OPS_RC" != skipped ]] && command -v compute-sanitizer >/dev/null; then
    timeout "$(budget 40)" compute-sanitizer --tool memcheck --print-limit 20 "$NATIVE/test_ops" 7 > "$OUT/memcheck.txt" 2>&1
    echo "memcheck rc=$? $(tail -1 "$OUT/memcheck.txt") [$(el)]"
  fi
  ours 45 llama-1b 2 10 --precision bf16 --optimizer device
  ST_JAVA_OPTS=$EXACT ours 45 llama-1b 2 10 --precision bf16 --optimizer device
  peft 60 llama-1b 3 16 bf16
  ours 45 llama-1b 2 10 --precision bf16 --optimizer device
  ncu_step 4 step bf16
  ST_BATCH=8 ours 45 llama-1b 2 8 --precision bf16 --optimizer device
  ST_BATCH=8 ST_JAVA_OPTS=$EXACT ours 45 llama-1b 2 8 --precision bf16 --optimizer device
  ST_BATCH=8 peft 60 llama-1b 3 12 bf16
  ours 30 smollm2-135m 3 10 --precision bf16 --optimizer device
  peft 50 smollm2-135m 3 16 bf16
elif [[ "${ST_PLAN:-full}" == ab ]]; then
  # ST_PLAN=ab: the attention micro-benchmark, the 1B bf16 step twice around PEFT (PEFT's time varies between
  # calls: each ratio is against the PEFT run of the same call), the 135M step and its PEFT
  [[ -x "$NATIVE/bench" ]] && timeout "$(budget 40)" "$NATIVE/bench" attention > "$OUT/bench.txt" 2>&1
  ours 50 llama-1b 2 10 --precision bf16 --optimizer device --profile 1
  peft 60 llama-1b 3 16 bf16
  ours 40 llama-1b 2 10 --precision bf16 --optimizer device
  ours 40 smollm2-135m 3 10 --precision bf16 --optimizer device --profile 1
  peft 50 smollm2-135m 3 16 bf16
elif [[ "${ST_PLAN:-full}" == quick ]]; then
  # ST_PLAN=quick: the bf16 paths with a per-op profile (each op synchronized) and one peer, for a short call
  ours 50 llama-1b 2 6 --precision bf16 --optimizer device --profile 1
  ours 40 smollm2-135m 2 6 --precision bf16 --optimizer device --profile 1
  peft 60 llama-1b 3 16 bf16
  peft 50 smollm2-135m 3 16 bf16
  # the parts of a step on their own (LoRA products cuBLAS vs split-K, attention fp32 vs tensor cores)
  [[ -x "$NATIVE/bench" ]] && timeout "$(budget 60)" "$NATIVE/bench" training > "$OUT/bench.txt" 2>&1
  # hardware counters of the tensor-core attention kernels (one launch each; Nsight Compute, clocks left alone)
  if [[ -x "$NATIVE/bench" ]] && command -v ncu >/dev/null && (( $(budget 60) >= 30 )); then
    for kn in attention_tc_forward attention_tc_dq attention_tc_dkv; do
      timeout "$(budget 30)" ncu --clock-control none -k regex:$kn --launch-count 1 --section SpeedOfLight \
        --section Occupancy --section WarpStateStats --section LaunchStats --section ComputeWorkloadAnalysis \
        "$NATIVE/bench" attention >> "$OUT/ncu.txt" 2>&1
      echo "ncu $kn rc=$? [$(el)]"
    done
  fi
else
[[ -x "$NATIVE/bench" ]] && timeout "$(budget 30)" "$NATIVE/bench" attention > "$OUT/bench.txt" 2>&1
ours 45 llama-1b 2 10 --precision bf16 --optimizer device --profile 1
peft 60 llama-1b 3 16 bf16
ours 30 smollm2-135m 3 10 --precision bf16 --optimizer device --profile 1
peft 50 smollm2-135m 3 16 bf16
# batch 8 (the issue fixes the sequence length, not the batch): both sides, same call
ST_BATCH=8 ours 45 llama-1b 2 8 --precision bf16 --optimizer device
ST_BATCH=8 peft 60 llama-1b 3 12 bf16
ours 45 llama-1b 2 8 --precision bf16-tiled --optimizer device
ours 30 smollm2-135m 3 10 --precision bf16-tiled --optimizer device
ours 40 llama-1b 2 8 --precision bf16 --optimizer host
ours 60 llama-1b 1 4 --precision f32 --optimizer device
ours 30 smollm2-135m 2 6 --precision f32 --optimizer device
fi
grep "^PROFILE" "$TRAIN" > "$OUT/profile.txt" || true

# --- 4. the table
echo "================ training throughput, AdamW on the device unless marked host ($(el))"
python3 benchmarks/gpu/train_table.py "$TRAIN" | tee "$OUT/table.md"

# --- 5. memcheck over the op tests, time permitting (budget 90 s)
if [[ "${ST_PLAN:-full}" != quick && "$OPS_RC" != skipped ]] && command -v compute-sanitizer >/dev/null && (( $(budget 90) >= 60 )); then
  timeout "$(budget 90)" compute-sanitizer --tool memcheck --print-limit 20 "$NATIVE/test_ops" 7 > "$OUT/memcheck.txt" 2>&1
  echo "memcheck rc=$? $(tail -1 "$OUT/memcheck.txt") [$(el)]"
fi

echo "================ summary"
[[ -f "$OUT/test_ops.txt" ]] && grep -E "^FAIL|checks passed|device:" "$OUT/test_ops.txt" | head -20
[[ -f "$OUT/java.txt" ]] && grep -E "✘|tests (successful|failed|aborted|skipped)|Exception|expected|bound|RMS error|loss gpu|worst|gradient norm|sumOfSquares" "$OUT/java.txt" | head -60
echo "test_ops rc=$OPS_RC java rc=$JAVA_RC total $(el)"
