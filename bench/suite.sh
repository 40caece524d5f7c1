#!/usr/bin/env bash
# The standard benchmark suite (`make bench`): every tier on the same workloads, the disk's own
# ceiling measured in the same run, results as JSON in $OUT, then docs/benchmarks.md and PNG
# plots rendered from them (bench/report.py, gnuplot).
#
# Tiers: grpc (a throwaway prefixd on loopback), inproc, file, file-sharded, rocksdb-inline.
# Workloads: micro (page sizes x concurrency, warm and cold reads), scale (rates as the tier
# grows), trace (Mooncake, capacity fractions), multiturn (SGLang and LMCache shapes), fill (the
# cache run full), restart (inproc restarted halfway through a replay, as after an upgrade or a
# crash).
#
# Environment (all optional):
#   QUICK=1            a small suite (a minute or two): for checking the pipeline, not for numbers
#   SCALE_MAX=4M       the last scale checkpoint of prefixd's tiers (SCALE_MAX=1M saves ~5 min)
#   SCALE_MAX_BASELINES=1M   the same for file, file-sharded and rocksdb-inline. 4M is past the
#                      30-minute budget here: file-sharded alone took over 20 minutes to 4M, and
#                      deleting the file tier's 4M files afterwards over 9
#   OUT=build/bench/suite   results;  DOCS=docs   where benchmarks.md and img/ go
#   EVICTION=pages          prefixd's --eviction for the grpc and inproc tiers (default theirs)
#   BENCH_DIR=./var    where the tiers keep their data (the file system measured)
#   TIERS="grpc inproc file file-sharded rocksdb-inline"
#   WORKLOADS="micro exists scale trace multiturn fill restart"   which workloads run (the report renders
#                      the sections it has results for)
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
BUILD=${BUILD:-build}
OUT=${OUT:-$BUILD/bench/suite}
DOCS=${DOCS:-docs}
BENCH_DIR=${BENCH_DIR:-$REPO/var}
QUICK=${QUICK:-0}
EVICTION=${EVICTION:-}
TIERS=${TIERS:-"grpc inproc file file-sharded rocksdb-inline"}
WORKLOADS=${WORKLOADS:-"micro exists scale trace multiturn fill restart"}
for w in $WORKLOADS; do
  case $w in micro|exists|scale|trace|multiturn|fill|restart) ;; *) echo "suite: unknown workload '$w'" >&2; exit 2 ;; esac
done
runs() { [[ " $WORKLOADS " == *" $1 "* ]]; }
TRACE=${TRACE:-$REPO/../shared/traces/mooncake_synthetic_trace.jsonl}
BIN=$BUILD/bin
mkdir -p "$OUT" "$BENCH_DIR"
# One suite at a time per output folder: two would mix their results.
exec 9>"$OUT/.lock"
flock -n 9 || { echo "suite: another suite is writing $OUT" >&2; exit 1; }
rm -f "$OUT"/*.json "$OUT"/*.csv "$OUT"/commands.txt "$OUT"/bench.log
WORK=$(mktemp -d "$BENCH_DIR/suite.XXXXXX")
DAEMON_PID=""
START=$(date +%s)

log() { echo "suite [$(( $(date +%s) - START ))s]: $*" >&2; }
stop_daemon() {
  [[ -n $DAEMON_PID ]] || return 0
  kill -TERM "$DAEMON_PID" 2>/dev/null || true
  wait "$DAEMON_PID" 2>/dev/null || true
  DAEMON_PID=""
}
cleanup() { stop_daemon; rm -rf "$WORK"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# Whether cold runs can be cold: prefixd-bench --cold drops the page cache before its read
# phases, which only root may do (each result file says whether it did).
COLD_OK=1
if ! (sync && echo 3 > /proc/sys/vm/drop_caches) 2>/dev/null; then
  log "cannot drop the page cache (not root?): 'cold' runs are warm"
  COLD_OK=0
fi

# A fresh daemon on a free loopback port with data in $1 (and prefixd flags after); sets TARGET.
start_daemon() {
  local data=$1 port
  shift
  stop_daemon
  for _ in 1 2 3 4 5 6 7 8; do
    port=$((20000 + RANDOM % 20000))
    "$BIN/prefixd" --listen "127.0.0.1:$port" --data-dir "$data" --log-level warn \
      ${EVICTION:+--eviction "$EVICTION"} "$@" \
      >>"$WORK/prefixd.log" 2>&1 &
    DAEMON_PID=$!
    for _ in $(seq 1 100); do
      if "$BIN/prefixctl" --target "127.0.0.1:$port" health >/dev/null 2>&1; then
        TARGET=127.0.0.1:$port
        return 0
      fi
      kill -0 "$DAEMON_PID" 2>/dev/null || break
      sleep 0.1
    done
    stop_daemon
  done
  log "could not start prefixd; see $WORK/prefixd.log"
  exit 1
}

# Runs prefixd-bench against tier $1 with data under $2, the rest of the flags after; the
# command (with <data> for the throwaway directory) goes to commands.txt.
bench() {
  local tier=$1 data=$2
  shift 2
  local where=(--dir "$data")
  [[ $tier == inproc && -n $EVICTION ]] && where+=(--eviction "$EVICTION")
  if [[ $tier == grpc ]]; then
    [[ -n $DAEMON_PID ]] || start_daemon "$data"
    where=(--target "$TARGET")
  fi
  echo "prefixd-bench --backend $tier ${where[*]/$WORK/<tmp>} $*" | sed "s#$WORK#<tmp>#g" \
    >>"$OUT/commands.txt"
  "$BIN/prefixd-bench" --backend "$tier" "${where[@]}" --no-progress "$@" >>"$OUT/bench.log" 2>&1 \
    || log "prefixd-bench exited $? for: --backend $tier $*"
}

# A fresh data directory in $d (and no daemon: the next grpc run starts one on it).
fresh() { stop_daemon; rm -rf "$WORK/data"; mkdir -p "$WORK/data"; d=$WORK/data/$1; }

# For a grpc run with a --capacity-fraction: asks prefixd-bench what budget the fraction means
# and starts the daemon with it as --capacity; DAEMON_FLAG then tells prefixd-bench so.
DAEMON_FLAG=()
budget() {
  local tier=$1 data=$2 cap
  shift 2
  DAEMON_FLAG=()
  [[ $tier == grpc ]] || return 0
  cap=$("$BIN/prefixd-bench" --backend inproc --dir "$WORK/unused" "$@" --print-capacity)
  if [[ $cap -gt 0 ]]; then
    if (( cap < 16777216 )); then  # under prefixd's smallest budget: the run is unbounded
      log "budget $cap bytes is under prefixd's 16 MiB minimum: the grpc run is unbounded"
      start_daemon "$data"
      return 0
    fi
    start_daemon "$data" --capacity "$cap"
    DAEMON_FLAG=(--daemon-capacity-set)
  fi
}

# --- the disk's ceiling --------------------------------------------------------------------
DISK_MIB=$([[ $QUICK == 1 ]] && echo 256 || echo 2048)
log "disk ceiling ($DISK_MIB MiB, fio O_DIRECT)"
fio_mbps() {  # rw -> MB/s
  fio --name=ceiling --rw="$1" --direct=1 --bs=1M --size="${DISK_MIB}M" --ioengine=psync \
    --filename="$WORK/ceiling.dat" --output-format=terse --terse-version=3 --end_fsync=1 \
    2>/dev/null | awk -F';' -v rw="$1" '{ print (rw == "write" ? $48 : $7) / 1000 * 1.024 }'
}
if command -v fio >/dev/null; then
  W=$(fio_mbps write); R=$(fio_mbps read)
else
  log "fio missing: no disk ceiling"; W=0; R=0
fi
rm -f "$WORK/ceiling.dat"
write_env() {
cat >"$OUT/env.json" <<EOF
{"date": "$(date -u '+%Y-%m-%d %H:%M UTC')", "commit": "$(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet 2>/dev/null || echo '+')",
 "cpus": $(nproc), "kernel": "$(uname -r)", "fs": "$(df -T "$BENCH_DIR" | awk 'NR==2 {print $2" on "$1}')",
 "fio_write_MBps": $W, "fio_read_MBps": $R, "quick": $QUICK, "page_cache_dropped": $COLD_OK,
 "scale_max": "${SCALE_MAX:-4M}", "scale_max_baselines": "${SCALE_MAX_BASELINES:-1M}",
 "seconds": $(( $(date +%s) - START )),
 "fio_command": "fio --rw=write|read --direct=1 --bs=1M --size=${DISK_MIB}M --ioengine=psync --end_fsync=1"}
EOF
}

# --- micro: page size x concurrency, warm then cold reads ----------------------------------
if [[ $QUICK == 1 ]]; then SIZES="1MiB"; CONCS="1"; MB=128; else SIZES="64KiB 1MiB 8MiB"; CONCS="1 4 16"; MB=1024; fi
for tier in $TIERS; do
  runs micro || break
  for size in $SIZES; do
    for conc in $CONCS; do
      [[ $tier != grpc && $conc == 16 ]] && continue  # in-process tiers: 1 and 4 workers
      case $size in 64KiB) bytes=65536 ;; 1MiB) bytes=1048576 ;; *) bytes=8388608 ;; esac
      pages=$(( MB * 1048576 / bytes ))
      log "micro $tier $size x$conc ($pages pages)"
      fresh micro
      bench "$tier" "$d" --workload micro --pages "$pages" --page-bytes "$size" --concurrency "$conc" \
        --json "$OUT/micro-$tier-$size-c$conc-warm.json"
      stop_daemon  # a daemon restarted on the same data: nothing of it left in memory
      bench "$tier" "$d" --workload micro --pages "$pages" --page-bytes "$size" --concurrency "$conc" \
        --phase get --cold --json "$OUT/micro-$tier-$size-c$conc-cold.json"
    done
  done
done

# --- exists: batched existence checks of 256-page chains, nothing read --------------------
if [[ $QUICK == 1 ]]; then EPAGES=8192; ROUNDS=2; else EPAGES=65536; ROUNDS=8; fi
for tier in $TIERS; do
  runs exists || break
  log "exists $tier, 256-page chains of 4 KiB pages ($EPAGES pages, $ROUNDS rounds)"
  fresh exists
  bench "$tier" "$d" --workload micro --pages "$EPAGES" --page-bytes 4KiB --chain-pages 256 \
    --phase put --json "$OUT/exists256-$tier-put.json"
  for conc in 1 4; do
    bench "$tier" "$d" --workload micro --pages "$EPAGES" --page-bytes 4KiB --chain-pages 256 \
      --phase exists --exists-rounds "$ROUNDS" --concurrency "$conc" \
      --json "$OUT/exists256-$tier-c$conc.json"
  done
done

# --- scale: rates as the tier grows ---------------------------------------------------------
checkpoints() {  # 10k,100k,1M and the last one ($1) if past 1M
  if [[ $QUICK == 1 ]]; then echo 10k,50k; elif [[ $1 == 1M ]]; then echo 10k,100k,1M
  else echo "10k,100k,1M,$1"; fi
}
for tier in $TIERS; do
  runs scale || break
  case $tier in
    file|file-sharded|rocksdb-inline) CHECKPOINTS=$(checkpoints "${SCALE_MAX_BASELINES:-1M}") ;;
    *) CHECKPOINTS=$(checkpoints "${SCALE_MAX:-4M}") ;;
  esac
  log "scale $tier to ${CHECKPOINTS##*,} pages of 1 KiB"
  fresh scale
  bench "$tier" "$d" --workload scale --checkpoints "$CHECKPOINTS" --page-bytes 1KiB \
    --chain-pages 16 --concurrency 2 --json "$OUT/scale-$tier.json"
done

# --- trace: Mooncake at capacity fractions --------------------------------------------------
if ! runs trace; then
  :
elif [[ -f $TRACE ]]; then
  LIMIT=$([[ $QUICK == 1 ]] && echo 400 || echo 0)
  for tier in $TIERS; do
    [[ $tier == rocksdb-inline ]] && fractions="0" || fractions="0.1 0.25 0.5 0"
    for f in $fractions; do
      log "trace $tier capacity fraction $f"
      fresh trace
      args=(--workload trace --trace "$TRACE" --limit "$LIMIT" --bytes-per-token 64
            --capacity-fraction "$f")
      budget "$tier" "$d" "${args[@]}"
      bench "$tier" "$d" "${args[@]}" "${DAEMON_FLAG[@]}" --cold \
        --json "$OUT/trace-$tier-f$f.json" --csv "$OUT/trace-$tier-f$f.csv"
    done
  done
else
  log "no trace at $TRACE: trace workload skipped"
fi

# --- multiturn: SGLang and LMCache shapes ---------------------------------------------------
# Page sizes such that a 10 % budget is over prefixd's smallest (16 MiB) and holds ~100 pages or
# more: the SGLang shape (64 clients) has 10,496 distinct pages of 64 tokens, 344 MB at 512 B a
# token; the LMCache shape is run with 100 users (its example has 10, whose 153 distinct pages
# make a 10 % budget 15 pages) at 2,048 B a token.
if [[ $QUICK == 1 ]]; then
  SG="--clients 16 --rounds 3"; LM="--users 10"; MT_FRACTIONS="0.25 0"
else
  SG="--clients 64 --rounds 5 --request-tokens 2048"; LM="--users 100"; MT_FRACTIONS="0.1 0.25 0.5 0"
fi
for tier in $TIERS; do
  runs multiturn || break
  [[ $tier == rocksdb-inline ]] && fractions="0" || fractions=$MT_FRACTIONS
  for f in $fractions; do
    log "multiturn $tier capacity fraction $f"
    for shape in sglang lmcache; do
      fresh mt
      # shellcheck disable=SC2206
      if [[ $shape == sglang ]]; then extra=($SG); bpt=512; else extra=($LM); bpt=2048; fi
      args=(--workload multiturn --shape "$shape" "${extra[@]}" --bytes-per-token "$bpt"
            --capacity-fraction "$f")
      budget "$tier" "$d" "${args[@]}"
      bench "$tier" "$d" "${args[@]}" "${DAEMON_FLAG[@]}" \
        --json "$OUT/multiturn-$shape-$tier-f$f.json"
    done
  done
done
# --- fill: the cache run full at a fixed budget (issue #3) ----------------------------------
# 4 GiB of new 1 MiB pages (chains of 8) through a 512 MiB budget, half the requests re-reading
# an earlier chain.
if [[ $QUICK == 1 ]]; then FILL_CHAINS=64; FILL_BUDGET=64; else FILL_CHAINS=512; FILL_BUDGET=512; fi
for tier in $TIERS; do
  runs fill || break
  [[ $tier == grpc || $tier == inproc || $tier == file ]] || continue
  log "fill $tier: $FILL_CHAINS chains of 8 MiB through $FILL_BUDGET MiB"
  fresh fill
  extra=()
  if [[ $tier == grpc ]]; then
    start_daemon "$d" --capacity "$((FILL_BUDGET << 20))"
    extra=(--daemon-capacity-set)
  fi
  bench "$tier" "$d" --workload multiturn --shape fill --chains "$FILL_CHAINS" \
    --bytes-per-token 4096 --capacity "${FILL_BUDGET}MiB" "${extra[@]}" \
    --json "$OUT/fill-$tier.json"
done
# --- restart: what a restart halfway through a replay costs the hits after it (issue #3) ------
# inproc only (the benchmark closes and opens the store itself): no restart, a clean one (the
# eviction order saved and restored), one whose saved order is removed (what a crash with no
# save leaves, less the unflushed pages a crash also loses), and a crash with the order's
# journal synced every hundredth of the requests (~10 s of the Mooncake trace; the daemon
# syncs every second by default).
if runs restart && [[ " $TIERS " == *" inproc "* ]]; then
  RS_LIMIT=$([[ $QUICK == 1 ]] && echo 400 || echo 0)
  RS_FRACTIONS=$([[ $QUICK == 1 ]] && echo "0.5" || echo "0.1 0.5")
  # shellcheck disable=SC2206
  sg=($SG)
  for f in $RS_FRACTIONS; do
    for mode in none clean forget-order crash; do
      log "restart $mode at capacity fraction $f"
      if [[ -f $TRACE ]]; then
        fresh restart
        bench inproc "$d" --workload trace --trace "$TRACE" --limit "$RS_LIMIT" \
          --bytes-per-token 64 --capacity-fraction "$f" --restart-at 0.5 --restart "$mode" \
          --json "$OUT/restart-mooncake-f$f-$mode.json"
      fi
      [[ $QUICK == 1 ]] && continue  # the quick SGLang shape's budgets are under 16 MiB
      fresh restart
      bench inproc "$d" --workload multiturn --shape sglang "${sg[@]}" --bytes-per-token 512 \
        --capacity-fraction "$f" --restart-at 0.5 --restart "$mode" \
        --json "$OUT/restart-sglang-f$f-$mode.json"
    done
  done
  for mode in none clean forget-order crash; do
    log "restart $mode: fill"
    fresh restart
    bench inproc "$d" --workload multiturn --shape fill --chains "$FILL_CHAINS" \
      --bytes-per-token 4096 --capacity "${FILL_BUDGET}MiB" --restart-at 0.5 --restart "$mode" \
      --json "$OUT/restart-fill-f0-$mode.json"
  done
fi
stop_daemon
write_env
log "done; rendering the report"
python3 bench/report.py --results "$OUT" --docs "$DOCS"
log "total $(( $(date +%s) - START )) s"
