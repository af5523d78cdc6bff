#!/usr/bin/env bash
# Builds the libFuzzer targets (clang-14, ASan + UBSan, cpu backend) into build-fuzz/ and runs each for a bounded
# time on a scratch copy of its seed corpus (fuzz/corpus/<target>/ is never modified). A crash, leak, timeout or
# out-of-memory leaves its input in build-fuzz/artifacts/<target>/ and makes the script exit 1.
# Usage: scripts/fuzz.sh [seconds_per_target]   (default 60)
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-60}"
case "$seconds" in '' | *[!0-9]*) echo "usage: scripts/fuzz.sh [seconds_per_target]" >&2; exit 2 ;; esac
targets=(png safetensors cli)

scripts/install-deps.sh --fuzz
CC=clang-14 CXX=clang++-14 cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGRAMGAN_FUZZ=ON \
  -DGRAMGAN_CUDA=OFF -DGRAMGAN_TESTS=OFF -DGRAMGAN_BENCHMARKS=OFF
cmake --build build-fuzz -j "$(nproc)" --target "${targets[@]/#/fuzz_}"

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
failed=()
summary=()
for target in "${targets[@]}"; do
  artifacts="build-fuzz/artifacts/$target"
  rm -rf "$artifacts"
  mkdir -p "$artifacts" "$scratch/$target"
  cp fuzz/corpus/"$target"/* "$scratch/$target/"
  echo "== fuzz_$target: ${seconds} s =="
  log="build-fuzz/fuzz_$target.log"
  status=0
  ASAN_OPTIONS="detect_leaks=1" UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
    "build-fuzz/fuzz/fuzz_$target" "$scratch/$target" "-dict=fuzz/$target.dict" -max_total_time="$seconds" \
    -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=1024 -print_final_stats=1 -artifact_prefix="$artifacts/" >"$log" 2>&1 || status=$?
  tail -n 25 "$log"
  runs="$(grep -o 'Done [0-9]* runs in [0-9]* second' "$log" | tail -n 1 || true)"
  if [ "$status" -ne 0 ] || [ -n "$(ls -A "$artifacts")" ]; then
    failed+=("$target")
    summary+=("fuzz_$target: FAILED (exit $status; inputs in $artifacts/; log $log)")
  else
    summary+=("fuzz_$target: ${runs:-no run count found}(s), no findings")
  fi
done

echo "== fuzz summary =="
printf '%s\n' "${summary[@]}"
[ ${#failed[@]} -eq 0 ]
