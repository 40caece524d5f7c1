#!/usr/bin/env bash
# The GPU checks and the transport benchmark on a GPU machine without the build dependencies,
# from what tests/gpu/pack.sh packed (gpu-pack.tar.xz carried there, unpacked in the repo root):
#   tar -xJf gpu-pack.tar.xz && OUT=results bash tests/gpu/remote.sh
# Writes the logs, gpu-check.json, transport.md and the transport JSON files (a .tgz) into $OUT;
# the transport benchmark runs only when the GPU checks pass, for at most TRANSPORT_S seconds.
set -u
OUT=${OUT:-results}
mkdir -p "$OUT" && OUT=$(cd "$OUT" && pwd)
uname -r; grep PRETTY /etc/os-release; ldd --version | head -1; nproc; free -g | head -2; df -h . | tail -1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
export LD_LIBRARY_PATH=$PWD/gpu-pack/lib
if ! gpu-pack/bin/prefixd --version; then ldd gpu-pack/bin/prefixd | grep -v "=> /"; exit 3; fi
SECONDS=0
timeout 300 env PREBUILT=gpu-pack RESULTS=$OUT bash tests/gpu/check.sh >$OUT/check.log 2>&1
rc=$?
echo "check.sh rc=$rc in ${SECONDS}s"
grep -E "^\[  (FAILED|SKIPPED|PASSED) |OK \]|Failure|error" $OUT/check.log | head -40
cat $OUT/gpu-check.json
[ "$rc" = 0 ] || { tail -30 $OUT/check.log; exit $rc; }
SECONDS=0
timeout ${TRANSPORT_S:-280} env BUILD=gpu-pack MIB=512 CACHE=2GiB CONCURRENCY="1 4" SIZES="64KiB 1MiB 8MiB" \
  REPEAT=3 bash bench/run_transport.sh >$OUT/transport.log 2>&1
echo "transport rc=$? in ${SECONDS}s"
cp gpu-pack/bench/transport.md $OUT/ 2>/dev/null && tail -12 $OUT/transport.md
tar -czf $OUT/transport-json.tgz -C gpu-pack/bench transport
