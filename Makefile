# Two commands set everything up on a fresh machine: `make demo` and `make test`.
# Every package they (and `make bench`) install comes from a lock file: requirements-*.lock.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# --no-deps: the lock is the whole list, so nothing unpinned can slip in beside it.
INSTALL := $(BIN)/python -m pip install -q --no-deps

.PHONY: demo test lint bench services chromium node nginx clean lock lock-upgrade check-lock

check-lock:
	@$(PY) scripts/lock.py --check

$(BIN)/python:
	$(PY) -m venv $(VENV)

# One stamp per lock: installing the wider lock into a venv made for the narrower adds to it.
$(VENV)/.%-installed: requirements-%.lock pyproject.toml | check-lock $(BIN)/python
	$(INSTALL) -r requirements-$*.lock
	$(INSTALL) --no-build-isolation -e .
	$(BIN)/python -m pip check -q
	touch $@

demo: $(VENV)/.demo-installed
	$(BIN)/runwatch demo --data ./.runwatch

chromium:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

# tests/js/ runs the web modules' pure functions under `node --test`.
node:
	@command -v node >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs; }

# tests/scaleout/test_proxy.py runs docs/deployment.md's nginx block (Debian's nginx-light).
nginx:
	@command -v nginx >/dev/null 2>&1 || test -x /usr/sbin/nginx || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light; }

services:
	@bash scripts/ensure-services.sh

lint: $(VENV)/.test-installed
	$(BIN)/ruff check src tests benchmarks examples scripts
	$(BIN)/ruff format --check src tests benchmarks examples scripts
	$(BIN)/mypy

test: check-lock $(VENV)/.test-installed chromium node nginx services lint
	$(BIN)/python -m pytest -q -p no:cacheprovider

bench: $(VENV)/.bench-installed
	$(BIN)/python benchmarks/ingest.py
	$(BIN)/python benchmarks/fanout.py

# Scale-out: PostgreSQL + Redis replicas against the embedded server (about a minute).
.PHONY: bench-scale
bench-scale: $(VENV)/.bench-installed services
	$(BIN)/python benchmarks/scale.py

# Refresh the locks after editing pyproject.toml (existing pins kept where still allowed);
# `make lock P=redis` moves one package to its newest allowed release, `make lock-upgrade` all.
# (No check-lock here: refreshing is how a stale lock is mended.)
lock lock-upgrade: | $(BIN)/python
	$(INSTALL) -r requirements-test.lock
	$(BIN)/python scripts/lock.py $(if $(filter lock-upgrade,$@),--upgrade) $(if $(P),--upgrade-package $(P))

clean:
	rm -rf $(VENV) .runwatch test-artifacts
