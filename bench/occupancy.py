#!/usr/bin/env python3
"""Registers, shared memory, local memory and theoretical occupancy of every kernel in kernels/*.cu, for sm_90.

Covers the tf32 tensor-core kernels too (conv2d_*_tf32_kernel, gram_tiles_tf32_kernel): they need sm_80 or later
(kernels/mma.cuh refuses older architectures).

Compiles each kernel source for one architecture to a cubin with `nvcc -Xptxas -v` (no GPU needed, about a minute
on 2 cores) and reads ptxas's resource report. Occupancy follows the CUDA occupancy calculator with the sm_90
limits below: the smallest of the blocks per SM allowed by threads, registers, shared memory and the block limit.

Usage: bench/occupancy.py [--arch 90] [--nvcc PATH] [--csv] [FILE.cu ...]
"""
import argparse
import functools
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# sm_90 (H100) limits, from the CUDA C Programming Guide's compute-capability table.
SM90 = {
    "regs_per_sm": 65536,
    "reg_alloc_unit": 256,  # registers are allocated per warp in units of 256
    "max_regs_per_thread": 255,
    "smem_per_sm": 228 * 1024,  # with the largest carveout
    "smem_per_block_max": 227 * 1024,  # opt-in dynamic + static
    "smem_reserved_per_block": 1024,  # the driver's per-block reservation (sm_80 and later)
    "smem_alloc_unit": 128,
    "threads_per_sm": 2048,
    "blocks_per_sm": 32,
    "warps_per_sm": 64,
}

# Every launcher in kernels/ starts 256-thread blocks (kThreads, kReduceThreads, kGramThreads, kSumThreads) with no
# dynamic shared memory, except the convolutions (conv_dynamic_smem below), fp32 and tf32 alike. The tf32 Gram
# (gram_tiles_tf32_kernel, static shared memory) takes the default. A kernel launched otherwise goes here, keyed by a
# substring of its demangled name: (threads per block, dynamic shared bytes).
DEFAULT_LAUNCH = (256, 0)
LAUNCH_OVERRIDES = {}


@functools.lru_cache(maxsize=None)
def conv_constants():
    """kTileK (the default stage depth, and the tensor-core tiles') and kPad of kernels/conv2d_mainloop.cuh:
    conv2d.cu launches its stage buffers as dynamic shared memory."""
    with open(os.path.join(ROOT, "kernels", "conv2d_mainloop.cuh")) as f:
        text = f.read()
    values = {}
    for name in ("kTileK", "kPad"):
        m = re.search(r"constexpr int " + name + r"\s*=\s*(\d+)\s*;", text)
        if not m:
            sys.exit(f"occupancy: {name} not found in kernels/conv2d_mainloop.cuh; update conv_dynamic_smem")
        values[name] = int(m.group(1))
    return values["kTileK"], values["kPad"]


def conv_dynamic_smem(name):
    """sizeof(StageBuffers<T, Cfg>) for a conv2d kernel (2 stages of TileK x (M + kPad) and TileK x (N + kPad)
    elements), or None for other kernels. The fp32 kernels are conv2d_*_kernel<T, Tile<M, N, Tm, Tn, MinBlocks,
    TileK, LoadParts>> (a demangled name spells out the defaulted arguments too); the tf32 ones
    (kernels/conv2d_mma.cuh) conv2d_*_tf32_kernel<MmaTile<M, N, WarpsM, ...>> with float stages kTileK deep. The
    direct forward (DirectTile) has none."""
    m = re.search(r"conv2d_\w+_kernel<(float|double), [^<]*Tile<(\d+), (\d+), \d+, \d+, \d+, (\d+), \d+>", name)
    mma = re.search(r"conv2d_\w+_tf32_kernel<[^<]*MmaTile<(\d+), (\d+),", name)
    default_tile_k, pad = conv_constants()
    if m:
        element, rows, cols = 4 if m.group(1) == "float" else 8, int(m.group(2)), int(m.group(3))
        tile_k = int(m.group(4))
    elif mma:
        element, rows, cols, tile_k = 4, int(mma.group(1)), int(mma.group(2)), default_tile_k
    elif re.search(r"(?<!\w)(Mma)?Tile<", name):  # a GEMM tile this no longer reads: fail, not a silent 0 bytes
        sys.exit(f"occupancy: cannot read the Tile of {name}; update conv_dynamic_smem")
    else:
        return None
    return 2 * tile_k * ((rows + pad) + (cols + pad)) * element


def ceil_to(value, unit):
    return (value + unit - 1) // unit * unit


def occupancy(regs, static_smem, threads, dynamic_smem, limits=SM90):
    """Theoretical occupancy: (active warps / max warps, blocks per SM, limiting resource)."""
    warps = (threads + 31) // 32
    by = {"threads": limits["threads_per_sm"] // (warps * 32), "blocks": limits["blocks_per_sm"]}
    if regs > 0:
        per_warp = ceil_to(regs * 32, limits["reg_alloc_unit"])
        by["registers"] = (limits["regs_per_sm"] // per_warp) // warps
    smem = static_smem + dynamic_smem
    if smem > limits["smem_per_block_max"]:
        return 0.0, 0, "shared memory (over the per-block maximum)"
    per_block = ceil_to(smem + limits["smem_reserved_per_block"], limits["smem_alloc_unit"])
    by["shared memory"] = limits["smem_per_sm"] // per_block
    blocks = min(by.values())
    limiter = min(by, key=lambda k: (by[k], k != "threads"))
    return blocks * warps / limits["warps_per_sm"], blocks, limiter


def demangle(names):
    filt = shutil.which("c++filt")
    if not filt or not names:
        return list(names)
    out = subprocess.run([filt], input="\n".join(names), capture_output=True, text=True, check=True).stdout
    return out.splitlines()


def short_name(name):
    name = name.replace("(anonymous namespace)::", "").replace("gramgan::cuda::", "").replace("gramgan::", "")
    name = re.sub(r"\bunsigned (int|long)\b", lambda m: "u" + m.group(1), name)
    name = name.replace("std::", "")
    name = re.sub(r"^void ", "", name)
    return re.sub(r"\(.*\)$", "", name)  # drop the parameter list


def ptxas_report(nvcc, source, arch):
    """[(mangled, regs, static smem, stack bytes, spill stores, spill loads)] for one .cu file."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [nvcc, "-std=c++17", "-O3", "-DNDEBUG", "-DGG_BACKEND=cuda", f"-I{ROOT}",
               f"-arch=sm_{arch}", "-cubin", "-Xptxas", "-v", "-o", os.path.join(tmp, "k.cubin"), source]
        run = subprocess.run(cmd, capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit(f"occupancy: nvcc failed on {os.path.relpath(source, ROOT)}:\n{run.stderr}")
    kernels, current, frame = [], None, None
    for line in run.stderr.splitlines():
        m = re.search(r"Compiling entry function '([^']+)'", line)
        if m:
            current, frame = m.group(1), None
            continue
        m = re.search(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads", line)
        if m and current:
            frame = tuple(int(g) for g in m.groups())
            continue
        m = re.search(r"Used (\d+) registers(.*)", line)
        if m and current:
            smem = re.search(r"(\d+) bytes smem", m.group(2))
            stack, stores, loads = frame or (0, 0, 0)
            kernels.append((current, int(m.group(1)), int(smem.group(1)) if smem else 0, stack, stores, loads))
            current = None
    return kernels


def check_block_constants():
    """Warns when a kernel file declares a block size other than the 256 this script assumes."""
    odd = []
    for name in sorted(os.listdir(os.path.join(ROOT, "kernels"))):
        if not name.endswith((".cu", ".cuh")):
            continue
        with open(os.path.join(ROOT, "kernels", name)) as f:
            for m in re.finditer(r"constexpr int (k\w*Threads)\s*=\s*(\d+)\s*;", f.read()):
                if int(m.group(2)) != DEFAULT_LAUNCH[0]:
                    odd.append(f"{name}: {m.group(1)} = {m.group(2)}")
    for line in odd:
        print(f"occupancy: note: {line}; add its kernels to LAUNCH_OVERRIDES", file=sys.stderr)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="90", help="SM architecture to compile for (the limits are sm_90's)")
    parser.add_argument("--nvcc", default=os.environ.get("CUDACXX") or shutil.which("nvcc") or "/usr/local/cuda/bin/nvcc")
    parser.add_argument("--csv", action="store_true", help="comma-separated output")
    parser.add_argument("sources", nargs="*", help="kernel sources (default: kernels/*.cu)")
    args = parser.parse_args()
    if not os.path.exists(args.nvcc) and not shutil.which(args.nvcc):
        sys.exit("occupancy: nvcc not found; pass --nvcc or put the CUDA toolkit's bin on PATH")
    if args.arch != "90":
        print(f"occupancy: note: compiling for sm_{args.arch} but computing occupancy with sm_90 limits",
              file=sys.stderr)
    check_block_constants()
    sources = args.sources or sorted(
        os.path.join(ROOT, "kernels", f) for f in os.listdir(os.path.join(ROOT, "kernels")) if f.endswith(".cu"))

    rows = []
    for source in sources:
        report = ptxas_report(args.nvcc, source, args.arch)
        names = demangle([k[0] for k in report])
        for (mangled, regs, smem, stack, stores, loads), name in zip(report, names):
            threads, dynamic = DEFAULT_LAUNCH
            if conv_dynamic_smem(name) is not None:
                dynamic = conv_dynamic_smem(name)
            for key, launch in LAUNCH_OVERRIDES.items():
                if key in name:
                    threads, dynamic = launch
            occ, blocks, limiter = occupancy(regs, smem, threads, dynamic)
            rows.append((os.path.basename(source), short_name(name), regs, smem, dynamic, stack, stores + loads,
                         threads, blocks, occ, limiter))

    header = ("file", "kernel", "regs", "smem_static", "smem_dynamic", "stack", "spill_bytes", "threads",
              "blocks/SM", "occupancy", "limited_by")
    if args.csv:
        print(",".join(header))
        for r in rows:
            print(",".join(f'"{v}"' if isinstance(v, str) else (f"{v:.3f}" if isinstance(v, float) else str(v))
                           for v in r))
        return
    print(f"sm_{args.arch} resource usage (ptxas -v), occupancy with sm_90 limits: 64K registers, 228 KiB shared, "
          "2048 threads, 32 blocks per SM")
    width = min(max(len(r[1]) for r in rows), 72) if rows else 10
    print(f"{'file':<16} {'kernel':<{width}} {'regs':>4} {'smem':>6} {'dyn':>6} {'stack':>5} {'spill':>5} "
          f"{'thr':>4} {'blk':>3} {'occ':>5}  limited by")
    for f, k, regs, smem, dyn, stack, spill, thr, blk, occ, lim in rows:
        k = k if len(k) <= width else k[: width - 3] + "..."
        print(f"{f:<16} {k:<{width}} {regs:>4} {smem:>6} {dyn:>6} {stack:>5} {spill:>5} {thr:>4} {blk:>3} "
              f"{occ:>5.0%}  {lim}")
    spilling = [r for r in rows if r[6]]
    local = [r for r in rows if r[5] and not r[6]]
    if spilling:
        print(f"\n{len(spilling)} kernel(s) spill registers: the CUDA build's spill guard rejects them.")
    if local:
        print(f"\n{len(local)} kernel(s) keep a stack frame in local memory without spilling (an array indexed at run "
              "time, usually): allowed, but slower than registers.")


if __name__ == "__main__":
    main()
