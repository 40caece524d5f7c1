#!/usr/bin/env bash
# Installs the Debian 12 packages prefixd needs to build and test, if any are missing.
# `install-deps.sh bench` adds what the benchmark suite needs (fio, gnuplot).
# Idempotent and quiet when everything is present.
set -euo pipefail
extra=()
[ "${1:-}" = bench ] && extra=(fio gnuplot-nox python3)
pkgs=("${extra[@]}" build-essential cmake ninja-build pkg-config
      libgrpc++-dev libgrpc-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
      librocksdb-dev libabsl-dev libspdlog-dev libfmt-dev libssl-dev
      libgtest-dev libgmock-dev grpc-proto)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "install-deps: installing ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
