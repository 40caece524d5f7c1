#!/usr/bin/env bash
# A/B of the shared-memory get path between two builds: `bench/ab_shm.sh BUILD_A BUILD_B`.
# Each round starts each build's own prefixd in turn (--memory-cache 2GiB, a side socket) and
# runs its prefixd-bench's micro workload over shared memory for a few rows (1 MiB pages with
# 1 and 4 workers, 64 KiB and 8 MiB pages with 1), so that a slow minute of this shared VM
# lands on both builds. Prints, per build and row, the median over the rounds of get MB/s
# (whole phase), get MB/s inside the Get calls, and the working-set memcpy ceiling.
# Environment: ROUNDS=3, MIB=512 (MiB of pages per row), DIR (scratch; default ./var), AB_ROWS
# (other rows than those above, as size:pages:workers separated by commas), A_FLAGS / B_FLAGS
# (extra prefixd-bench flags for one side: `A_FLAGS=--no-shm-side-calls bench/ab_shm.sh build
# build` compares gets on gRPC with side calls in one build).
set -euo pipefail
[[ $# -eq 2 ]] || { echo "usage: $0 BUILD_A BUILD_B" >&2; exit 2; }
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
MIB=${MIB:-512}
DIR=${DIR:-$(pwd)/var}
mkdir -p "$DIR"
OUT=$(mktemp -d "$DIR/ab-shm.XXXXXX")
PID=""
cleanup() {
  [[ -z $PID ]] || { kill -TERM "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; }
  rm -rf "$OUT"
}
trap cleanup EXIT
ROWS=("1MiB $MIB 1" "1MiB $MIB 4" "64KiB $((MIB * 16)) 1" "8MiB $((MIB / 8)) 1")
if [[ -n ${AB_ROWS:-} ]]; then  # e.g. AB_ROWS="1MiB:512:4,64KiB:8192:1" (size:pages:workers)
  IFS=, read -ra spec <<<"$AB_ROWS"
  ROWS=()
  for r in "${spec[@]}"; do ROWS+=("${r//:/ }"); done
fi
jget() { sed -n "s/^  \"$2\": \(.*\),\$/\1/p" "$1"; }
for round in $(seq "$ROUNDS"); do
  for side in a b; do
    build=$1
    read -ra extra <<<"${A_FLAGS:-}"
    if [[ $side == b ]]; then
      build=$2
      read -ra extra <<<"${B_FLAGS:-}"
    fi
    work=$OUT/$side-r$round
    mkdir -p "$work"
    "$build/bin/prefixd" --listen 127.0.0.1:0 --unix "$work/p.sock" --shm-socket "$work/shm.sock" \
      --data-dir "$work/data" --memory-cache 2GiB --log-level warn >"$work/log" 2>&1 &
    PID=$!
    for _ in $(seq 100); do [[ -S $work/shm.sock && -S $work/p.sock ]] && break; sleep 0.1; done
    for row in "${ROWS[@]}"; do
      read -r size pages k <<<"$row"
      echo "ab_shm: round $round of $ROUNDS, $side ($build): $size x $pages, $k workers" >&2
      "$build/bin/prefixd-bench" --workload micro --target "unix://$work/p.sock" --transport shm \
        --shm-socket "$work/shm.sock" --namespace "n-$size-$k" --pages "$pages" \
        --page-bytes "$size" --concurrency "$k" --no-progress ${extra[@]+"${extra[@]}"} \
        --json "$OUT/$side-$size-c$k-r$round.json" >/dev/null
    done
    kill -TERM "$PID"
    wait "$PID" || true
    PID=""
    rm -rf "$work"
  done
done
median() { sort -g | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.0f", m}'; }
printf '| build | page | workers | get MB/s | in calls MB/s | memcpy working set MB/s |\n'
printf '|---|---|---:|---:|---:|---:|\n'
for row in "${ROWS[@]}"; do
  read -r size pages k <<<"$row"
  for side in a b; do
    build=$1
    read -ra extra <<<"${A_FLAGS:-}"
    if [[ $side == b ]]; then
      build=$2
      read -ra extra <<<"${B_FLAGS:-}"
    fi
    files=("$OUT/$side-$size-c$k"-r*.json)
    col() { for f in "${files[@]}"; do jget "$f" "$1"; done | median; }
    printf '| %s | %s | %s | %s | %s | %s |\n' "$build${extra[*]:+ ${extra[*]}}" "$size" "$k" "$(col get_MBps)" \
      "$(col get_call_MBps)" "$(col memcpy_working_set_MBps)"
  done
done
