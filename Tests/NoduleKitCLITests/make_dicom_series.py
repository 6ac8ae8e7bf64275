#!/usr/bin/env python3
"""Writes a DICOM serial study from the committed phantom series PH-0002, for
DICOMSeriesCommandTests (spawned with .build/dicom-venv/bin/python).

Each `Data/phantom/series/PH-0002/<date>/pa.png` (16-bit, pHYs spacing) becomes one
DX file in ONE flat folder, named so that neither patient nor date can be taken from
the path: patient, issuer and study date are only in the DICOM tags. Syntaxes vary:
explicit VR little endian, JPEG 2000 lossless (pylibjpeg-openjpeg) and RLE (pydicom).
A decoy with the same Patient ID but another Issuer of Patient ID is added: the store
must keep it a different patient. And a lateral view (View Position LL) in the second study,
which the tracker must leave out.

Usage: python make_dicom_series.py REPO_ROOT OUT_DIR   (prints a JSON summary)
"""
import json
import os
import sys

import numpy as np
import png
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, ExplicitVRLittleEndian, JPEG2000Lossless, RLELossless

root, out = sys.argv[1], sys.argv[2]
series = os.path.join(root, "Data", "phantom", "series", "PH-0002")
os.makedirs(out, exist_ok=True)
ISSUER, DECOY_ISSUER, PATIENT = "NODULEKIT-PHANTOM", "OTHER-HOSPITAL", "PH-0002"


def read_png(path):
    reader = png.Reader(filename=path)
    width, height, rows, info = reader.read()
    pixels = np.vstack([np.asarray(r, dtype=np.uint16) for r in rows]).reshape(height, width)
    phys = info.get("physical")
    assert phys is not None and phys.unit_is_meter and phys.x == phys.y, path
    return pixels, 1000.0 / phys.x


def write(name, pixels, spacing, date, issuer, ts, n, view="PA"):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID("1.2.840.10008.5.1.4.1.1.1.1")
    meta.MediaStorageSOPInstanceUID = UID(f"1.2.826.0.1.3680043.8.498.77{n}")
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = UID(f"1.2.826.0.1.3680043.8.498.78{n}")
    ds.SeriesInstanceUID = UID(f"1.2.826.0.1.3680043.8.498.79{n}")
    ds.Modality, ds.ViewPosition = "DX", view
    ds.PatientID, ds.IssuerOfPatientID, ds.PatientName = PATIENT, issuer, "Phantom^Two"
    ds.StudyDate = date.replace("-", "")
    ds.PixelSpacing = [f"{spacing:.6f}", f"{spacing:.6f}"]
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.Rows, ds.Columns = pixels.shape
    bits = 12 if int(pixels.max()) < 4096 else 16
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, bits, bits - 1, 0
    ds.PixelData = pixels.tobytes()
    if ts != ExplicitVRLittleEndian:
        ds.compress(ts, encoding_plugin="pylibjpeg" if ts == JPEG2000Lossless else "pydicom")
    ds.save_as(os.path.join(out, name), enforce_file_format=True)
    return {"file": name, "date": date, "issuer": issuer, "syntax": str(ts), "rows": int(ds.Rows), "columns": int(ds.Columns),
            "view": view}


dates = sorted(os.listdir(series))
syntaxes = [ExplicitVRLittleEndian, JPEG2000Lossless, RLELossless]
written = []
for n, (date, ts) in enumerate(zip(dates, syntaxes)):
    pixels, spacing = read_png(os.path.join(series, date, "pa.png"))
    written.append(write(f"image-{chr(ord('c') - n)}.dcm", pixels, spacing, date, ISSUER, ts, n))
pixels, spacing = read_png(os.path.join(series, dates[0], "pa.png"))
written.append(write("image-z.dcm", pixels, spacing, dates[0], DECOY_ISSUER, ExplicitVRLittleEndian, 9))
# A lateral view in the second study (other content: the frontal image mirrored), which the
# tracker must leave out rather than track as another exam of that day.
pixels, spacing = read_png(os.path.join(series, dates[1], "pa.png"))
written.append(write("image-l.dcm", np.ascontiguousarray(pixels[:, ::-1]), spacing, dates[1], ISSUER, ExplicitVRLittleEndian, 8, view="LL"))
print(json.dumps({"patient": PATIENT, "issuer": ISSUER, "decoyIssuer": DECOY_ISSUER, "dates": dates, "files": written}))
