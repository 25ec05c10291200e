"""Reads the outputs of run.sh from OUT and prints the side-by-side table (markdown)."""
import json
import re
import sys
from pathlib import Path

out = Path(sys.argv[1])


def text(name):
    return (out / name).read_text()


def ours(name, kind):
    """Median of the measured (not warm-up) runs of a ForwardBench line: (tokens/s, tokens per CPU-second).
    llama-bench reports the mean of its repetitions; a median is as fair and ignores one disturbed run."""
    runs = []
    for line in text(name).splitlines():
        if line.startswith(kind) and "warm-up" not in line:
            m = re.search(r"([\d.]+) tokens/s \(process CPU [\d.]+ s: ([\d.]+) tokens per CPU-second\)", line)
            if m:
                runs.append((float(m.group(1)), float(m.group(2))))
    if not runs:
        sys.exit(f"table.py: no '{kind}' result in {out / name}")
    runs.sort()
    return runs[len(runs) // 2]


def peak_rss_mb(name):
    m = re.search(r"peak RSS (\d+) kB", text(name))
    return int(m.group(1)) / 1024 if m else None


bench = json.loads(text("llama-bench.json"))
llama_pp = next(r["avg_ts"] for r in bench if r["n_prompt"] > 0 and r["n_gen"] == 0)
llama_tg = next(r["avg_ts"] for r in bench if r["n_gen"] > 0 and r["n_prompt"] == 0)
batched = [json.loads(l[l.index("{"):]) for l in text("llama-batched.txt").splitlines() if '"speed_tg"' in l]
if not batched:
    sys.exit(f"table.py: no jsonl result in {out / 'llama-batched.txt'}")
llama_b16 = batched[-1]["speed_tg"]
rss_file = out / "llama-bench.rss"
llama_rss = None
if rss_file.exists() and rss_file.read_text().strip():
    llama_rss = int(rss_file.read_text().strip().splitlines()[-1]) / 1024
hf = json.loads(text("hf.json"))
load = re.search(r"first load (\d+) ms wall, (\d+) ms CPU", text("ours-load.txt"))

pre4 = ours("ours-fp32.txt", "prefill 4x256")
dec1 = ours("ours-quantized.txt", "decode batch 1,")
dec16 = ours("ours-quantized.txt", "decode batch 16,")
pre1 = ours("ours-quantized.txt", "prefill 1x256")
rss = peak_rss_mb("ours-quantized.txt")


def row(what, o, peer, goal, unit="tokens/s", per_cpu=None, lower_better=False):
    ratio = "—"
    if o is not None and peer:
        ratio = f"{(peer / o if lower_better else o / peer):.2f}×"
    fo = "—" if o is None else f"{o:,.1f} {unit}"
    fp = "—" if peer is None else (f"{peer:,.1f} {unit}" if isinstance(peer, float) else peer)
    pc = "" if per_cpu is None else f"{per_cpu:,.1f}"
    print(f"| {what} | {fo} | {fp} | {ratio} | {goal} | {pc} |")


print(f"threads {hf['threads']}, torch {hf['torch']}; ratio = ours ÷ peer (for RSS: peer ÷ ours, > 1 = we use less)")
print()
print("| measurement | ours | peer | ratio | goal | ours per CPU-second |")
print("|---|---|---|---|---|---|")
row("prefill 4 × 256 fp32 vs HF transformers, logits of the last position (logits_to_keep=1)", pre4[0],
    hf["last_logits"]["tokens_per_s"] * 1.0, "≥ 1.5×", per_cpu=pre4[1])
row("prefill 4 × 256 fp32 vs HF transformers, logits of every position (HF default)", pre4[0],
    hf["all_logits"]["tokens_per_s"] * 1.0, "≥ 1.5×", per_cpu=pre4[1])
row("decode batch 1, 64 new, quantized base vs llama-bench tg64", dec1[0], float(llama_tg), "≥ 1× (match)", per_cpu=dec1[1])
row("decode batch 16, 64 new, quantized base vs llama-batched-bench S_TG (pp 16, tg 64, pl 16)", dec16[0],
    float(llama_b16), "report", per_cpu=dec16[1])
dec1t = ours("ours-1thread.txt", "decode batch 1,")
llama_tg1 = next(r["avg_ts"] for r in json.loads(text("llama-bench-1thread.json")) if r["n_gen"] > 0)
row("decode batch 1, 64 new, quantized base, **1 thread** each vs llama-bench -t 1", dec1t[0], float(llama_tg1),
    "(load-robust check)", per_cpu=dec1t[1])
row("prefill 1 × 256, quantized base vs llama-bench pp256", pre1[0], float(llama_pp), "(information)", per_cpu=pre1[1])
row("peak RSS, decode run (ours: JVM VmHWM; peer: llama-bench max RSS)", rss, llama_rss, "report", unit="MB",
    lower_better=True)
row("GGUF load, fresh JVM (mmap + metadata + weight views)", int(load.group(1)) / 1000 if load else None, None,
    "< 1 s", unit="s")
