#!/usr/bin/env python3
"""Compares two gramgan training runs: their checkpoints' tensors and their log.csv losses.

Usage: scripts/gpu_compare_runs.py --bitwise RUN_A RUN_B      every tensor byte and every logged loss identical
       scripts/gpu_compare_runs.py --rtol R RUN_A RUN_B       each within R of the larger magnitude

Prints one line per check and a verdict; exit status 0 when the runs agree, 1 when they do not, 2 on bad input.
The checkpoint's metadata (the run's configuration, with its paths) is not compared, nor log.csv's step_seconds.
Standard library only: it runs on the GPU kit's machine and here alike.
"""
import argparse
import array
import csv
import json
import math
import struct
import sys
from pathlib import Path

FORMATS = {"F32": "f", "F64": "d", "I64": "q", "I32": "i", "U8": "B"}


def read_safetensors(path):
    """{name: (dtype, shape, raw bytes)} of a .safetensors file."""
    data = Path(path).read_bytes()
    (header_len,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + header_len])
    body = data[8 + header_len:]
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        tensors[name] = (entry["dtype"], entry["shape"], body[begin:end])
    return tensors


def values(dtype, raw):
    if dtype not in FORMATS:
        return None
    a = array.array(FORMATS[dtype])
    a.frombytes(raw)
    return a


def read_log(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def relative_gap(a, b):
    """Largest |a - b| over the larger of max|a|, max|b| (0 for equal arrays; inf where only one is NaN)."""
    scale = max([abs(x) for x in a] + [abs(x) for x in b] + [0.0])
    gap = 0.0
    for x, y in zip(a, b):
        if math.isnan(x) or math.isnan(y):
            if not (math.isnan(x) and math.isnan(y)):
                return math.inf
            continue
        gap = max(gap, abs(x - y))
    return gap / scale if scale > 0 else gap


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--bitwise", action="store_true")
    mode.add_argument("--rtol", type=float)
    parser.add_argument("run_a")
    parser.add_argument("run_b")
    args = parser.parse_args()
    runs = [Path(args.run_a), Path(args.run_b)]
    for run in runs:
        for name in ("checkpoint.safetensors", "log.csv"):
            if not (run / name).is_file():
                print(f"compare: {run / name} is missing", file=sys.stderr)
                return 2

    a, b = (read_safetensors(run / "checkpoint.safetensors") for run in runs)
    if sorted(a) != sorted(b):
        print(f"tensors differ in names: {sorted(set(a) ^ set(b))}")
        return 1
    failures = 0
    worst = (0.0, "")
    for name in sorted(a):
        (dtype_a, shape_a, raw_a), (dtype_b, shape_b, raw_b) = a[name], b[name]
        if (dtype_a, shape_a) != (dtype_b, shape_b):
            print(f"{name}: {dtype_a}{shape_a} against {dtype_b}{shape_b}")
            failures += 1
            continue
        if args.bitwise:
            if raw_a != raw_b:
                print(f"{name}: bytes differ")
                failures += 1
            continue
        va, vb = values(dtype_a, raw_a), values(dtype_b, raw_b)
        gap = (0.0 if raw_a == raw_b else math.inf) if va is None else relative_gap(va, vb)
        if gap > worst[0]:
            worst = (gap, name)
        if not gap <= args.rtol:
            print(f"{name}: relative gap {gap:.3g} > {args.rtol:g}")
            failures += 1

    log_a, log_b = read_log(runs[0] / "log.csv"), read_log(runs[1] / "log.csv")
    if len(log_a) != len(log_b):
        print(f"log.csv: {len(log_a)} rows against {len(log_b)}")
        failures += 1
    columns = [c for c in (log_a[0].keys() if log_a else []) if c not in ("step", "step_seconds")]
    for column in columns:
        xa = [float(row[column]) for row in log_a]
        xb = [float(row[column]) for row in log_b]
        if args.bitwise:
            if [row[column] for row in log_a] != [row[column] for row in log_b]:
                print(f"log.csv {column}: {xa} against {xb}")
                failures += 1
            continue
        gap = relative_gap(xa, xb)
        if gap > worst[0]:
            worst = (gap, "log.csv " + column)
        if not gap <= args.rtol:
            print(f"log.csv {column}: relative gap {gap:.3g} > {args.rtol:g}: {xa} against {xb}")
            failures += 1

    largest = f"largest gap {worst[0]:.3g} in {worst[1]}" if worst[1] else "all equal"
    what = "bitwise" if args.bitwise else f"within rtol {args.rtol:g} ({largest})"
    checked = f"{len(a)} tensors, {len(columns)} log columns over {len(log_a)} steps"
    print(f"{'AGREE' if failures == 0 else 'DIFFER'} {what}: {checked}, {failures} mismatches")
    return 0 if failures == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
