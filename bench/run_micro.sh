#!/usr/bin/env bash
# The first benchmark (`make bench`): a throwaway prefixd on loopback, prefixd-bench's micro
# workload with 1 MiB pages (write, read back, verify every byte), and the disk's own sequential
# ceiling measured on the same file system in the same run.
#
# Writes build/bench/micro-1MiB.json (prefixd-bench's figures) and build/bench/micro-1MiB.md
# (a summary with the command lines). Exit status: prefixd-bench's (0 = every byte verified),
# or 1 when the daemon or the disk measurement could not run.
#
# Environment (all optional):
#   PAGES=1000          pages of 1 MiB to write and verify
#   CONCURRENCY=1       prefixd-bench --concurrency
#   BENCH_DIR=./var     parent of the temporary data directory (the file system measured)
#   DISK_MIB=1024       MiB written then read by the disk-ceiling measurement
#   BUILD=build         the build directory holding bin/prefixd, bin/prefixctl, bin/prefixd-bench
#   BENCH_TIMEOUT=900   seconds allowed to prefixd-bench
#   PREFIXD=$BUILD/bin/prefixd   the daemon binary (e.g. to compare two builds)
#   DISK_TOOL=auto      fio when installed, else dd; or force one: fio, dd
set -euo pipefail

cd "$(dirname "$0")/.."
REPO=$(pwd)
BUILD=${BUILD:-build}
PAGES=${PAGES:-1000}
CONCURRENCY=${CONCURRENCY:-1}
BENCH_DIR=${BENCH_DIR:-$REPO/var}
DISK_MIB=${DISK_MIB:-1024}
PREFIXD=${PREFIXD:-$BUILD/bin/prefixd}
DISK_TOOL=${DISK_TOOL:-auto}
BENCH_TIMEOUT=${BENCH_TIMEOUT:-900}
OUT_DIR=$BUILD/bench
JSON=$OUT_DIR/micro-1MiB.json
MD=$OUT_DIR/micro-1MiB.md

for bin in "$PREFIXD" "$BUILD/bin/prefixctl" "$BUILD/bin/prefixd-bench"; do
  [[ -x $bin ]] || { echo "run_micro.sh: $bin is missing (make build)" >&2; exit 1; }
done
mkdir -p "$OUT_DIR" "$BENCH_DIR"
WORK=$(mktemp -d "$BENCH_DIR/prefixd-bench.XXXXXX")
DATA=$WORK/data
DAEMON_PID=""
log() { echo "run_micro.sh: $*" >&2; }

stop_daemon() {
  [[ -n $DAEMON_PID ]] || return 0
  kill -TERM "$DAEMON_PID" 2>/dev/null || true
  for _ in $(seq 1 150); do  # up to 15 s for a clean shutdown
    kill -0 "$DAEMON_PID" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$DAEMON_PID" 2>/dev/null; then
    log "daemon $DAEMON_PID ignored SIGTERM for 15 s; killing it"
    kill -KILL "$DAEMON_PID" 2>/dev/null || true
  fi
  wait "$DAEMON_PID" 2>/dev/null || true
  DAEMON_PID=""
}
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
  stop_daemon
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the daemon, on a free loopback port -------------------------------------------------------
PORT=""
for _ in 1 2 3 4 5; do
  try=$((20000 + RANDOM % 20000))
  # Skip a port something already listens on (prefixd would refuse to start there).
  if (exec 3<>"/dev/tcp/127.0.0.1/$try") 2>/dev/null; then continue; fi
  rm -rf "$DATA"
  "$PREFIXD" --listen "127.0.0.1:$try" --data-dir "$DATA" --log-level warn \
    >"$WORK/prefixd.log" 2>&1 &
  DAEMON_PID=$!
  for _ in $(seq 1 100); do  # up to 10 s to serve
    kill -0 "$DAEMON_PID" 2>/dev/null || break
    if "$BUILD/bin/prefixctl" --target "127.0.0.1:$try" health >/dev/null 2>&1; then
      PORT=$try
      break
    fi
    sleep 0.1
  done
  [[ -n $PORT ]] && break
  stop_daemon
  log "prefixd did not serve on port $try; trying another"
done
if [[ -z $PORT ]]; then
  log "could not start prefixd; its log:"
  cat "$WORK/prefixd.log" >&2
  exit 1
fi
TARGET=127.0.0.1:$PORT
DAEMON_CMD="$PREFIXD --listen $TARGET --data-dir <tmp>/data --log-level warn"

# --- prefixd-bench --------------------------------------------------------------------------------
BENCH_ARGS=(--target "$TARGET" --workload micro --pages "$PAGES" --page-bytes 1MiB
  --concurrency "$CONCURRENCY" --phase all --seed 1 --json "$JSON" --progress)
log "prefixd-bench ${BENCH_ARGS[*]}"
rm -f "$JSON" "$MD"  # never summarise an earlier run's figures
bench_rc=0
timeout --foreground "$BENCH_TIMEOUT" "$BUILD/bin/prefixd-bench" "${BENCH_ARGS[@]}" || bench_rc=$?
if [[ $bench_rc != 0 ]]; then
  log "prefixd-bench exited $bench_rc; the daemon's log ends:"
  tail -n 20 "$WORK/prefixd.log" >&2
fi
if [[ ! -s $JSON ]]; then  # interrupted, timed out (124) or killed: nothing to summarise
  log "prefixd-bench wrote no results; no summary"
  exit $((bench_rc ? bench_rc : 1))
fi
stop_daemon
rm -rf "$DATA"

# --- the disk's own ceiling, same file system ------------------------------------------------------
DISK_FILE=$WORK/disk-ceiling.dat
FS_TYPE=$(df -PT "$WORK" | awk 'NR == 2 { print $2 }')
DEVICE=$(df -PT "$WORK" | awk 'NR == 2 { print $1 }')
disk_write="n/a" disk_read="n/a" disk_tool="none" disk_note="" write_cmd="" read_cmd=""
if [[ $DISK_TOOL == fio || ($DISK_TOOL == auto && -n $(command -v fio)) ]]; then
  disk_tool=$(fio --version)
  direct=1
  fio_common=(--filename="$DISK_FILE" --bs=1M --size="${DISK_MIB}MiB" --ioengine=psync --iodepth=1
    --runtime=120 --output-format=terse --terse-version=3)
  # Terse v3 fields: 7 = read KiB/s, 48 = write KiB/s.
  if ! w=$(fio --name=seqwrite --rw=write --direct=1 --end_fsync=1 "${fio_common[@]}" 2>"$WORK/fio.err"); then
    direct=0
    disk_note="O_DIRECT refused on $FS_TYPE; buffered I/O with fsync (reads may come from cache)"
    w=$(fio --name=seqwrite --rw=write --direct=0 --end_fsync=1 "${fio_common[@]}")
  fi
  r=$(fio --name=seqread --rw=read --direct=$direct "${fio_common[@]}")
  disk_write=$(awk -F';' '{ printf "%.1f", $48 * 1024 / 1e6 }' <<<"$w")
  disk_read=$(awk -F';' '{ printf "%.1f", $7 * 1024 / 1e6 }' <<<"$r")
  write_cmd="fio --name=seqwrite --rw=write --direct=$direct --end_fsync=1 ${fio_common[*]}"
  read_cmd="fio --name=seqread --rw=read --direct=$direct ${fio_common[*]}"
else
  disk_tool="dd"
  count=$DISK_MIB
  dd_rate() {  # bytes and seconds from dd's last line -> MB/s
    LC_ALL=C awk '/copied/ { for (i = 1; i <= NF; i++) if ($i == "s,") s = $(i - 1); b = $1 }
                  END { if (s > 0) printf "%.1f", b / 1e6 / s; else print "n/a" }'
  }
  write_cmd="dd if=/dev/zero of=<tmp>/disk-ceiling.dat bs=1M count=$count oflag=direct conv=fsync"
  read_cmd="dd if=<tmp>/disk-ceiling.dat of=/dev/null bs=1M iflag=direct"
  if ! disk_write=$(LC_ALL=C dd if=/dev/zero of="$DISK_FILE" bs=1M count="$count" oflag=direct \
                      conv=fsync 2>&1 | dd_rate); then
    disk_write="n/a" disk_note="dd with oflag=direct failed on $FS_TYPE"
  elif ! disk_read=$(LC_ALL=C dd if="$DISK_FILE" of=/dev/null bs=1M iflag=direct 2>&1 | dd_rate); then
    disk_read="n/a" disk_note="dd with iflag=direct failed on $FS_TYPE"
  fi
fi
rm -f "$DISK_FILE"

# --- the summary ----------------------------------------------------------------------------------
jget() { sed -n "s/^  \"$1\": \(.*\)\$/\1/p" "$JSON" | sed 's/,$//; s/^"//; s/"$//; s/^null$/n\/a/'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.0f %%", 100 * a / b; else print "n/a" }'; }
put=$(jget put_MBps) get=$(jget get_MBps)
RERUN="PAGES=$PAGES"
[[ $CONCURRENCY == 1 ]] || RERUN+=" CONCURRENCY=$CONCURRENCY"
[[ $PREFIXD == "$BUILD/bin/prefixd" ]] || RERUN+=" PREFIXD=$PREFIXD"
[[ $DISK_TOOL == auto ]] || RERUN+=" DISK_TOOL=$DISK_TOOL"
[[ $DISK_MIB == 1024 ]] || RERUN+=" DISK_MIB=$DISK_MIB"
{
  echo "# prefixd micro benchmark: 1 MiB pages"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD 2>/dev/null || echo ' (uncommitted changes)'),"
  echo "$(nproc) CPUs, $(uname -sr), data on $FS_TYPE ($DEVICE). Rerun: \`$RERUN make bench\`."
  echo
  echo "| | MB/s | of the disk's ceiling |"
  echo "|---|---:|---:|"
  echo "| prefixd put ($PAGES pages, chains of $(jget chain_pages), concurrency $CONCURRENCY) | $put | $(ratio "$put" "$disk_write") |"
  echo "| prefixd get + verify | $get | $(ratio "$get" "$disk_read") |"
  echo "| disk sequential write, 1 MiB O_DIRECT ($disk_tool) | $disk_write | |"
  echo "| disk sequential read, 1 MiB O_DIRECT ($disk_tool) | $disk_read | |"
  echo
  echo "Exists per chain of $(jget chain_pages) pages: p50 $(jget exists_p50_us) µs, p99 $(jget exists_p99_us) µs, p99.9 $(jget exists_p999_us) µs."
  echo "Put per chain: p50 $(jget put_chain_p50_us) µs, p99 $(jget put_chain_p99_us) µs. Get per chain: p50 $(jget get_chain_p50_us) µs, p99 $(jget get_chain_p99_us) µs."
  echo
  echo "Verified $(jget verified_pages) of $PAGES pages byte for byte: $(jget missing_pages) missing, $(jget corrupt_pages) corrupt, $(jget unverified_pages) unverified; $(jget errors) errors."
  [[ $(jget errors) == 0 || -z $(jget errors) ]] || echo "First error: \`$(jget first_error)\`."
  [[ $bench_rc == 0 ]] || echo "**prefixd-bench exited $bench_rc.**"
  [[ -z $disk_note ]] || echo "Note: $disk_note."
  echo "prefixd's put returns once pages are in RocksDB (memtables and blob files, no fsync), and"
  echo "its get reads pages written seconds before (likely from the page cache); the disk figures"
  echo "bypass the cache (O_DIRECT). Both sides share this machine's CPUs."
  echo
  echo "Commands (<tmp> is a fresh directory under $BENCH_DIR, removed afterwards):"
  echo
  echo '```'
  echo "$DAEMON_CMD"
  echo "$BUILD/bin/prefixd-bench ${BENCH_ARGS[*]}"
  echo "${write_cmd//$WORK/<tmp>}"
  echo "${read_cmd//$WORK/<tmp>}"
  echo '```'
} >"$MD"
cat "$MD"
exit "$bench_rc"
