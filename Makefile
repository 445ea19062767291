# Two commands do all set-up on a fresh machine: `make run` serves the API, `make test` runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 7071

.PHONY: run test lint install tools bigfile soak fuzz bench orthanc

# Authentication is OFF for this local, single-user server (see the README to turn it on).
run: install
	DICOM_AUTH_ENABLED=$${DICOM_AUTH_ENABLED:-false} PORT=$(PORT) $(BIN)/python -m local.host --port $(PORT) --with-azurite .azurite

test: install
	$(BIN)/python -m pytest

# Store and retrieve one large file (GIB, default 2) and print the server's peak memory.
GIB ?= 2
bigfile: install
	$(BIN)/python -m bench.bigfile --gib $(GIB)

# Benchmark (not part of make test): STOW/WADO/QIDO scenarios and QIDO at two archive sizes, with the raw-SDK
# ceilings (minimal store, WADO) measured on the same Azurite in the same run; PEER=orthanc runs the same against
# Orthanc (installed from Debian if missing) and prints the ratios. AZURITE=disk (default, as make run) or memory.
# LATENCY_MS=8 runs the Azure-like mode instead (bench.roundtrips): every storage call through a proxy adding
# LATENCY_MS each way; per scenario the storage calls, sequential round trips, p50/p95 and CPU ms per request.
# PROFILE=1 records py-spy flame graphs of a STOW and a QIDO scenario instead. Figures: bench/results/.
SMALL ?= 2000
LARGE ?= 20000
REQUESTS ?= 200
AZURITE ?= disk
ROUNDTRIP_REQUESTS ?= 20
bench: install $(if $(PEER),orthanc)
ifdef LATENCY_MS
	$(BIN)/python -m bench.roundtrips --latency-ms $(LATENCY_MS) --requests $(ROUNDTRIP_REQUESTS) --azurite $(AZURITE)
else ifdef PROFILE
	$(BIN)/python -m bench.profile --azurite $(AZURITE)
else
	$(BIN)/python -m bench.run --small $(SMALL) --large $(LARGE) --requests $(REQUESTS) --azurite $(AZURITE) \
		$(if $(PEER),--peer $(PEER))
endif

orthanc:
	@command -v Orthanc >/dev/null && test -e /usr/share/orthanc/plugins/libOrthancDicomWeb.so || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq orthanc orthanc-dicomweb)

# A few minutes of mixed load; fails on any error or on memory growth (figures in docs/reliability.md).
SOAK_SECONDS ?= 180
soak: install
	$(BIN)/python -m bench.soak --seconds $(SOAK_SECONDS) --out bench/results/soak.json

# Coverage-guided fuzzing of each parser for FUZZ_SECONDS (make test runs a short form).
FUZZ_SECONDS ?= 60
fuzz: install
	mkdir -p bench/results
	for target in multipart media_types query dicom; do \
		$(BIN)/python -m tests.fuzz_targets $$target -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=1024 -timeout=10 \
			-artifact_prefix=bench/results/ -print_final_stats=1 > bench/results/fuzz-$$target.log 2>&1 \
			|| { tail -40 bench/results/fuzz-$$target.log; exit 1; }; \
		echo "$$target: $$(grep -E '^Done' bench/results/fuzz-$$target.log)"; \
	done

lint: install
	$(BIN)/ruff check .

install: $(BIN)/.installed node_modules/.installed tools

$(BIN)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(BIN)/pip install --quiet --disable-pip-version-check -e .
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The tests replay the tutorial with curl itself, open the share page in headless Chromium (Selenium), and
# look at the command line's table and progress bar in a tmux pane.
tools:
	@command -v curl >/dev/null || (apt-get update -qq && apt-get install -y -qq curl)
	@command -v tmux >/dev/null || (apt-get update -qq && apt-get install -y -qq tmux)
	@test -x /usr/bin/chromium && test -x /usr/bin/chromedriver || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver)
