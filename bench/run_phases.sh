#!/usr/bin/env bash
# The controller's evidence (`make bench-phases`): prefixd-bench's phases workload (population,
# serving, mixed, population) against a fresh daemon at its capacity, once per controller
# mode: off, on, and pinned to each profile, REPEAT times (the modes alternate within each
# repeat). Writes build/bench/phases/<mode>-r<k>.json and build/bench/phases.md (medians per
# mode and phase against the best pinned profile, bench/phases_summary.py, and the controller's
# decisions).
#
# Phases are of fixed work by default (PHASE_BYTES of puts and gets each, SECONDS_PER_PHASE
# their limit), so every mode ends each phase with the same chains written and a phase's
# seconds compare directly; PHASE_BYTES= (empty) runs timed phases of SECONDS_PER_PHASE.
#
# Environment (optional): PHASE_BYTES=8GiB  SECONDS_PER_PHASE=120 (15 for timed phases)
#   REPEAT=1  EPOCH=2s  CAPACITY=1GiB  CONCURRENCY=4  PAGE_BYTES=256KiB
#   MODES="off on pin:balanced pin:write-heavy pin:read-heavy"  BUILD=build  BENCH_DIR=./var
#   OUT=build/bench/phases  REPORT=build/bench/phases.md
# A mode may carry controller settings after '~', for ablations: `on~epoch=5s~patience=1`
# runs `--controller on --controller-epoch 5s --controller-patience 1` and is reported as
# `on+epoch=5s+patience=1` (never as a pinned profile, even after `pin:`).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
PHASE_BYTES=${PHASE_BYTES-8GiB}
if [[ -n $PHASE_BYTES ]]; then PHASE_S=${SECONDS_PER_PHASE:-120}; else PHASE_S=${SECONDS_PER_PHASE:-15}; fi
REPEAT=${REPEAT:-1}
EPOCH=${EPOCH:-2s}
CAPACITY=${CAPACITY:-1GiB}
CONCURRENCY=${CONCURRENCY:-4}
PAGE_BYTES=${PAGE_BYTES:-256KiB}
MODES=${MODES:-off on pin:balanced pin:write-heavy pin:read-heavy}
BENCH_DIR=${BENCH_DIR:-$(pwd)/var}
OUT=${OUT:-$BUILD/bench/phases}
REPORT=${REPORT:-$BUILD/bench/phases.md}
case $(realpath -m "$OUT") in
  / | "$(realpath -m .)" | "$(realpath -m ~)") echo "run_phases.sh: refusing OUT=$OUT" >&2; exit 2 ;;
esac
rm -rf "$OUT"
mkdir -p "$OUT" "$BENCH_DIR" "$(dirname "$REPORT")"
WORK=$(mktemp -d "$BENCH_DIR/prefixd-phases.XXXXXX")
PID=""
stop() {
  [[ -z $PID ]] || { kill -TERM "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; }
  PID=""
}
trap 'stop; rm -rf "$WORK"' EXIT
# jq-like: evaluates a Python expression over the JSON file's object `d`.
jget() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$1" "$2" 2>/dev/null || echo n/a; }
decisions=()
work=(--phase-seconds "$PHASE_S")
[[ -z $PHASE_BYTES ]] || work+=(--phase-bytes "$PHASE_BYTES")
for ((rep = 1; rep <= REPEAT; rep++)); do
for spec in $MODES; do
  IFS='~' read -r -a parts <<<"$spec"
  mode=${parts[0]}
  controller=(--controller "$mode" --controller-epoch "$EPOCH")
  for kv in "${parts[@]:1}"; do
    [[ $kv == *=* ]] || { echo "run_phases.sh: '$kv' in mode '$spec' wants key=value" >&2; exit 2; }
    controller+=("--controller-${kv%%=*}" "${kv#*=}")
  done
  rm -rf "$WORK/data"
  PORT=$((20000 + RANDOM % 20000))
  "$BUILD/bin/prefixd" --listen "127.0.0.1:$PORT" --data-dir "$WORK/data" --capacity "$CAPACITY" \
    "${controller[@]}" --log-level warn >"$WORK/prefixd.log" 2>&1 &
  PID=$!
  for _ in $(seq 100); do
    "$BUILD/bin/prefixctl" --target "127.0.0.1:$PORT" health >/dev/null 2>&1 && break
    sleep 0.1
  done
  name=${spec//:/-}
  name=${name//\~/+}-r$rep
  echo "phases: controller ${controller[*]}, run $rep of $REPEAT" >&2
  "$BUILD/bin/prefixd-bench" --workload phases --target "127.0.0.1:$PORT" "${work[@]}" \
    --concurrency "$CONCURRENCY" --page-bytes "$PAGE_BYTES" \
    --json "$OUT/$name.json" --no-progress >&2
  "$BUILD/bin/prefixctl" --target "127.0.0.1:$PORT" stats --json >"$OUT/$name-stats.json"
  stop
  s=$OUT/$name-stats.json
  decisions+=("- \`$spec\` (run $rep): controller CPU $(jget "$s" "'%.3f' % d['controller']['cpu_seconds']") s over $(jget "$s" "d['uptime_seconds']") s ($(jget "$s" "'%.2f' % (100 * d['controller']['cpu_seconds'] / max(1, d['uptime_seconds']))") % of one core); decisions: $(jget "$s" "'; '.join('epoch %d %s -> %s (predicted gain %.0f%%)' % (x['epoch'], x['from'], x['to'], 100 * x['predicted_gain']) for x in d['controller']['decisions']) or 'none'")")
done
done
{
  echo "# The controller on the phases workload"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD), $(nproc) CPUs."
  echo "Rerun: \`PHASE_BYTES=$PHASE_BYTES SECONDS_PER_PHASE=$PHASE_S REPEAT=$REPEAT EPOCH=$EPOCH CAPACITY=$CAPACITY CONCURRENCY=$CONCURRENCY PAGE_BYTES=$PAGE_BYTES MODES=\"$MODES\" bash bench/run_phases.sh\`"
  echo "(daemon: \`prefixd --capacity $CAPACITY --controller MODE --controller-epoch $EPOCH\`, plus a"
  echo "mode's \`~key=value\` settings as \`--controller-key value\`; client:"
  echo "\`prefixd-bench --workload phases ${work[*]} --concurrency $CONCURRENCY --page-bytes $PAGE_BYTES\`)."
  echo
  python3 bench/phases_summary.py "$OUT"
  echo
  printf '%s\n' "${decisions[@]}"
} >"$REPORT"
cat "$REPORT"
