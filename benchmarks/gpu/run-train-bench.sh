#!/usr/bin/env bash
# Whole-model LoRA training throughput on the GPU machine, ours (LoraTrainBench on the CUDA backend) and
# HF transformers + PEFT (peft_train_bench.py) in the same call. Needs .carry/ from prepare-carry.sh
# (jlinked runtime + jars with the kernel library). Outputs under $OUT: train.log (everything).
#   run: command="bash benchmarks/gpu/run-train-bench.sh", carry=[".carry"]
# (from a helper's worktree: copy the tree into an ignored folder of the session's checkout and carry it)
set -u
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
OUT="${OUT:-$ROOT/.device-out}"
mkdir -p "$OUT"
exec > >(tee "$OUT/train.log") 2>&1
T0=$(date +%s)
el() { echo "$(( $(date +%s) - T0 ))s"; }
echo "== $(date -u +%FT%TZ) $(hostname)"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>&1 | tail -1
source "$ROOT/benchmarks/gpu/cublas-path.sh"
bash .carry/unpack.sh
CP="$(ls .carry/lib/*.jar | tr '\n' ':').carry/test-classes"
ours() { timeout "$1" .carry/jre/bin/java -Xmx48g --add-modules jdk.incubator.vector -cp "$CP" ai.safetune.cuda.LoraTrainBench cuda "${@:2}" 2>&1 | grep -v "^WARNING"; echo "ours rc=${PIPESTATUS[0]} [$(el)]"; }
peft() { PYTHONUNBUFFERED=1 timeout "$1" python3 benchmarks/gpu/peft_train_bench.py "${@:2}" 2>&1 | grep -v Warning; echo "peft rc=${PIPESTATUS[0]} [$(el)]"; }
# args: SHAPE BATCH SEQ WARMUP STEPS DTYPE
ours 55 smollm2-135m 4 512 2 5 bf16
peft 45 smollm2-135m 4 512 3 10 bf16
ours 75 llama-1b 4 512 1 3 bf16
peft 45 llama-1b 4 512 3 8 bf16
peft 30 smollm2-135m 4 512 3 8 fp32
echo "================ summary ($(el))"
grep RESULT "$OUT/train.log"
