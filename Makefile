# NoduleKit — the two commands a newcomer needs:
#   make demo   install what is missing, build, run the main job on Data/samples
#   make test   install what is missing, build, run the whole test suite
SWIFT ?= swift
RELEASE_BIN = .build/release/nodules
SAMPLES = Data/samples
OUT = out

.PHONY: demo test build bootstrap fhir-venv dicom-venv chromium clean

bootstrap:
	@scripts/bootstrap.sh

# The FHIR R4 validator the SerialTracking tests spawn (fhir.resources 6.4.0 in .build/fhir-venv).
fhir-venv:
	@scripts/fhir-venv.sh

# pydicom + JPEG/JPEG-LS/JPEG 2000 plugins (PyPI, pinned) in .build/dicom-venv: the DICOM tests
# read the files pydicom's wheel ships and compare against its decode.
dicom-venv:
	@scripts/dicom-venv.sh

# Headless Chromium (Debian package) for the report's real-browser tests.
chromium:
	@scripts/chromium.sh

build: bootstrap
	$(SWIFT) build -c release --product nodules

demo: build
	@mkdir -p $(OUT)
	@echo "== nodules batch on the bundled phantoms (synthetic, no patient data) =="
	$(RELEASE_BIN) batch $(SAMPLES) --exclude truth.csv --raw 1024x1024:u16be:12 \
		--out $(OUT)/results.jsonl --db $(OUT)/nodules.sqlite --csv $(OUT)/detections.csv
	@echo "== results: $(OUT)/results.jsonl (one JSON line per image), $(OUT)/detections.csv (one row per detection), $(OUT)/nodules.sqlite (the store; rerun to resume) =="

test: bootstrap fhir-venv dicom-venv chromium
	$(SWIFT) build --build-tests
	$(SWIFT) test

clean:
	rm -rf .build $(OUT)
