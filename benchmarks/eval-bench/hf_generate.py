"""HF transformers `generate` throughput on the first N AdvBench prompts: the peer of EvalThroughput's `gen`.

Same work as ours: SmolLM2-135M-Instruct from the shared GGUF (dequantized to fp32 by transformers), the model's
chat template with its default system prompt, left padding, greedy, exactly NEW_TOKENS new tokens per prompt
(min_new_tokens = max_new_tokens, so EOS does not end a row early), batch BATCH, THREADS torch threads.
Prints `RESULT gen hf-transformers-fp32 <tokens> new_tokens <wall s> <process cpu s>`.
--int8: the peer of `--onnx-precision int8` — PyTorch dynamic quantization (`torch.ao.quantization.quantize_dynamic`,
qint8 weights per tensor, activations quantized per batch on the fly) of the same projections ours quantizes (q, k, v,
o, gate, up; down_proj and lm_head stay fp32); prints `hf-transformers-int8`.
"""
import argparse
import csv
import os
import time

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

ap = argparse.ArgumentParser()
ap.add_argument("--shared", required=True)
ap.add_argument("--n", type=int, required=True)
ap.add_argument("--batch", type=int, default=16)
ap.add_argument("--new-tokens", type=int, default=64)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--int8", action="store_true")
a = ap.parse_args()

torch.set_num_threads(a.threads)
models = os.path.join(a.shared, "models")
gguf = "SmolLM2-135M-Instruct.Q4_1.gguf"
tok = AutoTokenizer.from_pretrained(models, gguf_file=gguf)
tok.padding_side = "left"
if tok.pad_token is None:
    tok.pad_token = tok.eos_token
model = AutoModelForCausalLM.from_pretrained(models, gguf_file=gguf, torch_dtype=torch.float32).eval()
if a.int8:
    names = {n for n, mod in model.named_modules() if isinstance(mod, torch.nn.Linear)
             and n.rsplit(".", 1)[-1] in ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj")}
    model = torch.ao.quantization.quantize_dynamic(model, names, dtype=torch.qint8)

with open(os.path.join(a.shared, "data/harmful/advbench_behaviors.csv"), newline="", encoding="utf-8") as f:
    prompts = [row["Behavior"] for row in csv.DictReader(f)][: a.n]
if len(prompts) < a.n:
    raise SystemExit(f"AdvBench has {len(prompts)} prompts, asked for {a.n}")
texts = [tok.apply_chat_template([{"role": "user", "content": p}], add_generation_prompt=True, tokenize=False)
         for p in prompts]


def run(batch_texts):
    enc = tok(batch_texts, return_tensors="pt", padding=True, add_special_tokens=False)
    with torch.inference_mode():
        out = model.generate(**enc, do_sample=False, max_new_tokens=a.new_tokens, min_new_tokens=a.new_tokens,
                             pad_token_id=tok.pad_token_id)
    return (out.shape[1] - enc["input_ids"].shape[1]) * out.shape[0]


run(texts[: a.batch])  # warm-up, untimed (as on our side)
c0, t0 = time.process_time(), time.perf_counter()
tokens = sum(run(texts[i:i + a.batch]) for i in range(0, len(texts), a.batch))
print(f"RESULT gen hf-transformers-{'int8' if a.int8 else 'fp32'} {tokens} new_tokens {time.perf_counter() - t0:.2f} {time.process_time() - c0:.2f}",
      flush=True)
