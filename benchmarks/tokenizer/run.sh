#!/usr/bin/env bash
# Tokenizer encode throughput, one thread, side by side with Hugging Face tokenizers on the same corpus.
# Usage (from the repository root): bash benchmarks/tokenizer/run.sh [passes]
set -euo pipefail
cd "$(dirname "$0")/../.."
SHARED="${SAFETUNE_SHARED:-../shared}"
PASSES="${1:-20}"
mvn -B -o -q -pl benchmarks -am package -DskipTests
if [ ! -x .venv-bench/bin/python ]; then
  python3 -m venv .venv-bench
fi
.venv-bench/bin/python -c "import tokenizers" 2>/dev/null || .venv-bench/bin/pip install -q tokenizers
java -Dsafetune.shared="$SHARED" -cp benchmarks/target/benchmarks.jar ai.safetune.bench.TokenizerThroughput "$PASSES"
.venv-bench/bin/python benchmarks/tokenizer/hf_tokenizers_throughput.py "$SHARED" "$(( PASSES / 4 > 0 ? PASSES / 4 : 1 ))"
.venv-bench/bin/python -c "import tokenizers; print('tokenizers', tokenizers.__version__)"
