# mlstack: generate, render and test the model-serving platform charts.
# Every target bootstraps what it needs (`setup` is idempotent and cheap when done).
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

ENV ?= k3d
# ENV names a folder under values/, never a path: checked here, before any target writes.
# (make itself drops leading blanks of a command-line value; `ENV=' k3d' make` is caught.)
_space := $(subst ,, )
_env_rest := $(subst $(_space),_,$(ENV))
$(foreach c,a b c d e f g h i j k l m n o p q r s t u v w x y z 0 1 2 3 4 5 6 7 8 9 -,\
  $(eval _env_rest := $(subst $(c),,$(_env_rest))))
ifneq ($(_env_rest)$(filter -%,$(ENV))$(filter %-,$(ENV)),)
$(error ENV='$(ENV)' ($(origin ENV)) is not an environment name: use a folder name under values/ (lower-case letters, digits and '-', e.g. ENV=k3d))
endif
ifeq ($(strip $(ENV)),)
$(error ENV is empty: name a folder under values/, e.g. ENV=k3d)
endif
PYTHON ?= python3
# renovate.json is validated against the schema this npm package ships (make renovate-schema).
RENOVATE_NPM_VERSION := 44.121.2
RENOVATE_SCHEMA := $(CURDIR)/.cache/renovate/renovate-schema-$(RENOVATE_NPM_VERSION).json
export MLSTACK_RENOVATE_SCHEMA := $(RENOVATE_SCHEMA)
# VENV may name an existing environment with the pinned packages (a second clone reuses
# one); the stamp follows pyproject.toml's content, so a fresh clone does not reinstall.
VENV ?= .venv
PY := $(VENV)/bin/python
VENV_STAMP := $(VENV)/.installed-$(shell sha256sum pyproject.toml | cut -c1-16)
MLSTACK := $(PY) -m mlstack
# This checkout's generator/ wins over whatever checkout VENV's editable install names.
export PYTHONPATH := $(CURDIR)/generator$(if $(PYTHONPATH),:$(PYTHONPATH))
# The helm and kubectl `make setup` pins go to .tools/bin: after the user's own on PATH, so
# recipes that call them by name (deps, registry-login, cluster) find one either way.
export PATH := $(PATH):$(CURDIR)/.tools/bin
# Upstream schemas for validation: an explicit MLSTACK_SCHEMA_DIR wins; else the team's
# offline mirror beside the repo when present; else the cache `make schemas` downloads
# from MLSTACK_UPSTREAM_URL (default https://raw.githubusercontent.com; a proxy or an
# air-gapped mirror serving <base>/<owner>/<repo>/<tag>/<path> goes here).
SCHEMA_CACHE := $(CURDIR)/.cache/upstream
MLSTACK_SCHEMA_DIR ?= $(if $(wildcard ../shared/upstream/crds),$(abspath ../shared/upstream),$(SCHEMA_CACHE))
export MLSTACK_SCHEMA_DIR
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20

# GitOps: GITOPS_REPO is where gitops-sync pushes (URL or local path); GITOPS_URL is what
# Argo CD and Flux pull from (defaults to GITOPS_REPO); REVISION is what they follow.
GITOPS_REPO ?=
GITOPS_URL ?= $(GITOPS_REPO)
GITOPS_PATH ?= mlstack
GITOPS_CHECKOUT ?=
BRANCH ?= main
REVISION ?= $(BRANCH)
OUT ?= build/gitops
# DOMAIN: the domain a `domain: auto` env serves under in the clusters that sync it (the
# installer finds it from the gateway's address; Argo CD and Flux cannot).
# OCI=1: pull the published charts (OCI_REGISTRY, default project.yaml's registry; digests
# from build/published.yaml); FLEET=1: also the fleet manifests (CLUSTERS="a b" for Flux).
GITOPS_FLAGS = --env "$(ENV)" --repo-url "$(GITOPS_URL)" --revision "$(REVISION)" --path "$(GITOPS_PATH)" \
	$(if $(filter 1,$(OCI)),--oci) $(if $(OCI_REGISTRY),--oci-registry "$(OCI_REGISTRY)") \
	$(if $(COSIGN_SECRET),--cosign-secret "$(COSIGN_SECRET)") \
	$(if $(filter 1,$(FLEET)),--fleet) $(if $(CLUSTERS),--clusters "$(CLUSTERS)") \
	$(if $(DOMAIN),--domain "$(DOMAIN)")

.PHONY: help setup helm-compat helm-compat-tools chart-sources generate render render-all test test-controlplane lint drift check deps schemas bump envs images checkov clean \
	renovate-schema registry-login bench-package \
	gitops gitops-sync package publish benchmark benchmark-catalogue \
	cluster delete cluster-k3d cluster-minikube cluster-eks delete-k3d delete-minikube delete-eks \
	install-platform uninstall-platform smoke e2e bench-install

help: ## list the targets
	@grep -hE '^[a-z0-9 -]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-20s %s\n", $$1, $$2}'

$(VENV_STAMP):
	@echo "setup: installing the pinned Python packages into $(VENV)"
	@scripts/setup-venv.sh "$(PYTHON)" "$(VENV)" "$@"

setup: $(VENV_STAMP) ## create .venv with pinned deps; helm 4.x/3.17+ from PATH, else pinned helm 4.1.4 in .tools/bin
	@command -v node >/dev/null 2>&1 || { echo "error: no node on PATH: cdk8s synthesizes the charts with Node.js 20+: install it (Debian/Ubuntu: apt-get install nodejs npm)" >&2; exit 1; }
	@PYTHON=$(PY) scripts/setup-helm.sh

schemas: setup ## upstream schemas at the pinned versions (fetches into .cache/ what is missing)
	@if [ "$(MLSTACK_SCHEMA_DIR)" = "$(SCHEMA_CACHE)" ]; then $(MLSTACK) schemas --dest "$(SCHEMA_CACHE)"; \
	elif [ ! -d "$(MLSTACK_SCHEMA_DIR)/crds" ]; then \
	  echo "error: MLSTACK_SCHEMA_DIR=$(MLSTACK_SCHEMA_DIR) has no crds/: point it at the upstream schemas, or unset it to download them" >&2; exit 1; \
	fi

generate: setup ## write every chart under charts/ (atomic, deterministic)
	@$(MLSTACK) generate

render: setup schemas ## generate, then render + validate every release of ENV (default k3d) into build/ENV/
	@$(MLSTACK) render --generate --env "$(ENV)"

render-all: setup schemas ## generate, then render every environment (every values/<env>/)
	@$(MLSTACK) render --generate --env all

$(RENOVATE_SCHEMA):
	@scripts/fetch-renovate-schema.sh $(RENOVATE_NPM_VERSION) "$@"

renovate-schema: $(RENOVATE_SCHEMA) ## Renovate's JSON schema (npm package renovate) for the renovate.json test

benchmark: setup schemas ## medians of render-all, generate, bare cdk8s synth [RUNS=5] [ROOT=dir] [COMPARE=dir]
	@$(MLSTACK) benchmark --runs $(or $(RUNS),5) $(if $(ROOT),--root "$(ROOT)") $(if $(COMPARE),--compare "$(COMPARE)")

benchmark-catalogue: setup schemas ## render+validate k3d with 10 and 1000 catalogue entries: medians, ratio (target <= 4x) [RUNS=5]
	@$(PY) -m mlstack.catbench --runs $(or $(RUNS),5)

# The deps tests build every upstream chart from its sources: with the cache as the schema
# directory, fetch them there too (a mirror must hold them: CI's does).
chart-sources: setup
	@if [ "$(MLSTACK_SCHEMA_DIR)" = "$(SCHEMA_CACHE)" ]; then $(MLSTACK) deps --sources-only; fi

test: setup schemas chart-sources helm-compat-tools checkov $(RENOVATE_SCHEMA) ## run the test suite (offline)
	@$(PY) -m pytest -n 2 --dist loadgroup -q $(PYTEST_ARGS)

test-controlplane: setup ## simulated cluster (values/ci): PodSecurity, controllers, CEL; then the real installer installs every ci release on it (first run builds it: minutes)
	@$(PY) -m pytest -q -m controlplane tests/test_controlplane.py tests/test_install_l3.py $(PYTEST_ARGS)

helm-compat-tools: setup
	@PYTHON=$(PY) scripts/setup-helm.sh compat

helm-compat: setup schemas helm-compat-tools ## render every env with helm 4.1.4 and helm 3.17.3; fail on any difference
	@$(PY) -m pytest -q tests/test_helm_compat.py

checkov: ## install checkov (its own venv, .tools/checkov; pin: pyproject.toml policy extra)
	@scripts/setup-checkov.sh "$(PYTHON)"

lint: setup checkov ## ruff, mypy, helm lint --strict and checkov (offline) per environment
	@$(PY) -m ruff check generator tests
	@$(PY) -m ruff format --check generator tests
	@$(PY) -m mypy
	@$(MLSTACK) lint
	@$(MLSTACK) policy --env all

drift: generate ## fail when charts/ differs from what the generator writes
	@git diff --exit-code --stat -- charts values || { echo "error: charts/ or values/ differ from the generator: commit the regenerated files" >&2; exit 1; }
	@test -z "$$(git status --porcelain -- charts values)" || { echo "error: untracked generated files: commit them" >&2; git status --short -- charts values; exit 1; }

check: drift ## generate + no drift + lint + test
	@$(MAKE) --no-print-directory lint test

# deps: from source (MLSTACK_UPSTREAM_URL set, or MLSTACK_SCHEMA_DIR a mirror with chart-sources/)
# or from the chart registries (helm dependency build); MLSTACK_DEPS=source|registry forces one.
deps: setup ## upstream charts of the wrapper charts into charts/<id>/charts/ (registry or source; see README)
	@$(MLSTACK) deps

bump: setup ## add a chart version: make bump CHART=id MSG='what changed' [PART=patch]
	@$(MLSTACK) bump "$(CHART)" --part "$(or $(PART),patch)" -m "$(MSG)"

gitops: setup schemas ## Argo CD + Flux manifests, charts, values: make gitops ENV=k3d OUT=dir GITOPS_URL=https://... [DOMAIN=..] [OCI=1] [FLEET=1 CLUSTERS="a b"]
	@$(MLSTACK) gitops --generate $(GITOPS_FLAGS) --out "$(OUT)"

gitops-sync: setup schemas ## commit + push ENV's layout: make gitops-sync GITOPS_REPO=<url|path> [BRANCH=main GITOPS_URL=...]
	@$(MLSTACK) gitops-sync --generate $(GITOPS_FLAGS) --repo "$(GITOPS_REPO)" --branch "$(BRANCH)" \
	  $(if $(GITOPS_CHECKOUT),--checkout "$(GITOPS_CHECKOUT)")

package: setup ## helm package every chart into dist/ + index.yaml (wrappers need make deps; STRICT=1 fails on skips)
	@$(MLSTACK) package --generate --dist dist $(if $(CHART_REPO_URL),--url "$(CHART_REPO_URL)") $(if $(filter 1,$(STRICT)),--strict)

bench-package: generate ## package 5 times: median seconds and whether dist/ stayed byte-identical
	@$(MLSTACK) package --bench 5

publish: setup ## push + cosign-sign dist/*.tgz: make publish [REGISTRY=oci://host/path] [COSIGN_KEY=..] [SIGN=0] [DRY_RUN=1]
	@$(MLSTACK) publish --generate --package $(if $(REGISTRY),--registry "$(REGISTRY)") --dist dist $(if $(filter 1,$(DRY_RUN)),--dry-run) \
	  $(if $(COSIGN_KEY),--key "$(COSIGN_KEY)") $(if $(filter 0,$(SIGN)),--no-sign)

registry-login: setup ## helm registry login to REGISTRY's host: echo $$TOKEN | make registry-login REGISTRY=oci://host/path USERNAME=...
	@host="$$(echo "$(REGISTRY)" | sed -E 's#^oci://([^/]+).*#\1#')"; \
	  helm registry login "$$host" --username "$(USERNAME)" --password-stdin

images: setup ## every image ENV pulls, tagged, under its imageRegistry: make images ENV=k3d
	@$(MLSTACK) images --generate --env "$(ENV)"

envs: setup ## list the environments (values/<env>/environment.yaml): settings and releases
	@$(MLSTACK) envs

# Cluster lifecycle. DRY_RUN=1 prints the commands instead of running them (no cluster needed).
DRY := $(if $(filter 1 true yes,$(DRY_RUN)),--dry-run)
TIMEOUT ?= 10m
PARALLEL ?= 4

cluster: setup ## create or reuse ENV's cluster (its environment.yaml `cluster:` picks the driver)
	@$(MLSTACK) cluster create "$(ENV)" $(DRY)

delete: setup ## delete ENV's cluster (never a `cluster: existing` one)
	@$(MLSTACK) cluster delete "$(ENV)" $(DRY)

cluster-k3d cluster-minikube cluster-eks: setup ## shorthand: make cluster ENV=k3d|minikube|eks
	@$(MLSTACK) cluster create $(@:cluster-%=%) $(DRY)

delete-k3d delete-minikube delete-eks: setup ## shorthand: make delete ENV=k3d|minikube|eks
	@$(MLSTACK) cluster delete $(@:delete-%=%) $(DRY)

install-platform: setup ## install ENV's releases along their needs, PARALLEL at once [DRY_RUN=1 -> build/ENV/install.sh] [FROM=release] [FORCE=1]
	@$(MLSTACK) install --generate --env "$(ENV)" --timeout $(TIMEOUT) --parallel $(PARALLEL) $(if $(FROM),--from $(FROM)) \
	  $(if $(filter 1 true yes,$(FORCE)),--force) $(DRY)

bench-install: setup schemas ## simulated k3d install: the real installer vs a fake API + fake helm; last line wall/critical-path/serial
	@$(PY) -m mlstack.lifecycle.simulate --env "$(ENV)" --parallel $(PARALLEL) $(if $(VERBOSE),,--quiet)

uninstall-platform: setup ## uninstall ENV's releases in reverse order [DRY_RUN=1] [PURGE=1]
	@$(MLSTACK) uninstall --generate --env "$(ENV)" --timeout $(TIMEOUT) $(if $(filter 1,$(PURGE)),--purge) $(DRY)

smoke: setup ## call every enabled catalogue model with its request, one line + latency each [DRY_RUN=1] [INGRESS=host:port]
	@$(MLSTACK) smoke --generate --env "$(ENV)" $(if $(INGRESS),--ingress $(INGRESS)) $(DRY)

e2e: ## k3d end to end: cluster -> install -> smoke -> uninstall -> delete
	@$(MAKE) --no-print-directory cluster-k3d
	@$(MAKE) --no-print-directory install-platform smoke ENV=k3d
	@# the cluster goes next: its CRDs may go with the releases
	@$(MAKE) --no-print-directory uninstall-platform ENV=k3d PURGE=1
	@$(MAKE) --no-print-directory delete-k3d

clean: ## remove build output and caches (keeps .venv and .tools)
	rm -rf build dist .pytest_cache .mypy_cache .ruff_cache
