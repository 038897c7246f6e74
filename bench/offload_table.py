#!/usr/bin/env python3
"""Expert-offload table: `elephant bench` at several cache budgets and policies, against the
all-resident run of the same model, in one go (docs/performance.md quotes it).

    python3 bench/offload_table.py --elephant build/cli/elephant -m MODEL_DIR [-n 32] [-t 1] [--budgets 25%,50%]

For each budget (100, 50, 25, 12.5 % of the experts) x {ondemand, lru, lru + pre-gating, lru + pre-gating
with a look-ahead of two MoE layers} it runs
`elephant bench --json` (tg N only, each in its own process so peak RSS is its own) and prints
tokens/s and peak RSS relative to the all-resident run, hit rate, pre-gating accuracy, MB read
per token, and the bound the measured home-tier read bandwidth puts on tokens/s:
    bound = 1 / max(resident seconds per token, bytes loaded per token / read bandwidth)
(loads perfectly overlapped with compute), so the gap to the bound is visible. Standard library only.
"""
import argparse
import json
import subprocess


def bench(args, extra):
    command = [args.elephant, "bench", "-m", args.model, "-t", str(args.threads), "-p", "0", "-n", str(args.tokens),
               "--batch", "1", "-r", "1", "--bandwidth-buffer-mib", "64", "--json"] + extra
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    report = json.loads(result.stdout)
    tg = next(r for r in report["results"] if r["test"].startswith("tg"))
    return report, tg


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--elephant", default="build/cli/elephant")
    parser.add_argument("-m", "--model", required=True)
    parser.add_argument("-n", "--tokens", type=int, default=32)
    parser.add_argument("-t", "--threads", type=int, default=1)
    parser.add_argument("--budgets", default="100%,50%,25%,12.5%", help="comma-separated cache budgets")
    args = parser.parse_args()

    # The all-resident model is read through the page cache: a first run warms it.
    bench(args, [])
    resident_report, resident = bench(args, [])
    resident_tps = resident["tokens_per_s"]
    rows = []
    for budget in args.budgets.split(","):
        for label, extra in (("on-demand", ["--expert-policy", "ondemand"]), ("LRU", ["--expert-policy", "lru"]),
                             ("LRU + pre-gating", ["--expert-policy", "lru", "--pregate"]),
                             ("LRU + pre-gating, look-ahead 2",
                              ["--expert-policy", "lru", "--pregate", "--pregate-lookahead", "2"])):
            report, tg = bench(args, ["--expert-cache", budget] + extra)
            cache = report["expert_cache"]
            loaded = cache["bytes_loaded_per_token"]
            bound_seconds = max(1.0 / resident_tps, loaded / (cache["home_read_gb_per_s"] * 1e9))
            rows.append((budget, label, tg["tokens_per_s"] / resident_tps,
                         report["peak_rss_bytes"] / resident_report["peak_rss_bytes"], cache["hit_rate"],
                         cache["pregate_accuracy"] if "pre-gating" in label else None, loaded / 1e6,
                         cache["home_read_gb_per_s"], (1.0 / bound_seconds) / resident_tps))
    print(f"model {args.model}: all-resident {resident_tps:.1f} tokens/s, peak RSS "
          f"{resident_report['peak_rss_bytes'] / 1e6:.1f} MB, {args.threads} thread(s), tg{args.tokens}\n")
    print("| budget | policy | tokens/s vs resident | peak RSS vs resident | hit rate | pre-gating accuracy | "
          "MB read / token | home read GB/s | bound vs resident |")
    print("|---|---|---|---|---|---|---|---|---|")
    for budget, label, speed, rss, hits, accuracy, loaded, gbps, bound in rows:
        accuracy_text = "" if accuracy is None else f"{100 * accuracy:.0f}%"
        print(f"| {budget} | {label} | {speed:.2f} | {rss:.2f} | {100 * hits:.0f}% | {accuracy_text} | "
              f"{loaded:.2f} | {gbps:.2f} | {bound:.2f} |")


if __name__ == "__main__":
    main()
