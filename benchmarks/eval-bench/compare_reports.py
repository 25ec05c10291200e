"""Per-item agreement of eval reports with a reference report (`safetune eval --out` JSON files).

Usage: python3 benchmarks/eval-bench/compare_reports.py REFERENCE.json OTHER.json [OTHER.json ...]
For every suite of each OTHER run that the reference also has (items matched by id): the metric of both runs, how many
judge decisions agree, how many responses are identical, and the mean share of the reference response that the other
response repeats from its start (common prefix, characters). Standard library only.
"""
import json
import os
import sys

if len(sys.argv) < 3:
    sys.exit(__doc__)
ref = {s["suite"]: s for s in json.load(open(sys.argv[1], encoding="utf-8"))["suites"]}
print("| run | suite | reference metric | this run | judge decisions agreeing | identical responses | common prefix |")
print("|---|---|---|---|---|---|---|")
for path in sys.argv[2:]:
    for s in json.load(open(path, encoding="utf-8"))["suites"]:
        r = ref.get(s["suite"])
        if r is None or not s.get("items"):
            continue
        mine = {i["id"]: i for i in s["items"]}
        pairs = [(i, mine[i["id"]]) for i in r["items"] if i["id"] in mine]
        if not pairs:
            continue
        agree = sum(a["positive"] == b["positive"] for a, b in pairs)
        same = sum(a["response"] == b["response"] for a, b in pairs)
        prefix = sum(len(os.path.commonprefix([a["response"], b["response"]])) / max(1, len(a["response"])) for a, b in pairs)
        print(f"| {os.path.basename(path)} | {s['suite']} ({s['metric']}) | {r['overall']['value']:.3f} | {s['overall']['value']:.3f} "
              f"| {agree}/{len(pairs)} ({100 * agree / len(pairs):.1f}%) | {same} | {prefix / len(pairs):.2f} |")
