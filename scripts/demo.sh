#!/usr/bin/env bash
# The main job: installs what is missing, builds if needed, and runs gramgan.
# Until the trainer lands this prints the build and device report (gramgan info).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
[ -x build/apps/gramgan ] || scripts/build.sh
cmake --build build -j "$(nproc)" --target gramgan
build/apps/gramgan info
