#!/usr/bin/env bash
# Installs headless Chromium from Debian's packages for the report's browser tests
# (Tests/ReviewReportTests/ReportBrowserTests.swift), when it is missing. Idempotent.
# fonts-dejavu-core gives a minimal Debian image real glyphs for the screenshots.
# Runs `apt-get update` only when something is missing. About 45 s on a fresh machine.
set -euo pipefail

PACKAGES=(chromium fonts-dejavu-core)
missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "chromium: installing ${missing[*]}" >&2
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v chromium >/dev/null 2>&1 || { echo "chromium: not on PATH after install" >&2; exit 1; }
