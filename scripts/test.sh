#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs missing packages, builds (both backends when nvcc
# exists), runs ctest, checks the scripts with shellcheck and the C++/CUDA sources with clang-format,
# rehearses the GPU kit when nvcc exists (scripts/gpu-check.sh --rehearse: its packages, configure and sm_90
# build, isolated from this machine's), then builds and runs the suite again under AddressSanitizer + UBSan
# (forward thread order only: a memory error does not depend on it, and the reverse order ran in the first pass),
# then runs each libFuzzer target for 60 s (scripts/fuzz.sh; clang-14).
# Usage: scripts/test.sh [--no-sanitize] [--no-fuzz] [--no-gpu-rehearsal]
set -euo pipefail
cd "$(dirname "$0")/.."

sanitize=1
fuzz=1
gpu_rehearsal=1
for arg in "$@"; do
  case "$arg" in
    --no-sanitize) sanitize=0 ;;
    --no-fuzz) fuzz=0 ;;
    --no-gpu-rehearsal) gpu_rehearsal=0 ;;
    *) echo "usage: scripts/test.sh [--no-sanitize] [--no-fuzz] [--no-gpu-rehearsal]" >&2; exit 2 ;;
  esac
done

scripts/install-deps.sh
scripts/build.sh
ctest --test-dir build --output-on-failure --timeout 600 -j "$(nproc)"

echo "== shellcheck scripts/*.sh .ci/run =="
shellcheck scripts/*.sh .ci/run

echo "== clang-format: every C++/CUDA source matches .clang-format =="
git ls-files -z '*.h' '*.cpp' '*.cu' '*.cuh' '*.inc' | xargs -0 clang-format --dry-run -Werror

if [ "$gpu_rehearsal" = 1 ] && { command -v nvcc >/dev/null || [ -x /usr/local/cuda/bin/nvcc ]; }; then
  echo "== GPU kit rehearsal (scripts/gpu-check.sh --rehearse) =="
  command -v nvcc >/dev/null || export PATH="/usr/local/cuda/bin:$PATH"
  scripts/gpu-prep.sh
  scripts/gpu-check.sh --rehearse --deadline 2400 build-gpu-rehearsal
fi

if [ "$sanitize" = 1 ]; then
  echo "== sanitizer build (AddressSanitizer + UndefinedBehaviorSanitizer, cpu backend) =="
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGRAMGAN_SANITIZE=ON -DGRAMGAN_BENCHMARKS=OFF \
    -DGRAMGAN_TEST_THREAD_ORDERS=forward
  cmake --build build-asan -j "$(nproc)"
  ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:allocator_may_return_null=1" UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
    ctest --test-dir build-asan --output-on-failure --timeout 900 -j "$(nproc)"
fi

if [ "$fuzz" = 1 ]; then
  echo "== fuzzing (libFuzzer, ASan + UBSan): 60 s per target =="
  scripts/fuzz.sh 60
fi
