# The two commands a fresh clone needs: `make render` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: render test bench schema validate clean e2e bench-real

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

# tenants/schema.json from tenants/model.py (a test fails when the committed file is out of date).
schema: $(VENV)/.runtime
	$(BIN)/python -m tenants.schema

test: $(VENV)/.dev
	$(BIN)/python -m pytest

# The policy pack's own virtualenv, where Pulumi runs it: pulumi-policy pins protobuf 5, the
# program's .venv has protobuf 6 (see policy/requirements.txt). Tests serve the pack from it.
POLICY_VENV := policy/.venv
$(POLICY_VENV)/.installed: policy/requirements.txt
	$(PYTHON) -m venv $(POLICY_VENV)
	$(POLICY_VENV)/bin/pip install --quiet --disable-pip-version-check -r policy/requirements.txt
	touch $@

test: $(POLICY_VENV)/.installed

# The end-to-end suite (e2e/README.md): the real Pulumi CLI and provider against a local control
# plane (e2e/cluster), or against the user's cluster when KUBECONFIG is set and `pulumi` and
# `kubectl` are on PATH (then nothing is built). Not part of `make test`, which needs no Go.
E2E_USER_CLUSTER = $(shell [ -n "$$KUBECONFIG" ] && [ "$$E2E_CLUSTER" != local ] && command -v pulumi >/dev/null && command -v kubectl >/dev/null && echo yes)
e2e: $(VENV)/.dev $(POLICY_VENV)/.installed
ifneq ($(E2E_USER_CLUSTER),yes)
	$(MAKE) --no-print-directory e2e-tools
endif
	$(BIN)/python -m pytest e2e/tests $(E2E_ARGS)

bench: $(VENV)/.dev
	$(BIN)/python -m bench

# The real engine against the e2e cluster (bench/real_engine.py): pulumi up, a no-change preview
# and tenants added, against kubectl apply --server-side of the same objects. Needs the e2e tools.
bench-real: $(VENV)/.dev
	$(MAKE) --no-print-directory e2e-tools
	$(BIN)/python -m bench.real_engine

clean:
	rm -rf build .pytest_cache

# The real tools `make e2e` runs (Pulumi CLI, provider, control plane, helm, istioctl), built from
# Go modules pinned in e2e/tools/ and cached outside the tree: see e2e/tools/README.md.
.PHONY: e2e-tools helm
e2e-tools:
	$(PYTHON) e2e/tools/build

# The L7 proof (issue 18, verify/README.md): Istio's own config compiler (a Go test, built once
# and cached like the e2e tools) simulates every stack's routes, cross-tenant calls and compiled
# RBAC against what its tenants file declares; then the broken renders it must refuse
# (tests/test_verify_istio.py, which `make test` skips without the binary). Needs Go, and helm.
.PHONY: verify
verify: $(VENV)/.dev
	$(BIN)/python -m verify.run $(VERIFY_ARGS)
	$(BIN)/python -m pytest tests/test_verify_istio.py
# helm alone, from its pinned Go module, into build/e2e/bin, where `make render` finds it (needs Go;
# minutes the first time, seconds once cached).
helm:
	$(PYTHON) e2e/tools/build helm
