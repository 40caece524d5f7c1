#!/usr/bin/env python3
"""Medians over repeated `prefixd-bench --workload phases` runs, one per controller mode, and the
issue #5 comparisons: each mode against the best pinned profile per phase, and `on` against
`off` over the whole run.

Usage: bench/phases_summary.py DIR   (DIR holds <mode>-r<k>.json from bench/run_phases.sh)

With phases of fixed work (--phase-bytes) every run does the same puts and gets, so a phase's
seconds compare directly: fewer is better, and the run's total seconds is the overall figure.
Throughput of puts and gets per phase is reported beside it. With timed phases (no
--phase-bytes) the seconds are fixed and the comparison uses the bytes moved per second.
"""
import collections
import glob
import json
import os
import statistics
import sys


def load(d):
    runs = collections.defaultdict(list)
    for path in sorted(glob.glob(os.path.join(d, "*-r*.json"))):
        if path.endswith("-stats.json"):
            continue
        mode = os.path.basename(path).rsplit("-r", 1)[0].replace("pin-", "pin:", 1)
        with open(path) as f:
            runs[mode].append(json.load(f))
    return runs


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x, digits=1):
    return "-" if x is None else f"{x:,.{digits}f}"


def main():
    runs = load(sys.argv[1])
    if not runs:
        sys.exit(f"no runs in {sys.argv[1]}")
    any_run = next(iter(runs.values()))[0]
    fixed_work = any_run.get("phase_bytes", 0) > 0
    names = [p["phase"] for p in any_run["phases"]]
    # cost[mode][i]: the phase's seconds (fixed work) or 1 / bytes moved per second (timed).
    summary, cost = {}, {}
    for mode, rs in runs.items():
        rows, c = [], []
        for i in range(len(names)):
            ph = [r["phases"][i] for r in rs]
            row = {k: med([p.get(k) for p in ph]) for k in (
                "seconds", "put_MBps", "get_MBps", "get_p50_us", "get_p99_us", "exists_p99_us",
                "stall_seconds", "device_write_bytes", "get_hit_ratio")}
            row["completed"] = all(p.get("completed", True) for p in ph)
            rows.append(row)
            moved = (row["put_MBps"] or 0) + (row["get_MBps"] or 0)
            c.append(row["seconds"] if fixed_work else (1 / moved if moved else None))
        summary[mode], cost[mode] = rows, c
    n = min(len(rs) for rs in runs.values())
    print(f"Medians of {n} run(s) per mode; phases of "
          f"{'fixed work: ' + fmt(any_run['phase_bytes'] / 2**30, 2) + ' GiB each' if fixed_work else 'fixed time'}.")
    print()
    print("| controller | phase | seconds | put MB/s | get MB/s | get p50 µs | get p99 µs | "
          "exists p99 µs | stall s | device MB written | get hit ratio | vs best pinned |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    # Pinned profiles as they are: a pin with settings after it (`pin:x+k=v`) is an ablation.
    pinned = [m for m in summary if m.startswith("pin:") and "+" not in m]
    for mode, rows in summary.items():
        for i, r in enumerate(rows):
            best = min((cost[p][i] for p in pinned if cost[p][i]), default=None)
            vs = f"{best / cost[mode][i]:.3f}×" if best and cost[mode][i] else "-"
            secs = fmt(r["seconds"], 2) + ("" if r["completed"] else " (cut)")
            hit = "-" if r["get_hit_ratio"] is None else f"{r['get_hit_ratio']:.3f}"
            dev = None if r["device_write_bytes"] is None else r["device_write_bytes"] / 1e6
            print(f"| {mode} | {i + 1} {names[i]} | {secs} | {fmt(r['put_MBps'])} | "
                  f"{fmt(r['get_MBps'])} | {fmt(r['get_p50_us'], 0)} | {fmt(r['get_p99_us'], 0)} | "
                  f"{fmt(r['exists_p99_us'], 0)} | {fmt(r['stall_seconds'], 2)} | {fmt(dev, 0)} | "
                  f"{hit} | {vs} |")
    print()
    print("*vs best pinned*: the best pinned profile's cost in that phase ÷ this mode's "
          "(1.000× = as good as the best; within 5 % of the best is ≥ 0.952×), where the cost is the phase's "
          f"{'seconds' if fixed_work else 'seconds per byte moved'}.")
    if fixed_work and len(cost) > 2:
        print()
        print("| controller | whole run s (sum of the phase medians) | off ÷ this |")
        print("|---|---:|---:|")
        off_total = sum(cost["off"]) if "off" in cost and all(cost["off"]) else None
        for mode, c in cost.items():
            total = sum(c) if all(c) else None
            vs = f"{off_total / total:.3f}×" if off_total and total else "-"
            print(f"| {mode} | {fmt(total, 2)} | {vs} |")
        print()
    if "on" in cost and "off" in cost and fixed_work:
        on, off = sum(cost["on"]), sum(cost["off"])
        print(f"Whole run, `on` against `off`: {on:.2f} s against {off:.2f} s "
              f"({100 * (off - on) / off:+.1f} % time saved).")


if __name__ == "__main__":
    main()
