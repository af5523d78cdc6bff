#!/usr/bin/env python3
"""Markdown tables for bench/RESULTS.md from bench_gpu's JSON output.

Usage: build/bench/bench_gpu --benchmark_out=bench_gpu.json --benchmark_out_format=json
       bench/results_table.py bench_gpu.json >> bench/RESULTS.md   (then edit the notes)
"""
import json
import re
import sys


def rows(benchmarks):
    """{(op, shape): {variant: benchmark}} in the order the suite ran."""
    table = {}
    for b in benchmarks:
        m = re.match(r"BM_(\w+)/(.+)/([a-z_0-9]+)/min_time", b["name"])
        if m:
            table.setdefault((m.group(1), m.group(2)), {})[m.group(3)] = b
    return table


def fmt(value, digits=2):
    return "" if value is None else f"{value:.{digits}f}"


def time_us(b):
    if b is None or b.get("error_occurred"):
        return None
    scale = {"ns": 1e-3, "us": 1.0, "ms": 1e3, "s": 1e6}[b["time_unit"]]
    return b["real_time"] * scale


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    with open(sys.argv[1]) as f:
        data = json.load(f)
    ctx = data["context"]
    print(f"### {ctx.get('gpu', '?')}, {ctx.get('date', '?')}\n")
    print(f"Compute capability {ctx.get('gpu_compute_capability')}, {ctx.get('gpu_sms')} SMs at "
          f"{ctx.get('gpu_clock_mhz')} MHz; peaks used: {ctx.get('gpu_fp32_peak_tflops')} TFLOP/s FP32, "
          f"{ctx.get('gpu_tf32_peak_tflops', '?')} TFLOP/s TF32 tensor (the *Tf32 rows' % peak), "
          f"{ctx.get('gpu_dram_peak_gbps')} GB/s DRAM; cuBLAS {ctx.get('cublas_version')}, cuDNN "
          f"{ctx.get('cudnn_version')}.\n")
    table = rows(data["benchmarks"])

    print("| Op | Shape | ours us | ours TFLOP/s | % peak | baseline | baseline us | baseline TFLOP/s | ours/baseline |")
    print("|---|---|---|---|---|---|---|---|---|")
    for (op, shape), variants in table.items():
        ours = variants.get("gramgan")
        if ours is None or "TFLOP/s" not in ours:
            continue
        base_name = next((v for v in variants if v != "gramgan"), None)
        if op == "GramForward" and {"cublas_sgemm", "cublas_ssyrk"} <= variants.keys():
            base_name = min(("cublas_sgemm", "cublas_ssyrk"), key=lambda v: time_us(variants[v]) or float("inf"))
        base = variants.get(base_name) if base_name else None
        ratio = ours.get("of_cudnn", ours.get("of_cublas"))
        label = base_name or ""
        if base is not None and "algo" in base:
            label += f" (algo {int(base['algo'])})"
        print(f"| {op} | {shape} | {fmt(time_us(ours), 1)} | {fmt(ours.get('TFLOP/s'))} | "
              f"{fmt(ours.get('pct_tf32_peak', ours.get('pct_fp32_peak')), 1)} | {label} | {fmt(time_us(base), 1)} | "
              f"{fmt(base.get('TFLOP/s') if base else None)} | {fmt(ratio)} |")

    print("\n| Op | Shape | ours us | ours GB/s | % DRAM peak | memcpy GB/s | ours/memcpy |")
    print("|---|---|---|---|---|---|---|")
    for (op, shape), variants in table.items():
        ours = variants.get("gramgan")
        if ours is None or "GB/s" not in ours:
            continue
        copy = variants.get("memcpy_d2d")
        print(f"| {op} | {shape} | {fmt(time_us(ours), 1)} | {fmt(ours.get('GB/s'), 0)} | "
              f"{fmt(ours.get('pct_dram_peak'), 1)} | {fmt(copy.get('GB/s') if copy else None, 0)} | "
              f"{fmt(ours.get('of_memcpy'))} |")

    skipped = [b["name"] for b in data["benchmarks"] if b.get("error_occurred")]
    if skipped:
        print("\nSkipped with an error: " + ", ".join(skipped))


if __name__ == "__main__":
    main()
