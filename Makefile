# NoduleKit — the two commands a newcomer needs:
#   make demo   install what is missing, build, run the main job on Data/samples
#   make test   install what is missing, build, run the whole test suite
#               (ending with the Slurm integration test: needs root, installs slurm + munge)
SWIFT ?= swift
RELEASE_BIN = .build/release/nodules
SAMPLES = Data/samples

.PHONY: demo test slurm-test build bootstrap fhir-venv clean

bootstrap:
	@scripts/bootstrap.sh

# The FHIR R4 validator the SerialTracking tests spawn (fhir.resources 6.4.0 in .build/fhir-venv).
fhir-venv:
	@scripts/fhir-venv.sh

build: bootstrap
	$(SWIFT) build -c release --product nodules

demo: build
	@echo "== nodules info on the bundled phantoms (synthetic, no patient data) =="
	$(RELEASE_BIN) info $(SAMPLES)/PHANTOM-001/*/pa.png $(SAMPLES)/PHANTOM-002/*/pa.jpg
	$(RELEASE_BIN) info --raw 1024x1024:u16be:12 --spacing 0.35 $(SAMPLES)/jsrt-style/PHANTOM-003.img

test: bootstrap fhir-venv
	$(SWIFT) build --build-tests
	$(SWIFT) test
	Pipelines/slurm/integration-test.sh .build/debug/nodules

# The Slurm integration test alone: a single-node Slurm (Pipelines/slurm/single-node.sh)
# runs a phantom folder as a 4-shard array; the merged result must equal a one-machine run.
slurm-test: bootstrap fhir-venv
	$(SWIFT) build --product nodules
	Pipelines/slurm/integration-test.sh .build/debug/nodules

clean:
	rm -rf .build
