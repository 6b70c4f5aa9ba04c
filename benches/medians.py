#!/usr/bin/env python3
"""Prints the median of every criterion bench in target/criterion, with its rate, then the
figures the plain-main benches (producer_latency, consumer_e2e_latency, consumer_rebalance)
wrote to target/*.json.

Criterion's printed middle figure is the mean of its estimate; the issues ask for medians.
Run from the repository root after `cargo bench -p silt-benches`.
"""
import glob
import json
import os
import sys


def per_second(value, unit):
    for scale, prefix in ((1e6, "M "), (1e3, "K ")):
        if value >= scale:
            return "%.1f %s%s/s" % (value / scale, prefix, unit)
    return "%.1f %s/s" % (value, unit)


root = sys.argv[1] if len(sys.argv) > 1 else "target/criterion"
for path in sorted(glob.glob(f"{root}/**/new/estimates.json", recursive=True)):
    median_ns = json.load(open(path))["median"]["point_estimate"]
    bench = json.load(open(path.replace("estimates.json", "benchmark.json")))
    rate = ""
    throughput = bench.get("throughput") or {}
    if "Elements" in throughput:
        rate = per_second(throughput["Elements"] / median_ns * 1e9, "elem")
    elif "Bytes" in throughput:
        rate = "%.2f GiB/s" % (throughput["Bytes"] / median_ns * 1e9 / 2**30)
    print("%-55s median %14.1f ns  %s" % (bench["full_id"], median_ns, rate))

latency_path = os.path.join(os.path.dirname(os.path.normpath(root)), "producer_latency.json")
if os.path.exists(latency_path):
    report = json.load(open(latency_path))
    latency, memory = report["latency"], report["memory"]
    print(
        "%-55s max %s, paced at %s: p50 %.1f us, p99 %.1f us, p99.9 %.1f us, max %.1f us"
        % (
            "producer_latency (linger.ms=0, half the max rate)",
            per_second(latency["max_rate_per_s"], "records"),
            per_second(latency["paced_rate_per_s"], "records"),
            latency["latency_us_p50"],
            latency["latency_us_p99"],
            latency["latency_us_p999"],
            latency["latency_us_max"],
        )
    )
    print(
        "%-55s peak %.1f MiB, limit %.1f MiB"
        % (
            "producer_latency (RssAnon, %d records)" % memory["records"],
            memory["rss_anon_peak_bytes"] / 2**20,
            memory["limit_bytes"] / 2**20,
        )
    )

e2e_path = os.path.join(os.path.dirname(os.path.normpath(root)), "consumer_e2e_latency.json")
if os.path.exists(e2e_path):
    report = json.load(open(e2e_path))
    for row in ("silt", "silt_append", "crossbeam_channel"):
        figures = report[row]
        print(
            "%-55s p50 %.1f us, p99 %.1f us, p99.9 %.1f us, max %.1f us"
            % (
                "consumer_e2e_latency %s (%d records/s)" % (row, report["rate_per_s"]),
                figures["latency_us_p50"],
                figures["latency_us_p99"],
                figures["latency_us_p999"],
                figures["latency_us_max"],
            )
        )

rebalance_path = os.path.join(os.path.dirname(os.path.normpath(root)), "consumer_rebalance.json")
if os.path.exists(rebalance_path):
    report = json.load(open(rebalance_path))
    print(
        "%-55s stable after %.2f ms (median of %d), %d moved, assignor alone %.1f us"
        % (
            "consumer_rebalance (member 9 joins 8, %d partitions)" % report["partitions"],
            report["stable_ms_median"],
            report["rounds"],
            report["moved_partitions"],
            report["assignor_us_median"],
        )
    )
