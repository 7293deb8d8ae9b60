# Flotilla's build. `make help` lists the targets.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

KUBE_VERSION ?= v1.36.3
KWOK_VERSION ?= v0.7.0
BIN          := $(CURDIR)/bin
K8S_BIN      := $(BIN)/k8s/$(KUBE_VERSION)
CONTROLLER_GEN := $(BIN)/controller-gen
GOLANGCI_LINT  := $(BIN)/golangci-lint
HELM           := $(BIN)/helm

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS := -X github.com/flotilla-io/flotilla/internal/version.Version=$(VERSION) \
           -X github.com/flotilla-io/flotilla/internal/version.Commit=$(COMMIT)

# Tests find the local control-plane binaries here (envtest reads KUBEBUILDER_ASSETS).
export KUBEBUILDER_ASSETS := $(K8S_BIN)
export KUBE_VERSION KWOK_VERSION

# go test settings: TEST_PKGS narrows the run (make test TEST_PKGS=./api/...), TEST_FLAGS adds flags.
TEST_PKGS  ?= ./...
TEST_FLAGS ?=
TEST_TIMEOUT ?= 30m
# How long make test fuzzes condition evaluation before the tests (no panic on any input).
FUZZ_TIME ?= 20s

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z_-]+:.*##/ {printf "  %-14s %s\n", $$1, $$2} /^##@/ {printf "\n%s\n", substr($$0, 5)}' $(MAKEFILE_LIST)

##@ Development

.PHONY: build
build: ## Build flotilla-hub, flotilla-spoke and kubectl-flotilla into bin/.
	go build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN)/ ./cmd/...

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Generate deepcopy code for the API types.
	$(CONTROLLER_GEN) object:headerFile=hack/boilerplate.go.txt paths=./api/...

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## Generate CRD YAML into charts/*/crds (the hub's with the ClusterAnalysisTemplate CRD it reads) and each binary's RBAC rules into charts/*/rbac.
	$(CONTROLLER_GEN) crd:generateEmbeddedObjectMeta=true paths=./api/rollouts/... output:crd:artifacts:config=charts/flotilla-spoke/crds
	$(CONTROLLER_GEN) crd:generateEmbeddedObjectMeta=true paths=./api/fleet/... output:crd:artifacts:config=charts/flotilla-hub/crds
	go run ./hack/crdtrim charts/flotilla-spoke/crds charts/flotilla-hub/crds
	cp charts/flotilla-spoke/crds/rollouts.flotilla.dev_clusteranalysistemplates.yaml charts/flotilla-hub/crds/
	$(CONTROLLER_GEN) rbac:roleName=flotilla-spoke paths=./cmd/flotilla-spoke output:rbac:artifacts:config=charts/flotilla-spoke/rbac
	$(CONTROLLER_GEN) rbac:roleName=flotilla-hub-access,fileName=hub-access.yaml paths=./federation/memberaccess output:rbac:artifacts:config=charts/flotilla-spoke/rbac
	$(CONTROLLER_GEN) rbac:roleName=flotilla-hub paths=./cmd/flotilla-hub output:rbac:artifacts:config=charts/flotilla-hub/rbac

.PHONY: fmt
fmt: $(GOLANGCI_LINT) ## Format the Go code (gofmt and goimports).
	$(GOLANGCI_LINT) fmt ./...

.PHONY: lint
lint: $(GOLANGCI_LINT) ## Run golangci-lint.
	$(GOLANGCI_LINT) run ./...

.PHONY: verify
verify: generate manifests $(GOLANGCI_LINT) ## Regenerate, check formatting, vet and lint; fail if the tree changed.
	@out=$$(gofmt -l $$(git ls-files -co --exclude-standard '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	go vet ./...
	$(GOLANGCI_LINT) run ./...
	go mod tidy -diff
	@if [ -n "$$(git status --porcelain -- api charts go.mod go.sum)" ]; then \
	  echo "verify: generated files are stale; commit the result of 'make generate manifests':"; \
	  git status --porcelain -- api charts go.mod go.sum; exit 1; fi

##@ Test

.PHONY: test
test: k8s-bins test-deps traefik helm ## Install what the tests need, run every test, print a one-line summary.
	go test ./analysis/ -run '^$$' -fuzz '^FuzzEvaluate$$' -fuzztime $(FUZZ_TIME)
	go test -json -count=1 -timeout $(TEST_TIMEOUT) $(TEST_FLAGS) $(TEST_PKGS) | go run ./hack/testsum

BENCH_PKGS ?= ./...
BENCH_FLAGS ?= -benchtime=1s -count=1

.PHONY: bench
bench: k8s-bins ## Run the Go benchmarks; the report goes to _output/bench.txt (see docs/benchmarks.md).
	@mkdir -p _output
	go test -run '^$$' -bench . -benchmem $(BENCH_FLAGS) $(BENCH_PKGS) | tee _output/bench.txt

.PHONY: traefik
traefik: ## Build Traefik v3.6.12 (the data plane of the traffic tests) into bin/traefik.
	hack/tools/traefik/build.sh

.PHONY: helm
helm: $(HELM) ## Build helm v3 (pinned in hack/tools/helm) into bin/helm, for the chart tests.

.PHONY: test-deps
test-deps: ## Install the Debian packages the tests run (Prometheus, graphite) when missing.
	hack/install-deps.sh

.PHONY: k8s-bins
k8s-bins: ## Build etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl and kwok into bin/k8s/.
	hack/k8s-bins.sh

##@ Local fleet

.PHONY: fleet-up
fleet-up: k8s-bins manifests ## Start a hub cluster with three flotilla-hub replicas and three member clusters, each with its flotilla-spoke agent (built into bin/), in the background; kubeconfigs and logs in .fleet/.
	go run ./hack/fleet up

.PHONY: fleet-down
fleet-down: ## Stop every process of the local fleet and remove .fleet/.
	go run ./hack/fleet down

.PHONY: fleet-status
fleet-status: ## Show each cluster of the local fleet, its API server, its nodes, its agent or hub replicas.
	go run ./hack/fleet status

##@ Demo

# make demo FAIL=eu-west makes the update's canary analysis fail in that member.
FAIL ?=

.PHONY: demo
demo: k8s-bins manifests ## Start the local fleet (3 hub replicas, 3 members), ship the sample FleetRollout wave by wave and follow it live; FAIL=eu-west fails that region's canary.
	FAIL="$(FAIL)" hack/demo.sh

$(CONTROLLER_GEN): hack/tools/go.mod hack/tools/go.sum
	cd hack/tools && go build -o $@ sigs.k8s.io/controller-tools/cmd/controller-gen

$(HELM): hack/tools/helm/go.mod hack/tools/helm/go.sum hack/tools/helm/build.sh
	HELM_BIN=$@ hack/tools/helm/build.sh

$(GOLANGCI_LINT): hack/tools/lint/go.mod hack/tools/lint/go.sum
	cd hack/tools/lint && go build -o $@ github.com/golangci/golangci-lint/v2/cmd/golangci-lint
