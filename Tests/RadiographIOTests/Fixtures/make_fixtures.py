#!/usr/bin/env python3
"""Makes the RadiographIO test fixtures with encoders independent of NoduleKit.

PNG files come from pypng (pure Python), JPEG files from Pillow (libjpeg), raw
files from numpy. Next to each image, `<name>.expected.npy` holds the gray
samples NoduleKit must produce (uint16, shape rows x columns):
  * PNG: the array that was encoded (colour: BT.601 luma in Pillow's fixed point);
  * JPEG: Pillow's own decode (gray / luma via draft('L'), CMYK via convert('L')).
`manifest.json` lists every fixture with the facts the tests check.

Run from this folder:  python3 make_fixtures.py   (numpy, pillow, pypng)
The committed outputs are what the tests use; Python is not needed to test.
"""
import io
import json
import struct
import zlib

import numpy as np
import png  # pypng
from PIL import Image

RNG = np.random.default_rng(20261125)
W, H = 37, 23  # odd, non-square: catches row/column swaps
manifest = {}


def luma(r, g, b):
    r, g, b = (np.asarray(c, dtype=np.uint64) for c in (r, g, b))
    return ((19595 * r + 38470 * g + 7471 * b + 32768) >> 16).astype(np.uint16)


def chunk(kind, data):
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def insert_before_idat(data, *chunks):
    i = data.index(b"IDAT") - 4
    return data[:i] + b"".join(chunks) + data[i:]


def save(name, data, expected=None, **facts):
    with open(name, "wb") as f:
        f.write(data)
    if expected is not None:
        np.save(name + ".expected.npy", np.ascontiguousarray(expected.astype(np.uint16)))
    manifest[name] = facts


def pypng_bytes(rows, **kw):
    buf = io.BytesIO()
    png.Writer(**kw).write(buf, rows)
    return buf.getvalue()


# --- PNG: every colour type and bit depth -------------------------------
for depth in (1, 2, 4, 8, 16):
    a = RNG.integers(0, 2 ** depth, size=(H, W), dtype=np.uint32)
    save(f"gray{depth}.png", pypng_bytes(a.tolist(), width=W, height=H, greyscale=True, bitdepth=depth),
         a, format="png", width=W, height=H, bits_stored=depth)

for depth in (8, 16):
    g = RNG.integers(0, 2 ** depth, size=(H, W), dtype=np.uint32)
    al = RNG.integers(0, 2 ** depth, size=(H, W), dtype=np.uint32)
    rows = np.stack([g, al], axis=-1).reshape(H, W * 2)
    save(f"gray-alpha{depth}.png", pypng_bytes(rows.tolist(), width=W, height=H, greyscale=True, alpha=True, bitdepth=depth),
         g, format="png", width=W, height=H, bits_stored=depth)
    rgb = RNG.integers(0, 2 ** depth, size=(H, W, 3), dtype=np.uint32)
    save(f"rgb{depth}.png", pypng_bytes(rgb.reshape(H, W * 3).tolist(), width=W, height=H, greyscale=False, bitdepth=depth),
         luma(rgb[..., 0], rgb[..., 1], rgb[..., 2]), format="png", width=W, height=H, bits_stored=depth)
    rgba = RNG.integers(0, 2 ** depth, size=(H, W, 4), dtype=np.uint32)
    save(f"rgba{depth}.png", pypng_bytes(rgba.reshape(H, W * 4).tolist(), width=W, height=H, greyscale=False, alpha=True, bitdepth=depth),
         luma(rgba[..., 0], rgba[..., 1], rgba[..., 2]), format="png", width=W, height=H, bits_stored=depth)

for depth in (1, 2, 4, 8):
    n = 2 ** depth
    palette = [tuple(int(v) for v in RNG.integers(0, 256, size=3)) for _ in range(n)]
    idx = RNG.integers(0, n, size=(H, W), dtype=np.uint32)
    pal = np.array(palette, dtype=np.uint32)
    save(f"palette{depth}.png", pypng_bytes(idx.tolist(), width=W, height=H, palette=palette, bitdepth=depth),
         luma(pal[idx, 0], pal[idx, 1], pal[idx, 2]), format="png", width=W, height=H, bits_stored=8)

# 16-bit gray, 12 bits stored (sBIT), 0.175 mm pixels (pHYs), Adam7 interlaced.
a12 = RNG.integers(0, 4096, size=(H, W), dtype=np.uint32)
ppm = round(1000 / 0.175)  # 5714 px per metre
base = pypng_bytes(a12.tolist(), width=W, height=H, greyscale=True, bitdepth=16, interlace=True)
data = insert_before_idat(base, chunk(b"sBIT", bytes([12])), chunk(b"pHYs", struct.pack(">IIB", ppm, ppm, 1)))
save("gray16-sbit12-phys.png", data, a12, format="png", width=W, height=H, bits_stored=12,
     spacing_mm=[1000 / ppm, 1000 / ppm], spacing_source="tag:PNG pHYs")

# Anisotropic pHYs: rows 0.2 mm apart, columns 0.15 mm apart.
aniso = insert_before_idat(pypng_bytes(a12.tolist(), width=W, height=H, greyscale=True, bitdepth=16),
                           chunk(b"pHYs", struct.pack(">IIB", 6667, 5000, 1)))
save("gray16-phys-aniso.png", aniso, a12, format="png", width=W, height=H, bits_stored=16,
     spacing_mm=[1000 / 5000, 1000 / 6667], spacing_source="tag:PNG pHYs")

# pHYs at 72 dpi (2835 px/m) is a software default, not a detector pitch.
placeholder = insert_before_idat(pypng_bytes(a12.tolist(), width=W, height=H, greyscale=True, bitdepth=16),
                                 chunk(b"pHYs", struct.pack(">IIB", 2835, 2835, 1)))
save("gray16-phys-72dpi.png", placeholder, a12, format="png", width=W, height=H, bits_stored=16,
     spacing_mm=None, spacing_source="unknown")

# Patient and study date as text chunks keyed by DICOM keywords, one of each chunk type:
# tEXt (DICOM-style trailing pad space), zTXt (compressed), iTXt (UTF-8, uncompressed).
itxt = b"StudyDate\x00\x00\x00\x00\x00" + "2024-01-31".encode()
texts = insert_before_idat(pypng_bytes(a12.tolist(), width=W, height=H, greyscale=True, bitdepth=16),
                           chunk(b"tEXt", b"PatientID\x00JSRT-0042 "),
                           chunk(b"zTXt", b"IssuerOfPatientID\x00\x00" + zlib.compress(b"HOSP-A")),
                           chunk(b"iTXt", itxt))
save("gray16-dicom-text.png", texts, a12, format="png", width=W, height=H, bits_stored=16,
     spacing_mm=None, spacing_source="unknown", patient_id="JSRT-0042", issuer_of_patient_id="HOSP-A",
     study_date="2024-01-31")

# Unusable text: an impossible date and a patient ID longer than DICOM LO's 64 characters.
bad_texts = insert_before_idat(pypng_bytes(a12.tolist(), width=W, height=H, greyscale=True, bitdepth=16),
                               chunk(b"tEXt", b"StudyDate\x0020241301"),
                               chunk(b"tEXt", b"PatientID\x00" + b"X" * 70))
save("gray16-bad-text.png", bad_texts, a12, format="png", width=W, height=H, bits_stored=16,
     spacing_mm=None, spacing_source="unknown")

# --- JPEG via Pillow (libjpeg) ------------------------------------------
JW, JH = 64, 48
yy, xx = np.mgrid[0:JH, 0:JW]
smooth = (128 + 90 * np.sin(xx / 7.0) * np.cos(yy / 5.0)).clip(0, 255).astype(np.uint8)
colour = np.stack([smooth, np.roll(smooth, 9, axis=1), 255 - smooth], axis=-1)


def jpeg_bytes(img, **kw):
    buf = io.BytesIO()
    img.save(buf, format="JPEG", **kw)
    return buf.getvalue()


def pillow_gray(data):
    im = Image.open(io.BytesIO(data))
    if im.mode == "CMYK":
        return np.array(im.convert("L"))
    im.draft("L", im.size)  # libjpeg delivers the luma channel, as NoduleKit does
    return np.array(im.convert("L"))


def jpeg_fixture(name, data, **facts):
    save(name, data, pillow_gray(data), format="jpeg", width=JW, height=JH, bits_stored=8, **facts)


jpeg_fixture("gray-baseline.jpg", jpeg_bytes(Image.fromarray(smooth, "L"), quality=92), spacing_mm=None, spacing_source="unknown")
jpeg_fixture("rgb-baseline.jpg", jpeg_bytes(Image.fromarray(colour, "RGB"), quality=90), spacing_mm=None, spacing_source="unknown")
jpeg_fixture("rgb-progressive.jpg", jpeg_bytes(Image.fromarray(colour, "RGB"), quality=90, progressive=True),
             spacing_mm=None, spacing_source="unknown", progressive=True)
jpeg_fixture("gray-progressive.jpg", jpeg_bytes(Image.fromarray(smooth, "L"), quality=90, progressive=True),
             spacing_mm=None, spacing_source="unknown", progressive=True)
cmyk = Image.fromarray(colour, "RGB").convert("CMYK")
jpeg_fixture("cmyk-adobe.jpg", jpeg_bytes(cmyk, quality=95), spacing_mm=None, spacing_source="unknown")
jpeg_fixture("gray-145dpi.jpg", jpeg_bytes(Image.fromarray(smooth, "L"), quality=92, dpi=(145, 145)),
             spacing_mm=[25.4 / 145, 25.4 / 145], spacing_source="tag:JFIF density")
# Dots per centimetre (unit 2), 57 x 50 dots/cm, patched into the JFIF APP0 segment.
dpcm = bytearray(jpeg_bytes(Image.fromarray(smooth, "L"), quality=92, dpi=(1, 1)))
assert dpcm[6:11] == b"JFIF\x00"
dpcm[13] = 2
dpcm[14:18] = struct.pack(">HH", 57, 50)
jpeg_fixture("gray-dots-per-cm.jpg", bytes(dpcm), spacing_mm=[10 / 50, 10 / 57], spacing_source="tag:JFIF density")
jpeg_fixture("gray-72dpi.jpg", jpeg_bytes(Image.fromarray(smooth, "L"), quality=92, dpi=(72, 72)),
             spacing_mm=None, spacing_source="unknown")

# --- Raw (JSRT convention: headerless, big-endian 16-bit words, 12 bits used)
RW, RH = 40, 30
raw12 = RNG.integers(0, 4096, size=(RH, RW), dtype=np.uint16)
save("jsrt-like-40x30.img", raw12.astype(">u2").tobytes(), raw12, format="raw", width=RW, height=RH, bits_stored=12,
     raw="40x30:u16be:12")
save("raw-u16le-40x30.img", raw12.astype("<u2").tobytes(), raw12, format="raw", width=RW, height=RH, bits_stored=12,
     raw="40x30:u16le:12")

# --- Corrupt and hostile files -------------------------------------------
good = open("gray16-sbit12-phys.png", "rb").read()
manifest_err = {}


def bad(name, data, error):
    with open(name, "wb") as f:
        f.write(data)
    manifest_err[name] = error


bad("empty.png", b"", "decode.empty")
bad("text-renamed.png", b"This is a text file, not a radiograph.\n" * 4, "decode.not-an-image")
plain = pypng_bytes(a12.tolist(), width=W, height=H, greyscale=True, bitdepth=16)
idat = plain.index(b"IDAT")
bad("truncated.png", plain[: idat + 40], "decode.truncated")
bad("truncated-signature.png", plain[:5], "decode.truncated")
crc = bytearray(plain)
crc[idat + 10] ^= 0xFF  # damage IDAT data, leave its CRC
bad("bad-crc.png", bytes(crc), "decode.bad-checksum")
# A well-formed PNG whose header claims 100000 x 100000 pixels.
ihdr = struct.pack(">IIBBBBB", 100000, 100000, 8, 0, 0, 0, 0)
huge = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 100)) + chunk(b"IEND", b"")
bad("huge-100000x100000.png", huge, "decode.too-large")

gj = jpeg_bytes(Image.fromarray(smooth, "L"), quality=92)
bad("truncated.jpg", gj[: int(len(gj) * 0.6)], "decode.truncated")
bad("truncated-header.jpg", gj[:80], "decode.truncated")
sof = bytearray(gj)
i = sof.index(b"\xff\xc0")
sof[i + 5:i + 9] = struct.pack(">HH", 60000, 60000)
bad("huge-60000x60000.jpg", bytes(sof), "decode.too-large")
bad("raw-wrong-size.img", raw12.astype(">u2").tobytes()[:-2], "decode.size-mismatch")
bad("raw-wrong-byte-order.img", raw12.astype("<u2").tobytes(), "decode.corrupt")

with open("manifest.json", "w") as f:
    json.dump({"images": manifest, "errors": manifest_err}, f, indent=1, sort_keys=True)
print(f"{len(manifest)} images, {len(manifest_err)} corrupt files")
