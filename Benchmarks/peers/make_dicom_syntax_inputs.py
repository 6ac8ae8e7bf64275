#!/usr/bin/env python3
"""Writes one 2048x2048, 12-bit (stored in 16) DICOM file per transfer syntax NoduleKit
decodes, all holding the same pixels (the seeded field of make_dicom_inputs.py), for
Benchmarks/dicom-decode.sh. Not committed (Benchmarks/.gitignore).

Encoders: pydicom (native, deflated, big endian, RLE), pylibjpeg-openjpeg (JPEG 2000
lossless/lossy), imagecodecs (JPEG lossless process 14 / SV1, JPEG extended 12-bit,
JPEG-LS lossless / near-lossless).
Usage: python make_dicom_syntax_inputs.py OUT_DIR
"""
import os
import sys

import imagecodecs
import numpy as np
from pydicom.encaps import encapsulate
from pydicom.uid import UID

sys.path.insert(0, os.path.dirname(__file__))
from make_dicom_inputs import dataset, image  # noqa: E402

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
big = image(2048, 2048, np.random.default_rng(20261126))


def encapsulated(ts, frame):
    ds = dataset(big, ts)
    ds.PixelData = encapsulate([frame])
    ds["PixelData"].VR = "OB"
    return ds


def save(name, ds, **kwargs):
    ds.save_as(os.path.join(out, name), enforce_file_format=True, **kwargs)


save("explicit-le.dcm", dataset(big, "1.2.840.10008.1.2.1"))
save("implicit-le.dcm", dataset(big, "1.2.840.10008.1.2"), implicit_vr=True, little_endian=True)
be = dataset(big, "1.2.840.10008.1.2.2")
be.PixelData = big.astype(">u2").tobytes()
save("explicit-be.dcm", be, implicit_vr=False, little_endian=False)
save("deflated.dcm", dataset(big, "1.2.840.10008.1.2.1.99"))
save("jpeg-extended-12bit.dcm", encapsulated("1.2.840.10008.1.2.4.51", imagecodecs.jpeg8_encode(big, level=90, bitspersample=12, lossless=False)))
save("jpeg-lossless-p14.dcm", encapsulated("1.2.840.10008.1.2.4.57", imagecodecs.ljpeg_encode(big, bitspersample=12)))
save("jpeg-lossless-sv1.dcm", encapsulated("1.2.840.10008.1.2.4.70", imagecodecs.jpeg8_encode(big, lossless=True, bitspersample=12, predictor=1)))
save("jpeg-ls-lossless.dcm", encapsulated("1.2.840.10008.1.2.4.80", imagecodecs.jpegls_encode(big, level=0)))
save("jpeg-ls-near-lossless.dcm", encapsulated("1.2.840.10008.1.2.4.81", imagecodecs.jpegls_encode(big, level=2)))
for name, ts, kwargs in (("j2k-lossless.dcm", "1.2.840.10008.1.2.4.90", {}),
                         ("j2k-lossy.dcm", "1.2.840.10008.1.2.4.91", {"j2k_cr": [20]})):
    ds = dataset(big, "1.2.840.10008.1.2.1")
    ds.compress(UID(ts), encoding_plugin="pylibjpeg", **kwargs)
    save(name, ds)
rle = dataset(big, "1.2.840.10008.1.2.1")
rle.compress(UID("1.2.840.10008.1.2.5"), encoding_plugin="pydicom")
save("rle.dcm", rle)
print("\n".join(sorted(os.listdir(out))))
