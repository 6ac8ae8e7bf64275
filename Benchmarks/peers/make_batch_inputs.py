#!/usr/bin/env python3
"""Batch-benchmark inputs: COUNT distinct PNG files made from a few generated phantoms.

Generating a 2048-px phantom takes 6-18 s of Python (Data/phantom/make_phantoms.py), so the
benchmark generates UNIQUE of them once (--unique-dir, made by make_phantoms.py with a fixed
spacing of 0.19 mm, which gives images of about 1850-2260 px a side, ~2048² on average) and
writes COUNT files `img-00000.png` ... that cycle through them. Each copy gets a PNG tEXt chunk
("Comment" = "nodulekit batch benchmark copy N") inserted before IEND: the pixels, size,
spacing (pHYs) and decode work are those of the source phantom, but every file's bytes and
SHA-256 differ, so `nodules batch` treats each one as a new image (no resume skip, no --force).

Usage: make_batch_inputs.py --unique-dir DIR --out DIR --count N
"""
import argparse
import glob
import os
import struct
import sys
import zlib


def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--unique-dir", required=True, help="folder with make_phantoms.py output (images/*.png)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--count", type=int, required=True)
    args = ap.parse_args()
    sources = sorted(glob.glob(os.path.join(args.unique_dir, "images", "*.png")))
    if not sources:
        sys.exit("no images under %s/images" % args.unique_dir)
    blobs = []
    for path in sources:
        data = open(path, "rb").read()
        iend = data.rfind(b"IEND") - 4          # start of the IEND chunk (its length field)
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and iend > 8, path
        blobs.append((data[:iend], data[iend:]))
    os.makedirs(args.out, exist_ok=True)
    for k in range(args.count):
        head, tail = blobs[k % len(blobs)]
        text = chunk(b"tEXt", b"Comment\x00nodulekit batch benchmark copy %d" % k)
        path = os.path.join(args.out, "img-%05d.png" % k)
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(head + text + tail)
        os.replace(tmp, path)
    print("%d files from %d unique phantoms in %s" % (args.count, len(blobs), args.out), file=sys.stderr)


if __name__ == "__main__":
    main()
