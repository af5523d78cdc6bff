#!/usr/bin/env bash
# Configures and builds gramgan into build/ (Release; the CUDA backend too when nvcc is found).
# Usage: scripts/build.sh [--target TARGET] [extra cmake -D options]
#   --target gramgan builds only the CLI (what scripts/demo.sh runs); without it, every target (tests, benchmarks).
# -DGRAMGAN_CUDA=ON is passed first, so a build folder configured without the backend gets it back unless the
# options given say otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v nvcc >/dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then
  export PATH="/usr/local/cuda/bin:$PATH"
fi
if command -v nvcc >/dev/null; then export CUDACXX="${CUDACXX:-$(command -v nvcc)}"; fi

target=()
if [ "${1:-}" = --target ]; then
  target=(--target "$2")
  shift 2
fi
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DGRAMGAN_CUDA=ON "$@"
cmake --build build -j "$(nproc)" "${target[@]}"
