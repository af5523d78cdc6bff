#!/usr/bin/env bash
# The main job: installs what is missing, builds if needed, and runs a short demo on the committed images in demo/
# (about 35 s on a 2-core machine without a GPU; seconds on a GPU). Results land in demo-out/:
#   demo-out/transfer_coffee_starry_night.png   gramgan transfer: the photo's pixels optimised towards the style
#   demo-out/run/                               gramgan train: a short run at 64x64 (log.csv, samples/, weights)
#   demo-out/stylized/*.png                     gramgan stylize: the demo photos through the trained generator
# VGG-19: weights/vgg19.safetensors when present (weights/fetch_vgg19.sh), otherwise --vgg random, which runs the
# same losses on random features: expect colour and texture noise from the painting, not brush strokes.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
# Only what the demo runs: the gramgan target (no tests or benchmarks), with the CUDA backend for the GPU this
# machine has, or without it when there is none. A build folder configured before is reused as it is.
if [ -f build/CMakeCache.txt ]; then
  cmake --build build -j "$(nproc)" --target gramgan
else
  cuda=(-DGRAMGAN_CUDA=OFF)
  arch=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -n 1 | tr -d '. ' || true)
  if [[ "$arch" =~ ^[0-9]+$ ]]; then cuda=(-DGRAMGAN_CUDA=ON "-DCMAKE_CUDA_ARCHITECTURES=$arch"); fi
  scripts/build.sh --target gramgan "${cuda[@]}"
fi
gramgan=build/apps/gramgan
style=demo/style/opencv_vangogh_starry_night.png

vgg=weights/vgg19.safetensors
[ -f "$vgg" ] || vgg=random
out=demo-out
rm -rf "$out"
mkdir -p "$out"
start=$SECONDS

echo "== 1/3 transfer: demo/content/skimage_coffee.png in the style of The Starry Night (128 px, 60 steps)"
"$gramgan" transfer --content demo/content/skimage_coffee.png --style "$style" --vgg "$vgg" --size 128 --steps 60 \
  --out "$out/transfer_coffee_starry_night.png"

echo "== 2/3 train: a short GAN run on demo/content at 64x64 (30 iterations, narrow networks)"
"$gramgan" train --content demo/content --style "$style" --vgg "$vgg" --size 64 --batch 1 --steps 30 \
  --g-width 16 --d-width 16 --sample-every 10 --checkpoint-every 0 --out "$out/run"

echo "== 3/3 stylize: the demo photos through the generator just trained (full size)"
"$gramgan" stylize --model "$out/run/generator.safetensors" --in demo/content/*.png --out "$out/stylized"

echo
echo "demo finished in $((SECONDS - start)) s. Open:"
echo "  $out/transfer_coffee_starry_night.png"
echo "  $out/run/samples/ (content | generated | style crop, every 10 iterations)"
echo "  $out/stylized/"
[ "$vgg" = random ] && echo "(VGG-19 was random: run weights/fetch_vgg19.sh for real style transfer)"
exit 0
