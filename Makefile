# Two commands do all set-up on a fresh machine: `make run` serves the API, `make test` runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 7071

.PHONY: run test lint install tools bigfile

# Authentication is OFF for this local, single-user server (see the README to turn it on).
run: install
	DICOM_AUTH_ENABLED=$${DICOM_AUTH_ENABLED:-false} PORT=$(PORT) $(BIN)/python -m shared.local_host --port $(PORT) --with-azurite .azurite

test: install
	$(BIN)/python -m pytest

# Store and retrieve one large file (GIB, default 2) and print the server's peak memory.
GIB ?= 2
bigfile: install
	$(BIN)/python -m bench.bigfile --gib $(GIB)

lint: install
	$(BIN)/ruff check .

install: $(BIN)/.installed node_modules/.installed tools

$(BIN)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The tests replay the tutorial with curl itself.
tools:
	@command -v curl >/dev/null || (apt-get update -qq && apt-get install -y -qq curl)
