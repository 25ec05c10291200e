#!/usr/bin/env python3
"""Peer for TokenizerThroughput: Hugging Face tokenizers (Rust) encoding the same 2,000 GSM8K items one by
one on one thread, tokens per second of process CPU time and of wall time.
Usage: hf_tokenizers_throughput.py SHARED_DIR [passes]   (run.sh makes the venv)"""
import json, os, sys, time
os.environ["RAYON_NUM_THREADS"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"
from tokenizers import Tokenizer

shared = sys.argv[1]
passes = int(sys.argv[2]) if len(sys.argv) > 2 else 20
tok = Tokenizer.from_file(os.path.join(shared, "models/tiny-llama/tokenizer.json"))
docs = []
with open(os.path.join(shared, "data/tasks/gsm8k/train.jsonl")) as f:
    for line in f:
        j = json.loads(line)
        docs.append(j["question"] + "\n" + j["answer"])
        if len(docs) == 2000:
            break
for d in docs[:200]:
    tok.encode(d, add_special_tokens=False)
n = 0
c0, w0 = time.process_time(), time.perf_counter()
for _ in range(passes):
    for d in docs:
        n += len(tok.encode(d, add_special_tokens=False).ids)
cpu, wall = time.process_time() - c0, time.perf_counter() - w0
print(f"hf-tokenizers {len(docs)} docs, {n} tokens: {n / cpu:.0f} tokens/s CPU ({cpu:.2f} s CPU), {n / wall:.0f} tokens/s wall")
