#!/usr/bin/env bash
# Packs a CUDA build for a GPU machine that lacks this project's build dependencies (a CUDA
# image with no gRPC, RocksDB or Abseil): the binaries check.sh runs, stripped, and every
# shared library they load from this machine except the C and C++ runtimes (glibc, libstdc++,
# libgcc_s), which the GPU machine's own, as new or newer (Debian 12's: glibc 2.36, GCC 12),
# provide: ours on its library path would also be loaded by its tools. The CUDA runtime is
# linked in statically; the driver library comes from the GPU machine.
#
#   tests/gpu/pack.sh                 (BUILD=build-dev PACK=gpu-pack; writes PACK and PACK.tar.xz)
#   then there, in the repo root: tar -xJf gpu-pack.tar.xz && bash tests/gpu/remote.sh
#   (or only the GPU checks: PREBUILT=gpu-pack tests/gpu/check.sh)
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build-dev}
PACK=${PACK:-gpu-pack}
grep -q "gpu_cuda" "$BUILD/build.ninja" || { echo "pack.sh: $BUILD has no CUDA build" >&2; exit 1; }
ninja -C "$BUILD" gpu_test e2e_shm_test e2e_device_test prefixd prefixctl prefixd-bench \
  prefixd-gpu-bandwidth >/dev/null
rm -rf "$PACK"
mkdir -p "$PACK/bin" "$PACK/tests" "$PACK/lib"
for b in prefixd prefixctl prefixd-bench prefixd-gpu-bandwidth; do
  strip -o "$PACK/bin/$b" "$BUILD/bin/$b"
done
for t in gpu_test e2e_shm_test e2e_device_test; do strip -o "$PACK/tests/$t" "$BUILD/tests/$t"; done
# The C library's parts must match the GPU machine's loader; its C++ runtime is newer.
ldd "$PACK"/bin/* "$PACK"/tests/* | awk '$2 == "=>" && $3 ~ /^\// {print $3}' | sort -u |
  grep -Ev '/(libc|libm|libpthread|libdl|librt|libresolv|ld-linux-x86-64|libstdc\+\+|libgcc_s)\.so' |
  while read -r lib; do cp -L "$lib" "$PACK/lib/"; done
tar -cJf "$PACK.tar.xz" "$PACK"
du -sh "$PACK" "$PACK.tar.xz"
