# NoduleKit — the two commands a newcomer needs:
#   make demo   install what is missing, build, run the main job on Data/samples
#   make test   install what is missing, build, run the whole test suite
#               (ending with the Slurm integration test: needs root, installs slurm + munge)
SWIFT ?= swift
RELEASE_BIN = .build/release/nodules
SAMPLES = Data/samples
OUT = out
# The detections tracked and reported are this definition's, so that rerunning the demo after the
# default pipeline changed version (a store holding both) tracks the current one.
PIPELINE = cxr-nodules

.PHONY: demo test slurm-test build install bootstrap fhir-venv dicom-venv chromium clean

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

# Both executables: `nodules` decodes DICOM in child `nodules-dicom-worker` processes (found
# next to it; without one, `nodules` runs copies of itself as the workers).
build: bootstrap
	$(SWIFT) build -c release --product nodules
	$(SWIFT) build -c release --product nodules-dicom-worker

demo: build
	@mkdir -p $(OUT)
	@echo "== nodules batch on the bundled phantoms (synthetic, no patient data) =="
	$(RELEASE_BIN) batch $(SAMPLES) --exclude truth.csv --raw 1024x1024:u16be:12 --pipeline $(PIPELINE) \
		--out $(OUT)/results.jsonl --db $(OUT)/nodules.sqlite --csv $(OUT)/detections.csv
	@echo "== nodules track: serial exams matched, doubling times, follow-up (radiograph-surveillance policy) =="
	$(RELEASE_BIN) track --db $(OUT)/nodules.sqlite --pipeline $(PIPELINE) --format json --out $(OUT)/tracks.json
	$(RELEASE_BIN) track --db $(OUT)/nodules.sqlite --pipeline $(PIPELINE) --format fhir --out $(OUT)/tracks.fhir.ndjson
	@echo "== nodules report: static HTML for review =="
	$(RELEASE_BIN) report --db $(OUT)/nodules.sqlite --pipeline $(PIPELINE) --all --out $(OUT)/report --quiet
	@echo "== nodules evaluate: the results against the samples' truth (crude phantoms, 6 nodules: not an accuracy figure) =="
	$(RELEASE_BIN) evaluate --truth $(SAMPLES)/truth.csv --results $(OUT)/results.jsonl
	@echo "== results in $(OUT)/: results.jsonl (one JSON line per image), detections.csv (one row per detection),"
	@echo "   nodules.sqlite (the store; rerun to resume), tracks.json and tracks.fhir.ndjson (FHIR R4 Bundles),"
	@echo "   report/index.html (open in a browser). Synthetic phantoms: the figures are not clinical. =="

# Installs the executables into PREFIX/bin and the pipeline definitions and follow-up policies into
# PREFIX/share/nodulekit/Pipelines, where an installed `nodules` looks for them (DESTDIR for staging).
PREFIX ?= /usr/local
install: build
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/nodulekit/Pipelines/policies \
		$(DESTDIR)$(PREFIX)/share/nodulekit/Pipelines/operating-points
	install -m 755 .build/release/nodules .build/release/nodules-dicom-worker $(DESTDIR)$(PREFIX)/bin/
	install -m 644 Pipelines/*.json $(DESTDIR)$(PREFIX)/share/nodulekit/Pipelines/
	install -m 644 Pipelines/policies/*.json $(DESTDIR)$(PREFIX)/share/nodulekit/Pipelines/policies/
	install -m 644 Pipelines/operating-points/*.json $(DESTDIR)$(PREFIX)/share/nodulekit/Pipelines/operating-points/

test: bootstrap fhir-venv dicom-venv chromium
	$(SWIFT) build --build-tests
	$(SWIFT) test
	Pipelines/slurm/integration-test.sh .build/debug/nodules

# The Slurm integration test alone: a single-node Slurm (Pipelines/slurm/single-node.sh)
# runs a phantom folder as a 4-shard array; the merged result must equal a one-machine run.
slurm-test: bootstrap fhir-venv
	$(SWIFT) build --product nodules
	Pipelines/slurm/integration-test.sh .build/debug/nodules

clean:
	rm -rf .build $(OUT)
