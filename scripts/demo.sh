#!/usr/bin/env bash
# The main job: installs what is missing, builds if needed, and runs a short demo on the committed images in demo/
# (about 35 s on a 2-core machine without a GPU; seconds on a GPU). Results land in demo-out/:
#   demo-out/transfer_coffee_starry_night.png   gramgan transfer: the photo's pixels optimised towards the style
#   demo-out/run/                               gramgan train: a short run at 64x64 (log.csv, samples/, weights)
#   demo-out/stylized/*.png                     gramgan stylize: the demo photos through the trained generator
#   demo-out/adain_grid.png                     arbitrary style (--arch adain), when ../shared/data is there: 4 photos
#                                               x 4 paintings held out of training, from a 300-iteration run
#                                               (about 7 minutes on 2 cores; demo-out/adain_grid_train.png: 4
#                                               training paintings)
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

shared=../shared/data
steps=3
[ -d "$shared/style/256" ] && [ -d "$shared/content" ] && steps=4

echo "== 1/$steps transfer: demo/content/skimage_coffee.png in the style of The Starry Night (128 px, 60 steps)"
"$gramgan" transfer --content demo/content/skimage_coffee.png --style "$style" --vgg "$vgg" --size 128 --steps 60 \
  --out "$out/transfer_coffee_starry_night.png"

echo "== 2/$steps train: a short GAN run on demo/content at 64x64 (30 iterations, narrow networks)"
"$gramgan" train --content demo/content --style "$style" --vgg "$vgg" --size 64 --batch 1 --steps 30 \
  --g-width 16 --d-width 16 --sample-every 10 --checkpoint-every 0 --out "$out/run"

echo "== 3/$steps stylize: the demo photos through the generator just trained (full size)"
"$gramgan" stylize --model "$out/run/generator.safetensors" --in demo/content/*.png --out "$out/stylized"

if [ "$steps" = 4 ]; then
  # Arbitrary style: one model for a folder of paintings, tried on paintings it never saw. These four are held out
  # (no other copy of them is in the folder); the rest of ../shared/data/style/256 is the training set.
  held_out=(gh_kandinsky_composition_vii gh_picabia_udnie gh_mondrian_composition gh_turner_shipwreck_of_the_minotaur)
  seen=(opencv_vangogh_starry_night darknet_munch_the_scream gh_hokusai_great_wave gh_monet_etretat)
  photos=(skimage_coffee skimage_astronaut gcompris_explore_monuments_colosseum kodak_kodim23)
  mkdir -p "$out/paintings"
  for painting in "$shared"/style/256/*.png; do
    name=$(basename "$painting" .png)
    [[ " ${held_out[*]} " == *" $name "* ]] || cp "$painting" "$out/paintings/"
  done
  echo "== 4/$steps arbitrary style: --arch adain on $(find "$out/paintings" -name '*.png' | wc -l) paintings at 64x64" \
    "(${ADAIN_STEPS:-300} iterations), then 4 photos x 4 held-out paintings"
  "$gramgan" train --arch adain --content "$shared/content" --style "$out/paintings" --vgg "$vgg" --size 64 \
    --batch 2 --steps "${ADAIN_STEPS:-300}" --decoder-width 16 --d-width 16 --sample-every 10 --checkpoint-every 0 \
    --out "$out/adain_run"
  photo_files=()
  for name in "${photos[@]}"; do photo_files+=("$shared/content/$name.png"); done
  # stylize_grid NAME PAINTING...: every photo with every painting into $out/NAME/ and the grid $out/NAME.png.
  stylize_grid() {
    local name=$1 painting style_files=()
    shift
    for painting in "$@"; do style_files+=("$shared/style/256/$painting.png"); done
    "$gramgan" stylize --model "$out/adain_run/generator.safetensors" --style "${style_files[@]}" \
      --in "${photo_files[@]}" --out "$out/$name" --grid "$out/$name.png" --losses
  }
  stylize_grid adain_grid "${held_out[@]}"
  stylize_grid adain_grid_train "${seen[@]}"
fi

echo
echo "demo finished in $((SECONDS - start)) s. Open:"
echo "  $out/transfer_coffee_starry_night.png"
echo "  $out/run/samples/ (content | generated | style crop, every 10 iterations)"
echo "  $out/stylized/"
[ "$steps" = 4 ] && echo "  $out/adain_grid.png (rows: photos; columns: held-out paintings; per-image losses above)"
[ "$vgg" = random ] && echo "(VGG-19 was random: run weights/fetch_vgg19.sh for real style transfer)"
exit 0
