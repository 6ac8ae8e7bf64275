#!/usr/bin/env python3
"""Writes the DICOM isolation-benchmark inputs (not committed; Benchmarks/.gitignore).

  chest-2048-explicit-le.dcm   2048x2048, 12 bits stored in 16, Explicit VR Little Endian
  chest-2048-jpeg-ls.dcm       the same pixels, JPEG-LS lossless (CharLS via imagecodecs)
  small-64x48-explicit-le.dcm  a 64x48 image, to isolate the fixed per-file cost

Content: deterministic smooth field plus noise (seeded). Needs numpy, pydicom, imagecodecs.
Usage: python3 Benchmarks/peers/make_dicom_inputs.py [--out Benchmarks/inputs]
"""
import argparse
import os

import imagecodecs
import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import UID


def image(rows, cols, rng):
    y, x = np.mgrid[0:rows, 0:cols] / max(rows, cols)
    v = 0.6 + 0.25 * np.sin(6 * x) * np.cos(4 * y) + rng.normal(0, 0.03, (rows, cols))
    return np.clip(np.round(v * 4095), 0, 4095).astype(np.uint16)


def dataset(pixels, ts):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID("1.2.840.10008.5.1.4.1.1.1.1")
    meta.MediaStorageSOPInstanceUID = UID("1.2.826.0.1.3680043.8.498.9")
    meta.TransferSyntaxUID = UID(ts)
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.PatientID, ds.StudyDate = "DX", "BENCH", "20240101"
    ds.PixelSpacing = [0.175, 0.175]
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.Rows, ds.Columns = pixels.shape
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = pixels.tobytes()
    return ds


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "inputs"))
    out = ap.parse_args().out
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(20261126)
    big = image(2048, 2048, rng)
    dataset(big, "1.2.840.10008.1.2.1").save_as(os.path.join(out, "chest-2048-explicit-le.dcm"), enforce_file_format=True)
    ds = dataset(big, "1.2.840.10008.1.2.4.80")
    ds.PixelData = encapsulate([imagecodecs.jpegls_encode(big, level=0)])
    ds["PixelData"].VR = "OB"
    ds.save_as(os.path.join(out, "chest-2048-jpeg-ls.dcm"), enforce_file_format=True)
    dataset(image(48, 64, rng), "1.2.840.10008.1.2.1").save_as(os.path.join(out, "small-64x48-explicit-le.dcm"), enforce_file_format=True)


if __name__ == "__main__":
    main()
