#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages gramgan builds with, skipping those already present (idempotent).
# The CUDA toolkit is optional and not installed here: with nvcc on PATH (or in /usr/local/cuda) the CUDA
# backend is built too.
# Usage: scripts/install-deps.sh [--fuzz]   (--fuzz: also clang and libFuzzer, for scripts/fuzz.sh)
set -euo pipefail

packages=(cmake g++ make pkg-config libpng-dev zlib1g-dev libgtest-dev libgmock-dev libbenchmark-dev
          libboost-context-dev nlohmann-json3-dev libcli11-dev shellcheck clang-format python3 python3-venv chromium)
[ "${1:-}" = "--fuzz" ] && packages+=(clang-14 libclang-rt-14-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all packages present"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
