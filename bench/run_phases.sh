#!/usr/bin/env bash
# The controller's evidence (`make bench-phases`): prefixd-bench's phases workload (population,
# serving, mixed, population) against a fresh daemon at its capacity, once per controller
# mode: off, on, and pinned to each profile. Writes build/bench/phases/<mode>.json and
# build/bench/phases.md (one table row per mode and phase, and the controller's decisions).
#
# Environment (optional): SECONDS_PER_PHASE=15  EPOCH=2s  CAPACITY=1GiB  CONCURRENCY=4
#   PAGE_BYTES=256KiB  MODES="off on pin:balanced pin:write-heavy pin:read-heavy"
#   BUILD=build  BENCH_DIR=./var
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
PHASE_S=${SECONDS_PER_PHASE:-15}
EPOCH=${EPOCH:-2s}
CAPACITY=${CAPACITY:-1GiB}
CONCURRENCY=${CONCURRENCY:-4}
PAGE_BYTES=${PAGE_BYTES:-256KiB}
MODES=${MODES:-off on pin:balanced pin:write-heavy pin:read-heavy}
BENCH_DIR=${BENCH_DIR:-$(pwd)/var}
OUT=$BUILD/bench/phases
mkdir -p "$OUT" "$BENCH_DIR"
WORK=$(mktemp -d "$BENCH_DIR/prefixd-phases.XXXXXX")
PID=""
stop() {
  [[ -z $PID ]] || { kill -TERM "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; }
  PID=""
}
trap 'stop; rm -rf "$WORK"' EXIT
# jq-like: evaluates a Python expression over the JSON file's object `d`.
jget() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$1" "$2" 2>/dev/null || echo n/a; }
rows=() decisions=()
for mode in $MODES; do
  rm -rf "$WORK/data"
  PORT=$((20000 + RANDOM % 20000))
  "$BUILD/bin/prefixd" --listen "127.0.0.1:$PORT" --data-dir "$WORK/data" --capacity "$CAPACITY" \
    --controller "$mode" --controller-epoch "$EPOCH" --log-level warn >"$WORK/prefixd.log" 2>&1 &
  PID=$!
  for _ in $(seq 100); do
    "$BUILD/bin/prefixctl" --target "127.0.0.1:$PORT" health >/dev/null 2>&1 && break
    sleep 0.1
  done
  name=${mode//:/-}
  echo "phases: controller $mode" >&2
  "$BUILD/bin/prefixd-bench" --workload phases --target "127.0.0.1:$PORT" \
    --phase-seconds "$PHASE_S" --concurrency "$CONCURRENCY" --page-bytes "$PAGE_BYTES" \
    --json "$OUT/$name.json" --no-progress >&2
  "$BUILD/bin/prefixctl" --target "127.0.0.1:$PORT" stats --json >"$OUT/$name-stats.json"
  stop
  s=$OUT/$name-stats.json j=$OUT/$name.json
  n=$(jget "$j" "len(d['phases'])")
  for ((i = 0; i < n; i++)); do
    row=$(jget "$j" "' | '.join('-' if v is None else str(v) for v in [d['phases'][$i][k] for k in ('put_MBps', 'put_p99_us', 'get_MBps', 'get_p50_us', 'get_p99_us', 'exists_p99_us', 'stall_seconds')] + [round(d['phases'][$i]['device_write_bytes'] / 1e6), d['phases'][$i]['get_hit_ratio']])")
    rows+=("| $mode | $((i + 1)) $(jget "$j" "d['phases'][$i]['phase']") | $row |")
  done
  decisions+=("- \`$mode\`: controller CPU $(jget "$s" "'%.3f' % d['controller']['cpu_seconds']") s over $(jget "$s" "d['uptime_seconds']") s ($(jget "$s" "'%.2f' % (100 * d['controller']['cpu_seconds'] / max(1, d['uptime_seconds']))") % of one core); decisions: $(jget "$s" "'; '.join('epoch %d %s -> %s (predicted gain %.0f%%)' % (x['epoch'], x['from'], x['to'], 100 * x['predicted_gain']) for x in d['controller']['decisions']) or 'none'")")
done
{
  echo "# The controller on the phases workload"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD), $(nproc) CPUs."
  echo "Rerun: \`SECONDS_PER_PHASE=$PHASE_S EPOCH=$EPOCH CAPACITY=$CAPACITY CONCURRENCY=$CONCURRENCY PAGE_BYTES=$PAGE_BYTES bash bench/run_phases.sh\`"
  echo "(daemon: \`prefixd --capacity $CAPACITY --controller MODE --controller-epoch $EPOCH\`; client:"
  echo "\`prefixd-bench --workload phases --phase-seconds $PHASE_S --concurrency $CONCURRENCY --page-bytes $PAGE_BYTES\`)."
  echo
  echo "| controller | phase | put MB/s | put p99 µs | get MB/s | get p50 µs | get p99 µs | exists p99 µs | stall s | device MB written | get hit ratio |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  printf '%s\n' "${rows[@]}"
  echo
  printf '%s\n' "${decisions[@]}"
} >"$BUILD/bench/phases.md"
cat "$BUILD/bench/phases.md"
