#!/usr/bin/env python3
"""Render the benchmark suite's results as docs/benchmarks.md and PNG plots.

Usage:
    python3 bench/report.py --results build/bench/suite --docs docs

Reads what bench/suite.sh wrote into RESULTS (env.json, commands.txt, micro-*, scale-*,
trace-*.json/.csv, multiturn-*) and writes DOCS/benchmarks.md and DOCS/img/*.png. Plots are drawn
by gnuplot (pngcairo); without gnuplot the report is written without them. Every number comes
from a result file: an absent file is reported as missing, never guessed. Standard library only.
"""
import argparse, csv, json, math, os, re, shutil, subprocess, sys, tempfile

TIER_ORDER = ["grpc", "inproc", "file", "file-sharded", "rocksdb-inline"]
PREFIXD = {"grpc", "inproc"}
BUCKETS = [("le4k", "≤4k"), ("4k-8k", "4–8k"), ("8k-16k", "8–16k"), ("gt16k", ">16k")]
STYLE = {"grpc": "lc rgb '#d62728' pt 7", "inproc": "lc rgb '#ff7f0e' pt 5",
         "file": "lc rgb '#1f77b4' pt 9", "file-sharded": "lc rgb '#2ca02c' pt 11",
         "rocksdb-inline": "lc rgb '#9467bd' pt 13"}
SCALE_COLS = [("put_pages_per_s", "put pages/s", "put"),
              ("exists_keys_per_s", "exists keys/s", "exists"),
              ("get_pages_per_s", "get pages/s", "get")]
NA = "—"


# --- formatting ----------------------------------------------------------------------------
def num(v, digits=0): return NA if v is None else f"{v:,.{digits}f}"
def rate3(v): return NA if v is None else f"{v:.3f}"
def ratio(a, b): return a / b if a is not None and b else None
def times(r): return NA if r is None else f"{r:.2f}×"
def pct(v, ceiling): return "" if v is None or not ceiling else f" ({100 * v / ceiling:.0f} %)"
def share(v): return NA if v is None else ("<1 %" if v < 0.005 else f"{100 * v:.0f} %")
def mib(v): return NA if not v else f"{v / (1 << 20):,.0f}"
def frac_label(f, d=None):
    return "unbounded" if f == 0 else f"{f:g}" + (
        " (not enforced)" if d is not None and not d.get("capacity_enforced") else "")
MIN_BUDGET = 16 << 20  # prefixd's smallest --capacity; suites before 2026-12-02 raised smaller ones
def enforced(k, d):
    """Whether a run with a capacity fraction ran at that budget (unbounded runs always do)."""
    if k[1] == 0:
        return True
    raised = k[0] in PREFIXD and 0 < (d.get("capacity_bytes") or 0) < MIN_BUDGET
    return bool(d.get("capacity_enforced")) and not raised
def size_bytes(s): return int(s[:-3]) << {"KiB": 10, "MiB": 20, "GiB": 30}[s[-3:]]
def tier_key(t): return (TIER_ORDER.index(t) if t in TIER_ORDER else len(TIER_ORDER), t)
def run_key(k): return (tier_key(k[0]), k[1] or 9)  # (tier, fraction): unbounded last

def table(headers, rows):
    return (["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)] +
            ["| " + " | ".join(str(c) for c in r) + " |" for r in rows] + [""])

def bullets(title, notes):
    return [title, ""] + [f"- {n}" for n in notes] + [""] if notes else []


# --- loading -------------------------------------------------------------------------------
PATTERNS = [("micro", r"micro-(.+)-(\d+[KMG]iB)-c(\d+)-(warm|cold)\.json"),
            ("scale", r"scale-(.+)\.json"), ("trace", r"trace-(.+)-f([0-9.]+)\.json"),
            ("exists", r"exists256-(.+)-c(\d+)\.json"),
            ("multiturn", r"multiturn-(sglang|lmcache)-(.+)-f([0-9.]+)\.json"),
            ("fill", r"fill-(.+)\.json"),
            ("restart",
             r"restart-(mooncake|sglang|fill)-f([0-9.]+)-(none|clean|forget-order|crash)\.json")]

def load(results):
    """Every result file, keyed by what it measured; plus the commands and the tiers seen."""
    data = {k: {} for k in ("micro", "scale", "trace", "multiturn", "exists", "fill", "restart",
                            "csv", "cmd")}
    data["tiers"] = set()
    for name in sorted(os.listdir(results)):
        for kind, pat in PATTERNS:
            if not (m := re.fullmatch(pat, name)):
                continue
            path = os.path.join(results, name)
            try:
                with open(path) as f:
                    d = json.load(f)
            except (OSError, ValueError) as e:
                print(f"report: skipping unreadable {name}: {e}", file=sys.stderr)
                break
            g = list(m.groups())
            if kind == "micro":
                g[2] = int(g[2])
            elif kind == "exists":
                g[1] = int(g[1])
            elif kind == "restart":
                g[1] = float(g[1])
            elif kind not in ("scale", "fill"):
                g[-1] = float(g[-1])
            data[kind][tuple(g) if len(g) > 1 else g[0]] = d
            data["tiers"].add("inproc" if kind == "restart" else
                              g[1] if kind == "multiturn" else g[0])
            if kind == "trace" and os.path.exists(path[:-5] + ".csv"):
                with open(path[:-5] + ".csv") as f:
                    data["csv"][tuple(g)] = list(csv.DictReader(f))
            break
    if os.path.exists(os.path.join(results, "commands.txt")):
        for line in open(os.path.join(results, "commands.txt")):
            if m := re.search(r"--json (\S+)", line):
                data["cmd"][os.path.basename(m.group(1))] = line.strip()
    return data

def commands_block(data, files):
    lines = ([data["cmd"].get(f, f"(no command recorded for {f})") for f in files]
             if data["cmd"] else ["(commands.txt is missing)"])
    return ["<details><summary>Commands (from commands.txt)</summary>", "", "```sh"] + lines + [
        "```", "", "</details>", ""]


# --- gnuplot -------------------------------------------------------------------------------
def gnuplot(tmp, png, series, title, xlabel, ylabel, logx=False, logy=False, extra="",
            key="top left"):
    """series: [(title, [(x, y)], style)]. Writes png; False when it could not."""
    if not shutil.which("gnuplot") or not any(pts for _, pts, _ in series):
        return False
    q = lambda text: "'" + str(text).replace("'", "''") + "'"  # a gnuplot string literal
    plots = []
    for i, (name, pts, style) in enumerate(s for s in series if s[1]):
        dat = os.path.join(tmp, f"{os.path.basename(png)}.{i}.dat")
        with open(dat, "w") as f:
            f.writelines(f"{x} {y}\n" for x, y in pts)
        plots.append(f"{q(dat)} using 1:2 with {style} title {q(name)}")
    script = "\n".join([
        "set terminal pngcairo size 900,540 noenhanced font ',11'", f"set output {q(png)}",
        f"set title {q(title)}", f"set xlabel {q(xlabel)}", f"set ylabel {q(ylabel)}",
        "set grid", f"set key {key} box opaque", "set format y '%.3g'",
        "set logscale x\nset format x '%.0s%c'" if logx else "",
        "set logscale y\nset format y '%.0s%c'" if logy else "", extra,
        "plot " + ", \\\n  ".join(plots), ""])
    path = os.path.join(tmp, os.path.basename(png) + ".gp")
    with open(path, "w") as f:
        f.write(script)
    r = subprocess.run(["gnuplot", path], capture_output=True, text=True)
    if r.returncode != 0:
        print(f"report: gnuplot failed for {png}: {r.stderr.strip()}", file=sys.stderr)
    return r.returncode == 0


# --- sections ------------------------------------------------------------------------------
def header(env, results):
    out = ["# prefixd benchmarks", ""]
    if env.get("quick") == 1:
        out += ["> **WARNING: these figures come from a QUICK run (`QUICK=1`): a pipeline check "
                "with tiny sizes, not numbers to quote. Run `make bench` for the real suite.**", ""]
    W, R = env.get("fio_write_MBps") or None, env.get("fio_read_MBps") or None
    return out + [
        "Generated by `bench/report.py` from the results of `bench/suite.sh`. To rerun: `make "
        "bench` (the full suite); `QUICK=1 make bench` for a quick pipeline check.", "",
        f"- Run: {env.get('date', NA)}, commit `{env.get('commit', NA)}`",
        f"- Machine: {env.get('cpus', NA)} CPUs, kernel {env.get('kernel', NA)}, file system "
        f"{env.get('fs', NA)}",
        f"- Disk ceiling (fio, O_DIRECT, 1 MiB sequential): write {num(W)} MB/s, read {num(R)} "
        f"MB/s — `{env.get('fio_command', NA)}`" + ("" if W else " (**not measured**)"),
        "- Tiers: `grpc` (prefixd over loopback gRPC), `inproc` (prefixd storage in-process), "
        "`file` (a file per page, as SGLang's HiCacheFile), `file-sharded` (hashed directories, "
        "I/O threads), `rocksdb-inline` (RocksDB, values inline, default options)",
        f"- Suite: {num(env.get('seconds'))} s; scale checkpoints up to "
        f"{env.get('scale_max', NA)} for prefixd's tiers and {env.get('scale_max_baselines', NA)}"
        " for the baselines (`SCALE_MAX`, `SCALE_MAX_BASELINES`)",
        f"- Results: `{results}`; every command is in `commands.txt` there, and each table "
        "lists the ones it comes from."] + (
        [f"- Note: {env['note']}"] if env.get("note") else []) + [""]

def micro_section(env, data):
    m, out = data["micro"], ["## Micro: throughput and latency by page size and concurrency", ""]
    if not m:
        return out + ["Missing: no micro-*.json results.", ""]
    W, R = env.get("fio_write_MBps"), env.get("fio_read_MBps")
    out += ["From `prefixd-bench --workload micro ...` (commands below each table). In brackets: "
            "% of the fio ceiling (write for put, read for get). *Warm* gets start once the tier "
            "has synced what the puts wrote (since 4a0b2a8; before, they shared the CPUs with "
            "its flushes). Gets read into buffers each worker allocated before the phase was "
            "timed, and the file tiers and `inproc` reuse them from chain to chain, as an engine "
            "reads into its host pool (since 4319507; before, the file tiers' 8 MiB gets paid a "
            "page fault every 4 KiB of fresh buffers). *Cold* gets run after dropping "
            "the page cache. *vs file*: tier ÷ `file` in the same run. Exists latency is per "
            "chain, from the warm run. WA = device bytes written ÷ bytes put.", ""]
    notes = []
    for size, conc in sorted({(s, c) for (_, s, c, _) in m},
                             key=lambda sc: (size_bytes(sc[0]), sc[1])):
        fw, fc = m.get(("file", size, conc, "warm"), {}), m.get(("file", size, conc, "cold"), {})
        rows, files, where = [], [], f"{size} ×{conc}"
        for t in sorted({t for (t, s, c, _) in m if (s, c) == (size, conc)}, key=tier_key):
            w, c = m.get((t, size, conc, "warm")), m.get((t, size, conc, "cold"))
            for d, ph in ((w, "warm"), (c, "cold")):
                files.append(f"micro-{t}-{size}-c{conc}-{ph}.json")
                if d is None:
                    notes.append(f"`{t}` {where}: {ph} result missing.")
                elif d.get("errors") or d.get("corrupt_pages") or d.get("missing_pages"):
                    notes.append(f"`{t}` {where} {ph}: {d.get('errors')} errors, "
                                 f"{d.get('missing_pages')} missing and "
                                 f"{d.get('corrupt_pages')} corrupt pages" +
                                 (f"; aborted early ({d.get('first_error')})." if d.get("aborted")
                                  else "."))
            w, c = w or {}, c or {}
            wa = w.get("write_amplification")
            if wa is not None and wa < 0.95 and not w.get("aborted"):
                notes.append(f"`{t}` {where}: WA {wa:.2f} < 1: only {100 * wa:.0f} % of the bytes "
                             "put had reached the device when measured (the rest was in memory).")
            if not_cold(c):
                notes.append(f"`{t}` {where}: the cold get {not_cold(c)}: not fully cold.")
            rows.append([f"`{t}`" + aborted(w, c),
                         num(w.get("put_MBps")) + pct(w.get("put_MBps"), W),
                         times(ratio(w.get("put_MBps"), fw.get("put_MBps"))),
                         num(w.get("get_MBps")) + pct(w.get("get_MBps"), R),
                         num(c.get("get_MBps")) + pct(c.get("get_MBps"), R),
                         times(ratio(c.get("get_MBps"), fc.get("get_MBps"))),
                         f"{num(w.get('exists_p50_us'))} / {num(w.get('exists_p99_us'))}",
                         num(wa, 2),
                         mib(max(w.get("peak_rss_bytes") or 0, c.get("peak_rss_bytes") or 0))])
        any_run = next(d for (_, s, cc, _), d in m.items() if (s, cc) == (size, conc))
        out += [f"### {size} pages, {conc} stream{'s' if conc > 1 else ''} "
                f"({any_run.get('pages', NA)} pages, chains of "
                f"{any_run.get('chain_pages', NA)})", ""]
        out += table(["tier", "put MB/s", "put vs file", "warm get MB/s", "cold get MB/s",
                      "cold get vs file", "exists p50 / p99 µs", "WA", "peak RSS MiB"], rows)
        out += commands_block(data, files)
    return out + bullets("Checks on the micro data:", notes)

def exists_section(data):
    e, out = data["exists"], ["## Exists: batched existence checks of 256-page chains", ""]
    if not e:
        return out + ["Missing: no exists256-*.json results.", ""]
    any_run = next(iter(e.values()))
    out += [f"From `prefixd-bench --workload micro --phase exists ...`: "
            f"{any_run.get('pages', NA):,} pages of 4 KiB written as chains of "
            f"{any_run.get('chain_pages', NA)}, then every chain probed with one Exists call, "
            f"{any_run.get('exists_rounds', NA)} rounds, nothing read. Keys/s = keys asked ÷ wall "
            "time; latency is per call (one chain).", ""]
    rows, notes = [], []
    for (t, c) in sorted(e, key=lambda k: (tier_key(k[0]), k[1])):
        d = e[(t, c)]
        rows.append([f"`{t}`" + aborted(d), c, num(d.get("exists_keys_per_s")),
                     num(d.get("exists_p50_us")), num(d.get("exists_p99_us")),
                     num(d.get("exists_p999_us")), d.get("missing_pages", NA)])
        if d.get("errors") or d.get("missing_pages"):
            notes.append(f"`{t}` ×{c}: {d.get('errors')} errors, {d.get('missing_pages')} keys "
                         "reported absent that were written.")
    out += table(["tier", "streams", "keys/s", "p50 µs", "p99 µs", "p99.9 µs", "absent"], rows)
    out += commands_block(data, [f"exists256-{t}-put.json" for t in sorted({k[0] for k in e},
                                                                          key=tier_key)] +
                          [f"exists256-{t}-c{c}.json" for (t, c) in
                           sorted(e, key=lambda k: (tier_key(k[0]), k[1]))])
    return out + bullets("Checks on the exists data:", notes)

def aborted(*runs):
    return " (**aborted**)" if any(d.get("aborted") for d in runs) else ""

def not_cold(d):
    got, dev = d.get("get_bytes"), d.get("device_read_bytes") or 0
    if got and dev < 0.9 * got:
        return f"read only {100 * dev / got:.0f} % of its bytes from the device"
    return ""

def on_disk(run, point):
    """Disk bytes at a scale checkpoint as a share of the bytes stored there."""
    stored = point.get("pages", 0) * (run.get("page_bytes") or 0)
    return (point.get("disk_bytes") or 0) / stored if stored else None

def scale_section(data, img, tmp):
    s, out = data["scale"], ["## Scale: rates as the store grows", ""]
    if not s:
        return out + ["Missing: no scale-*.json results.", ""]
    out += ["From `prefixd-bench --workload scale ...`: the store is filled to each checkpoint, "
            "then put, exists and get rates are measured there. *Degradation*: rate at the "
            "largest checkpoint ÷ rate at the smallest. *On disk*: disk bytes ÷ (pages × page "
            "bytes); well under 100 % means most pages were still in memory.", ""]
    notes = []
    for t in sorted(set(s) | data["tiers"], key=tier_key):
        if t not in s:
            out += [f"### `{t}`: missing (no scale-{t}.json)", ""]
            continue
        d, pts = s[t], s[t].get("points", [])
        out += [f"### `{t}`{aborted(d)} ({d.get('page_bytes', NA)}-byte pages, chains of "
                f"{d.get('chain_pages', NA)}, {d.get('concurrency', NA)} streams)", ""]
        rows = [[f"{p['pages']:,}", num(p.get("put_pages_per_s")), num(p.get("put_chain_p99_us")),
                 num(p.get("exists_keys_per_s")), num(p.get("exists_chain_p99_us")),
                 num(p.get("get_pages_per_s")), num(p.get("get_chain_p99_us")),
                 share(on_disk(d, p)),
                 sum(p.get(k) or 0 for k in ("errors", "missing_pages", "corrupt_pages"))]
                for p in pts]
        if len(pts) > 1:
            rows.append([f"**degradation {pts[-1]['pages']:,} vs {pts[0]['pages']:,}**"] + sum(
                [[times(ratio(pts[-1].get(k), pts[0].get(k))), ""] for k, _, _ in SCALE_COLS],
                []) + ["", ""])
        out += table(["pages", "put pages/s", "put chain p99 µs", "exists keys/s",
                      "exists chain p99 µs", "get pages/s", "get chain p99 µs", "on disk",
                      "errors+missing+corrupt"], rows)
        if not pts:
            notes.append(f"`{t}`: no checkpoints recorded.")
            continue
        if (o := on_disk(d, pts[-1])) is not None and o < 0.5:
            notes.append(f"`{t}`: {share(o)} of the bytes stored were on disk at "
                         f"{pts[-1]['pages']:,} pages: its rates mostly measure memory, not the "
                         "device.")
        for k, label, _ in SCALE_COLS:
            if len(pts) > 1 and (r := ratio(pts[-1].get(k), pts[0].get(k))) and r > 1.2:
                notes.append(f"`{t}`: {label} rose {r:.1f}× from {pts[0]['pages']:,} to "
                             f"{pts[-1]['pages']:,} pages: the first checkpoint is the slow one "
                             f"(its fill took {pts[0].get('fill_seconds', NA)} s).")
    out += commands_block(data, [f"scale-{t}.json" for t in sorted(s, key=tier_key)])
    out += bullets("Checks on the scale data:", notes)
    for key, label, short in SCALE_COLS:
        series = [(t, [(p["pages"], p[key]) for p in s[t].get("points", []) if p.get(key)],
                   "linespoints lw 2 " + STYLE.get(t, "")) for t in sorted(s, key=tier_key)]
        if gnuplot(tmp, os.path.join(img, f"scale-{short}.png"), series, f"Scale: {short} rate vs "
                   "object count", "pages stored (log)", f"{label} (log)", logx=True, logy=True):
            out += [f"![{short} rate vs object count](img/scale-{short}.png)", ""]
    return out

TRACE_HEAD = ["tier", "capacity fraction", "budget enforced", "token hit rate", "block hit rate",
              "unbounded hit rate", "TTFT mean s", "TTFT p50 s", "TTFT p99 s", "timed out",
              "errors / corrupt"]

def trace_row(tier, f, d):
    how = ("n/a (no budget)" if f == 0 else
           "yes" if enforced((tier, f), d) else
           "**no: under prefixd's 16 MiB minimum, ran at 16 MiB**" if d.get("capacity_enforced")
           else "**no: ran unbounded**")
    return [f"`{tier}`" + aborted(d), frac_label(f), how, rate3(d.get("token_hit_rate")),
            rate3(d.get("block_hit_rate")), rate3(d.get("unbounded_token_hit_rate")),
            num(d.get("ttft_mean_s"), 3), num(d.get("ttft_p50_s"), 3), num(d.get("ttft_p99_s"), 3),
            d.get("requests_timed_out", NA), f"{d.get('errors', NA)} / {d.get('corrupt', NA)}"]

def trace_section(data, img, tmp):
    t, out = data["trace"], ["## Trace: Mooncake replay at capacity budgets", ""]
    if not t:
        return out + ["Missing: no trace-*.json results.", ""]
    first, keys = next(iter(t.values())), sorted(t, key=run_key)
    out += [f"From `prefixd-bench --workload trace ...` on "
            f"`{os.path.basename(first.get('source', '?'))}` ({first.get('requests', NA)} "
            f"requests, {first.get('bytes_per_token', NA)} bytes per token, "
            f"{first.get('page_bytes', NA)}-byte pages; the suite drops the page cache before "
            "each run where it may). "
            f"Capacity fraction: budget ÷ the trace's distinct bytes "
            f"({mib(first.get('distinct_bytes'))} MiB). TTFT is modelled: prefill of the tokens "
            "not served from cache, plus the measured load time under SGLang's prefetch "
            "deadline.", ""]
    if not any(k[0] in PREFIXD and k[1] > 0 and t[k].get("capacity_enforced") for k in t):
        out += ["**prefixd does not enforce a capacity budget yet**: its tiers ran unbounded only. "
                "Compare them with the *unbounded* file rows, not with the bounded ones.", ""]
    out += table(TRACE_HEAD, [trace_row(*k, t[k]) for k in keys])
    gone = [f"trace-{x}-f{f:g}.json" for x in sorted(data["tiers"], key=tier_key)
            for f in ((0.1, 0.25, 0.5, 0) if x.startswith("file") else (0,)) if (x, f) not in t]
    gone += [f"trace-{x}-f{f:g}.csv" for (x, f) in keys if (x, f) not in data["csv"]]
    out += ["Missing: " + ", ".join(f"`{g}`" for g in gone) + ".", ""] if gone else []
    out += ["Modelled TTFT by prompt length (mean / p50 / p99 seconds, requests in brackets):", ""]
    out += table(["tier", "capacity fraction"] + [f"{lab} tokens" for _, lab in BUCKETS], [
        [f"`{k[0]}`", frac_label(k[1], t[k])] + [
            f"{num(t[k].get(f'ttft_{b}_mean_s'), 3)} / {num(t[k].get(f'ttft_{b}_p50_s'), 3)} / "
            f"{num(t[k].get(f'ttft_{b}_p99_s'), 3)} ({t[k].get(f'ttft_{b}_count', 0)})"
            for b, _ in BUCKETS]
        for k in keys])
    out += commands_block(data, [f"trace-{k[0]}-f{k[1]:g}.json" for k in keys])
    csvs = {k: v for k, v in data["csv"].items() if enforced(k, t.get(k, {}))}
    out += policy_table(t, "trace")
    return out + hit_rate_plot(t, img, tmp) + ttft_plots(csvs, img, tmp)

def hit_rate_plot(t, img, tmp):
    """Token hit rate against the budget; unbounded runs drawn at x = 1.0."""
    series, loose = [], 0
    t = {k: d for k, d in t.items() if enforced(k, d)}  # a budget not enforced is not a point
    if not t:
        return []
    for tier in sorted({k[0] for k in t}, key=tier_key):
        bounded = any(k[0] == tier and k[1] > 0 for k in t)
        shift = 0 if bounded else 0.02 * (loose := loose + 1)  # keep unbounded-only markers apart
        pts = sorted((k[1] or 1.0 + shift, d["token_hit_rate"]) for k, d in t.items()
                     if k[0] == tier and d.get("token_hit_rate") is not None)
        wide = sum(1 for x in series if "linespoints" in x[2])  # later lines drawn thinner,
        style = f"linespoints lw {max(4 - 2 * wide, 1)} ps {max(2 - 0.5 * wide, 1)} " if bounded \
            else "points ps 2 lw 2 "  # so that lines that coincide stay visible
        series.append((tier if bounded else f"{tier} (unbounded only)", pts,
                       style + STYLE.get(tier, "")))
    tics = "".join(f"'{f:g}' {f}, " for f in sorted({k[1] for k in t if 0 < k[1] < 1}))
    extra = f"set xrange [0:1.15]\nset yrange [0:*]\nset xtics ({tics}'1.0 = unbounded' 1.0)"
    if (unb := next(iter(t.values())).get("unbounded_token_hit_rate")) is not None:
        extra += (f"\nset arrow from 0,{unb} to 1.15,{unb} nohead dt 2 lc rgb 'gray'"
                  f"\nset label 'ideal (unbounded) {unb:.3f}' at 0.02,{unb} offset 0,0.7")
    if not gnuplot(tmp, os.path.join(img, "trace-hit-rate.png"), series,
                   "Mooncake trace: token hit rate vs capacity budget",
                   "capacity budget (fraction of the trace's distinct bytes)",
                   "token hit rate (served / prompt tokens)", extra=extra, key="bottom right"):
        return []
    return ["![hit rate vs capacity](img/trace-hit-rate.png)", "",
            "Unbounded runs are drawn at 1.0; tiers that ran unbounded only are drawn slightly "
            "right of it so that their markers do not hide each other.", ""]

def ttft_plots(csvs, img, tmp):
    """Mean modelled TTFT per power-of-two prompt-length bin, and its ratio to unbounded file."""
    curves = {}
    for k, rows in csvs.items():
        if k[1] in (0.25, 0):  # a 25 % budget where a tier ran one, and unbounded
            bins = {}
            for r in rows:
                if (n := int(r["prompt_tokens"])) > 0:
                    bins.setdefault(2 ** int(math.log2(n)), []).append(float(r["ttft_s"]))
            curves[k] = {b: sum(v) / len(v) for b, v in bins.items()}
    keys, out = sorted(curves, key=run_key), []
    name = lambda k: f"{k[0]} {'unbounded' if k[1] == 0 else f'budget {k[1]:g}'}"
    style = lambda k: f"linespoints lw 2 {STYLE.get(k[0], '')}" + (" dt 2" if k[1] == 0 else "")
    xl = "prompt tokens (power-of-two bins, log)"
    series = [(name(k), [(b * math.sqrt(2), v) for b, v in sorted(curves[k].items())], style(k))
              for k in keys]
    if gnuplot(tmp, os.path.join(img, "trace-ttft.png"), series,
               "Mooncake trace: modelled mean TTFT vs prompt length", xl,
               "mean modelled TTFT (s, log)", True, True, "set format y '%g'"):
        out += ["![TTFT vs prompt length](img/trace-ttft.png)", ""]
    if base := curves.get(("file", 0)):
        series = [(name(k), [(b * math.sqrt(2), v / base[b]) for b, v in sorted(curves[k].items())
                             if base.get(b)], style(k)) for k in keys if k != ("file", 0)]
        if gnuplot(tmp, os.path.join(img, "trace-ttft-ratio.png"), series,
                   "Mooncake trace: mean TTFT relative to unbounded file, by prompt length", xl,
                   "mean TTFT ÷ unbounded file mean TTFT", logx=True, key="top right"):
            out += ["![TTFT relative to file](img/trace-ttft-ratio.png)", ""]
    if out:
        out += ["Bins are powers of two of the prompt length, drawn at their geometric centre; "
                "solid lines ran at a 25 % budget, dashed ones unbounded: compare dashed with "
                "dashed and solid with solid." +
                ("" if any(k[0] in PREFIXD and k[1] for k in keys) else
                 " prefixd tiers ran unbounded only (no budget enforced yet)."), ""]
    return out

SIMS = [("lru", "LRU"), ("s3fifo", "S3-FIFO"), ("lfu_aging", "LFU-DA"), ("opt", "OPT")]

def best_sim(d):
    """The best simulated hit rate of LRU, S3-FIFO and LFU-DA (OPT is the ceiling, not a rival)."""
    rates = [d.get(f"sim_{k}_token_hit_rate") for k, _ in SIMS if k != "opt"]
    rates = [r for r in rates if r is not None]
    return max(rates) if rates else None

def policy_table(runs, label):
    """Measured hit rate beside the policies simulated on the same sequence at the same budget."""
    rows = []
    for key in sorted(runs, key=lambda k: (k[0], run_key(k[1:])) if len(k) == 3 else run_key(k)):
        d = runs[key]
        if not d.get("sim_capacity_pages") or not enforced(key[-2:], d):
            continue
        rows.append([" ".join(f"`{x}`" if i == len(key) - 2 else str(x)
                              for i, x in enumerate(key[:-1])), f"{key[-1]:g}",
                     num(d.get("sim_capacity_pages")), rate3(d.get("token_hit_rate"))] +
                    [rate3(d.get(f"sim_{k}_token_hit_rate")) for k, _ in SIMS] +
                    [times(ratio(d.get("token_hit_rate"), best_sim(d)))])
    if not rows:
        return []
    return ([f"Hit rate against cache policies simulated on the same {label} at the same budget "
             "(`bench/policy_sim.h`: every block one page, the budget in pages = budget ÷ page "
             "bytes, prefix semantics). *vs best*: measured ÷ the best of LRU, S3-FIFO and "
             "LFU-DA; OPT (Belady) is the ceiling. The `file` tier's own LRU should sit near "
             "the simulated LRU: it checks the simulator.", ""] +
            table(["run", "capacity fraction", "budget pages", "measured"] +
                  [f"{lab} (sim)" for _, lab in SIMS] + ["vs best"], rows))

def multiturn_section(data):
    mt, out = data["multiturn"], ["## Multi-turn: SGLang and LMCache shapes", ""]
    if not mt:
        return out + ["Missing: no multiturn-*.json results.", ""]
    out += ["From `prefixd-bench --workload multiturn --shape sglang|lmcache ...`:", ""]
    out += [f"- `{sh}`: " + next(d.get("source", "") for k, d in mt.items() if k[0] == sh)
            for sh in sorted({k[0] for k in mt})] + [""]
    keys = sorted(mt, key=lambda k: (k[0], run_key(k[1:])))
    out += table(["shape"] + TRACE_HEAD, [[k[0]] + trace_row(k[1], k[2], mt[k]) for k in keys])
    out += policy_table(mt, "request sequence")
    return out + commands_block(data, [f"multiturn-{k[0]}-{k[1]}-f{k[2]:g}.json" for k in keys])

def fill_section(data):
    fl, out = data["fill"], ["## Fill: the cache run full at a fixed budget", ""]
    if not fl:
        return out + ["Missing: no fill-*.json results.", ""]
    first = next(iter(fl.values()))
    out += [f"From `prefixd-bench --workload multiturn --shape fill ...` ({first.get('source', '')}"
            f"; a miss writes the chain again). Peak disk is sampled every 100 ms during the "
            "run; write amplification = device bytes written ÷ page bytes put.", ""]
    rows = []
    for tier in sorted(fl, key=tier_key):
        d = fl[tier]
        cap = d.get("capacity_bytes")
        rows.append([f"`{tier}`", mib(cap), mib(d.get("bytes_put")),
                     num(ratio(d.get("peak_disk_bytes"), cap), 3),
                     num(d.get("write_amplification"), 3), rate3(d.get("token_hit_rate"))] +
                    [rate3(d.get(f"sim_{k}_token_hit_rate")) for k, _ in SIMS] +
                    [times(ratio(d.get("token_hit_rate"), best_sim(d)))])
    out += table(["tier", "budget MiB", "put MiB", "peak disk ÷ budget", "WA", "token hit rate"] +
                 [f"{lab} (sim)" for _, lab in SIMS] + ["vs best"], rows)
    out += ["The `file` tier deletes evicted files, often before the kernel has written them "
            "back, so its WA undercounts what a page costs the device.", ""]
    return out + commands_block(data, [f"fill-{t}.json" for t in sorted(fl, key=tier_key)])

RESTART_LABELS = {"mooncake": "Mooncake trace", "sglang": "SGLang shape", "fill": "fill"}

def restart_section(data):
    rs, out = data["restart"], ["## Restart: what a restart halfway costs the hits after it", ""]
    if not rs:
        return out + ["Missing: no restart-*.json results.", ""]
    out += ["From `prefixd-bench --backend inproc ... --restart-at 0.5 --restart MODE`: the replay "
            "runs to its middle request, the store is closed and opened again (MODE `clean`: its "
            "eviction order and what adaptive insertion learnt are saved at the close and restored "
            "at the open; `forget-order`: the same with the saved file removed, what a crash with "
            "no save leaves, less the unflushed pages a crash also loses; `crash`: the order's "
            "journal synced before every hundredth of the requests (`--order-sync-every 0.01`; "
            "~10 s of the Mooncake trace, where the daemon syncs every second) and the files of "
            "the last sync put back, what a crash leaves of the order; `none`: no restart), and "
            "the token hit rate of the requests from the middle on is reported.", ""]
    rows, x3 = [], lambda r: NA if r is None else f"{r:.3f}×"
    for wl, f in sorted({(k[0], k[1]) for k in rs},
                        key=lambda k: (list(RESTART_LABELS).index(k[0]), k[1])):
        none, clean, lost, last = (rs.get((wl, f, m), {}).get("tail_token_hit_rate")
                                   for m in ("none", "clean", "forget-order", "crash"))
        budget = (frac_label(f) if f else
                  f"{mib(rs.get((wl, f, 'none'), {}).get('capacity_bytes'))} MiB")
        rows.append([RESTART_LABELS[wl], budget, num(none, 4),
                     f"{num(clean, 4)} ({x3(ratio(clean, none))})",
                     f"{num(lost, 4)} ({x3(ratio(lost, none))})",
                     f"{num(last, 4)} ({x3(ratio(last, none))})"])
    out += table(["workload", "budget", "no restart", "clean restart",
                  "crash, no order saved", "crash, journal synced"], rows)
    files = [f"restart-{wl}-f{f:g}-{m}.json" for (wl, f, m) in
             sorted(rs, key=lambda k: (list(RESTART_LABELS).index(k[0]), k[1], k[2]))]
    return out + commands_block(data, files)

# Why a target is missed: what profiles of prefixd showed (perf record of the same workload;
# the commands are in docs/benchmarks-why.md). Text, not numbers: the figures are in the row.
WHY = {
    "put-grpc": "The gRPC hop: each page is framed in protobuf, copied through the socket twice "
                "and parsed, while client, daemon and RocksDB's flush share the CPUs; the same "
                "store in-process is faster (`put grpc ÷ inproc` below). The file tier's put "
                "is a buffered write() that is never fsynced, as HiCacheFile's is.",
    "put-inproc": "Profile (1 worker): besides generating pages, a put copies each page into "
                  "the write batch and again into the memtable, and the flush thread writes "
                  "it to a blob file; puts take one writer lock, so extra workers queue while "
                  "file writers copy into the page cache in parallel.",
    "cold-grpc": "As `inproc` (one synchronous device read per page, in order), plus the RPC "
                 "hop: a chain's bytes cross the socket after they are read.",
    "cold-inproc": "RocksDB 7.8 reads a MultiGet's blobs one after another in the calling "
                   "thread (Debian's build has neither io_uring nor coroutines, so no async_io) "
                   "and copies each into its result: a chain is 16 synchronous page reads, like "
                   "the file tier's 16 file reads, so prefixd can match it, not beat it by "
                   "1.5×. Tried and measured slower or no better here: reading the next group "
                   "on another thread (cold 1.1 → 0.86 GB/s), O_DIRECT blob reads (0.83–0.91 "
                   "GB/s). This VM's disk swings 1.2–2.9 GB/s between fio runs.",
    "scale-grpc": "One RPC per chain on top of the store's own slowdown (the `inproc` row).",
    "scale-inproc": "At 4M pages the key blocks (the index family and the pages' blob "
                    "references, ~100 bytes a page, snappy-compressed) outgrow the 64 MiB block "
                    "cache: a profile of the 4M window spreads over reading 4 KiB blocks from the "
                    "page cache, decompressing them, block-cache insertion and eviction, "
                    "malloc/free and index seeks, i.e. every lookup reads a block. "
                    "`--block-cache 1GiB` took exists 2.3× and gets 3.2× at 4M (docs/scale-4m.md)"
                    ". Since e43d66c / 1ad9569 an in-memory key index answers Exists and a "
                    "get's record lookups (4M exists 35k → 515k keys/s in the suite); a get "
                    "still looks up each page's blob reference in the pages family, past the "
                    "block cache at 4M (docs/benchmarks-why.md).",
    "scale-rocksdb-inline": "A baseline (values inline, default options): not profiled here.",
    "scale-file": "A baseline: one file per page; not profiled here.",
    "scale-file-sharded": "A baseline: one file per page; not profiled here.",
    "exists-rate": "Latency-bound at one stream: one 256-key call cost the daemon about 1.1 ms "
                   "of CPU (4.3 µs a key: RocksDB's index-family lookups, data-block binary "
                   "search and block cache, 39 %; malloc, memcmp and copies 30 %; kernel 14 %) "
                   "against 2.3 µs a key for the store in-process, before Exists answered from "
                   "the in-memory key index (e43d66c).",
    "exists-p99": "The client, the daemon and RocksDB's background work share 2 CPUs: the tail "
                  "is scheduling (p50 624 µs, p99 4.4 ms at one stream in the run after the "
                  "key index); with 4 streams calls also queue.",
    "policy": "prefixd evicts single pages, least recently used first and a chain's deepest "
              "first (--eviction pages, the default); pages never read go first while more "
              "are held than a target adapted as ARC's (probation), and shadow caches choose "
              "bimodal insertion for a cycle longer than the cache (the LMCache shape). Pages get the whole budget less the store's own files "
              "(SSTs, logs, unflushed pages: 1-2 % of these small budgets), which the "
              "simulated references do not pay (benchmarks-why.md); issue #3.",
    "wa": "Each page is written once with --eviction pages (no copies); the rest is the index "
          "family (WAL, flushes, compactions) and blob files' headers. With --eviction "
          "generations, pages read from the oldest quarter are copied forward, at most a tenth "
          "of the accepted page bytes (--promote-budget; benchmarks-why.md); issue #3.",
    "ttft": "TTFT at a 25 % budget follows the hit rate and the cold read speed: prefixd's hit "
            "rate is within about 2 % of the file tier's per-page LRU here (trace table above), "
            "so what is left is the cold chain read, one page after another (cold chain get "
            "rows above).",
}


def verdict(r, goal, higher=True):
    if r is None:
        return "missing"
    if (r >= goal) if higher else (r <= goal):
        return "**met**"
    miss = 100 * ((1 - r / goal) if higher else (r / goal - 1))
    return f"**missed** by {miss:.0f} %" if miss >= 0.5 else "**missed** by <1 %"

def target_row(figure, target, items, goal, higher=True, fmt=times):
    """One row for a target measured in several configurations: items = [(where, value, caveat)]."""
    if not items:
        return [figure, target, NA, "missing"]
    measured = "; ".join((f"{w}: " if w else "") + fmt(v) + (f" ({c})" if c else "")
                         for w, v, c in items)
    verdicts = [(w, verdict(v, goal, higher)) for w, v, _ in items]
    if len({v for _, v in verdicts}) == 1:
        return [figure, target, measured, verdicts[0][1]]
    return [figure, target, measured, "; ".join(f"{w}: {v}" for w, v in verdicts)]

def findings_section(data):
    m, s, t = data["micro"], data["scale"], data["trace"]
    rows = []
    def add(row, key):  # the row, and why where it missed (WHY, from profiles of this tier)
        rows.append(row + [WHY.get(key, "") if "missed" in row[3] else ""])
    def vs_file(tier, size, phase, field):  # [(where, tier ÷ file, caveat)] per concurrency
        concs = sorted({c for (x, sz, c, _) in m if x == "file" and sz == size} or
                       {c for (x, sz, c, _) in m if x == tier and sz == size})
        return [(f"×{c}", ratio(m.get((tier, size, c, phase), {}).get(field),
                                m.get(("file", size, c, phase), {}).get(field)),
                 ", ".join(x for x in (
                     not_cold(m.get((tier, size, c, phase), {})) if phase == "cold" else "",
                     "aborted" if aborted(m.get((tier, size, c, phase), {})) else "") if x))
                for c in concs]
    for tier in ("grpc", "inproc"):
        add(target_row(f"put MB/s at 1 MiB, `{tier}` ÷ `file`", "≥ 1.0× (1.5× proud)",
                       vs_file(tier, "1MiB", "warm", "put_MBps"), 1.0), f"put-{tier}")
    for tier in ("grpc", "inproc"):
        if not m:
            add([f"cold chain get MB/s, `{tier}` ÷ `file`", "≥ 1.5×", NA, "missing"], "")
        for size in sorted({sz for (_, sz, _, _) in m}, key=size_bytes):
            add(target_row(f"cold chain get MB/s at {size}, `{tier}` ÷ `file`",
                           "≥ 1.5×", vs_file(tier, size, "cold", "get_MBps"), 1.5), f"cold-{tier}")
    for tier in sorted(set(s) | data["tiers"], key=tier_key):
        pts = s.get(tier, {}).get("points", [])
        if len(pts) < 2:
            add([f"scale `{tier}`", "≥ 0.80× of the 10k rate", NA, "missing"], "")
            continue
        o = on_disk(s[tier], pts[-1])
        figure = (f"scale `{tier}`: rate at {pts[-1]['pages']:,} pages ÷ at {pts[0]['pages']:,}" +
                  ("" if pts[-1]["pages"] >= 4_000_000 else "; the target asks 4M") +
                  (f"; {share(o)} on disk: mostly memory" if o is not None and o < 0.5 else ""))
        add(target_row(figure, "≥ 0.80×", [
            (short, ratio(pts[-1].get(k), pts[0].get(k)), "") for k, _, short in SCALE_COLS], 0.8),
            f"scale-{tier}")
    ex = data["exists"]
    if not any(k[0] == "grpc" for k in ex):
        add(["`grpc` batched exists of a 256-page chain", "≥ 250,000 keys/s, p99 < 1 ms", NA,
             "missing"], "")
    for (x, c) in sorted(k for k in ex if k[0] == "grpc"):
        d = ex[(x, c)]
        add(target_row(f"`grpc` batched exists keys/s, 256-page chains, ×{c}", "≥ 250,000",
                       [("", d.get("exists_keys_per_s"), "")], 250_000, fmt=num), "exists-rate")
        add(target_row(f"`grpc` exists p99 µs per 256-page chain, ×{c}", "< 1,000 µs",
                       [("", d.get("exists_p99_us"), "")], 1000, False, num), "exists-p99")
    for kind, runs in (("trace", t), ("multiturn", data["multiturn"])):
        for key in sorted(runs, key=lambda k: (k[:-2], run_key(k[-2:]))):
            d = runs[key]
            if key[-2] not in PREFIXD or not key[-1] or not enforced(key[-2:], d):
                continue
            where = " ".join(str(x) for x in key[:-2])
            add(target_row(f"{kind}{' ' + where if where else ''} `{key[-2]}` at {key[-1]:g}: "
                           "hit rate ÷ best of LRU, S3-FIFO, LFU-DA (simulated)", "≥ 1.00×",
                           [("", ratio(d.get("token_hit_rate"), best_sim(d)), "")], 1.0),
                "policy")
            add(target_row(f"{kind}{' ' + where if where else ''} `{key[-2]}` at {key[-1]:g}: "
                           "write amplification", "≤ 1.20",
                           [("", d.get("write_amplification"), "")], 1.20, False,
                           lambda v: num(v, 3)), "wa")
    for tier in sorted((k for k in data["fill"] if k in PREFIXD), key=tier_key):
        d = data["fill"][tier]
        add(target_row(f"fill `{tier}`: peak disk ÷ budget", "≤ 1.10",
                       [("", ratio(d.get("peak_disk_bytes"), d.get("capacity_bytes")), "")],
                       1.10, False, lambda v: num(v, 3)), "")
        add(target_row(f"fill `{tier}`: write amplification", "≤ 1.20",
                       [("", d.get("write_amplification"), "")], 1.20, False,
                       lambda v: num(v, 3)), "")
        add(target_row(f"fill `{tier}`: hit rate ÷ best of LRU, S3-FIFO, LFU-DA (simulated)",
                       "≥ 1.00×", [("", ratio(d.get("token_hit_rate"), best_sim(d)), "")], 1.0),
            "policy")
    gt16k = lambda key: t.get(key, {}).get("ttft_gt16k_mean_s")
    bounded = [k for k in sorted(t, key=run_key)
               if k[0] in PREFIXD and k[1] == 0.25 and t[k].get("capacity_enforced")]
    for k in bounded:
        r = ratio(gt16k(k), gt16k(("file", 0.25)))
        add([f">16k mean TTFT at a 25 % budget, cold, `{k[0]}` ÷ `file`", "≤ 0.76×",
             times(r), verdict(r, 0.76, higher=False)], "ttft")
    if not bounded:
        add([">16k mean TTFT at a 25 % budget, cold, prefixd ÷ `file`", "≤ 0.76×", NA,
             "not measurable yet: prefixd does not enforce a budget"], "")
        for tier in sorted({k[0] for k in t if k[0] in PREFIXD}, key=tier_key):
            r = ratio(gt16k((tier, 0)), gt16k(("file", 0)))
            add([f"for reference, both unbounded: >16k mean TTFT `{tier}` ÷ `file`", NA,
                 times(r), "not the target"], "")
    more, low = [], False  # what key-value separation is worth, what the gRPC hop costs
    for sz, c in sorted({(sz, c) for (x, sz, c, _) in m if x == "inproc"},
                        key=lambda k: (size_bytes(k[0]), k[1])):
        i, r, g = (m.get((x, sz, c, "warm"), {}) for x in ("inproc", "rocksdb-inline", "grpc"))
        vs = lambda a, b, f: times(ratio(a.get(f), b.get(f)))
        wa = [i.get("write_amplification"), r.get("write_amplification")]
        low |= any(w is not None and w < 0.95 for w in wa)
        more.append([f"{sz} ×{c}", vs(i, r, "put_MBps"), vs(i, r, "get_MBps"),
                     f"{num(wa[0], 2)} / {num(wa[1], 2)}", vs(g, i, "put_MBps"),
                     vs(g, i, "get_MBps")])
    return (["## What this run says", "", "Computed from the results above: each target from "
             "the evaluation issue, against `file` in the same run. A configuration without a "
             "result is listed as missing.", ""] +
            table(["figure", "target", "measured", "verdict", "why, where missed"], rows) +
            ["The *why* column sums up profiles of prefixd on the same workloads; the commands and "
             "figures behind each are in [benchmarks-why.md](benchmarks-why.md).", ""] +
            (["What key-value separation is worth and what the gRPC hop costs (warm micro, "
              "same run):", ""] +
             table(["pages × streams", "put `inproc` ÷ `rocksdb-inline`", "warm get `inproc` ÷ "
                    "`rocksdb-inline`", "WA `inproc` / `rocksdb-inline`", "put `grpc` ÷ `inproc`",
                    "warm get `grpc` ÷ `inproc`"], more) if more else []) +
            (["WA below 1 means not all bytes put had reached the device when it was measured: "
              "these WA figures understate the real one.", ""] if low else []))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", default="build/bench/suite", help="the suite's results folder")
    ap.add_argument("--docs", default="docs", help="where benchmarks.md and img/ go")
    args = ap.parse_args()
    env_path = os.path.join(args.results, "env.json")
    if not os.path.exists(env_path):
        sys.exit(f"report: no env.json in {args.results}: run bench/suite.sh (make bench) first")
    with open(env_path) as f:
        env = json.load(f)
    data = load(args.results)
    img = os.path.join(args.docs, "img")
    os.makedirs(img, exist_ok=True)
    if not shutil.which("gnuplot"):
        print("report: gnuplot not found: writing the report without plots", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        lines = (header(env, args.results) + micro_section(env, data) +
                 scale_section(data, img, tmp) + trace_section(data, img, tmp) +
                 multiturn_section(data) + fill_section(data) + restart_section(data) +
                 exists_section(data) +
                 findings_section(data))
    out = os.path.join(args.docs, "benchmarks.md")
    with open(out, "w") as f:
        f.write("\n".join(lines).rstrip() + "\n")
    print(f"report: wrote {out} and plots in {img}", file=sys.stderr)


if __name__ == "__main__":
    main()
