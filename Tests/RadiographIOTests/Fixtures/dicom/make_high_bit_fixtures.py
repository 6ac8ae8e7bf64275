#!/usr/bin/env python3
"""Fixtures whose stored values do not sit in the low bits: Bits Stored 12, High Bit 15 (PS3.5 §8.1.1:
the value is bits 4-15 of each 16-bit word; bits 0-3 here hold noise that must be ignored). Not
compared with pydicom, which reads the low Bits Stored bits whatever High Bit says: next to each file,
<name>.stored.npy holds the standard's stored values (uint16, rows x columns).

  cd Tests/RadiographIOTests/Fixtures/dicom && python3 make_high_bit_fixtures.py

hb15-explicit-le.dcm, hb15-implicit-le.dcm and hb15-explicit-be.dcm decode to those values (NoduleKit
reads native pixels from the file itself); hb15-deflated.dcm is refused (deflated pixels come through
GDCM, which keeps only the low Bits Stored bits, and NoduleKit says so rather than decode wrong values).
Seeded, with fixed UIDs: the same files on every run.
"""
import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

rng = np.random.default_rng(42)
stored = rng.integers(0, 4096, (48, 64)).astype(np.uint16)
words = (stored << 4) | rng.integers(0, 16, stored.shape).astype(np.uint16)

for k, (name, syntax) in enumerate([("hb15-explicit-le", ExplicitVRLittleEndian),
                                     ("hb15-implicit-le", ImplicitVRLittleEndian),
                                     ("hb15-deflated", DeflatedExplicitVRLittleEndian),
                                     ("hb15-explicit-be", ExplicitVRBigEndian)]):
    meta = FileMetaDataset()
    meta.TransferSyntaxUID = syntax
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"
    meta.MediaStorageSOPInstanceUID = f"1.2.826.0.1.3680043.10.1234.15.{k + 1}"
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.PatientID = "HIGH-BIT"
    ds.Modality = "DX"
    ds.Rows, ds.Columns = stored.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 15, 0
    big = syntax == ExplicitVRBigEndian
    ds.PixelData = words.astype(">u2" if big else "<u2").tobytes()
    ds.save_as(name + ".dcm", enforce_file_format=True, little_endian=not big, implicit_vr=syntax == ImplicitVRLittleEndian)
    if syntax != DeflatedExplicitVRLittleEndian:
        np.save(name + ".stored.npy", stored)
    print(name + ".dcm")
