#!/usr/bin/env python3
"""Checks SafeTune's LoRA outputs with the real Hugging Face stack (transformers + PEFT, PyTorch CPU, fp32).

1. our saved adapter loaded by PEFT on the base model -> logits equal ours (`safetune logits --adapter`);
2. our merged model (`safetune merge`) loaded by transformers -> logits equal ours, and its tokenizer (the
   files merge wrote) encodes the prompts as we do.

Inputs are JSONL files written by `safetune logits --full-last` (each line has "ids", "topk_ids",
"topk_logits", "logsumexp", "last_logits"). Exit status 0 when every check is within tolerance.
"""
import argparse
import json
import os
import sys

import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer


def load_base(path):
    if path.endswith(".gguf"):
        return AutoModelForCausalLM.from_pretrained(os.path.dirname(path) or ".", gguf_file=os.path.basename(path),
                                                    dtype=torch.float32, attn_implementation="eager")
    return AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32, attn_implementation="eager")


def compare(model, ours_file, tol, what):
    worst = {"last_logits": 0.0, "topk_logits": 0.0, "logsumexp": 0.0}
    n = 0
    with open(ours_file) as f:
        for line in f:
            o = json.loads(line)
            ids = torch.tensor([o["ids"]])
            with torch.no_grad():
                logits = model(input_ids=ids).logits[0].float()
            lse = torch.logsumexp(logits, dim=-1)
            worst["logsumexp"] = max(worst["logsumexp"], (lse - torch.tensor(o["logsumexp"])).abs().max().item())
            worst["last_logits"] = max(worst["last_logits"],
                                       (logits[-1] - torch.tensor(o["last_logits"])).abs().max().item())
            top_ids = torch.tensor(o["topk_ids"])
            theirs = torch.gather(logits, 1, top_ids)
            worst["topk_logits"] = max(worst["topk_logits"], (theirs - torch.tensor(o["topk_logits"])).abs().max().item())
            n += 1
    ok = worst["last_logits"] <= tol and worst["topk_logits"] <= tol and worst["logsumexp"] <= 1e-3
    print(f"{what}: {n} prompts, max |diff| last logits {worst['last_logits']:.3g}, top-k logits "
          f"{worst['topk_logits']:.3g}, logsumexp {worst['logsumexp']:.3g} (bound {tol:g} / 1e-3): "
          f"{'OK' if ok else 'FAIL'}")
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", required=True, help="base model: HF directory or .gguf file")
    ap.add_argument("--adapter", required=True, help="our PEFT adapter directory (safetune train --save)")
    ap.add_argument("--ours-adapter", required=True, help="safetune logits --adapter output (JSONL)")
    ap.add_argument("--merged", help="our merged model directory (safetune merge --out)")
    ap.add_argument("--ours-merged", help="safetune logits output on the merged model (JSONL)")
    ap.add_argument("--prompts", help="the logits input JSONL; its \"text\" lines check the merged tokenizer")
    ap.add_argument("--tol", type=float, default=1e-4, help="abs bound on logits (reference README: 1e-4 tiny, 2e-3 SmolLM2)")
    a = ap.parse_args()
    torch.set_num_threads(2)
    ok = True
    base = load_base(a.base)
    peft_model = PeftModel.from_pretrained(base, a.adapter).eval()
    ok &= compare(peft_model, a.ours_adapter, a.tol, "PEFT with our adapter vs safetune logits --adapter")
    if a.merged:
        merged = AutoModelForCausalLM.from_pretrained(a.merged, dtype=torch.float32, attn_implementation="eager").eval()
        ok &= compare(merged, a.ours_merged, a.tol, "transformers on our merged model vs safetune logits (merged)")
        if a.prompts:
            tok = AutoTokenizer.from_pretrained(a.merged)
            ours = [json.loads(l) for l in open(a.ours_merged)]
            ins = [json.loads(l) for l in open(a.prompts)]
            bad = 0
            for i, o in zip(ins, ours):
                if "text" in i:
                    hf = tok(i["text"], add_special_tokens=False)["input_ids"]
                    bad += hf != o["ids"]
                elif "messages" in i:
                    hf = tok.apply_chat_template(i["messages"], add_generation_prompt=True, tokenize=True)
                    hf = hf["input_ids"] if isinstance(hf, dict) or hasattr(hf, "keys") else hf
                    bad += list(hf) != o["ids"]
            print(f"merged tokenizer: {len(ins)} prompts, {bad} encoded differently: {'OK' if bad == 0 else 'FAIL'}")
            ok &= bad == 0
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
