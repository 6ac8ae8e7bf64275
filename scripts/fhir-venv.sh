#!/usr/bin/env bash
# Creates .build/fhir-venv with the strict FHIR R4 (4.0.1) validator used by the
# SerialTracking tests: fhir.resources 6.4.0 on pydantic 1. Idempotent: a stamp
# file records the pinned versions, so a second run does nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.build/fhir-venv
PINS=("fhir.resources==6.4.0" "pydantic<2")
STAMP="$VENV/.nodulekit-pins"

if [ -x "$VENV/bin/python" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "${PINS[*]}" ]; then
    exit 0
fi

if ! command -v python3 >/dev/null 2>&1 || ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
    echo "fhir-venv: installing python3 and python3-venv" >&2
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends python3 python3-venv >/dev/null
fi

echo "fhir-venv: creating $VENV (${PINS[*]})" >&2
rm -rf "$VENV"
mkdir -p .build
python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${PINS[@]}"
"$VENV/bin/python" -c 'import fhir.resources; assert fhir.resources.__fhir_version__ == "4.0.1"'
echo "${PINS[*]}" > "$STAMP"
