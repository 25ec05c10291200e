"""HF transformers prefill on PyTorch CPU: batch x length fp32 forward of a GGUF model (dequantized to fp32 by
transformers' GGUF loader), timed with torch.no_grad, best of REPS after a warm-up.

Prints one JSON line: tokens/s with logits for every position (transformers' default) and with logits only
for the last position (logits_to_keep=1, what our ForwardBench prefill computes).
Usage: python hf_prefill.py MODEL.gguf [--threads 2] [--batch 4] [--length 256] [--reps 3]
"""
import argparse
import json
import os
import time

import torch
from transformers import AutoModelForCausalLM


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--length", type=int, default=256)
    ap.add_argument("--reps", type=int, default=3)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    t0 = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(os.path.dirname(os.path.abspath(a.model)),
                                                 gguf_file=os.path.basename(a.model), dtype=torch.float32)
    load_s = time.perf_counter() - t0
    model.eval()
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, model.config.vocab_size, (a.batch, a.length), generator=g)
    mask = torch.ones_like(ids)
    out = {"torch": torch.__version__, "threads": torch.get_num_threads(), "batch": a.batch, "length": a.length,
           "load_s": round(load_s, 3)}
    for name, kw in (("all_logits", {}), ("last_logits", {"logits_to_keep": 1})):
        best = None
        cpu_best = None
        with torch.no_grad():
            for rep in range(a.reps + 1):  # rep 0 warms up
                s, c = time.perf_counter(), time.process_time()
                logits = model(input_ids=ids, attention_mask=mask, use_cache=False, **kw).logits
                sec, cpu = time.perf_counter() - s, time.process_time() - c
                if rep > 0 and (best is None or sec < best):
                    best, cpu_best = sec, cpu
        out[name] = {"tokens_per_s": round(a.batch * a.length / best, 1),
                     "tokens_per_cpu_s": round(a.batch * a.length / cpu_best, 1),
                     "logits_shape": list(logits.shape)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
