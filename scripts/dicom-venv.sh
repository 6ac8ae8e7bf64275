#!/usr/bin/env bash
# Creates .build/dicom-venv: pydicom and its JPEG / JPEG-LS / JPEG 2000 plugins from PyPI,
# used by the DICOM tests (PydicomWheelTests reads the DICOM files pydicom's wheel ships
# in pydicom/data/test_files; DICOMSeriesCommandTests writes a DICOM serial study) and by
# Benchmarks/dicom-decode.sh (see scripts/python-venv.sh). The check: the plugins import
# and the wheel's test files are present (read directly, no download).
exec "$(dirname "$0")/python-venv.sh" dicom-venv '
import os, pydicom, pylibjpeg, openjpeg, libjpeg, numpy, png
folder = os.path.join(os.path.dirname(pydicom.__file__), "data", "test_files")
assert len(os.listdir(folder)) > 50, folder
' "pydicom==3.0.2" "pylibjpeg==2.1.0" "pylibjpeg-openjpeg==2.6.0" "pylibjpeg-libjpeg==2.5.0" "numpy==2.4.6" "pypng==0.20220715.0"
