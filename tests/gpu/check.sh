#!/usr/bin/env bash
# The GPU checks, for a machine with an NVIDIA GPU, its driver and the CUDA toolkit (under
# 5 minutes): builds with CUDA into build-gpu, runs the GPU tests (which must run, not skip),
# and the bandwidth benchmark device -> pinned arena -> daemon -> disk and back, against
# cudaMemcpy into the pinned arena as the ceiling. Writes build-gpu/gpu-check.json.
#
#   tests/gpu/check.sh            (BUILD=build-gpu PAGE_BYTES=1048576 PAGES=512)
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build-gpu}
PAGE_BYTES=${PAGE_BYTES:-1048576}
PAGES=${PAGES:-512}
nvidia-smi -L || { echo "check.sh: no GPU visible (nvidia-smi)" >&2; exit 2; }
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPREFIXD_CUDA=ON \
  | grep -E "prefixd:" || true
grep -q "gpu_cuda" "$BUILD/build.ninja" || { echo "check.sh: CMake did not find CUDA" >&2; exit 1; }
ninja -C "$BUILD" gpu_test e2e_shm_test e2e_device_test prefixd prefixd-gpu-bandwidth
# A skip means no usable GPU: a failure here.
"$BUILD/tests/gpu_test" | tee "$BUILD/gpu_test.log"
"$BUILD/tests/e2e_shm_test" --gtest_filter='*Device*' | tee "$BUILD/gpu_e2e.log"
"$BUILD/tests/e2e_device_test" --gtest_filter='*RoundTrip*' | tee -a "$BUILD/gpu_e2e.log"
if grep -q SKIPPED "$BUILD/gpu_test.log" "$BUILD/gpu_e2e.log"; then
  echo "check.sh: GPU tests skipped: $(grep -h -A1 Skipped "$BUILD"/gpu_*.log | head -2)" >&2
  exit 1
fi
WORK=$(mktemp -d)
trap 'kill $PID 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"' EXIT
"$BUILD/bin/prefixd" --listen 127.0.0.1:0 --unix "$WORK/p.sock" --shm-socket "$WORK/shm.sock" \
  --data-dir "$WORK/data" --log-level warn &
PID=$!
for _ in $(seq 100); do [[ -S $WORK/shm.sock ]] && break; sleep 0.1; done
"$BUILD/bin/prefixd-gpu-bandwidth" "unix://$WORK/p.sock" "$WORK/shm.sock" "$PAGE_BYTES" "$PAGES" \
  | tee "$BUILD/gpu-check.json"
