#!/usr/bin/env bash
# The co-located data plane against the byte path (`make bench-transport`): one throwaway
# prefixd with a TCP listener, a unix socket and a shared-memory side socket; prefixd-bench's
# micro workload over each transport (grpc = TCP, uds, shm) for 64 KiB, 1 MiB and 8 MiB pages;
# the in-process file-per-page tier on the same file system (its reads come from the page
# cache, as SGLang's HiCacheFile's do); and a plain memcpy into a shared arena as the ceiling.
#
# Writes build/bench/transport/*.json and build/bench/transport.md. Environment (optional):
#   MIB=512          MiB of pages per run     CONCURRENCY="1 4"   worker counts
#   SIZES="64KiB 1MiB 8MiB"                   BUILD=build         BENCH_DIR=./var
#   CACHE=2GiB       the daemon's --memory-cache (0: every get reads the store's blob files,
#                    which the kernel's page cache holds)
#   REPEAT=1         rounds; each figure in the table is the median of the rounds (every
#                    round runs all rows in turn, so a slow minute of this shared VM lands on
#                    all transports of a round rather than on one row)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
MIB=${MIB:-512}
CACHE=${CACHE:-2GiB}
CONCURRENCY=${CONCURRENCY:-1 4}
SIZES=${SIZES:-64KiB 1MiB 8MiB}
REPEAT=${REPEAT:-1}
BENCH_DIR=${BENCH_DIR:-$(pwd)/var}
OUT=$BUILD/bench/transport
mkdir -p "$OUT" "$BENCH_DIR"
WORK=$(mktemp -d "$BENCH_DIR/prefixd-transport.XXXXXX")
PID=""
cleanup() {
  [[ -z $PID ]] || { kill -TERM "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; }
  rm -rf "$WORK"
}
trap cleanup EXIT
PORT=$((20000 + RANDOM % 20000))
"$BUILD/bin/prefixd" --listen "127.0.0.1:$PORT" --unix "$WORK/p.sock" --shm-socket "$WORK/shm.sock" \
  --data-dir "$WORK/data" --memory-cache "$CACHE" --log-level warn >"$WORK/prefixd.log" 2>&1 &
PID=$!
for _ in $(seq 100); do
  "$BUILD/bin/prefixctl" --target "127.0.0.1:$PORT" health >/dev/null 2>&1 && break
  sleep 0.1
done
pages_for() {  # MiB of pages -> page count for a size
  case $1 in 64KiB) echo $((MIB * 16)) ;; 1MiB) echo "$MIB" ;; 8MiB) echo $((MIB / 8)) ;; *) echo "$MIB" ;; esac
}
jget() { sed -n "s/^  \"$2\": \(.*\)\$/\1/p" "$1" | sed 's/,$//; s/^"//; s/"$//'; }
# The median of field $1 over the rounds' JSON files of one row ($2 = the row's file stem).
median() {
  local f v vals=()
  for f in "$OUT/$2"-r*.json; do
    v=$(jget "$f" "$1")
    [[ -n $v && $v != null ]] && vals+=("$v")
  done
  ((${#vals[@]})) || return 0
  printf '%s\n' "${vals[@]}" | sort -g | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.1f", m}'
}
rm -f "$OUT"/*.json
for round in $(seq "$REPEAT"); do
  for size in $SIZES; do
    pages=$(pages_for "$size")
    for k in $CONCURRENCY; do
      for t in grpc uds shm file; do
        stem=$t-$size-c$k
        case $t in
          grpc) args=(--target "127.0.0.1:$PORT") ;;
          uds) args=(--target "unix://$WORK/p.sock" --transport uds) ;;
          shm) args=(--target "unix://$WORK/p.sock" --transport shm --shm-socket "$WORK/shm.sock") ;;
          file) args=(--backend file --dir "$WORK/file-$stem-r$round") ;;
        esac
        echo "transport: round $round of $REPEAT, $t $size x $pages, concurrency $k" >&2
        "$BUILD/bin/prefixd-bench" --workload micro "${args[@]}" --namespace "$stem-r$round" \
          --pages "$pages" --page-bytes "$size" --concurrency "$k" --no-progress \
          --json "$OUT/$stem-r$round.json" >/dev/null
        [[ $t != file ]] || rm -rf "$WORK/file-$stem-r$round"
      done
    done
  done
done
ratio() { [[ -n $1 && -n $2 ]] && awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b }'; }
rows=()
ratios=()
declare -A get call
for size in $SIZES; do
  pages=$(pages_for "$size")
  for k in $CONCURRENCY; do
    for t in grpc uds shm file; do
      stem=$t-$size-c$k
      verified=$(for f in "$OUT/$stem"-r*.json; do jget "$f" verified_pages; done | sort -n | head -1)
      get[$t]=$(median get_MBps "$stem")
      call[$t]=$(median get_call_MBps "$stem")
      ws=$(median memcpy_working_set_MBps "$stem")
      [[ $t != shm ]] || shm_ws=$ws
      rows+=("| $size | $k | $t | $(median put_MBps "$stem") | ${get[$t]} | ${call[$t]} | $(median get_chain_p99_us "$stem") | $verified/$pages | $(median memcpy_ceiling_MBps "$stem") | $ws |")
    done
    ratios+=("| $size | $k | $(ratio "${get[shm]}" "${get[grpc]}") | $(ratio "${call[shm]}" "$shm_ws") | $(ratio "${get[shm]}" "${get[file]}") |")
  done
done
{
  echo "# Transports: gRPC (TCP, unix socket) against shared memory"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD), $(nproc) CPUs."
  echo "Rerun: \`MIB=$MIB CACHE=$CACHE CONCURRENCY=\"$CONCURRENCY\" SIZES=\"$SIZES\" REPEAT=$REPEAT bash bench/run_transport.sh\`."
  echo "Every figure is the median of $REPEAT round(s); *verified* is the lowest count of any round."
  echo "The daemon ran with \`--memory-cache $CACHE\`: gets of pages it has served once come from memory."
  echo "Chains of 16 pages; every page verified byte for byte by prefixd-bench. \`file\` is the"
  echo "in-process file-per-page tier; its gets read the page cache it just filled."
  echo "\`memcpy\` is a plain copy of pages into a shared memfd arena (the ceiling): *hot* copies one"
  echo "source page again and again (it stays in the CPU's caches: the arena's write bandwidth);"
  echo "*working set* copies the run's distinct pages (up to 1 GiB of them) in turn, read from memory as the"
  echo "daemon's memory cache is."
  echo "*get MB/s* is over the whole get phase: an Exists, the Get, and prefixd-bench comparing every"
  echo "byte, chain after chain; *in calls* is the same bytes over the time inside the Get calls"
  echo "(summed over workers ÷ workers; exact for one worker), which is what compares with memcpy."
  echo
  echo "| page | workers | transport | put MB/s | get MB/s | get MB/s in calls | get p99 per chain (µs) | verified | memcpy hot MB/s | memcpy working set MB/s |"
  echo "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|"
  printf '%s\n' "${rows[@]}"
  echo
  echo "The issue's bars, from the medians above: shared memory ≥ 2× gRPC over TCP (get MB/s) from"
  echo "1 MiB up; inside the Get calls ≥ 0.5× the working-set memcpy; ≥ 0.8× the file tier (get MB/s)."
  echo
  echo "| page | workers | shm ÷ grpc | shm in calls ÷ memcpy working set | shm ÷ file |"
  echo "|---|---:|---:|---:|---:|"
  printf '%s\n' "${ratios[@]}"
} >"$BUILD/bench/transport.md"
cat "$BUILD/bench/transport.md"
