# Bright Smile voice receptionist. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.setup-stamp
SERVICE_PROJECTS := $(wildcard services/*/pyproject.toml tools/*/pyproject.toml)

.PHONY: help setup test lint fmt docs bench-scheduling bench-token eval clean

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  \033[1m%-18s\033[0m %s\n", $$1, $$2}'

$(STAMP): $(SERVICE_PROJECTS) requirements-dev.txt scripts/setup.sh
	@scripts/setup.sh
	@touch $@

setup: $(STAMP) ## create .venv with every service and the dev tools; install redis-server
	@command -v redis-server >/dev/null && command -v chromium >/dev/null || scripts/setup.sh

test: setup livekit-server helm prometheus kube-cluster web base-images ## run every test suite against real servers on loopback
	@scripts/run-tests.sh

lint: setup ## ruff and mypy (strict) over all service code
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy services/scheduling-api/src services/token-service/src services/agent-worker/src services/provider-sim/src tools/call-sim/src

fmt: setup ## format the code with ruff
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

docs: setup ## regenerate docs/configuration.md's settings tables from the services' Settings classes
	$(BIN)/python scripts/render-settings-docs.py

bench-scheduling: setup ## benchmark the scheduling API against a bare FastAPI endpoint
	$(BIN)/python services/scheduling-api/bench/bench_scheduling.py

bench-token: setup ## benchmark token minting over HTTP against a bare minting loop
	$(BIN)/python services/token-service/bench/bench_token.py

WEB_STAMP := web/node_modules/.ci-stamp
WEB_SOURCES := $(wildcard web/src/*) web/build.mjs web/tsconfig.json

$(WEB_STAMP): web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

web/dist/index.html: $(WEB_STAMP) $(WEB_SOURCES)
	cd web && npm run --silent build

.PHONY: web
web: web/dist/index.html ## build the web client into web/dist (npm ci + type check + esbuild)

HELM := .tools/bin/helm
CHART := deploy/helm/bright-smile
IMAGE_REGISTRY ?= ghcr.io/bright-smile
IMAGE_TAG ?= $(shell sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$$/\1/p' $(CHART)/Chart.yaml)
IMAGES := scheduling-api token-service agent-worker provider-sim

.PHONY: helm helm-lint manifests images push-images image-tools base-images
helm: ## install the pinned helm binary into .tools/bin/helm (checksum-verified)
	@scripts/install-helm.sh

helm-lint: helm ## helm lint --strict the chart
	$(HELM) lint --strict $(CHART)

manifests: helm setup ## sync the chart's clinic file and regenerate deploy/k8s from the chart
	$(BIN)/python scripts/render-manifests.py

IMAGE_PUSH ?= 0
IMAGE_PLATFORM ?=
LOCAL_BASE_IMAGES ?= 0
IMAGE_ENV = IMAGE_REGISTRY='$(IMAGE_REGISTRY)' IMAGE_TAG='$(IMAGE_TAG)' IMAGES='$(IMAGES)' \
  IMAGE_PUSH='$(IMAGE_PUSH)' IMAGE_PLATFORM='$(IMAGE_PLATFORM)' LOCAL_BASE_IMAGES='$(LOCAL_BASE_IMAGES)'

images: ## build the images with Docker or buildah (IMAGE_REGISTRY, IMAGE_TAG, IMAGE_PUSH=1, IMAGE_PLATFORM, LOCAL_BASE_IMAGES=1)
	@$(if $(filter 1,$(LOCAL_BASE_IMAGES)),scripts/install-image-tools.sh &&) $(IMAGE_ENV) scripts/build-images.sh

push-images: ## build and push the images to IMAGE_REGISTRY (same as make images IMAGE_PUSH=1)
	@$(MAKE) --no-print-directory images IMAGE_PUSH=1

image-tools: ## install buildah, podman, debootstrap and runc through apt (images without Docker)
	@scripts/install-image-tools.sh

base-images: image-tools ## build the local stand-in Python/Node base images with debootstrap (cached)
	@scripts/build-base-images.sh

.PHONY: kube-cluster
kube-cluster: ## build the pinned Kubernetes v1.35 control plane, etcd and kwok into .tools/bin (needs Go; cached)
	@scripts/install-kube-cluster.sh

.PHONY: livekit-server
livekit-server: ## build the pinned LiveKit server into .tools/bin/livekit-server (needs Go; cached)
	@scripts/install-livekit-server.sh

.PHONY: prometheus
prometheus: ## build the pinned Prometheus and promtool into .tools/bin (needs Go; cached)
	@scripts/install-prometheus.sh

.PHONY: demo dev bench-calls
demo: setup livekit-server web ## a whole booking call through the real stack, offline: transcript, booking, latency
	@$(BIN)/call-sim demo

dev: setup livekit-server web ## run the whole stack locally (web page, token endpoint, API docs) until Ctrl-C
	@$(BIN)/call-sim dev

bench-calls: setup livekit-server ## concurrent simulated calls against one worker: added latency, CPU and MB per call
	@mkdir -p .artifacts
	@$(BIN)/call-sim bench --job-executor process --report .artifacts/bench-calls-process.json
	@$(BIN)/call-sim bench --job-executor thread --report .artifacts/bench-calls-thread.json

eval: setup ## live evals of the receptionist: real LLM + LLM judge (skipped without OPENAI_API_KEY)
	$(BIN)/pytest services/agent-worker/evals -o python_files='eval_*.py'

clean: ## remove the virtualenv and caches
	rm -rf $(VENV) .mypy_cache .ruff_cache
