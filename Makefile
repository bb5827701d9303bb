# The two commands a fresh clone needs: `make render` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: render test bench schema validate clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Runtime dependencies: what `pulumi up` (which uses the same .venv) needs.
$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

# Test and tooling dependencies on top.
$(VENV)/.dev: requirements.txt requirements-dev.txt $(VENV)/.runtime
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

render: $(VENV)/.runtime
	$(BIN)/python -m render dev

validate: $(VENV)/.runtime
	$(BIN)/python -m render validate dev

test: $(VENV)/.dev
	$(BIN)/python -m pytest

bench: $(VENV)/.dev
	$(BIN)/python -m bench

clean:
	rm -rf build .pytest_cache
