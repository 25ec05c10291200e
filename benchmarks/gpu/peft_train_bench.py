"""Whole-model LoRA training throughput with HF transformers + PEFT (the peer of LoraTrainBench, issue 7).

LlamaForCausalLM randomly initialised from a LlamaConfig of the same shape, PEFT LoRA r=16 alpha=32 on all
seven linear modules, torch AdamW (lr 1e-4, fused where available), labels = input ids (loss on every
token), same batch/seq. One step = zero_grad, forward, backward, clip_grad_norm_(1.0), optimizer.step.
Timed with CUDA events per step after warm-up; median reported.
  python3 peft_train_bench.py SHAPE BATCH SEQ WARMUP STEPS DTYPE   (DTYPE bf16: base in bf16, PEFT keeps the
  LoRA factors in fp32 (autocast_adapter_dtype); fp32: everything fp32, TF32 off = torch default)
"""
import statistics
import sys

import torch
from peft import LoraConfig, get_peft_model
from transformers import LlamaConfig, LlamaForCausalLM

SHAPES = {
    "smollm2-135m": dict(vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
                         num_attention_heads=9, num_key_value_heads=3, head_dim=64, rope_theta=100000.0),
    "llama-1b": dict(vocab_size=49152, hidden_size=2048, intermediate_size=8192, num_hidden_layers=16,
                     num_attention_heads=32, num_key_value_heads=8, head_dim=64, rope_theta=500000.0),
    "llama-1b-128k": dict(vocab_size=128256, hidden_size=2048, intermediate_size=8192, num_hidden_layers=16,
                          num_attention_heads=32, num_key_value_heads=8, head_dim=64, rope_theta=500000.0),
}
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def main():
    shape, batch, seq, warmup, steps, dtype = sys.argv[1], *map(int, sys.argv[2:6]), sys.argv[6]
    torch.manual_seed(0)
    cfg = LlamaConfig(**SHAPES[shape], rms_norm_eps=1e-5, max_position_embeddings=8192, tie_word_embeddings=True,
                      attn_implementation="sdpa")
    dt = torch.bfloat16 if dtype == "bf16" else torch.float32
    with torch.device("cuda"):
        model = LlamaForCausalLM(cfg).to(dt)
    model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, target_modules=TARGETS))
    params = [p for p in model.parameters() if p.requires_grad]
    n_lora = sum(p.numel() for p in params)
    opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.0, fused=True)
    g = torch.Generator(device="cuda").manual_seed(1)
    ids = torch.randint(0, cfg.vocab_size, (batch, seq), device="cuda", generator=g)
    h, v, L, m = cfg.hidden_size, cfg.vocab_size, cfg.num_hidden_layers, cfg.intermediate_size
    q, kv = cfg.num_attention_heads * cfg.head_dim, cfg.num_key_value_heads * cfg.head_dim
    p_frozen = L * (h * q + 2 * h * kv + q * h + 3 * h * m) + v * h  # same model as LoraTrainBench
    times, loss = [], float("nan")
    for s in range(warmup + steps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        opt.zero_grad(set_to_none=True)
        out = model(input_ids=ids, labels=ids)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        b.record()
        b.synchronize()
        ms = a.elapsed_time(b)
        loss = out.loss.item()
        print(f"step {s}{' (warm-up)' if s < warmup else ''}: {ms:.1f} ms, loss {loss:.4f}", flush=True)
        if s >= warmup:
            times.append(ms)
    med = statistics.median(times)
    n = batch * seq
    f6 = 6.0 * (p_frozen + n_lora) * n
    f4 = 4.0 * p_frozen * n + 6.0 * n_lora * n
    sec = med / 1e3
    print(f"RESULT peft {dtype} {shape} b{batch} s{seq}: median {med:.1f} ms/step (mean {statistics.mean(times):.1f}), "
          f"{n / sec:.0f} tokens/s, P_frozen {p_frozen / 1e6:.1f}M P_lora {n_lora / 1e6:.2f}M, "
          f"6P: {f6 / sec / 1e12:.1f} TFLOP/s = {100 * f6 / sec / 790e12:.2f}% MFU, "
          f"4P: {f4 / sec / 1e12:.1f} TFLOP/s = {100 * f4 / sec / 790e12:.2f}% of 790, final loss {loss:.4f}, "
          f"peak mem {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB; torch {torch.__version__}, "
          f"{torch.cuda.get_device_name()}", flush=True)


if __name__ == "__main__":
    main()
