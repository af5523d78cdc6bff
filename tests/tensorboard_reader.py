#!/usr/bin/env python3
"""TensorBoard's own reader over the event files of a real cpu training run (issue 15).

Trains a tiny run with the built `gramgan` (32x32, narrow networks, random VGG), interrupts it the way a crash
does (a checkpoint older than the events written after it), resumes it, and reads the run folder with
TensorBoard's EventAccumulator and EventFileLoader. Checks: every log.csv column is a scalar with the same values
(to float32, TensorBoard's simple_value) at every step exactly once; the sample strips are images of the strip's
size; every parameter of G and D and its gradient has a histogram whose count is the parameter's size (from the
checkpoint's header); activation statistics of every layer at sample steps, zero fractions for ReLU layers only.
Run by ctest as `tensorboard_reader`, inside the venv scripts/pyenv.sh makes.
"""

import argparse
import csv
import json
import math
import os
import shutil
import struct
import subprocess
import sys
import tempfile

from tensorboard.backend.event_processing import event_accumulator
from tensorboard.backend.event_processing import event_file_loader

SIZE = 32
STRIP_WIDTH = 3 * SIZE + 2 * 4  # content | output | style, 4-pixel gaps (RunFolder::write_sample)
EVERY = 2  # samples, histograms and checkpoints


def fail(message):
    print("tensorboard_reader: FAIL: " + message, file=sys.stderr)
    sys.exit(1)


def check(condition, message):
    if not condition:
        fail(message)


def train(gramgan, demo, run, steps, resume=False):
    args = [gramgan, "train", "--out", run, "--steps", str(steps), "--device", "cpu"]
    if resume:
        args += ["--resume"]
    else:
        args += ["--content", os.path.join(demo, "content"),
                 "--style", os.path.join(demo, "style", "opencv_vangogh_starry_night.png"),
                 "--vgg", "random", "--size", str(SIZE), "--batch", "1",
                 "--g-width", "4", "--g-blocks", "1", "--d-width", "4",
                 "--style-layers", "relu1_1", "--content-layers", "relu1_2",
                 "--sample-every", str(EVERY), "--checkpoint-every", str(EVERY),
                 "--histogram-every", str(EVERY)]
    result = subprocess.run(args, capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        fail("%s exited %d:\n%s" % (" ".join(args), result.returncode, result.stderr))
    check("WARNING" not in result.stderr.replace("WARNING: --vgg random", ""),
          "unexpected warning from %s:\n%s" % (" ".join(args), result.stderr))


def safetensors_sizes(path):
    """The element count of every tensor in a safetensors file, from its JSON header."""
    with open(path, "rb") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(length))
    return {key: math.prod(entry["shape"]) for key, entry in header.items() if key != "__metadata__"}


def png_size(data):
    check(data[:8] == b"\x89PNG\r\n\x1a\n", "an image is not a PNG")
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--gramgan", required=True)
    parser.add_argument("--demo", required=True, help="the demo/ folder (content photos and a painting)")
    parser.add_argument("--keep", help="train in this folder and keep it (default: a temporary folder)")
    args = parser.parse_args()

    work = args.keep or tempfile.mkdtemp(prefix="gramgan-tensorboard-")
    run = os.path.join(work, "run")
    shutil.rmtree(run, ignore_errors=True)
    try:
        # Steps 1-4 (checkpoint at 4), kept aside; steps 5-6 (checkpoint at 6); then the step-4 checkpoint comes
        # back, as after a crash that left events of steps 5-6 but not their checkpoint; resume to 8.
        train(args.gramgan, args.demo, run, 4)
        shutil.copy(os.path.join(run, "checkpoint.safetensors"), os.path.join(work, "checkpoint4"))
        train(args.gramgan, args.demo, run, 6, resume=True)
        shutil.copy(os.path.join(work, "checkpoint4"), os.path.join(run, "checkpoint.safetensors"))
        train(args.gramgan, args.demo, run, 8, resume=True)
        verify(run)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def verify(run):
    steps = list(range(1, 9))
    sample_steps = list(range(EVERY, 9, EVERY))

    files = sorted(f for f in os.listdir(run) if f.startswith("events.out.tfevents."))
    check(len(files) == 3, "expected 3 event files (a new one per start), found %s" % files)
    per_file_steps = []
    for name in files:
        events = list(event_file_loader.EventFileLoader(os.path.join(run, name)).Load())
        check(events and events[0].file_version == "brain.Event:2",
              name + ": the first record is not file_version brain.Event:2")
        per_file_steps.append(sorted({e.step for e in events[1:]}))
    # The first run's file ends at the checkpoint; the second's steps were cut back to the restored step 4.
    check(per_file_steps == [[1, 2, 3, 4], [], [5, 6, 7, 8]],
          "steps per event file (after the cut-back) are %s" % per_file_steps)

    acc = event_accumulator.EventAccumulator(
        run, size_guidance={event_accumulator.SCALARS: 0, event_accumulator.IMAGES: 0,
                            event_accumulator.HISTOGRAMS: 0})
    acc.Reload()
    tags = acc.Tags()

    # Scalars: every log.csv column, at every step once, with log.csv's values.
    with open(os.path.join(run, "log.csv")) as f:
        rows = list(csv.DictReader(f))
    check([int(r["step"]) for r in rows] == steps, "log.csv steps are %s" % [r["step"] for r in rows])
    columns = [c for c in rows[0].keys() if c != "step"]
    by_column = {t.split("/")[-1]: t for t in tags["scalars"] if not t.startswith("activations/")}
    check(sorted(by_column) == sorted(columns),
          "scalar tags %s do not match log.csv columns %s" % (sorted(by_column), columns))
    compared = 0
    for column in columns:
        events = acc.Scalars(by_column[column])
        check([e.step for e in events] == steps,
              "%s: steps %s, expected %s once each" % (by_column[column], [e.step for e in events], steps))
        for row, event in zip(rows, events):
            expected = struct.unpack("f", struct.pack("f", float(row[column])))[0]
            check(math.isclose(event.value, expected, rel_tol=1e-6, abs_tol=1e-30),
                  "%s at step %d: %r in the events, %r in log.csv" % (column, event.step, event.value, row[column]))
            compared += 1

    # Images: the sample strips.
    check(tags["images"] == ["samples"], "image tags are %s" % tags["images"])
    images = acc.Images("samples")
    check([i.step for i in images] == sample_steps, "sample image steps are %s" % [i.step for i in images])
    for image in images:
        check((image.width, image.height) == (STRIP_WIDTH, SIZE),
              "image at step %d is %dx%d" % (image.step, image.width, image.height))
        check(png_size(image.encoded_image_string) == (STRIP_WIDTH, SIZE), "the PNG's own size differs")

    # Histograms: every parameter of G and D and its gradient, counts = the parameter's size.
    sizes = {k: n for k, n in safetensors_sizes(os.path.join(run, "checkpoint.safetensors")).items()
             if k.startswith(("G.", "D."))}
    expected_tags = sorted(["params/" + k for k in sizes] + ["grads/" + k for k in sizes])
    check(sorted(tags["histograms"]) == expected_tags,
          "histogram tags differ from the checkpoint's parameters: %s"
          % sorted(set(tags["histograms"]) ^ set(expected_tags)))
    for tag in expected_tags:
        events = acc.Histograms(tag)
        check([e.step for e in events] == sample_steps, "%s: steps %s" % (tag, [e.step for e in events]))
        for e in events:
            h = e.histogram_value
            check(h.num == sizes[tag.split("/", 1)[1]], "%s at step %d: num %g, size %d"
                  % (tag, e.step, h.num, sizes[tag.split("/", 1)[1]]))
            check(sum(h.bucket) == h.num and h.min <= h.max, "%s at step %d: buckets do not add up" % (tag, e.step))

    # Activation statistics at sample steps; zero fractions of ReLU layers (G's) only, D's are leaky.
    activations = [t for t in tags["scalars"] if t.startswith("activations/")]
    layers = sorted({t.split("/")[1] for t in activations})
    check(any(l.startswith("G.") for l in layers) and any(l.startswith("D.") for l in layers),
          "activation layers are %s" % layers)
    for tag in activations:
        check([e.step for e in acc.Scalars(tag)] == sample_steps, tag + ": not at the sample steps only")
    zero = [t.split("/")[1] for t in activations if t.endswith("/zero_fraction")]
    check("G.head" in zero and not any(l.startswith("D.") for l in zero), "zero fractions for %s" % zero)
    for tag in activations:
        if tag.endswith("/zero_fraction"):
            check(all(0 <= e.value <= 1 for e in acc.Scalars(tag)), tag + ": not a fraction")

    print("tensorboard_reader: %d event files, steps per file %s" % (len(files), per_file_steps))
    print("tensorboard_reader: %d scalar tags from log.csv, steps 1-8 once each, %d values equal to log.csv"
          % (len(columns), compared))
    print("tensorboard_reader: %d sample images %dx%d at steps %s"
          % (len(images), STRIP_WIDTH, SIZE, sample_steps))
    print("tensorboard_reader: %d histogram tags (%d parameters of G and D, values and gradients), counts = sizes"
          % (len(expected_tags), len(sizes)))
    print("tensorboard_reader: %d activation scalars over %d layers, zero fractions for %d ReLU layers"
          % (len(activations), len(layers), len(zero)))
    print("tensorboard_reader: OK")


if __name__ == "__main__":
    main()
