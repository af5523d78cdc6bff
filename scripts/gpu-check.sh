#!/usr/bin/env bash
# The GPU verification kit: one command that turns a short loan of a GPU machine into a complete verdict.
#
# Usage: scripts/gpu-check.sh [--rehearse] [--deadline SECONDS] OUTDIR
#   On the GPU machine, after scripts/gpu-prep.sh ran here (its .gpu-kit/ folder travels with the tree):
#     scripts/gpu-check.sh "$OUT"
#   Here, without a GPU: --rehearse runs every stage that needs none (probe, unpack, configure and build for sm_90
#   against the private prefix, isolated from this machine's own packages, and a start of the binaries) and
#   reports the GPU stages as not run. scripts/test.sh runs the rehearsal, so the kit cannot rot.
#
# Stages run in priority order, each under its own timeout within the overall deadline (default 480 s); after
# every stage OUTDIR/summary.md is rewritten and the logs re-packed, so a run cut short still returns what it found.
# OUTDIR receives at most 8 files: summary.md, logs.tar.gz, bench_gpu.json, bench_results.md.
# Environment: GRAMGAN_GPU_WORK (scratch folder, default /tmp/gramgan-gpu-check), GRAMGAN_GPU_BENCH_FILTER
# (bench_gpu's --benchmark_filter, default all), GRAMGAN_BENCH_MIN_TIME (default 0.05 here), GRAMGAN_COMMIT (the
# commit to name in the summary when the tree has no .git).
set -uo pipefail

usage() { echo "usage: scripts/gpu-check.sh [--rehearse] [--deadline SECONDS] OUTDIR" >&2; exit 2; }
rehearse=0
deadline_s=480
outdir=""
while [ $# -gt 0 ]; do
  case "$1" in
    --rehearse) rehearse=1 ;;
    --deadline) [ $# -ge 2 ] || usage; deadline_s="$2"; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    -*) usage ;;
    *) [ -z "$outdir" ] || usage; outdir="$1" ;;
  esac
  shift
done
[ -n "$outdir" ] || usage
case "$deadline_s" in ''|*[!0-9]*) echo "gpu-check: --deadline takes whole seconds, got '$deadline_s'" >&2; exit 2 ;; esac

# The CUDA tools may be installed without being on PATH.
for dir in /usr/local/cuda/bin /usr/local/cuda/compute-sanitizer; do
  [ -d "$dir" ] && case ":$PATH:" in *":$dir:"*) ;; *) PATH="$PATH:$dir" ;; esac
done
export PATH
command -v nvcc >/dev/null || { echo "gpu-check: no nvcc on PATH or in /usr/local/cuda/bin" >&2; exit 2; }

root="$(cd "$(dirname "$0")/.." && pwd)"
mkdir -p "$outdir" || exit 2
outdir="$(cd "$outdir" && pwd)"
work="${GRAMGAN_GPU_WORK:-/tmp/gramgan-gpu-check}"
prefix="$work/prefix"
build="$work/build"
logs="$work/logs"
runs="$work/runs"
rm -rf "$logs" "$runs"
mkdir -p "$prefix" "$logs" "$runs"
start_s=$(date +%s)
deadline_at=$((start_s + deadline_s))
jobs="$(nproc)"
export root prefix build logs runs outdir jobs

# The tree may travel without its .git: GRAMGAN_COMMIT names the commit then.
commit="${GRAMGAN_COMMIT:-$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)}"
rows=()     # one summary table row per stage
notes=()    # findings, one line each
gpu_ok=0    # set by the `gpu` stage: later stages need a GPU that gramgan actually uses

write_summary() {
  {
    echo "# gramgan GPU check: $( [ "$rehearse" = 1 ] && echo rehearsal || echo run ), $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    echo "Commit $commit; $jobs cores; deadline ${deadline_s} s; elapsed $(( $(date +%s) - start_s )) s."
    echo
    echo "| stage | result | seconds | detail |"
    echo "|---|---|---|---|"
    printf '%s\n' "${rows[@]}"
    if [ ${#notes[@]} -gt 0 ]; then
      echo
      echo "## Findings"
      echo
      printf -- '- %s\n' "${notes[@]}"
    fi
    echo
    echo "Each stage's output is in logs.tar.gz (logs/STAGE.log)."
  } >"$outdir/summary.md.tmp" && mv "$outdir/summary.md.tmp" "$outdir/summary.md"
  tar -czf "$outdir/logs.tar.gz.tmp" -C "$work" logs 2>/dev/null && mv "$outdir/logs.tar.gz.tmp" "$outdir/logs.tar.gz"
}

# stage NAME TIMEOUT FUNCTION: runs FUNCTION (exported below) under min(TIMEOUT, time left) with its output in
# logs/NAME.log; its last line starting with "detail:" goes into the summary. Returns the function's status.
stage() {
  local name="$1" limit="$2" fn="$3"
  local left=$((deadline_at - $(date +%s)))
  if [ "$left" -lt 10 ]; then
    rows+=("| $name | not run: deadline | 0 | |")
    write_summary
    return 124
  fi
  [ "$limit" -gt "$left" ] && limit="$left"
  echo "== $name (up to ${limit} s)"
  local t0 status result detail
  t0=$(date +%s)
  timeout --kill-after=10 "$limit" bash -c "$fn" >"$logs/$name.log" 2>&1
  status=$?
  case "$status" in
    0) result="ok" ;;
    124|137) result="TIMEOUT after ${limit} s" ;;
    *) result="FAILED (exit $status)" ;;
  esac
  detail="$(grep '^detail:' "$logs/$name.log" | tail -1 | sed 's/^detail: *//')"
  # A stage that died before its detail line: its first error message instead.
  [ -z "$detail" ] && [ "$status" != 0 ] && detail="$(grep -i -m1 -A1 'error' "$logs/$name.log" | tr '\n' ' ' | cut -c1-200)"
  detail="${detail//|/\\|}"
  rows+=("| $name | $result | $(( $(date +%s) - t0 )) | $detail |")
  echo "   $result${detail:+: $detail}"
  write_summary
  return "$status"
}

not_run() { rows+=("| $1 | not run: $2 | 0 | |"); write_summary; }

# ---- stage bodies (each runs in its own bash, so it exports nothing back but its log) -----------------------------

probe() {
  set -x
  uname -a; cat /etc/os-release; nproc; free -g; df -h "$work"
  nvidia-smi || true
  nvidia-smi --query-gpu=name,compute_cap,memory.total,clocks.max.sm,driver_version --format=csv || true
  g++ --version; nvcc --version; cmake --version; ninja --version || true
  compute-sanitizer --version || true; ncu --version || true
  python3 -c 'import sys; print(sys.version)' || true
  python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version())' || true
  set +x
  echo "-- cuBLAS and cuDNN: headers and libraries (toolkit, system, Python wheels)"
  local sites
  sites="$(python3 -c 'import site; print(" ".join(site.getsitepackages()))' 2>/dev/null)"
  # shellcheck disable=SC2086  # $sites is a list of folders
  find /usr/local/cuda* /usr/include /usr/lib/x86_64-linux-gnu /opt $sites -maxdepth 6 \
    \( -name 'cublas_v2.h' -o -name 'libcublas.so*' -o -name 'cudnn.h' -o -name 'cudnn_version.h' -o -name 'libcudnn.so*' \) \
    2>/dev/null | sort -u
  echo "-- cached pretrained VGG-19 weights"
  # torch hub (TORCH_HOME, ~/.cache/torch/hub/checkpoints), Hugging Face (HF_HOME, ~/.cache/huggingface) and
  # folders where images keep models; bounded, since /opt holds a whole Python environment.
  # shellcheck disable=SC2086  # the folders are a list
  timeout 30 find ${TORCH_HOME:-} ${HF_HOME:-} "$HOME/.cache" /root/.cache /opt /models /data /workspace /mnt \
    -maxdepth 8 -iname '*vgg19*' \( -name '*.pth' -o -name '*.safetensors' -o -name '*.bin' -o -type d \) \
    2>/dev/null | sort -u | head -20
  echo "detail: $(nvidia-smi --query-gpu=name,compute_cap,driver_version --format=csv,noheader 2>/dev/null || echo 'no nvidia-smi'); $(g++ -dumpfullversion 2>/dev/null | sed 's/^/g++ /'); $(nvcc --version 2>/dev/null | grep -o 'release [0-9.]*')"
}

unpack() {
  set -e
  local count=0
  for deb in "$root"/.gpu-kit/debs/*.deb; do
    dpkg -x "$deb" "$prefix"
    count=$((count + 1))
  done
  [ "$count" -gt 0 ] || { echo "no .deb files in .gpu-kit/debs: run scripts/gpu-prep.sh before sending the tree"; exit 1; }
  # Absolute symlinks (libz.so -> /lib/x86_64-linux-gnu/libz.so.1.2.13) would point out of the prefix, at this
  # machine's files or at nothing: re-point them inside it.
  local fixed=0 link target
  while IFS= read -r link; do
    target="$(readlink "$link")"
    case "$target" in
      /*) ln -sfn "$prefix$target" "$link"; fixed=$((fixed + 1)) ;;
    esac
  done < <(find "$prefix" -type l)
  echo "detail: $count packages into the private prefix, $fixed absolute links re-pointed"
}

# Exported for the later stages: the folders holding cuBLAS and cuDNN (include/ and lib/), chosen from the toolkit
# first, then the system, then the Python wheels; and where their libraries load from at run time.
find_gpu_libraries() {
  local toolkit sites candidates=() dir
  toolkit="$(dirname "$(dirname "$(readlink -f "$(command -v nvcc)")")")"
  sites="$(python3 -c 'import site; print(" ".join(site.getsitepackages()))' 2>/dev/null)"
  candidates+=("$toolkit" /usr)
  for s in $sites; do
    for dir in "$s"/nvidia/*; do [ -d "$dir/include" ] && candidates+=("$dir"); done
  done
  CUBLAS_ROOT="" CUDNN_ROOT=""
  for dir in "${candidates[@]}"; do
    if [ -z "$CUBLAS_ROOT" ] && [ -f "$dir/include/cublas_v2.h" ] && compgen -G "$dir/lib*/libcublas.so*" >/dev/null; then
      CUBLAS_ROOT="$dir"
    fi
    if [ -z "$CUDNN_ROOT" ] && [ -f "$dir/include/cudnn.h" ] && compgen -G "$dir/lib*/libcudnn.so*" >/dev/null; then
      CUDNN_ROOT="$dir"
    fi
    # Debian/Ubuntu packages: headers in /usr/include, libraries in the multiarch folder.
    if [ "$dir" = /usr ] && [ -z "$CUDNN_ROOT" ] && [ -f /usr/include/cudnn.h ] \
       && compgen -G "/usr/lib/x86_64-linux-gnu/libcudnn.so*" >/dev/null; then
      CUDNN_ROOT=/usr
    fi
  done
  export CUBLAS_ROOT CUDNN_ROOT
  local path="$prefix/usr/lib/x86_64-linux-gnu:$prefix/lib/x86_64-linux-gnu"
  for dir in "$CUBLAS_ROOT" "$CUDNN_ROOT"; do
    [ -n "$dir" ] || continue
    for lib in "$dir"/lib64 "$dir"/lib "$dir"/lib/x86_64-linux-gnu; do [ -d "$lib" ] && path="$path:$lib"; done
  done
  export LD_LIBRARY_PATH="$path${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
}

configure() {
  set -e
  echo "CUBLAS_ROOT=$CUBLAS_ROOT CUDNN_ROOT=$CUDNN_ROOT"
  local generator=(-G "Unix Makefiles") make_program
  if make_program="$(command -v ninja)"; then generator=(-G Ninja -DCMAKE_MAKE_PROGRAM="$make_program"); fi
  rm -rf "$build"
  # Isolation: the system prefixes (/usr, /) are ignored by every find_* call, so each library comes from the
  # private prefix or the configure fails naming it: a .deb missing from gpu-prep.sh shows here, not there.
  cmake -S "$root" -B "$build" "${generator[@]}" \
    -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 \
    -DCMAKE_CXX_COMPILER="$(command -v g++)" -DCMAKE_CUDA_COMPILER="$(readlink -f "$(command -v nvcc)")" \
    -DCMAKE_PREFIX_PATH="$prefix/usr;$prefix" \
    -DCMAKE_SYSTEM_IGNORE_PREFIX_PATH="/usr;/" -DCMAKE_IGNORE_PREFIX_PATH="/usr;/" \
    -DCMAKE_IGNORE_PATH="/usr/lib/x86_64-linux-gnu;/lib/x86_64-linux-gnu;/usr/include;/usr/lib/x86_64-linux-gnu/cmake" \
    -DGRAMGAN_CUDA=ON -DGRAMGAN_REQUIRE_GPU_BASELINES=ON -DGRAMGAN_TESTS=ON -DGRAMGAN_BENCHMARKS=ON
  grep -q 'GRAMGAN_HAVE_CUDA' "$build/CMakeCache.txt" || true
  echo "detail: sm_90, $(sed -n 's/^CMAKE_GENERATOR:INTERNAL=//p' "$build/CMakeCache.txt"), cuBLAS $(sed -n 's/^GRAMGAN_CUBLAS_LIBRARY:FILEPATH=//p' "$build/CMakeCache.txt"), cuDNN $(sed -n 's/^GRAMGAN_CUDNN_LIBRARY:FILEPATH=//p' "$build/CMakeCache.txt")"
}

build_targets() {
  set -e
  cmake --build "$build" -j "$jobs" --target gramgan gramgan_tests bench_gpu
  echo "detail: gramgan, gramgan_tests and bench_gpu built on $jobs cores"
}

binaries_start() {
  set -e
  "$build/apps/gramgan" info
  "$build/bench/bench_gpu" --benchmark_list_tests | wc -l | sed 's/^/bench_gpu benchmarks: /'
  "$build/tests/gramgan_tests" --gtest_list_tests | grep -c '^  ' | sed 's/^/test cases: /'
  echo "detail: the binaries load their libraries from the prefix and start"
}

gpu() {
  "$build/apps/gramgan" info | tee "$logs/info.txt"
  if grep -q 'compute capability 9\.0' "$logs/info.txt"; then
    echo "detail: $(grep '^GPU' "$logs/info.txt" | head -1)"
  else
    echo "detail: gramgan does not see an sm_90 GPU: every later stage would skip its cuda cases and pass"
    exit 1
  fi
}

cuda_tests() {
  GRAMGAN_SYNC_LAUNCHES=1 "$build/tests/gramgan_tests" --gtest_filter='*Cuda*:*cuda*:*Gpu*:*GPU*' \
    --gtest_output="xml:$logs/cuda_tests.xml"
  local status=$?
  if [ ! -f "$logs/cuda_tests.xml" ]; then
    echo "detail: the test binary died (exit $status) in $(grep '^\[ RUN' "$logs/cuda_tests.log" | tail -1 | cut -c14-)"
    return 1
  fi
  python3 - "$logs/cuda_tests.xml" <<'PY'
import sys, xml.etree.ElementTree as ET
cases = ET.parse(sys.argv[1]).getroot().iter("testcase")
counts = {"run": 0, "failed": 0, "skipped": 0}
failed = []
for c in cases:
    counts["run"] += 1
    if c.find("failure") is not None:
        counts["failed"] += 1
        failed.append(c.get("classname") + "." + c.get("name"))
    elif c.get("result") == "skipped" or c.find("skipped") is not None:
        counts["skipped"] += 1
print("failed cases: " + ", ".join(failed))
print(f"detail: {counts['run']} cuda cases, {counts['failed']} failed, {counts['skipped']} skipped"
      + (f" ({', '.join(failed[:6])})" if failed else ""))
PY
  return "$status"
}

gradcheck() {
  local status=0
  for dtype in double float; do
    "$build/apps/gramgan" gradcheck --op all --device cuda --dtype "$dtype" | tee "$logs/gradcheck_$dtype.txt" || status=1
  done
  echo "detail: double: $(tail -1 "$logs/gradcheck_double.txt"); float: $(tail -1 "$logs/gradcheck_float.txt")"
  return "$status"
}

train_runs() {
  # fp32 on both devices: the cpu run is the reference of the cuda ones within 1e-3, which tf32 (cuda's default)
  # would not meet, and log.csv's tf32 column would differ; the tf32 kernels are compared with the simulator's
  # model bit for bit by the *Tf32Cuda tests instead.
  local common=(--content "$root/demo/content" --style "$root/demo/style/opencv_vangogh_starry_night.png" --vgg random
                --size 64 --batch 2 --steps 4 --sample-every 0 --checkpoint-every 0 --seed 7 --precision fp32)
  local status=0
  "$build/apps/gramgan" train "${common[@]}" --device cuda --out "$runs/cuda_a" || status=1
  "$build/apps/gramgan" train "${common[@]}" --device cuda --out "$runs/cuda_b" || status=1
  "$build/apps/gramgan" train "${common[@]}" --device cpu --out "$runs/cpu" || status=1
  [ "$status" = 0 ] || { echo "detail: a training run failed"; return 1; }
  local bitwise tolerance
  python3 "$root/scripts/gpu_compare_runs.py" --bitwise "$runs/cuda_a" "$runs/cuda_b" | tee "$logs/compare_cuda_cuda.txt"
  bitwise=${PIPESTATUS[0]}
  python3 "$root/scripts/gpu_compare_runs.py" --rtol 1e-3 "$runs/cuda_a" "$runs/cpu" | tee "$logs/compare_cuda_cpu.txt"
  tolerance=${PIPESTATUS[0]}
  echo "detail: 64x64 batch 2, 4 steps: cuda vs cuda $(tail -1 "$logs/compare_cuda_cuda.txt" | cut -c1-60); cuda vs cpu $(tail -1 "$logs/compare_cuda_cpu.txt" | cut -c1-90)"
  [ "$bitwise" = 0 ] && [ "$tolerance" = 0 ]
}

train_speed() {
  set -e
  "$build/apps/gramgan" train --content "$root/demo/content" --style "$root/demo/style/opencv_vangogh_starry_night.png" \
    --vgg random --size 256 --batch 4 --steps 12 --sample-every 0 --checkpoint-every 0 --device cuda --out "$runs/speed"
  # The first steps include allocation and cuDNN-free warm-up; the median of the last 8 is the figure.
  python3 - "$runs/speed/log.csv" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
seconds = sorted(float(r["step_seconds"]) for r in rows[-8:])
median = statistics.median(seconds)
print(f"step seconds (last 8): {seconds}")
print(f"detail: 256x256 batch 4: {median * 1000:.1f} ms per step (median of the last 8 of {len(rows)}), {4 / median:.1f} images/s")
PY
}

# compute-sanitizer over the op tests and a one-step training run, with the exact-size allocator.
sanitize() {
  local tool="$1" status=0
  local filter='Conv2dCuda.*:GramCuda.*:GramMseCuda.*:TvCuda.*:InstanceNormGpu.*:AdainCuda.*:PoolGpu.*:ElementwiseGpu.*:ReduceCuda.*:AdamCuda.*'
  export GRAMGAN_EXACT_ALLOCATOR=1
  compute-sanitizer --tool "$tool" --error-exitcode 86 --print-limit 30 \
    "$build/tests/gramgan_tests" --gtest_filter="$filter" || status=$?
  local ops=$status
  compute-sanitizer --tool "$tool" --error-exitcode 86 --print-limit 30 \
    "$build/apps/gramgan" train --content "$root/demo/content" --style "$root/demo/style/opencv_vangogh_starry_night.png" \
    --vgg random --size 32 --batch 1 --steps 1 --sample-every 0 --checkpoint-every 0 --device cuda \
    --out "$runs/sanitize_$tool" || status=$?
  echo "detail: $tool: op tests exit $ops, one training step exit $status (86: errors reported)"
  [ "$ops" = 0 ] && [ "$status" = 0 ]
}

bench() {
  set -e
  export GRAMGAN_BENCH_MIN_TIME="${GRAMGAN_BENCH_MIN_TIME:-0.05}"
  "$build/bench/bench_gpu" --benchmark_filter="${GRAMGAN_GPU_BENCH_FILTER:-.}" \
    --benchmark_out="$outdir/bench_gpu.json" --benchmark_out_format=json
  python3 "$root/bench/results_table.py" "$outdir/bench_gpu.json" >"$outdir/bench_results.md"
  echo "detail: $(grep -c '"name"' "$outdir/bench_gpu.json") benchmarks at min_time ${GRAMGAN_BENCH_MIN_TIME} s; tables in bench_results.md"
}

export -f probe unpack find_gpu_libraries configure build_targets binaries_start gpu cuda_tests gradcheck \
  train_runs train_speed sanitize bench

# ---- the run -------------------------------------------------------------------------------------------------------

stage probe 60 probe
stage unpack 60 unpack
find_gpu_libraries
[ -n "$CUBLAS_ROOT" ] || notes+=("cuBLAS not found (toolkit, /usr, wheels): configure will fail in this mode")
[ -n "$CUDNN_ROOT" ] || notes+=("cuDNN not found (toolkit, /usr, wheels): configure will fail in this mode")
built=0
# Measured: 2 cores (the rehearsal in CI, no compiler cache) build in about 200 s; 16 cores take well under 300.
build_limit=300
[ "$rehearse" = 1 ] && build_limit=1800
if stage configure 120 configure && stage build "$build_limit" build_targets; then built=1; fi
if [ "$built" = 1 ]; then stage start 60 binaries_start; else not_run start "no build"; fi

gpu_stages=(cuda_tests gradcheck train_runs train_speed bench sanitize_memcheck sanitize_synccheck sanitize_initcheck
            sanitize_racecheck)
if [ "$rehearse" = 1 ]; then
  for s in gpu "${gpu_stages[@]}"; do not_run "$s" "rehearsal (no GPU)"; done
elif [ "$built" = 0 ]; then
  for s in gpu "${gpu_stages[@]}"; do not_run "$s" "no build"; done
else
  stage gpu 60 gpu && gpu_ok=1
  if [ "$gpu_ok" = 1 ]; then
    stage cuda_tests 150 cuda_tests
    stage gradcheck 90 gradcheck
    stage train_runs 120 train_runs
    stage train_speed 90 train_speed
    # The benchmark before the memory checkers: a deadline cuts the last of these, and the checkers' reports are
    # the likelier to need a second, longer run anyway.
    stage bench 150 bench
    for tool in memcheck synccheck initcheck racecheck; do stage "sanitize_$tool" 75 "sanitize $tool"; done
  else
    for s in "${gpu_stages[@]}"; do not_run "$s" "gramgan sees no sm_90 GPU"; done
  fi
fi

elapsed=$(( $(date +%s) - start_s ))
notes+=("finished in $elapsed s")
write_summary
echo "gpu-check: summary in $outdir/summary.md ($elapsed s)"
# The verdict: every stage that ran passed.
! grep -q 'FAILED\|TIMEOUT' "$outdir/summary.md"
