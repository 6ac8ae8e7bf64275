#!/usr/bin/env bash
# Creates .build/dicom-venv: pydicom and its JPEG / JPEG-LS / JPEG 2000 plugins from PyPI,
# used by the DICOM tests (PydicomWheelTests reads the DICOM files pydicom's wheel ships
# in pydicom/data/test_files; DICOMSeriesCommandTests writes a DICOM serial study) and by
# Benchmarks/dicom-decode.sh. Idempotent: a stamp file records the pinned versions, so a
# second run does nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.build/dicom-venv
PINS=("pydicom==3.0.2" "pylibjpeg==2.1.0" "pylibjpeg-openjpeg==2.6.0" "pylibjpeg-libjpeg==2.5.0" "numpy==2.4.6" "pypng==0.20220715.0")
STAMP="$VENV/.nodulekit-pins"

if [ -x "$VENV/bin/python" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "${PINS[*]}" ]; then
    exit 0
fi

if ! command -v python3 >/dev/null 2>&1 || ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
    echo "dicom-venv: installing python3 and python3-venv" >&2
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends python3 python3-venv >/dev/null
fi

echo "dicom-venv: creating $VENV (${PINS[*]})" >&2
rm -rf "$VENV"
mkdir -p .build
python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${PINS[@]}"
# The plugins must be importable and the wheel's test files present (read directly, no download).
"$VENV/bin/python" - <<'PY'
import os, pydicom, pylibjpeg, openjpeg, libjpeg, numpy, png
folder = os.path.join(os.path.dirname(pydicom.__file__), "data", "test_files")
assert len(os.listdir(folder)) > 50, folder
PY
echo "${PINS[*]}" > "$STAMP"
