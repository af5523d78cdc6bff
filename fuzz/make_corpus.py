#!/usr/bin/env python3
"""Writes the seed corpus in fuzz/corpus/<target>/: tiny valid inputs of each kind the parsers accept, and a few
edge cases. Standard library only; the output is committed, so this runs only when the seeds change:
    python3 fuzz/make_corpus.py
"""
import json
import os
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))


def write(target, name, data):
    folder = os.path.join(HERE, "corpus", target)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


# ---- PNG ----------------------------------------------------------------------------------------------------------

def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(width, height, bit_depth, color_type, rows, interlace=0, extra=b""):
    """rows: the raw scanlines (bytes, no filter byte) of the image, or of each Adam7 pass in order."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, interlace)
    raw = b"".join(b"\0" + row for row in rows)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + extra + chunk(b"IDAT", zlib.compress(raw)) +
            chunk(b"IEND", b""))


def pack_bits(values, bits):
    out, acc, n = bytearray(), 0, 0
    for v in values:
        acc = acc << bits | v
        n += bits
        if n == 8:
            out.append(acc)
            acc, n = 0, 0
    if n:
        out.append(acc << (8 - n))
    return bytes(out)


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def adam7_rows(width, height, pixel):
    """pixel(x, y) -> bytes of one 8-bit-or-more pixel; the scanlines of every non-empty pass."""
    rows = []
    for x0, y0, dx, dy in ADAM7:
        xs = range(x0, width, dx)
        if not xs:
            continue
        for y in range(y0, height, dy):
            rows.append(b"".join(pixel(x, y) for x in xs))
    return rows


def png_seeds():
    w, h = 5, 3
    write("png", "gray1.png", png(w, h, 1, 0, [pack_bits([(x + y) % 2 for x in range(w)], 1) for y in range(h)]))
    write("png", "gray4.png", png(w, h, 4, 0, [pack_bits([(3 * x + y) % 16 for x in range(w)], 4) for y in range(h)]))
    write("png", "gray8.png", png(w, h, 8, 0, [bytes(40 * x + y for x in range(w)) for y in range(h)]))
    write("png", "gray16.png", png(w, h, 16, 0, [b"".join(struct.pack(">H", 9000 * x + y) for x in range(w))
                                                 for y in range(h)]))
    write("png", "gray_alpha8.png", png(w, h, 8, 4, [b"".join(bytes([50 * x, 200 + y]) for x in range(w))
                                                     for y in range(h)]))
    write("png", "rgb8.png", png(w, h, 8, 2, [b"".join(bytes([50 * x, 80 * y, 7]) for x in range(w))
                                              for y in range(h)]))
    write("png", "rgba16.png", png(w, h, 16, 6, [b"".join(struct.pack(">HHHH", 9000 * x, 20000 * y, 1, 65535)
                                                          for x in range(w)) for y in range(h)]))
    palette = chunk(b"PLTE", bytes([255, 0, 0, 0, 255, 0, 0, 0, 255])) + chunk(b"tRNS", bytes([0, 128]))
    write("png", "palette2_trns.png", png(w, h, 2, 3, [pack_bits([(x + y) % 3 for x in range(w)], 2)
                                                        for y in range(h)], extra=palette))
    write("png", "rgb8_adam7.png", png(9, 9, 8, 2, adam7_rows(9, 9, lambda x, y: bytes([20 * x, 20 * y, 99])),
                                       interlace=1))
    write("png", "gray8_1x1.png", png(1, 1, 8, 0, [b"\x80"]))
    # Edge cases: a truncated stream and a header that promises the largest image allowed.
    whole = png(w, h, 8, 2, [bytes(3 * w)] * h)
    write("png", "truncated.png", whole[:len(whole) - 20])
    write("png", "large_header.png", png(16384, 4096, 8, 0, [b"\0" * 16]))
    # Regression seed, found by fuzz_png: a zTXt chunk claiming 0x59595959 bytes that libpng allocated (1.5 GB)
    # before finding the file's end. scripts/fuzz.sh's -malloc_limit_mb=1024 fails the run if that comes back.
    write("png", "regress_ztxt_claims_1p5gb.png", bytes.fromhex(
        "89504e470d0a1a0a0000000d494844520000000500000003020300000026582d6b00000009504c5445ff000000ff000000ff2d4a"
        "cd8a0000000274524e53595959595959595959597a5458745960526003"))


# ---- safetensors --------------------------------------------------------------------------------------------------

def safetensors(entries, metadata=None):
    """entries: (name, dtype, shape, data bytes) in data order."""
    header, offset, data = {}, 0, b""
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dtype, shape, blob in entries:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        data += blob
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


def f32(*values):
    return struct.pack("<%df" % len(values), *values)


def safetensors_seeds():
    write("safetensors", "f32.safetensors", safetensors([("w", "F32", [2, 3], f32(*range(6)))]))
    write("safetensors", "metadata_i64.safetensors", safetensors(
        [("step", "I64", [1], struct.pack("<q", 42)), ("rng", "U64", [2], struct.pack("<QQ", 1, 2 ** 64 - 1)),
         ("b", "F64", [2], struct.pack("<2d", 0.5, -1.0))], metadata={"format": "pt", "note": "seed"}))
    write("safetensors", "mixed_dtypes.safetensors", safetensors(
        [("h", "F16", [2], b"\0\x3c\0\xc0"), ("u", "U8", [3], b"\1\2\3"), ("s", "F32", [], f32(1.5)),
         ("e", "F32", [0, 4], b"")]))
    write("safetensors", "rank6.safetensors", safetensors([("t", "F32", [1, 1, 1, 1, 1, 2], f32(1, 2))]))
    write("safetensors", "empty_header.safetensors", safetensors([]))
    write("safetensors", "short.safetensors", b"\x10\0\0\0")


# ---- CLI ----------------------------------------------------------------------------------------------------------

def cli_seeds():
    def args(*tokens):
        return "\0".join(tokens).encode()
    write("cli", "help", args("--help"))
    write("cli", "version", args("--version"))
    write("cli", "info", args("info"))
    write("cli", "train", args("train", "--content", "content", "--style", "style.png", "--out", "run", "--size", "64",
                               "--batch", "2", "--steps", "10", "--lambda-style", "1e5", "--device", "cpu"))
    write("cli", "train_bad", args("train", "--size", "-1", "--batch", "0", "--style-layers", "relu9_9"))
    write("cli", "stylize", args("stylize", "--model", "m.safetensors", "--in", "a.png", "b.png", "--out", "out"))
    write("cli", "transfer", args("transfer", "--content", "c.png", "--style", "s.png", "--out", "o.png", "--steps", "3",
                                  "--style-layers", "relu1_1", "relu2_1", "--vgg", "random"))
    write("cli", "gradcheck", args("gradcheck", "--op", "all", "--dtype", "double"))
    write("cli", "subcommand_help", args("train", "--help"))


if __name__ == "__main__":
    png_seeds()
    safetensors_seeds()
    cli_seeds()
