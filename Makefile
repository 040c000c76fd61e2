# Apiary — every command a newcomer needs. `make demo` to try it, `make test` to check it.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PG_URL ?= postgres://postgres@127.0.0.1:5432/apiary
PYTEST_ARGS ?=
CHROMIUM ?= /usr/bin/chromium

.PHONY: demo serve install test test-sqlite test-postgres browser-deps lint format bench messages clean

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is required ($(PYTHON) not found)"; exit 1; }
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[postgres,nats,dev]'
	touch $(STAMP)

install: $(STAMP)

## make demo: set everything up and serve the demo on http://127.0.0.1:8000
demo: $(STAMP)
	$(BIN)/apiary demo

serve: $(STAMP)
	$(BIN)/apiary serve

## Debian's Chromium for the browser tests (Playwright drives it; nothing is downloaded by Playwright)
## and libcairo2, which cairosvg needs to turn charts into PNG.
browser-deps:
	@if [ ! -x $(CHROMIUM) ] || ! /sbin/ldconfig -p | grep -q 'libcairo\.so\.2'; then \
	  echo "Installing Debian's chromium (browser tests) and libcairo2 (chart PNGs)…"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium libcairo2 >/dev/null; \
	fi
	@$(CHROMIUM) --version

## make test: the whole suite on SQLite, then on PostgreSQL (test database created and dropped)
test: $(STAMP) browser-deps
	BIN=$(BIN) PG_URL=$(PG_URL) APIARY_CHROMIUM=$(CHROMIUM) scripts/test.sh $(PYTEST_ARGS)

test-sqlite: $(STAMP) browser-deps
	DATABASE_URL= APIARY_CHROMIUM=$(CHROMIUM) $(BIN)/pytest $(PYTEST_ARGS)

test-postgres: $(STAMP) browser-deps
	DATABASE_URL=$(PG_URL) APIARY_CHROMIUM=$(CHROMIUM) $(BIN)/pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## make bench: every benchmarks/*.py; each prints its figures and writes benchmarks/results/<name>.json
bench: $(STAMP)
	@shopt -s nullglob; files=(benchmarks/*.py); \
	if [ $${#files[@]} = 0 ]; then echo "No benchmarks yet."; exit 0; fi; \
	for f in "$${files[@]}"; do echo "=== $$f ==="; $(BIN)/python "$$f" || exit 1; done

## make messages: refresh and compile the ru/es translations after changing user-visible strings
messages: $(STAMP)
	cd apiary && ../$(BIN)/apiary makemessages -l ru -l es -e html,txt,py,svg --no-obsolete --ignore 'demo/*'
	cd apiary && ../$(BIN)/apiary compilemessages

clean:
	rm -rf $(VENV) var test-artifacts .pytest_cache .ruff_cache
