#!/usr/bin/env bash
# Trains a LoRA adapter with safetune (tiny model: the reference case; or SmolLM2 with MODEL=...gguf TOL=2e-3),
# merges it, exports our logits and checks both against PEFT/transformers in .venv-bench.
# Usage (repo root, after `mvn -B -o -q -pl examples -am package -DskipTests`): benchmarks/peft-check/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
MODEL=${MODEL:-../shared/models/tiny-llama}
CASE=${CASE:-../shared/reference/tiny_lora}
TOL=${TOL:-1e-4}
W=${W:-target/peft-check}
mkdir -p "$W"
if [ ! -x .venv-bench/bin/python ]; then
  python3 -m venv .venv-bench
  .venv-bench/bin/pip install -q torch transformers peft safetensors gguf
fi
python3 - "$CASE" "$W" <<'PY'
import json, sys
c = json.load(open(sys.argv[1] + "/case.json"))
with open(sys.argv[2] + "/data.jsonl", "w") as f:
    for conv in c["conversations"]:
        f.write(json.dumps({"messages": conv}) + "\n")
with open(sys.argv[2] + "/prompts.jsonl", "w") as f:
    for t in ["The capital of France is", "def fibonacci(n):\n    return", "Tom has 3 apples and buys 4 more."]:
        f.write(json.dumps({"text": t}) + "\n")
    for conv in c["conversations"]:
        f.write(json.dumps({"messages": conv[:-1]}) + "\n")
PY
./safetune train --model "$MODEL" --data "$W/data.jsonl" --init-adapter "$CASE/adapter_init" --lr 2e-3 --weight-decay 0.01 \
  --batch-size 2 --steps 3 --schedule constant --no-shuffle --save "$W/adapter"
./safetune merge --model "$MODEL" --adapter "$W/adapter" --out "$W/merged"
./safetune logits --model "$MODEL" --adapter "$W/adapter" --in "$W/prompts.jsonl" --top-k 8 --full-last --out "$W/ours_adapter.jsonl"
./safetune logits --model "$W/merged" --in "$W/prompts.jsonl" --top-k 8 --full-last --out "$W/ours_merged.jsonl"
.venv-bench/bin/python benchmarks/peft-check/check_peft.py --base "$MODEL" --adapter "$W/adapter" \
  --ours-adapter "$W/ours_adapter.jsonl" --merged "$W/merged" --ours-merged "$W/ours_merged.jsonl" \
  --prompts "$W/prompts.jsonl" --tol "$TOL"
