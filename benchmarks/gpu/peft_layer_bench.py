"""Side-by-side baseline for cuda-kernels/test/bench.cpp's "LoRA layer step": HF PEFT LoRA on one frozen
bf16 nn.Linear, forward + backward (grad wrt the input and the LoRA weights), same shapes, same GPU, same
run. Timed with CUDA events: 3 warm-ups, median of 7 batches of 10 steps. Prints one line per shape."""
import sys
import torch

shapes = [(4096, 2048, 8192, 16, "1B up_proj 4096 tok r16"),
          (4096, 2048, 2048, 16, "1B q_proj 4096 tok r16"),
          (2048, 576, 1536, 16, "135M up_proj 2048 tok r16")]


def make(in_f, out_f, r):
    try:
        from peft import LoraConfig, get_peft_model
        base = torch.nn.Sequential()
        base.add_module("proj", torch.nn.Linear(in_f, out_f, bias=False))
        m = get_peft_model(base, LoraConfig(r=r, lora_alpha=2 * r, target_modules=["proj"], lora_dropout=0.0))
        kind = "peft"
    except Exception as e:  # noqa: BLE001 - report and fall back to the same math by hand
        print(f"# peft unavailable ({e}); plain torch LoRA", file=sys.stderr)
        kind = "torch"

        class L(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.w = torch.nn.Linear(in_f, out_f, bias=False)
                self.w.weight.requires_grad_(False)
                self.a = torch.nn.Parameter(torch.randn(r, in_f) * 0.01)
                self.b = torch.nn.Parameter(torch.randn(out_f, r) * 0.01)

            def forward(self, x):
                return self.w(x) + 2.0 * (x @ self.a.t()) @ self.b.t()
        m = L()
    return m.to("cuda", torch.bfloat16), kind


def main():
    print(f"# torch {torch.__version__} on {torch.cuda.get_device_name()}")
    print(f"{'PEFT LoRA layer step':28s} {'math':8s} {'ms':>9s} {'tokens/s':>12s} {'TFLOP/s':>9s}")
    for n, in_f, out_f, r, what in shapes:
        m, kind = make(in_f, out_f, r)
        x = torch.randn(n, in_f, device="cuda", dtype=torch.bfloat16, requires_grad=True)
        dy = torch.randn(n, out_f, device="cuda", dtype=torch.bfloat16)

        def step():
            y = m(x)
            y.backward(dy)
        for _ in range(3):
            step()
        torch.cuda.synchronize()
        times = []
        for _ in range(7):
            s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            s.record()
            for _ in range(10):
                step()
            e.record()
            torch.cuda.synchronize()
            times.append(s.elapsed_time(e) / 10)
        ms = sorted(times)[3]
        flops = 2.0 * n * in_f * out_f * 2 + 2.0 * n * r * (in_f + out_f) * 4
        print(f"{what:28s} {kind + '-bf16':8s} {ms:9.3f} {n / (ms * 1e-3):12.0f} {flops / (ms * 1e-3) / 1e12:9.1f}")


if __name__ == "__main__":
    main()
