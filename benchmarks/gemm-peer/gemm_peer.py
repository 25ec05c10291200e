#!/usr/bin/env python3
"""Side by side: the CPU backend's fp32 matrix products (GemmBench) vs PyTorch torch.matmul on the same shapes.

Run from the repository root after `mvn -B -o -q -pl core,benchmarks -am package -DskipTests`:
    /work/train2/.venv-bench/bin/python benchmarks/gemm-peer/gemm_peer.py [--threads 1 2]
Both sides report GFLOP per CPU-second (process CPU time, robust on a shared box) and GFLOP/s wall.
Forms: fwd = x[n,K]·W[M,K]ᵀ (projection forward, prefill), bwd = dout[n,M]·W[M,K] (its backward dx),
lora = x·Aᵀ, h·Bᵀ and the backward dx, dA, dB of a rank-M adapter (6 products of n·K·M).
"""
import argparse
import os
import re
import subprocess
import sys
import time

SHAPES = [("fwd", 1024, 576, 576), ("fwd", 1024, 576, 192), ("fwd", 1024, 576, 1536), ("fwd", 1024, 1536, 576),
          ("fwd", 1024, 576, 49152), ("bwd", 1024, 576, 576), ("bwd", 1024, 576, 192), ("bwd", 1024, 576, 1536),
          ("bwd", 1024, 1536, 576), ("bwd", 1024, 576, 49152), ("lora", 1024, 576, 8), ("lora", 1024, 1536, 8),
          ("fwd", 4, 576, 1536), ("fwd", 64, 576, 1536)]


def torch_side(threads, shapes):
    import torch
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    out = {}
    for form, n, k, m in shapes:
        w = torch.randn(m, k)
        x = torch.randn(n, k)
        y = torch.randn(n, m)
        a = torch.randn(m, k)
        b = torch.randn(k, m)
        if form == "fwd":
            op = lambda: torch.matmul(x, w.t())
            flop = 2.0 * n * k * m
        elif form == "bwd":
            op = lambda: torch.matmul(y, w)
            flop = 2.0 * n * k * m
        else:
            def op():
                h = x @ a.t()
                o = 2.0 * (h @ b.t())
                dh = 2.0 * (o @ b)       # dx of the B product, [n, m]
                db = 2.0 * (o.t() @ h)   # [k, m]
                dx = dh @ a              # [n, k]
                da = dh.t() @ x          # [m, k]
                return dx, da, db
            flop = 6 * 2.0 * n * k * m
        until = time.perf_counter() + 0.5
        warm = 0
        while warm < 3 or time.perf_counter() < until:
            op()
            warm += 1
        c, t = time.process_time(), time.perf_counter()
        reps = 0
        while reps < 3 or time.perf_counter() - t < 2.0:
            op()
            reps += 1
        cpu, wall = time.process_time() - c, time.perf_counter() - t
        out[(form, n, k, m)] = (flop * reps / cpu / 1e9, flop * reps / wall / 1e9)
    return out


def java_side(threads, shapes, jar):
    cmd = ["java", "--add-modules", "jdk.incubator.vector", "-Xmx4g", "-cp", jar, "ai.safetune.bench.GemmBench",
           str(threads)] + [f"{f}:{n}:{k}:{m}" for f, n, k, m in shapes]
    text = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    out = {}
    pat = re.compile(r"^(\w+)\s+n=(\d+) K=(\d+) M=(\d+): ([\d.]+) GFLOP per CPU-second, ([\d.]+) GFLOP/s wall")
    for line in text.splitlines():
        mt = pat.match(line)
        if mt:
            key = (mt.group(1), int(mt.group(2)), int(mt.group(3)), int(mt.group(4)))
            out[key] = (float(mt.group(5)), float(mt.group(6)))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--jar", default="benchmarks/target/benchmarks.jar")
    ap.add_argument("--baseline-jar", help="a benchmarks jar of another commit (with this GemmBench) for a 'before' column")
    args = ap.parse_args()
    if not os.path.exists(args.jar):
        sys.exit(f"{args.jar} not found: run mvn -B -o -q -pl core,benchmarks -am package -DskipTests first")
    print(f"load average before: {os.getloadavg()}")
    for threads in args.threads:
        base = java_side(threads, SHAPES, args.baseline_jar) if args.baseline_jar else None
        ours = java_side(threads, SHAPES, args.jar)
        peer = torch_side(threads, SHAPES)
        print(f"\n{threads} thread(s): GFLOP per CPU-second (GFLOP/s wall)")
        print("| form | n | K | M |" + (" before |" if base else "") + " safetune | PyTorch | ratio (CPU-s) |")
        print("|---|---|---|---|" + ("---|" if base else "") + "---|---|---|")
        fmt = lambda v: "missing" if v is None else f"{v[0]:.1f} ({v[1]:.1f})"
        for key in SHAPES:
            o, p = ours.get(key), peer.get(key)
            ratio = f"{o[0] / p[0]:.2f}" if o and p else ""
            before = f" {fmt(base.get(key))} |" if base else ""
            print(f"| {key[0]} | {key[1]} | {key[2]} | {key[3]} |{before} {fmt(o)} | {fmt(p)} | {ratio} |")
    print(f"\nload average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
