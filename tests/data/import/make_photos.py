#!/usr/bin/env python3
"""Makes the import tests' photos from face-api's six demo photos.

usage: make_photos.py CUSTOS DEMO_DIR BOXES.jsonl OUT_DIR

Each of the 22 faces of tests/data/reference/demo.jsonl is cut out as a
square PNG around its box (one face per photo): face-NN.png.  Besides:
  face-NN-alt.png   the same face cut a little wider and shifted (another photo
                    of the same person, for de-duplication)
  small.png         face 00 at a quarter of its size (FACE_TOO_SMALL)
  blurred.png       face 00 blurred (FACE_BLURRED)
  crowd.png         a whole demo photo (MANY_FACES)
  blank.png         a grey picture (NO_FACE)
  corrupt.png       a PNG cut short (PHOTO_CORRUPT)
  notimage.png      text (PHOTO_CORRUPT)
The demo photos are decoded by custos itself (custos image convert to PPM),
so nothing but the Python standard library is needed.
"""
import json
import os
import struct
import subprocess
import sys
import zlib

custos, demo, boxes, out = sys.argv[1:5]
os.makedirs(out, exist_ok=True)


def read_ppm(path):
    b = open(path, "rb").read()
    fields, i = [], 0
    while len(fields) < 4:
        while b[i:i + 1].isspace():
            i += 1
        j = i
        while not b[j:j + 1].isspace():
            j += 1
        fields.append(b[i:j])
        i = j
    return int(fields[1]), int(fields[2]), b[i + 1:]


def write_png(path, w, h, rows):
    raw = b"".join(b"\0" + bytes(r) for r in rows)

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)

    data = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))
    open(path, "wb").write(data)
    return data


def crop(img, x0, y0, side, step=1):
    w, h, px = img
    x0 = max(0, min(w - side, x0))
    y0 = max(0, min(h - side, y0))
    rows = []
    for y in range(y0, y0 + side, step):
        r = px[(y * w + x0) * 3:(y * w + x0 + side) * 3]
        if step > 1:
            r = b"".join(r[k * 3:k * 3 + 3] for k in range(0, side, step))
        rows.append(r)
    return rows


def blur(rows, radius):
    ch, cw = len(rows), len(rows[0]) // 3

    def box(vals):
        n, acc = len(vals), [0]
        for v in vals:
            acc.append(acc[-1] + v)
        return [(acc[min(n - 1, k + radius) + 1] - acc[max(0, k - radius)]) //
                (min(n - 1, k + radius) - max(0, k - radius) + 1) for k in range(n)]

    planes = [[[r[x * 3 + c] for x in range(cw)] for r in rows] for c in range(3)]
    for _ in range(2):
        for c in range(3):
            p = [box(r) for r in planes[c]]
            cols = [box([p[y][x] for y in range(ch)]) for x in range(cw)]
            planes[c] = [[cols[x][y] for x in range(cw)] for y in range(ch)]
    return [bytes(planes[c][y][x] for x in range(cw) for c in range(3)) for y in range(ch)]


n = 0
for line in open(boxes):
    d = json.loads(line)
    ppm = os.path.join(out, "demo.ppm")
    subprocess.run([custos, "image", "convert", os.path.join(demo, d["file"]), ppm], check=True)
    img = read_ppm(ppm)
    os.unlink(ppm)
    for f in d["faces"]:
        b = f["box"]
        cx, cy = b["x"] + b["width"] / 2, b["y"] + b["height"] / 2
        side = int(max(b["width"], b["height"]) * 1.3)
        rows = crop(img, int(cx - side / 2), int(cy - side / 2), side, 2)
        write_png(os.path.join(out, "face-%02d.png" % n), len(rows[0]) // 3, len(rows), rows)
        alt = int(side * 1.15)
        rows = crop(img, int(cx - alt / 2) + side // 20, int(cy - alt / 2) - side // 25, alt, 2)
        write_png(os.path.join(out, "face-%02d-alt.png" % n), len(rows[0]) // 3, len(rows), rows)
        if n == 0:
            small = crop(img, int(cx - side / 2), int(cy - side / 2), side, 8)
            write_png(os.path.join(out, "small.png"), len(small[0]) // 3, len(small), small)
            rows = crop(img, int(cx - side / 2), int(cy - side / 2), side, 2)
            rows = blur(rows, 2)
            write_png(os.path.join(out, "blurred.png"), len(rows[0]) // 3, len(rows), rows)
        n += 1
    if d["file"] == "sample1.jpg":
        w, h, _ = img
        rows = crop(img, 0, 0, min(w, h), 4)
        write_png(os.path.join(out, "crowd.png"), len(rows[0]) // 3, len(rows), rows)
write_png(os.path.join(out, "blank.png"), 200, 200, [bytes([128] * 600)] * 200)
data = open(os.path.join(out, "face-00.png"), "rb").read()
open(os.path.join(out, "corrupt.png"), "wb").write(data[:len(data) // 3])
open(os.path.join(out, "notimage.png"), "w").write("this is not an image\n")
