"""One table from the RESULT lines of LoraTrainBench ("RESULT ours ...") and peft_train_bench.py ("RESULT peft ...").

  python3 train_table.py LOG [LOG...]    (prints a Markdown table; exit 1 if the logs hold no RESULT line)

Columns: shape, side, mode (ours: the CUDA precision and optimizer path; peft: its dtype), ms/step (median),
tokens/s, ratio = tokens/s over PEFT bf16's on the same shape in the same logs (the fastest PEFT run where there are
several: a slow peer run never flatters the ratio; each PEFT row shows its own ratio to that one), 6PT TFLOP/s,
MFU (6PT / 790 TFLOP/s), the 4P share (4·P_frozen·T + 6·P_lora·T) and the run's final loss (the same steps on the same data: runs
that differ only in an exact optimization, such as the bf16 copies, must agree to the printed digits). Standard library only: it runs on the device machine.
"""
import re
import sys

LINE = re.compile(
    r"RESULT (?P<side>ours|peft) (?P<mode>\S+) (?P<shape>\S+) b(?P<b>\d+) s(?P<s>\d+): median (?P<ms>[\d.]+) ms/step"
    r".*?, (?P<tok>[\d.]+) tokens/s, .*?6P: (?P<tf>[\d.]+) TFLOP/s = (?P<mfu>[\d.]+)% MFU, "
    r"4P: [\d.]+ TFLOP/s = (?P<p4>[\d.]+)% of 790(?P<rest>.*)")


def parse(lines):
    rows = []
    for line in lines:
        m = LINE.search(line)
        if not m:
            continue
        r = m.groupdict()
        opt = re.search(r"optimizer (\w+)", r["rest"])
        loss = re.search(r"final loss ([-\d.naNinf]+)", line)
        r["loss"] = loss.group(1) if loss else "–"
        if r["side"] == "ours":
            # runs before the precision flag printed "cuda" (= f32) and had no optimizer field (= host)
            prec = "f32" if r["mode"] == "cuda" else r["mode"]
            r["label"] = f"{prec}, AdamW {opt.group(1) if opt else 'host'}"
        else:
            r["label"] = r["mode"]
        rows.append(r)
    return rows


def table(rows):
    peft = {}
    for r in rows:
        if r["side"] == "peft" and r["mode"] == "bf16":
            key = (r["shape"], r["b"], r["s"])
            peft[key] = max(peft.get(key, 0.0), float(r["tok"]))
    out = ["| shape | side | mode | ms/step | tokens/s | × PEFT bf16 | 6PT TFLOP/s | MFU (of 790) | 4P (of 790) | final loss |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        base = peft.get((r["shape"], r["b"], r["s"]))
        ratio = f"{float(r['tok']) / base:.2f}×" if base else "–"
        out.append(f"| {r['shape']} b{r['b']} s{r['s']} | {r['side']} | {r['label']} | {float(r['ms']):.1f} | "
                   f"{float(r['tok']):,.0f} | {ratio} | {r['tf']} | {r['mfu']}% | {r['p4']}% | {r['loss']} |")
    return "\n".join(out)


def main():
    lines = []
    for path in sys.argv[1:]:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines += f.readlines()
    rows = parse(lines)
    if not rows:
        print("no RESULT lines in " + " ".join(sys.argv[1:]))
        sys.exit(1)
    print(table(rows))


if __name__ == "__main__":
    main()
