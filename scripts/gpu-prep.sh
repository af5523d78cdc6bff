#!/usr/bin/env bash
# Prepares, on a machine with apt, what scripts/gpu-check.sh needs on a GPU machine that can install nothing: the
# .deb files of the libraries gramgan builds against, downloaded (not installed) into .gpu-kit/debs/, a
# git-ignored folder that travels with the working tree (name it in the device tool's `carry`). gpu-check.sh
# unpacks them into a private prefix there.
# Usage: scripts/gpu-prep.sh        (idempotent: a package already downloaded is kept)
set -euo pipefail
cd "$(dirname "$0")/.."

# The build's libraries (CMakeLists.txt's find_package calls) with the runtime libraries they link, by their
# Debian 12 names. Headers-only packages need nothing more; each -dev package's own dependencies on other -dev
# packages are listed explicitly (libboost1.74-dev holds Boost's headers and CMake package files).
packages=(
  libboost-context1.74.0 libboost-context1.74-dev libboost1.74-dev
  nlohmann-json3-dev libcli11-dev
  libgtest-dev libgmock-dev
  libbenchmark-dev libbenchmark1debian
  libpng-dev libpng16-16
  zlib1g zlib1g-dev
)

debs=.gpu-kit/debs
mkdir -p "$debs"
missing=()
for p in "${packages[@]}"; do
  compgen -G "$debs/${p}_*.deb" >/dev/null || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "gpu-prep: all ${#packages[@]} packages already in $debs"
else
  echo "gpu-prep: downloading ${missing[*]}"
  download() { (cd "$debs" && apt-get download -q "${missing[@]}"); }
  if ! download; then
    # No package lists yet (a fresh container): fetch them once, then retry.
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    download
  fi
fi
du -sh "$debs" | awk '{print "gpu-prep: " $1 " of .deb files in " $2}'
