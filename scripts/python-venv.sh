#!/usr/bin/env bash
# Creates .build/NAME, a Python venv with pinned packages from PyPI, and checks it
# with a Python snippet. Idempotent: a stamp file records the pins, so a second run
# with the same pins does nothing. Installs python3-venv with apt only when missing.
#
#   scripts/python-venv.sh NAME CHECK PIN...
#
# Used by scripts/fhir-venv.sh and scripts/dicom-venv.sh (test tooling, never the product).
set -euo pipefail
cd "$(dirname "$0")/.."
NAME="$1"; CHECK="$2"; shift 2
PINS=("$@")
VENV=".build/$NAME"
STAMP="$VENV/.nodulekit-pins"

if [ -x "$VENV/bin/python" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "${PINS[*]}" ]; then
    exit 0
fi

if ! command -v python3 >/dev/null 2>&1 || ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
    echo "$NAME: installing python3 and python3-venv" >&2
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends python3 python3-venv >/dev/null
fi

echo "$NAME: creating $VENV (${PINS[*]})" >&2
rm -rf "$VENV"
mkdir -p .build
python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${PINS[@]}"
"$VENV/bin/python" -c "$CHECK"
echo "${PINS[*]}" > "$STAMP"
