#!/usr/bin/env python3
"""Prints the median of every criterion bench in target/criterion, with its rate.

Criterion's printed middle figure is the mean of its estimate; the issues ask for medians.
Run from the repository root after `cargo bench -p silt-benches`.
"""
import glob
import json
import sys

root = sys.argv[1] if len(sys.argv) > 1 else "target/criterion"
for path in sorted(glob.glob(f"{root}/**/new/estimates.json", recursive=True)):
    median_ns = json.load(open(path))["median"]["point_estimate"]
    bench = json.load(open(path.replace("estimates.json", "benchmark.json")))
    rate = ""
    throughput = bench.get("throughput") or {}
    if "Elements" in throughput:
        rate = "%.1f M elem/s" % (throughput["Elements"] / median_ns * 1e3)
    elif "Bytes" in throughput:
        rate = "%.2f GiB/s" % (throughput["Bytes"] / median_ns * 1e9 / 2**30)
    print("%-55s median %14.1f ns  %s" % (bench["full_id"], median_ns, rate))
