#!/usr/bin/env bash
# Creates .build/fhir-venv with the strict FHIR R4 (4.0.1) validator used by the
# SerialTracking tests: fhir.resources 6.4.0 on pydantic 1 (see scripts/python-venv.sh).
exec "$(dirname "$0")/python-venv.sh" fhir-venv \
    'import fhir.resources; assert fhir.resources.__fhir_version__ == "4.0.1"' \
    "fhir.resources==6.4.0" "pydantic<2"
