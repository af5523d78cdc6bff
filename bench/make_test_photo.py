#!/usr/bin/env python3
"""Writes a smooth synthetic RGB photo as a PNG, with the standard library only: bench/compare's stylize input (the
generator's cost does not depend on the pixels; a photo-like image keeps the PNG small and its decoding quick).

Usage: bench/make_test_photo.py OUT.png WIDTH HEIGHT
"""
import math
import struct
import sys
import zlib


def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def main():
    if len(sys.argv) != 4 or not sys.argv[2].isdigit() or not sys.argv[3].isdigit():
        sys.exit("usage: make_test_photo.py OUT.png WIDTH HEIGHT")
    width, height = int(sys.argv[2]), int(sys.argv[3])
    if width < 1 or height < 1:
        sys.exit("make_test_photo.py: WIDTH and HEIGHT must be at least 1")
    red = [int(127 + 120 * math.sin(x * 0.031)) for x in range(width)]
    rows = bytearray()
    for y in range(height):
        rows.append(0)  # filter type 0: the row as it is
        green = int(127 + 120 * math.sin(y * 0.023))
        for x in range(width):
            rows += bytes((red[x], green, (7 * x + 3 * y) % 256))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB, no interlace
    with open(sys.argv[1], "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(bytes(rows), 6)) +
                chunk(b"IEND", b""))


if __name__ == "__main__":
    main()
