#!/usr/bin/env python3
"""LoRA training step throughput, SafeTune (CPU backend, `safetune train`) next to HF transformers + PEFT on
PyTorch CPU, in the same run and the same shapes: SmolLM2-135M (the shared GGUF, fp32 compute), sequence 256,
micro-batch 4, r = 8 on all 7 linear modules, AdamW, 2 threads. Reports tokens/s (steady state: the first step
is skipped) and peak RSS of each side. Run from the repo root with .venv-bench (see ../peft-check/README.md).
`--model ../shared/models/tiny-llama` (an HF directory; both sides load it) measures the framework overhead;
`--gradient-checkpointing` turns activation checkpointing on on both sides.
"""
import argparse
import json
import os
import random
import resource
import subprocess
import sys
import time


def synthetic_chats(path, n, seed=0):
    rnd = random.Random(seed)
    words = ("the market news report team game season company company's shares rose fell after before "
             "government minister election science research space launch data network software players win "
             "lost record year week said would could first new").split()
    with open(path, "w") as f:
        for i in range(n):
            user = " ".join(rnd.choice(words) for _ in range(260))
            f.write(json.dumps({"messages": [{"role": "user", "content": user},
                                             {"role": "assistant", "content": " ".join(rnd.choice(words) for _ in range(40))}]}) + "\n")


def run_safetune(model, data, steps, out, checkpointing=False):
    metrics = os.path.join(out, "m.jsonl")
    cmd = ["./safetune", "train", "--model", model, "--data", data, "--lora-r", "8", "--lora-alpha", "16",
           "--target-modules", "all-linear", "--lr", "1e-4", "--batch-size", "4", "--steps", str(steps),
           "--max-seq-len", "256", "--train-on-inputs", "--no-shuffle", "--schedule", "constant",
           "--metrics-out", metrics, "--save", os.path.join(out, "adapter")]
    if checkpointing:
        cmd.append("--gradient-checkpointing")
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    subprocess.run(cmd, check=True, stderr=subprocess.DEVNULL)
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    m = [json.loads(l) for l in open(metrics)]
    steady = m[1:] if len(m) > 1 else m
    tok = sum(x["tokens"] for x in steady)
    secs = sum(x["tokens"] / x["tokens_per_s"] for x in steady)
    return tok / secs, max(rss, before) / 1024, m[0]["tokens"]


def run_torch(model, steps, child_flag, checkpointing=False):
    # in a child process so its peak RSS is its own
    code = f"""
import resource, time, torch, os, sys
from transformers import AutoModelForCausalLM
from peft import LoraConfig, get_peft_model
torch.set_num_threads(2)
torch.manual_seed(0)
p = {model!r}
m = AutoModelForCausalLM.from_pretrained(os.path.dirname(p), gguf_file=os.path.basename(p), dtype=torch.float32,
                                         attn_implementation="eager") if p.endswith(".gguf") else \
    AutoModelForCausalLM.from_pretrained(p, dtype=torch.float32, attn_implementation="eager")
m = get_peft_model(m, LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0,
    target_modules=["q_proj","k_proj","v_proj","o_proj","gate_proj","up_proj","down_proj"]))
if {checkpointing!r}:
    m.gradient_checkpointing_enable(gradient_checkpointing_kwargs={{"use_reentrant": False}})
    m.enable_input_require_grads()
m.train()
opt = torch.optim.AdamW([q for q in m.parameters() if q.requires_grad], lr=1e-4)
ids = torch.randint(0, m.config.vocab_size, (4, 256))
times = []
for s in range({steps}):
    t0 = time.perf_counter()
    loss = m(input_ids=ids, labels=ids).loss
    loss.backward()
    torch.nn.utils.clip_grad_norm_([q for q in m.parameters() if q.requires_grad], 1.0)
    opt.step(); opt.zero_grad()
    times.append(time.perf_counter() - t0)
steady = times[1:] if len(times) > 1 else times
print(4 * 256 * len(steady) / sum(steady), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout.split()
    return float(out[-2]), float(out[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", default="../shared/models/SmolLM2-135M-Instruct.Q4_1.gguf")
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--work", default="target/train-bench")
    ap.add_argument("--gradient-checkpointing", action="store_true",
                    help="activation checkpointing on both sides (safetune --gradient-checkpointing, HF gradient_checkpointing_enable)")
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    data = os.path.join(a.work, "data.jsonl")
    synthetic_chats(data, 4 * a.steps)
    t_ours, rss_ours, tokens = run_safetune(a.model, data, a.steps, a.work, a.gradient_checkpointing)
    t_torch, rss_torch = run_torch(a.model, a.steps, True, a.gradient_checkpointing)
    print(f"model {a.model}, seq 256 x micro-batch 4 ({tokens} tokens/step), r=8 all-linear, fp32, 2 threads, {a.steps} steps"
          + (", activation checkpointing" if a.gradient_checkpointing else ""))
    print(f"safetune (CPU backend): {t_ours:8.1f} tokens/s   peak RSS {rss_ours:7.0f} MiB")
    print(f"PyTorch + PEFT        : {t_torch:8.1f} tokens/s   peak RSS {rss_torch:7.0f} MiB")
    print(f"ratio safetune / PyTorch: {t_ours / t_torch:.2f}")


if __name__ == "__main__":
    main()
