"""Per-kernel GPU time of one training step from `ncu --csv --metrics gpu__time_duration.sum` (run-issue7.sh
ST_PLAN=diag and mfu): kernels grouped by name (template arguments cut), total and share, and the sum against the
step's wall time, which the same run measured without the profiler (the median `RESULT ... ms/step` line of the
train log given second, for the mode and batch given third and fourth: default bf16, 4). The difference is the time the GPU waits for the host between kernels."""
import csv
import re
import sys
from collections import defaultdict


def rows(path):
    with open(path, newline="") as f:
        lines = [l for l in f if l.startswith('"')]  # ncu's own ==PROF== lines and the program's output are not CSV
    return list(csv.DictReader(lines))


def short(name):
    name = re.sub(r"\(.*", "", name)  # argument lists
    name = re.sub(r"<.*", "", name)   # template arguments
    return name.replace("void ", "").strip()


def main():
    data = [r for r in rows(sys.argv[1]) if r.get("Metric Name") == "gpu__time_duration.sum"]
    if not data:
        print("no gpu__time_duration rows in", sys.argv[1])
        return
    book = defaultdict(lambda: [0, 0.0])
    for r in data:
        v = float(r["Metric Value"].replace(",", ""))
        e = book[short(r["Kernel Name"])]
        e[0] += 1
        e[1] += v  # ns (--print-units base)
    total = sum(e[1] for e in book.values())
    print(f"{'kernel':60s} {'launches':>8s} {'ms':>8s} {'share':>6s}")
    for k, (n, t) in sorted(book.items(), key=lambda kv: -kv[1][1]):
        print(f"{k[:60]:60s} {n:8d} {t / 1e6:8.2f} {100 * t / total:5.1f}%")
    print(f"{'sum of kernel times':60s} {len(data):8d} {total / 1e6:8.2f}")
    if len(sys.argv) > 2:
        # the runs of the same mode and batch (defaults: the plain bf16 path at batch 4)
        mode = sys.argv[3] if len(sys.argv) > 3 else "bf16"
        batch = sys.argv[4] if len(sys.argv) > 4 else "4"
        pattern = rf"RESULT ours {re.escape(mode)} llama-1b b{batch} s512: median ([\d.]+) ms/step"
        wall = [float(m.group(1)) for m in re.finditer(pattern, open(sys.argv[2]).read())]
        if wall:
            w = min(wall)
            print(f"step wall time (best median of this call's {mode} b{batch} runs) {w:.2f} ms: kernels "
                  f"{total / 1e6:.2f} ms = {100 * total / 1e6 / w:.1f}%, GPU idle or overlapping {w - total / 1e6:.2f} ms")


if __name__ == "__main__":
    main()
