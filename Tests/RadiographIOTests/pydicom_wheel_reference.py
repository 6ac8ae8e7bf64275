#!/usr/bin/env python3
"""References for NoduleKit's DICOM decoder from the files pydicom's wheel ships.

Spawned by `PydicomWheelTests` (Tests/RadiographIOTests/PydicomWheelTests.swift)
with the interpreter of `.build/dicom-venv` (scripts/dicom-venv.sh: pydicom,
pylibjpeg, pylibjpeg-openjpeg, pylibjpeg-libjpeg, numpy from PyPI).

Reads every file directly from the installed wheel's `pydicom/data/test_files`
folder (never through pydicom's data-manager helper, which tries to download
more files) and, for each, decides from its own tags what NoduleKit must do:

  ok                                  single-sample MONOCHROME1/2, Bits Allocated
                                      8 or 16, a supported transfer syntax and
                                      decodable by pydicom: `<out>/<n>.npy`
                                      (float64, rows x columns) holds
                                      apply_modality_lut(pixel_array) of frame 1
                                      (multi-frame: frame 1 is decoded with a
                                      note, the rule documented in README)
  decode.missing-pixel-data           no (7FE0,0010) Pixel Data (and no float/double
                                      pixel data)
  decode.unsupported-transfer-syntax  a transfer syntax outside NoduleKit's list
  decode.unsupported                  colour / >1 sample, Bits Allocated not 8/16,
                                      or Float/Double Float Pixel Data
  decode.any                          pydicom itself cannot read or decode the
                                      file although it looks supported (damaged
                                      on purpose in pydicom's suite): NoduleKit
                                      must fail with a decode error (never crash,
                                      hang or return pixels)
  not-dicom                           pydicom cannot parse it as DICOM at all
                                      (e.g. .txt, .gz, .zip helpers): listed, and
                                      NoduleKit must not return an image

Writes `<out>/manifest.json`: {"testFiles": folder, "pydicom": version,
"plugins": {...}, "files": [{"path", "name", "transferSyntax", "expect",
"category", "reason", "npy", "frames", "lossy", "bitsAllocated"}...]}.

Usage: python pydicom_wheel_reference.py OUT_DIR
"""
import json
import os
import sys
import traceback
import warnings

import numpy as np
import pydicom
from pydicom.dataelem import RawDataElement
from pydicom.pixels import apply_modality_lut

SUPPORTED = {
    "1.2.840.10008.1.2": False,
    "1.2.840.10008.1.2.1": False,
    "1.2.840.10008.1.2.1.99": False,
    "1.2.840.10008.1.2.2": False,
    "1.2.840.10008.1.2.4.50": True,
    "1.2.840.10008.1.2.4.51": True,
    "1.2.840.10008.1.2.4.57": False,
    "1.2.840.10008.1.2.4.70": False,
    "1.2.840.10008.1.2.4.80": False,
    "1.2.840.10008.1.2.4.81": True,
    "1.2.840.10008.1.2.4.90": False,
    "1.2.840.10008.1.2.4.91": True,
    "1.2.840.10008.1.2.5": False,
}  # UID -> lossy


def plugin_versions():
    found = {}
    for name in ("pylibjpeg", "openjpeg", "libjpeg", "numpy"):
        try:
            module = __import__(name)
            found[name] = getattr(module, "__version__", "?")
        except Exception as error:  # a missing plugin is reported, and fails the test run
            found[name] = f"missing: {error}"
    return found


def truncated_element(ds):
    """A top-level element whose value the file cuts short (pydicom reads it silently)."""
    for raw in ds._dict.values():
        if isinstance(raw, RawDataElement) and raw.length != 0xFFFFFFFF and raw.value is not None and len(raw.value) < raw.length:
            return f"{raw.tag} declares {raw.length} bytes, {len(raw.value)} present"
    return None


def classify(path, out, index):
    entry = {"path": path, "name": os.path.relpath(path, TEST_FILES)}
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ds = pydicom.dcmread(path)  # no force: files that are not DICOM stay out
    except Exception as error:
        entry.update(expect="not-dicom", category="not-dicom", reason=f"pydicom: {type(error).__name__}: {error}"[:300])
        try:  # a bare data set (no preamble, no meta) starting with group 0008: NoduleKit sniffs it as DICOM
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                bare = pydicom.dcmread(path, force=True)
            first = next(iter(bare.keys()), None)
            if first is not None and first.group == 0x0008 and not bare.is_little_endian:
                # NoduleKit sniffs a bare data set only in little endian (no transfer syntax to say otherwise).
                entry.update(expect="decode.not-an-image", category="no-meta-big-endian",
                             reason="big-endian data set without preamble or File Meta")
            elif first is not None and first.group == 0x0008 and "PixelData" not in bare:
                entry.update(expect="decode.missing-pixel-data", category="no-meta-no-pixel-data",
                             reason="data set without preamble or File Meta, no Pixel Data")
        except Exception:
            pass
        return entry
    vr_switch = [str(w.message) for w in caught if "Expected explicit VR, but found implicit VR" in str(w.message)]
    cut = truncated_element(ds)
    meta = getattr(ds, "file_meta", None)
    ts = str(meta.get("TransferSyntaxUID", "")) if meta is not None else ""
    if not ts:
        ts = "1.2.840.10008.1.2.1" if not ds.is_implicit_VR else "1.2.840.10008.1.2"
        if not ds.is_little_endian:
            ts = "1.2.840.10008.1.2.2"
    entry["transferSyntax"] = ts
    entry["lossy"] = SUPPORTED.get(ts, False)
    has_float = "FloatPixelData" in ds or "DoubleFloatPixelData" in ds
    if cut:
        entry.update(expect="decode.truncated", category="truncated", reason=cut)
        return entry
    if vr_switch:
        # The meta says explicit VR but the data set is implicit: pydicom guesses, NoduleKit refuses.
        entry.update(expect="decode.corrupt", category="vr-mismatch", reason=vr_switch[0])
        return entry
    if "PixelData" not in ds:
        if has_float:
            entry.update(expect="decode.unsupported", category="float-pixel-data", reason="Float/Double Float Pixel Data")
        else:
            entry.update(expect="decode.missing-pixel-data", category="no-pixel-data", reason=f"SOP class {ds.get('SOPClassUID', '?')}")
        return entry
    if ts not in SUPPORTED:
        entry.update(expect="decode.unsupported-transfer-syntax", category="unsupported-syntax", reason=ts)
        return entry
    missing = [k for k in ("Rows", "Columns", "BitsAllocated") if k not in ds]
    if missing and "PixelData" in ds and not ds["PixelData"].is_undefined_length:
        entry.update(expect="decode.corrupt", category="incomplete-image-module", reason=f"Pixel Data without {', '.join(missing)}")
        return entry
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    photometric = str(ds.get("PhotometricInterpretation", "")).strip()
    bits = int(ds.get("BitsAllocated", 0) or 0)
    entry["bitsAllocated"] = bits
    if samples != 1 or photometric not in ("MONOCHROME1", "MONOCHROME2"):
        entry.update(expect="decode.unsupported", category="colour", reason=f"{samples} sample(s), {photometric or '(missing)'}")
        return entry
    if bits not in (8, 16):
        entry.update(expect="decode.unsupported", category="bits-allocated", reason=f"Bits Allocated {bits}")
        return entry
    try:
        entry["frames"] = int(ds.get("NumberOfFrames", 1) or 1)
        array = ds.pixel_array
        frame = array[0] if entry["frames"] > 1 else array
        if frame.shape != (ds.Rows, ds.Columns):
            raise ValueError(f"pixel_array frame shape {frame.shape} is not {(ds.Rows, ds.Columns)}")
        reference = np.asarray(apply_modality_lut(frame, ds), dtype=np.float64)
    except Exception as error:
        entry.update(expect="decode.any", category="pydicom-cannot-decode",
                     reason=f"pydicom: {type(error).__name__}: {error}"[:300])
        return entry
    npy = os.path.join(out, f"{index:04d}.npy")
    np.save(npy, reference)
    entry.update(expect="ok", category="multi-frame" if entry["frames"] > 1 else "single-frame", npy=npy,
                 reason=f"{ds.Rows}x{ds.Columns} {photometric} BitsStored {ds.get('BitsStored')} PixelRepresentation {ds.get('PixelRepresentation')}")
    return entry


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    paths = []
    for root, _dirs, names in os.walk(TEST_FILES):
        paths += [os.path.join(root, name) for name in names]
    paths.sort()
    files = []
    for index, path in enumerate(paths):
        try:
            files.append(classify(path, out, index))
        except Exception:
            files.append({"path": path, "name": os.path.relpath(path, TEST_FILES), "expect": "script-error",
                          "category": "script-error", "reason": traceback.format_exc()[-500:]})
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump({"testFiles": TEST_FILES, "pydicom": pydicom.__version__, "plugins": plugin_versions(), "files": files}, f, indent=1)


TEST_FILES = os.path.join(os.path.dirname(pydicom.__file__), "data", "test_files")

if __name__ == "__main__":
    main()
