#!/usr/bin/env bash
# The GPU checks, for a machine with an NVIDIA GPU and its driver (under 5 minutes): the GPU
# tests (which must run, not skip), then the bandwidth benchmark for each page size — device ->
# pinned arena -> daemon -> disk and back, and the CUDA IPC path, against cudaMemcpyAsync
# between device memory and the pinned arena as the ceiling. Writes RESULTS/gpu-check.json
# (one object per page size, one per line) and the tests' logs.
#
#   tests/gpu/check.sh                      builds with CUDA into BUILD (build-gpu) first
#   PREBUILT=gpu-pack tests/gpu/check.sh    runs what tests/gpu/pack.sh packed here instead
# Environment: SIZES="65536 1048576 8388608" (page bytes), MIB=512 (MiB of pages per size and
# round), ROUNDS=3, CACHE=2GiB (the daemon's --memory-cache: gets are served from memory),
# RESULTS (default: the build folder).
set -euo pipefail
cd "$(dirname "$0")/../.."
SIZES=${SIZES:-65536 1048576 8388608}
MIB=${MIB:-512}
ROUNDS=${ROUNDS:-3}
nvidia-smi -L || { echo "check.sh: no GPU visible (nvidia-smi)" >&2; exit 2; }
# The CUDA runtime is linked statically: the driver must support the toolkit's version, or every
# GPU test skips with cudaErrorInsufficientDriver (a wasted run). Say which driver is here.
echo "check.sh: driver $(nvidia-smi --query-gpu=driver_version --format=csv,noheader | head -1)," \
  "CUDA $(nvidia-smi | sed -n 's/.*CUDA Version: *\([0-9.]*\).*/\1/p' | head -1) at most"
if [[ -n ${PREBUILT:-} ]]; then
  PREBUILT=$(cd "$PREBUILT" && pwd)
  BIN=$PREBUILT/bin TESTS=$PREBUILT/tests
  export LD_LIBRARY_PATH=$PREBUILT/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  export PREFIXD_BIN_DIR=$BIN  # where the end-to-end tests find the daemon
  RESULTS=${RESULTS:-$PREBUILT}
else
  BUILD=${BUILD:-build-gpu}
  mkdir -p "$BUILD"
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPREFIXD_CUDA=ON \
    >"$BUILD/cmake.log" 2>&1 || { cat "$BUILD/cmake.log" >&2; echo "check.sh: cmake failed" >&2; exit 1; }
  grep -E "prefixd:" "$BUILD/cmake.log" || true
  grep -q "gpu_cuda" "$BUILD/build.ninja" || { echo "check.sh: CMake did not find CUDA" >&2; exit 1; }
  ninja -C "$BUILD" gpu_test e2e_shm_test e2e_device_test prefixd prefixd-gpu-bandwidth
  BIN=$BUILD/bin TESTS=$BUILD/tests RESULTS=${RESULTS:-$BUILD}
fi
mkdir -p "$RESULTS"
"$BIN/prefixd" --version
# The tests that need a GPU (they skip without one); a skip means no usable GPU: a failure here.
status=0
"$TESTS/gpu_test" 2>&1 | tee "$RESULTS/gpu_test.log" || status=1
"$TESTS/e2e_shm_test" --gtest_filter='*Device*' 2>&1 | tee "$RESULTS/gpu_e2e.log" || status=1
"$TESTS/e2e_device_test" --gtest_filter='*RoundTrip*' 2>&1 | tee -a "$RESULTS/gpu_e2e.log" ||
  status=1
if grep -q "SKIPPED \]" "$RESULTS/gpu_test.log" "$RESULTS/gpu_e2e.log"; then
  echo "check.sh: GPU tests skipped: $(grep -h -A1 Skipped "$RESULTS"/gpu_*.log | head -2)" >&2
  status=1
fi
# A filter that matches nothing runs no test and passes: each run must have passed some.
for log in "$RESULTS/gpu_test.log" "$RESULTS/gpu_e2e.log"; do
  grep -q "PASSED  \] [1-9]" "$log" || { echo "check.sh: no test passed in $log" >&2; status=1; }
done
WORK=$(mktemp -d)
PID=""
trap '[[ -z $PID ]] || kill $PID 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"' EXIT
"$BIN/prefixd" --listen 127.0.0.1:0 --unix "$WORK/p.sock" --shm-socket "$WORK/shm.sock" \
  --data-dir "$WORK/data" --memory-cache "${CACHE:-2GiB}" --log-level warn &
PID=$!
for _ in $(seq 100); do [[ -S $WORK/shm.sock ]] && break; sleep 0.1; done
: >"$RESULTS/gpu-check.json"
for size in $SIZES; do
  pages=$((MIB * 1048576 / size))
  "$BIN/prefixd-gpu-bandwidth" "unix://$WORK/p.sock" "$WORK/shm.sock" "$size" "$pages" "$ROUNDS" \
    | tr -d '\n' | tee -a "$RESULTS/gpu-check.json" || status=1
  echo | tee -a "$RESULTS/gpu-check.json"
done
exit $status
