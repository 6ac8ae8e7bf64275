#!/usr/bin/env python3
"""Makes the DICOM test fixtures, with encoders independent of NoduleKit/GDCM.

* Synthetic 64x48 chest-like images written with pydicom; compressed pixel
  data comes from imagecodecs (libjpeg-turbo 3 for JPEG baseline/extended/
  lossless, CharLS for JPEG-LS, OpenJPEG for JPEG 2000) and pydicom's own RLE
  encoder, encapsulated by pydicom.
* A few real files copied from pydicom's wheel (pydicom/data/test_files, MIT
  licence, see README.md here): different vendors and encoders than ours.

Next to each decodable fixture, `<name>.expected.npy` (rows x columns)
(float32, exact for these value ranges) holds pydicom's `apply_modality_lut(pixel_array)` of frame 1, the reference
NoduleKit must match (exactly for lossless syntaxes). `manifest.json` lists
every fixture with the facts and exact error codes the tests check.

Run from this folder:  python3 make_dicom_fixtures.py
Needs: pydicom numpy imagecodecs pylibjpeg pylibjpeg-libjpeg pylibjpeg-openjpeg
The committed outputs are what the tests use; Python is not needed to test.
"""
import io
import json
import os
import shutil
import struct

import imagecodecs
import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.pixels import apply_modality_lut
from pydicom.sequence import Sequence
from pydicom.uid import UID

RNG = np.random.default_rng(20261126)
ROWS, COLS = 48, 64  # non-square: catches row/column swaps
PYDICOM_FILES = os.path.join(os.path.dirname(pydicom.__file__), "data", "test_files")
manifest = {}


def chest(bits=12):
    """A smooth chest-like field with two round 'nodules' and noise, using the full `bits` range."""
    y, x = np.mgrid[0:ROWS, 0:COLS].astype(np.float64)
    lungs = np.exp(-((x - 20) ** 2 / 150 + (y - 24) ** 2 / 300)) + np.exp(-((x - 44) ** 2 / 150 + (y - 24) ** 2 / 300))
    img = 0.7 - 0.5 * lungs + 0.3 * np.exp(-((x - 18) ** 2 + (y - 20) ** 2) / 8) + 0.25 * np.exp(-((x - 46) ** 2 + (y - 30) ** 2) / 5)
    img += RNG.normal(0, 0.02, img.shape)
    img = (img - img.min()) / (img.max() - img.min())
    return np.round(img * (2 ** bits - 1)).astype(np.uint16)


def uid(n):
    return UID(f"1.2.826.0.1.3680043.8.498.1{n:06d}")


def base(ts, pixels, *, bits_stored=12, signed=False, photometric="MONOCHROME2", frames=1, index=0):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID("1.2.840.10008.5.1.4.1.1.1.1")  # DX for presentation
    meta.MediaStorageSOPInstanceUID = uid(1000 + index)
    meta.TransferSyntaxUID = UID(ts)
    meta.ImplementationClassUID = uid(1)
    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyDate = "20240131"
    ds.Modality = "DX"
    ds.PatientID = "PHANTOM-001"
    ds.IssuerOfPatientID = "NODULEKIT-TEST"
    ds.ViewPosition = "PA"
    ds.StudyInstanceUID = uid(2)
    ds.SeriesInstanceUID = uid(3)
    ds.PixelSpacing = [0.175, 0.175]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.Rows, ds.Columns = pixels.shape[-2:]
    if frames > 1:
        ds.NumberOfFrames = frames
    ds.BitsAllocated = 16 if bits_stored > 8 else 8
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = 1 if signed else 0
    ds.PixelData = pixels.astype(np.uint16 if ds.BitsAllocated == 16 else np.uint8).tobytes()
    ds.is_implicit_VR = ts == "1.2.840.10008.1.2"
    ds.is_little_endian = ts != "1.2.840.10008.1.2.2"
    return ds


def reference(ds):
    arr = ds.pixel_array
    if int(getattr(ds, "NumberOfFrames", 1) or 1) > 1:
        arr = arr[0]
    return np.asarray(apply_modality_lut(arr, ds), dtype=np.float64)


def write(name, ds, *, expected=True, **facts):
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    data = buf.getvalue()
    save_bytes(name, data, reference(pydicom.dcmread(io.BytesIO(data))) if expected else None, **facts)
    return data


def save_bytes(name, data, expected=None, **facts):
    with open(name, "wb") as f:
        f.write(data)
    if expected is not None:
        np.save(name + ".expected.npy", np.ascontiguousarray(expected, dtype="<f4"))
    manifest[name] = facts


def encapsulated(ts, frames_bytes, pixels, **kw):
    ds = base(ts, pixels, **kw)
    ds.PixelData = encapsulate(frames_bytes)
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    return ds


img12 = chest(12)
img8 = chest(8)
OK = {"expect": "ok"}
STD = dict(patient="PHANTOM-001", issuer="NODULEKIT-TEST", studyDate="2024-01-31", modality="DX", view="PA",
           spacing=[0.175, 0.175], spacingSource="dicom:PixelSpacing", photometric="MONOCHROME2")

# --- every transfer syntax, synthetic --------------------------------------
write("implicit-le.dcm", base("1.2.840.10008.1.2", img12, index=1), **OK, **STD, tolerance=0, bitsStored=12)
write("explicit-le.dcm", base("1.2.840.10008.1.2.1", img12, index=2), **OK, **STD, tolerance=0, bitsStored=12)
ds = base("1.2.840.10008.1.2.1.99", img12, index=3)
write("deflated.dcm", ds, **OK, **STD, tolerance=0, bitsStored=12)
# The deflated data set is inflated and walked before GDCM, so a short Pixel Data, a cut stream and
# the view are found there. (Written here from deflated.dcm with pydicom, as these lines make them.)
ds.Rows = ROWS + 2
write("deflated-pixel-data-short.dcm", ds, expected=False, expect="decode.pixel-data-length", detail=f"{(ROWS + 2) * COLS * 2}")
ds.Rows = ROWS
data = open("deflated.dcm", "rb").read()
save_bytes("truncated-deflated-90pct.dcm", data[: int(len(data) * 0.9)], expect="decode.truncated", detail="Pixel Data")
ds.ViewPosition = "LL"
write("deflated-lateral.dcm", ds, **OK, **{**STD, "view": "LL"}, tolerance=0, bitsStored=12)
ds = base("1.2.840.10008.1.2.1", img8, bits_stored=8, index=4)
write("jpeg-baseline.dcm", encapsulated("1.2.840.10008.1.2.4.50", [imagecodecs.jpeg8_encode(img8.astype(np.uint8), level=92)], img8, bits_stored=8, index=4),
      **OK, **STD, tolerance=2, bitsStored=8)
write("jpeg-extended-12bit.dcm", encapsulated("1.2.840.10008.1.2.4.51", [imagecodecs.jpeg8_encode(img12, level=92, bitspersample=12)], img12, index=5),
      **OK, **STD, tolerance=2, bitsStored=12)
write("jpeg-lossless-p14-predictor6.dcm", encapsulated("1.2.840.10008.1.2.4.57", [imagecodecs.jpeg8_encode(img12, lossless=True, predictor=6, bitspersample=12)], img12, index=6),
      **OK, **STD, tolerance=0, bitsStored=12)
sv1 = imagecodecs.jpeg8_encode(img12, lossless=True, predictor=1, bitspersample=12)
write("jpeg-lossless-sv1.dcm", encapsulated("1.2.840.10008.1.2.4.70", [sv1], img12, index=7), **OK, **STD, tolerance=0, bitsStored=12)
write("jpeg-ls-lossless.dcm", encapsulated("1.2.840.10008.1.2.4.80", [imagecodecs.jpegls_encode(img12, level=0)], img12, index=8),
      **OK, **STD, tolerance=0, bitsStored=12)
write("jpeg-ls-near-lossless.dcm", encapsulated("1.2.840.10008.1.2.4.81", [imagecodecs.jpegls_encode(img12, level=3)], img12, index=9),
      **OK, **STD, tolerance=0, bitsStored=12)
j2k = imagecodecs.jpeg2k_encode(img12, level=0, codecformat="J2K", reversible=True, bitspersample=12)
write("j2k-lossless.dcm", encapsulated("1.2.840.10008.1.2.4.90", [j2k], img12, index=10), **OK, **STD, tolerance=0, bitsStored=12)
write("j2k-lossy.dcm", encapsulated("1.2.840.10008.1.2.4.91", [imagecodecs.jpeg2k_encode(img12, level=50, codecformat="J2K", reversible=False, bitspersample=12)], img12, index=11),
      **OK, **STD, tolerance=1, bitsStored=12)
ds = base("1.2.840.10008.1.2.1", img12, index=12)
ds.compress("1.2.840.10008.1.2.5", encoding_plugin="pydicom")
write("rle.dcm", ds, **OK, **STD, tolerance=0, bitsStored=12)
# HTJ2K: any codestream; the UID alone must be refused, naming it.
write("htj2k.dcm", encapsulated("1.2.840.10008.1.2.4.201", [j2k], img12, index=13), expected=False,
      expect="decode.unsupported-transfer-syntax", detail="1.2.840.10008.1.2.4.201")

# --- explicit big endian: pydicom 3 does not write it; build it by byte-swapping explicit LE by hand
def explicit_be(ds_le):
    """Re-encode a flat explicit-VR LE data set (no sequences) as explicit VR big endian."""
    buf = io.BytesIO()
    ds_le.save_as(buf, enforce_file_format=True)
    raw = buf.getvalue()
    out = bytearray(raw[:132])
    pos = 132
    # meta group stays LE; rewrite its transfer syntax
    meta_end = pos
    while struct.unpack_from("<H", raw, meta_end)[0] == 2:
        vr = raw[meta_end + 4:meta_end + 6]
        if vr in (b"OB", b"OW", b"UN", b"SQ", b"UT"):
            n = struct.unpack_from("<I", raw, meta_end + 8)[0]; meta_end += 12 + n
        else:
            n = struct.unpack_from("<H", raw, meta_end + 6)[0]; meta_end += 8 + n
    meta = Dataset()
    meta.file_meta = FileMetaDataset(ds_le.file_meta)
    meta.file_meta.TransferSyntaxUID = UID("1.2.840.10008.1.2.2")
    mbuf = io.BytesIO()
    pydicom.filewriter.write_file_meta_info(mbuf, meta.file_meta, enforce_standard=True)
    out = bytearray(raw[:128] + b"DICM" + mbuf.getvalue())
    pos = meta_end
    while pos < len(raw):
        g, e = struct.unpack_from("<HH", raw, pos)
        vr = raw[pos + 4:pos + 6]
        if vr in (b"OB", b"OW", b"UN", b"SQ", b"UT", b"OF", b"OD", b"OL"):
            n = struct.unpack_from("<I", raw, pos + 8)[0]; hdr = 12
            head = struct.pack(">HH", g, e) + vr + b"\0\0" + struct.pack(">I", n)
        else:
            n = struct.unpack_from("<H", raw, pos + 6)[0]; hdr = 8
            head = struct.pack(">HH", g, e) + vr + struct.pack(">H", n)
        value = raw[pos + hdr:pos + hdr + n]
        if vr in (b"US", b"OW", b"SS"):
            value = np.frombuffer(value, "<u2").astype(">u2").tobytes()
        elif vr in (b"UL", b"SL", b"FL"):
            value = np.frombuffer(value, "<u4").astype(">u4").tobytes()
        out += head + value
        pos += hdr + n
    return bytes(out)


be = explicit_be(base("1.2.840.10008.1.2.1", img12, index=14))
save_bytes("explicit-be.dcm", be, reference(pydicom.dcmread(io.BytesIO(be))), **OK, **STD, tolerance=0, bitsStored=12)

# --- pixel semantics -------------------------------------------------------
signed = (img12.astype(np.int32) - 2048) * 2  # -4096…4094: needs 13 bits signed
raw13 = (signed & 0x1FFF).astype(np.uint16)      # two's complement in the low 13 bits, upper bits 0
ds = base("1.2.840.10008.1.2.1", raw13, bits_stored=13, signed=True, index=20)
write("signed-13bit.dcm", ds, **OK, **STD, tolerance=0, bitsStored=13)
ds = base("1.2.840.10008.1.2.1", raw13 | 0xE000, bits_stored=13, signed=True, index=21)  # garbage above High Bit
write("signed-13bit-upper-bits-set.dcm", ds, **OK, **STD, tolerance=0, bitsStored=13)
ds = base("1.2.840.10008.1.2.1", img12, index=22)
ds.RescaleSlope, ds.RescaleIntercept, ds.RescaleType = "0.5", "-1024", "US"
write("rescale.dcm", ds, **OK, **STD, tolerance=0, bitsStored=12)
ds = base("1.2.840.10008.1.2.1", img12, index=23)
ds.RescaleSlope, ds.RescaleIntercept = "-1", "4095"
write("rescale-negative-slope.dcm", ds, **OK, **STD, tolerance=0, bitsStored=12)
ds = base("1.2.840.10008.1.2.1", img12, index=24)
item = Dataset()
item.LUTDescriptor = [4096, 0, 16]  # pydicom reads 8- or 16-bit LUT entries only
item.ModalityLUTType = "US"
item.LUTData = np.array([int(round(4095 * (i / 4095) ** 0.5)) for i in range(4096)], dtype="<u2").tobytes()
item["LUTData"].VR = "OW"
ds.ModalityLUTSequence = Sequence([item])
write("modality-lut.dcm", ds, **OK, **STD, tolerance=0, bitsStored=16)
write("monochrome1.dcm", base("1.2.840.10008.1.2.1", img12, photometric="MONOCHROME1", index=25),
      **OK, **{**STD, "photometric": "MONOCHROME1"}, tolerance=0, bitsStored=12)
# MONOCHROME2 data displayed inverted (Presentation LUT Shape INVERSE, as some CR systems write):
# read as MONOCHROME1, high values lucent, as it is displayed.
ds = base("1.2.840.10008.1.2.1", img12, index=27)
ds.PresentationLUTShape = "INVERSE"
write("presentation-lut-inverse.dcm", ds, **OK, **{**STD, "photometric": "MONOCHROME1"}, tolerance=0, bitsStored=12)
frames = np.stack([img12, img12[::-1], 4095 - img12])
write("multiframe-3.dcm", base("1.2.840.10008.1.2.1", frames, frames=3, index=26), **OK, **STD, tolerance=0, bitsStored=12, frames=3)

# --- spacing sources -------------------------------------------------------
ds = base("1.2.840.10008.1.2.1", img12, index=30)
ds.ImagerPixelSpacing = [0.2, 0.2]
ds.EstimatedRadiographicMagnificationFactor = "1.1"
write("spacing-ps-and-ips.dcm", ds, **OK, **STD, tolerance=0, bitsStored=12)
ds = base("1.2.840.10008.1.2.1", img12, index=31)
del ds.PixelSpacing
ds.ImagerPixelSpacing = [0.2, 0.16]
ds.EstimatedRadiographicMagnificationFactor = "1.25"
write("spacing-ips-ermf.dcm", ds, **OK, **{**STD, "spacing": [0.16, 0.128], "spacingSource": "dicom:ImagerPixelSpacing/ERMF(1.25)"}, tolerance=0, bitsStored=12)
ds = base("1.2.840.10008.1.2.1", img12, index=32)
del ds.PixelSpacing
ds.ImagerPixelSpacing = [0.143, 0.143]
write("spacing-ips-only.dcm", ds, **OK, **{**STD, "spacing": [0.143, 0.143], "spacingSource": "dicom:ImagerPixelSpacing(detector-plane)"}, tolerance=0, bitsStored=12)
ds = base("1.2.840.10008.1.2.1", img12, index=33)
del ds.PixelSpacing
write("spacing-none.dcm", ds, **OK, **{**STD, "spacing": None, "spacingSource": None}, tolerance=0, bitsStored=12)
# A digitised film (Secondary Capture, Conversion Type DF): only Nominal Scanned Pixel Spacing.
ds = base("1.2.840.10008.1.2.1", img12, index=34)
del ds.PixelSpacing
ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = UID("1.2.840.10008.5.1.4.1.1.7")
ds.Modality, ds.ConversionType = "OT", "DF"
ds.NominalScannedPixelSpacing = [0.175, 0.175]
write("spacing-nominal-scanned.dcm", ds, **OK, **{**STD, "modality": "OT", "spacingSource": "dicom:NominalScannedPixelSpacing(film-plane)"},
      tolerance=0, bitsStored=12)

# --- identity and text -----------------------------------------------------
ds = base("1.2.840.10008.1.2.1", img12, index=40)
ds.PatientID = "ÉLODIE-7  "
ds.IssuerOfPatientID = "Hôpital Nord"
write("latin1-identity.dcm", ds, **OK, **{**STD, "patient": "ÉLODIE-7", "issuer": "Hôpital Nord"}, tolerance=0, bitsStored=12)
ds = base("1.2.840.10008.1.2.1", img12, index=41)
ds.SpecificCharacterSet = "ISO_IR 192"
ds.PatientID = "患者-42"
del ds.IssuerOfPatientID
write("utf8-no-issuer.dcm", ds, **OK, **{**STD, "patient": "患者-42", "issuer": None}, tolerance=0, bitsStored=12)

# --- no preamble, no meta (implicit VR LE from the first byte) -------------
ds = base("1.2.840.10008.1.2", img12, index=42)
buf = pydicom.filebase.DicomBytesIO()
buf.is_little_endian, buf.is_implicit_VR = True, True
pydicom.filewriter.write_dataset(buf, ds)
save_bytes("no-preamble-implicit.dcm", buf.getvalue(), reference(ds), **OK, **STD, tolerance=0, bitsStored=12)

# --- rejected ------------------------------------------------------------
ds = base("1.2.840.10008.1.2.1", img12, index=50)
del ds.PixelData
write("no-pixel-data.dcm", ds, expected=False, expect="decode.missing-pixel-data")
good = open("explicit-le.dcm", "rb").read()
pix = good.index(b"\xe0\x7f\x10\x00")
value_start = pix + 12
for cut in (value_start + 1, value_start + ROWS * COLS, len(good) - 2):
    save_bytes(f"truncated-native-at-{cut}.dcm", good[:cut], expect="decode.truncated", detail="Pixel Data declares")
save_bytes("truncated-in-header.dcm", good[:pix - 7], expect="decode.truncated", detail="element header")
# Rows raised so the (complete) Pixel Data is too short for the declared image.
ds = base("1.2.840.10008.1.2.1", img12, index=51)
ds.Rows = ROWS + 2
write("pixel-data-short.dcm", ds, expected=False, expect="decode.pixel-data-length", detail=f"{(ROWS + 2) * COLS * 2}")
# Compressed files cut inside their fragments: the structural check must catch every cut.
for name in ("jpeg-lossless-sv1.dcm", "j2k-lossless.dcm", "rle.dcm", "jpeg-ls-lossless.dcm"):
    data = open(name, "rb").read()
    start = data.index(b"\xe0\x7f\x10\x00")
    for fraction in (0.1, 0.5, 0.9, 0.99):
        cut = start + int((len(data) - start) * fraction)
        save_bytes(f"truncated-{name[:-4]}-{int(fraction * 100)}pct.dcm", data[:cut], expect="decode.truncated", detail="Pixel Data")
# Structurally valid files whose codestream was cut (fragment length fixed up): only the codec can notice.
# GDCM 3.0.21 reports these as a decode failure (no abort); the worker would contain an abort if it did.
for name, codestream in (("jpeg-lossless-sv1", sv1), ("j2k-lossless", j2k)):
    half = codestream[: len(codestream) // 2]
    half += b"\0" * (len(half) % 2)
    ds = encapsulated({"jpeg-lossless-sv1": "1.2.840.10008.1.2.4.70", "j2k-lossless": "1.2.840.10008.1.2.4.90"}[name], [half], img12, index=60)
    write(f"cut-codestream-{name}.dcm", ds, expected=False, expect="decode.corrupt", detail="could not decode")
# The cut JPEG 2000 file as a lateral view: only the header can say it is lateral (tracking
# leaves such a view out before decoding it). Written here from cut-codestream-j2k-lossless.dcm
# with pydicom (ViewPosition set), as this line makes it.
ds.ViewPosition = "LL"
write("lateral-cut-codestream.dcm", ds, expected=False, expect="decode.corrupt", detail="could not decode")
ds = base("1.2.840.10008.1.2.1", chest(8), bits_stored=8, index=61)
ds.SamplesPerPixel = 3
ds.PhotometricInterpretation = "RGB"
ds.PlanarConfiguration = 0
ds.PixelData = np.repeat(chest(8)[..., None], 3, axis=2).astype(np.uint8).tobytes()
write("rgb.dcm", ds, expected=False, expect="decode.unsupported", detail="RGB")

# --- real files from pydicom's wheel -------------------------------------
# Only small ones: the 1024x256 and 512x512 files would need megabytes of references.
REAL = {
    "MR_small_bigendian.dcm": dict(expect="ok", tolerance=0, photometric="MONOCHROME2"),
    "MR_small_jpeg_ls_lossless.dcm": dict(expect="ok", tolerance=0, photometric="MONOCHROME2"),
    "MR_small_RLE.dcm": dict(expect="ok", tolerance=0, photometric="MONOCHROME2"),
    "MR_small_jp2klossless.dcm": dict(expect="ok", tolerance=0, photometric="MONOCHROME2"),
    "JPEGLSNearLossless_16.dcm": dict(expect="ok", tolerance=0, photometric="MONOCHROME2"),
    "CT_small.dcm": dict(expect="ok", tolerance=0, photometric="MONOCHROME2"),
    "MR_truncated.dcm": dict(expect="decode.truncated", detail="Pixel Data declares"),
    "SC_rgb_rle.dcm": dict(expect="decode.unsupported", detail="RGB"),
}
for name, facts in REAL.items():
    local = "pydicom-" + name
    shutil.copyfile(os.path.join(PYDICOM_FILES, name), local)
    ref = reference(pydicom.dcmread(local)) if facts["expect"] == "ok" else None
    if ref is not None:
        np.save(local + ".expected.npy", np.ascontiguousarray(ref, dtype="<f4"))
    manifest[local] = dict(facts, origin="pydicom " + pydicom.__version__ + " data/test_files/" + name)

with open("manifest.json", "w") as f:
    json.dump(manifest, f, indent=1, sort_keys=True, ensure_ascii=False)
print(f"{len(manifest)} fixtures")
