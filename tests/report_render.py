#!/usr/bin/env python3
"""The report page as a browser draws it: a short real training run, `gramgan report` on it, then headless
Chromium. The DOM after the page's script ran must hold every panel, a drawn curve in every chart, the four
health checks and the sample strips; the screenshot must show a page, not a blank one.

Usage: report_render.py GRAMGAN_BINARY SHARED_DATA_DIR [CHROMIUM]
"""
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib


def fail(message):
    print("report_render: FAIL: " + message)
    sys.exit(1)


def run(command, timeout):
    result = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        fail(" ".join(command) + f" exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def png_pixels(path):
    """Decodes an 8-bit, non-interlaced RGB or RGBA PNG (what Chromium writes): (width, height, rows of bytes, bpp)."""
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        fail(path + ": not a PNG")
    pos, idat, header = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = header
    if depth != 8 or colour not in (2, 6) or interlace:
        fail(f"{path}: unexpected PNG format (depth {depth}, colour type {colour}, interlace {interlace})")
    bpp = 3 if colour == 2 else 4
    raw, stride, rows, previous = zlib.decompress(idat), width * bpp, [], bytearray(width * bpp)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - bpp] if i >= bpp else 0
            up, corner = previous[i], previous[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + left) & 255
            elif kind == 2:
                line[i] = (line[i] + up) & 255
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 255
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 255
        rows.append(line)
        previous = line
    return width, height, rows, bpp


def main():
    if len(sys.argv) not in (3, 4):
        fail(__doc__)
    gramgan, shared = sys.argv[1], sys.argv[2]
    chromium = sys.argv[3] if len(sys.argv) == 4 else ""
    chromium = chromium or shutil.which("chromium") or shutil.which("chromium-browser") or ""
    if not chromium or not os.path.exists(chromium):
        fail("Chromium not found (scripts/install-deps.sh installs Debian's chromium)")
    style = os.path.join(shared, "style", "256",
                         "gcompris_paint_katsushika_hokusai_the_great_wave_off_kanagawa_1823_1829.png")
    with tempfile.TemporaryDirectory(prefix="gramgan_report_render_") as work:
        run_dir, page = os.path.join(work, "run"), os.path.join(work, "report.html")
        run([gramgan, "train", "--content", os.path.join(shared, "content"), "--style", style, "--vgg", "random",
             "--size", "32", "--batch", "1", "--steps", "20", "--g-width", "8", "--g-blocks", "1", "--d-width", "8",
             "--sample-every", "5", "--device", "cpu", "--out", run_dir], timeout=600)
        print(run([gramgan, "report", run_dir, "--out", page], timeout=120).strip())

        browser = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                   "--no-first-run", "--user-data-dir=" + os.path.join(work, "profile"), "--window-size=1200,2400"]
        dom = run(browser + ["--dump-dom", "file://" + page], timeout=120)
        for panel in ("health", "losses", "discriminator", "gradients", "timing", "samples", "config"):
            if f'id="panel-{panel}"' not in dom:
                fail(f"the DOM lacks the {panel} panel")
        for chart in ("losses", "discriminator", "gradients", "timing"):
            svg = re.search(f'<svg[^>]*id="chart-{chart}".*?</svg>', dom, re.S)
            curves = re.findall(r'<path d="M[0-9.]+ [0-9.]+L', svg.group(0)) if svg else []
            if not curves:
                fail(f"the {chart} chart drew no curve (did the page's script run?)")
            print(f"chart {chart}: {len(curves)} curves")
        checks = re.findall(r'<li class="(ok|flagged|na)">', dom)
        if len(checks) != 4:
            fail(f"the health panel lists {len(checks)} checks, not 4")
        strips = re.findall(r'<img alt="step ([0-9]+)" src="data:image/png;base64,', dom)
        if strips != ["5", "10", "15", "20"]:
            fail(f"sample strips {strips}, expected steps 5, 10, 15 and 20")
        print(f"health: {checks}; sample strips at steps {strips}")

        shot = os.path.join(work, "shot.png")
        run(browser + ["--screenshot=" + shot, "file://" + page], timeout=120)
        width, height, rows, bpp = png_pixels(shot)
        colours, inked = set(), 0
        for line in rows[::4]:
            for x in range(0, width * bpp, 4 * bpp):
                pixel = bytes(line[x:x + 3])
                colours.add(pixel)
                inked += pixel != b"\xff\xff\xff"
        sampled = len(rows[::4]) * len(range(0, width * bpp, 4 * bpp))
        print(f"screenshot {width}x{height}: {len(colours)} colours, {100 * inked / sampled:.1f}% of pixels not white")
        if len(colours) < 20 or inked < 0.02 * sampled:
            fail("the screenshot is (nearly) blank")
    print("report_render: OK")


if __name__ == "__main__":
    main()
