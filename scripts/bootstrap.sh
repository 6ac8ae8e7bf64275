#!/usr/bin/env bash
# Installs what NoduleKit needs on Debian 12 when it is missing. Idempotent.
# Runs `apt-get update` at most once, and only when a package is missing.
set -euo pipefail

# libgdcm-dev: DICOM (CGDCM links gdcmMSFF, gdcmDSED, gdcmCommon; headers in /usr/include/gdcm-3.0, no pkg-config file).
PACKAGES=(pkg-config zlib1g-dev libpng-dev libdeflate-dev libjpeg-dev libopenblas-dev libgdcm-dev libsqlite3-dev)

missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "bootstrap: installing ${missing[*]}" >&2
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v swift >/dev/null 2>&1; then
    echo "bootstrap: Swift 6.3 is required (swift not on PATH)" >&2
    exit 1
fi
for lib in libpng16 libjpeg openblas sqlite3; do
    pkg-config --exists "$lib" || { echo "bootstrap: pkg-config cannot find $lib" >&2; exit 1; }
done
[ -f /usr/include/gdcm-3.0/gdcmImageReader.h ] || { echo "bootstrap: GDCM headers missing (/usr/include/gdcm-3.0); install libgdcm-dev" >&2; exit 1; }
