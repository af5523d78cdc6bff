#!/usr/bin/env bash
# Downloads the VGG-19 ImageNet weights the perceptual losses use: timm's vgg19.tv_in1k model.safetensors (the
# original torchvision weights, BSD-3-Clause, about 575 MB), and verifies the published SHA-256.
#
#   weights/fetch_vgg19.sh [DEST]        DEST defaults to weights/vgg19.safetensors
#
# The download goes to DEST.part (resumed by a re-run after an interruption) and becomes DEST only once its
# SHA-256 matches. A complete download with the wrong checksum is deleted and the script exits non-zero.
# GRAMGAN_VGG19_URL overrides the address (a mirror); the checksum does not change.
set -euo pipefail

readonly DEFAULT_URL="https://huggingface.co/timm/vgg19.tv_in1k/resolve/main/model.safetensors"
# The file's Git LFS object id on the hub (sha256), as listed on timm/vgg19.tv_in1k, commit 128d470 "Add model".
readonly EXPECTED_SHA256="11aea017b543ff59233749d8f1cf544cda749378f5790d2fedab841fb86b7669"

usage() { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; }

case "${1:-}" in
  -h | --help) usage; exit 0 ;;
esac
if [[ $# -gt 1 ]]; then
  usage >&2
  exit 2
fi

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dest="${1:-$script_dir/vgg19.safetensors}"
part="$dest.part"
url="${GRAMGAN_VGG19_URL:-$DEFAULT_URL}"

sha256_of() {
  if command -v sha256sum > /dev/null; then
    sha256sum "$1" | cut -d' ' -f1
  elif command -v shasum > /dev/null; then
    shasum -a 256 "$1" | cut -d' ' -f1
  else
    echo "fetch_vgg19.sh: need sha256sum or shasum to verify the download" >&2
    exit 1
  fi
}

if [[ -e "$dest" ]]; then
  actual="$(sha256_of "$dest")"
  if [[ "$actual" == "$EXPECTED_SHA256" ]]; then
    echo "$dest: already present, sha256 verified"
    exit 0
  fi
  echo "fetch_vgg19.sh: $dest exists but its sha256 is $actual, expected $EXPECTED_SHA256;" \
    "remove it and run again" >&2
  exit 1
fi

mkdir -p "$(dirname "$dest")"
echo "downloading $url"
echo "        to $part"
downloaded=1
if command -v curl > /dev/null; then
  curl --fail --location --retry 3 --continue-at - --output "$part" "$url" || downloaded=0
elif command -v wget > /dev/null; then
  wget --tries=3 --continue --output-document="$part" "$url" || downloaded=0
else
  echo "fetch_vgg19.sh: need curl or wget" >&2
  exit 1
fi

# A re-run after a finished but unverified download may see the server refuse the empty range: judge by the hash.
actual=""
[[ -f "$part" ]] && actual="$(sha256_of "$part")"
if [[ "$actual" == "$EXPECTED_SHA256" ]]; then
  mv -f "$part" "$dest"
  echo "$dest: sha256 verified ($EXPECTED_SHA256)"
  exit 0
fi
if [[ "$downloaded" == 0 ]]; then
  if [[ -s "$part" ]]; then
    echo "fetch_vgg19.sh: download failed; the partial file $part is kept, run again to resume" >&2
  else
    rm -f "$part"
    echo "fetch_vgg19.sh: download failed" >&2
  fi
  exit 1
fi
rm -f "$part"
echo "fetch_vgg19.sh: checksum mismatch: got ${actual:-nothing}, expected $EXPECTED_SHA256;" \
  "the download was deleted" >&2
exit 1
