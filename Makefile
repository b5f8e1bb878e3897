# Backstride: `make run` serves the API on SQLite with a demo clinic; `make test` runs the whole suite.
PYTHON ?= python3
UV_VERSION := 0.13.9
VENV := .venv
BIN := $(VENV)/bin
UV := .tools/bin/uv
export UV_PYTHON_DOWNLOADS := never

.PHONY: install browser compose run test lint typecheck pytest fuzz openapi bench clean

install: $(VENV)/.installed

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# Installs exactly what uv.lock pins (dev tools included).
$(VENV)/.installed: pyproject.toml uv.lock $(UV)
	$(UV) sync --frozen --python $(PYTHON)
	touch $@

# The browser tests need Debian's Chromium (root installs it) and axe-core from npm.
browser: node_modules/.installed
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && (export DEBIAN_FRONTEND=noninteractive; apt-get install -y -q --no-install-recommends chromium || (apt-get update -q && apt-get install -y -q --no-install-recommends chromium)); } \
		|| { echo "the browser tests need Chromium: apt-get install chromium"; exit 1; }

# tests/test_deploy.py checks docker-compose.yml with `docker-compose config` (Debian's package;
# it needs no Docker engine).
compose:
	@command -v docker-compose >/dev/null || { [ "$$(id -u)" = 0 ] && (export DEBIAN_FRONTEND=noninteractive; apt-get install -y -q --no-install-recommends docker-compose || (apt-get update -q && apt-get install -y -q --no-install-recommends docker-compose)); } \
		|| { echo "the deployment test needs docker-compose: apt-get install docker-compose"; exit 1; }

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

run: install
	$(BIN)/backstride migrate
	$(BIN)/backstride demo
	$(BIN)/backstride serve --host 127.0.0.1 --port 8000

test: install browser compose lint typecheck pytest

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck:
	$(BIN)/mypy

pytest:
	$(BIN)/pytest

# Longer, randomised schemathesis run (the suite's contract test is repeatable).
fuzz: install
	CONTRACT_EXAMPLES=400 CONTRACT_RANDOM=1 $(BIN)/pytest tests/test_contract.py -x

# Regenerate the committed OpenAPI document after an API change.
openapi: install
	$(BIN)/backstride openapi > openapi/openapi.json

# Speed on PostgreSQL next to ceilings measured in the same run (bench/run.py; needs wrk).
bench: install
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && (export DEBIAN_FRONTEND=noninteractive; apt-get install -y -q --no-install-recommends wrk || (apt-get update -q && apt-get install -y -q --no-install-recommends wrk)); } \
		|| { echo "make bench needs wrk: apt-get install wrk"; exit 1; }
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) .tools node_modules artifacts .mypy_cache .ruff_cache .pytest_cache backstride.db*
