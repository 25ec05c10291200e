#!/usr/bin/env bash
# Evaluation throughput side by side, one command, unattended (issue 6 "Performance"):
#   generation, new tokens/s: HF transformers `generate` vs our ONNX Runtime path vs our Java forward,
#     same first N AdvBench prompts, SmolLM2-135M fp32, greedy, batch B, exactly T new tokens, THREADS threads;
#   scoring, choices/s: option log-likelihoods of shared multiple-choice tasks (tiny model and SmolLM2).
# Usage: benchmarks/eval-throughput.sh [N=64] [B=16] [T=64] [THREADS=2]
#   env: PYTHON (python with torch+transformers+gguf; default /work/train2/.venv-bench/bin/python, else a venv
#        made in benchmarks/eval-bench/.venv), SHARED (default ../shared), SKIP_JAVA=1 (skip the Java forward), SKIP_HF=1,
#        SKIP_BUILD=1, SKIP_ATTENTION_AB=1 (skip the PLAIN vs GQA generation A/B), SKIP_SCORE_AB=1 (skip the A/B run scoring with the head inside the decoder graph), SCORE_N (examples per scoring task, default 200: piqa item 628 is longer than the tiny model's 512 positions, which the scorer rejects), ORT_BATCH (our batch size, default 32, safetune eval's default),
#        BASE_REV=<git rev> or BASE_JAR=<benchmarks.jar>: scoring A/B against older code, SCORE_REPS (default 5) alternating
#        rounds of `score` on the tiny model with the base jar and this tree's, per task, rows labelled -base / -new
#        (BASE_REV builds the base jar in a temporary git worktree; ONLY_SCORE_AB=1 runs just this A/B), SKIP_GEN=1 (skip
#        `gen ort`), SKIP_SCORE=1 (skip the single scoring runs), SKIP_INT8=1 (skip the int8 generation pair: ours with
#        --onnx-precision int8 and HF with PyTorch dynamic int8 quantization of the same projections).
# Full AdvBench: benchmarks/eval-throughput.sh 520 16 64 2
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-64}; B=${2:-16}; T=${3:-64}; THREADS=${4:-2}
SHARED=${SHARED:-../shared}
ORT_BATCH=${ORT_BATCH:-32}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

if [[ -z "${PYTHON:-}" ]]; then
  if [[ -x /work/train2/.venv-bench/bin/python ]]; then
    PYTHON=/work/train2/.venv-bench/bin/python
  else
    VENV=benchmarks/eval-bench/.venv
    [[ -x $VENV/bin/python ]] || { python3 -m venv "$VENV" && "$VENV/bin/pip" install -q torch transformers gguf numpy; }
    PYTHON=$VENV/bin/python
  fi
fi
[[ -n "${SKIP_BUILD:-}" ]] || mvn -B -o -q -pl benchmarks -am package -DskipTests
JAR=benchmarks/target/benchmarks.jar
JAVA="java -Xmx8g --add-modules jdk.incubator.vector -cp $JAR ai.safetune.bench.EvalThroughput"

echo "# $(date -u +%FT%TZ) $(uptime | sed 's/.*load/load/')  N=$N batch=$B (ours $ORT_BATCH) new_tokens=$T threads=$THREADS" | tee "$OUT/log"
if [[ -n "${BASE_REV:-}" && -z "${BASE_JAR:-}" ]]; then
  git worktree add -q --detach "$OUT/base" "$BASE_REV"
  (cd "$OUT/base" && mvn -B -o -q -pl benchmarks -am package -DskipTests >/dev/null)
  BASE_JAR=$OUT/base/benchmarks/target/benchmarks.jar
  trap 'git worktree remove --force "$OUT/base"; rm -rf "$OUT"' EXIT
fi
if [[ -n "${ONLY_SCORE_AB:-}" ]]; then SKIP_HF=1; SKIP_GEN=1; SKIP_JAVA=1; SKIP_ATTENTION_AB=1; SKIP_SCORE=1; fi
if [[ -z "${SKIP_HF:-}" ]]; then
  "$PYTHON" benchmarks/eval-bench/hf_generate.py --shared "$SHARED" --n "$N" --batch "$B" --new-tokens "$T" \
    --threads "$THREADS" 2>/dev/null | grep '^RESULT' | tee -a "$OUT/log"
fi
[[ -n "${SKIP_GEN:-}" ]] || $JAVA gen ort "$SHARED" "$N" "$ORT_BATCH" "$T" "$THREADS" 2>/dev/null | grep '^RESULT' | tee -a "$OUT/log"
if [[ -z "${SKIP_INT8:-}" && -z "${SKIP_GEN:-}" ]]; then
  java -Xmx8g --add-modules jdk.incubator.vector -Dsafetune.bench.precision=INT8 -cp $JAR ai.safetune.bench.EvalThroughput \
    gen ort "$SHARED" "$N" "$ORT_BATCH" "$T" "$THREADS" 2>/dev/null | grep '^RESULT' | tee -a "$OUT/log"
  [[ -n "${SKIP_HF:-}" ]] || "$PYTHON" benchmarks/eval-bench/hf_generate.py --shared "$SHARED" --n "$N" --batch "$B" \
    --new-tokens "$T" --threads "$THREADS" --int8 2>/dev/null | grep '^RESULT' | tee -a "$OUT/log"
fi
if [[ -z "${SKIP_ATTENTION_AB:-}" ]]; then  # A/B: the plain-op graph vs GroupQueryAttention (in-place cache), 3 alternating rounds
  $JAVA gen-ab "$SHARED" "$N" "$ORT_BATCH" "$T" "$THREADS" 3 PLAIN,GQA 2>/dev/null | grep '^RESULT' | tee -a "$OUT/log"
fi
if [[ -z "${SKIP_JAVA:-}" ]]; then
  $JAVA gen java "$SHARED" "$N" "$ORT_BATCH" "$T" "$THREADS" 2>/dev/null | grep '^RESULT' | tee -a "$OUT/log"
fi
for task in arc-easy piqa hellaswag; do  # short contexts: the tiny model has 512 positions
  [[ -z "${SKIP_SCORE:-}" ]] || continue
  $JAVA score ort "$SHARED" "$SHARED/models/tiny-llama" "$task" "${SCORE_N:-200}" 16 "$THREADS" 2>/dev/null | grep -A2 '^RESULT' | tee -a "$OUT/log"
  if [[ -z "${SKIP_SCORE_AB:-}" ]]; then  # A/B: the log-softmax inside the decoder graph instead of the chunked head model
    $JAVA score ort "$SHARED" "$SHARED/models/tiny-llama" "$task" "${SCORE_N:-200}" 16 "$THREADS" in-graph 2>/dev/null | grep '^RESULT' | tee -a "$OUT/log"
  fi
done
[[ -n "${SKIP_SCORE:-}" ]] || $JAVA score ort "$SHARED" "$SHARED/models/SmolLM2-135M-Instruct.Q4_1.gguf" arc-easy "$(( ${SCORE_N:-200} / 5 ))" 16 "$THREADS" 2>/dev/null \
  | grep -A2 '^RESULT' | tee -a "$OUT/log"
if [[ -n "${BASE_JAR:-}" ]]; then  # A/B: option log-likelihoods, base jar vs this tree, alternating (order flips each round)
  for task in arc-easy piqa hellaswag; do
    for ((rep = 0; rep < ${SCORE_REPS:-5}; rep++)); do
      sides="base new"; (( rep % 2 )) && sides="new base"
      for side in $sides; do
        jar=$JAR; [[ $side == base ]] && jar=$BASE_JAR
        java -Xmx8g --add-modules jdk.incubator.vector -cp "$jar" ai.safetune.bench.EvalThroughput score ort "$SHARED" \
          "$SHARED/models/tiny-llama" "$task" "${SCORE_N:-200}" 16 "$THREADS" 2>/dev/null | grep '^RESULT loglik' \
          | sed "s/^\(RESULT [^ ]* [^ ]*\)/\1-$side/" | tee -a "$OUT/log"
      done
    done
  done
fi
echo "# $(uptime | sed 's/.*load/load/')" | tee -a "$OUT/log"

python3 - "$OUT/log" <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[1]) if l.startswith("RESULT")]
gen = {r[2]: r for r in rows if r[1] == "gen"}
hf = gen.get("hf-transformers-fp32")
print("\n| what | engine | count | wall s | cpu s | per wall s | per cpu s | vs HF (wall) |")
print("|---|---|---|---|---|---|---|---|")
for r in rows:
    what, eng, cnt, unit, wall, cpu = r[1], r[2], int(r[3]), r[4], float(r[5]), float(r[6])
    ratio = ""
    if what == "gen" and hf is not None:
        ratio = f"{(cnt / wall) / (int(hf[3]) / float(hf[5])):.2f}x"
        hf8 = gen.get("hf-transformers-int8")
        if "int8" in eng and not eng.startswith("hf-") and hf8 is not None:
            ratio += f" ({(cnt / wall) / (int(hf8[3]) / float(hf8[5])):.2f}x HF int8)"
    print(f"| {what} | {eng} | {cnt} {unit} | {wall:.1f} | {cpu:.1f} | {cnt / wall:.1f} | {cnt / cpu:.1f} | {ratio} |")
ab = {}
for r in rows:
    if r[1].startswith("loglik:") and r[2].endswith(("-base", "-new")):
        side = r[2].rsplit("-", 1)[1]
        ab.setdefault(r[1].split(":")[1], {}).setdefault(side, []).append((int(r[3]) / float(r[5]), int(r[3]) / float(r[6])))
if ab:
    import statistics
    print("\n| scoring A/B (tiny model) | base choices/s: median (best) | new choices/s: median (best) | new/base (medians) | base per CPU-s | new per CPU-s |")
    print("|---|---|---|---|---|---|")
    for task, d in ab.items():
        b, n = d.get("base", []), d.get("new", [])
        if not b or not n:
            continue
        mb, mn = statistics.median(x[0] for x in b), statistics.median(x[0] for x in n)
        cb, cn = statistics.median(x[1] for x in b), statistics.median(x[1] for x in n)
        print(f"| {task} ({len(b)}+{len(n)} runs) | {mb:.0f} ({max(x[0] for x in b):.0f}) | {mn:.0f} ({max(x[0] for x in n):.0f}) | {mn / mb:.2f}x | {cb:.0f} | {cn:.0f} |")
PY
