# triggerflow: every target is listed by `make help`.
# Focus a run with PKG= (a package pattern inside each module, default ./...; test and vet
# skip a module it names no package in) and T= (a -run regexp), e.g. `make test T=TestBadInput`
# or `make test PKG=./internal/runtime/... T=TestRetry`.

GO        ?= go
PKG       ?= ./...
T         ?=
# Modules of the workspace (go.work): the root module and pkg/events (the wire contract).
MODULES   := $(shell $(GO) list -m -f '{{.Dir}}' 2>/dev/null)
# Their go.mod and go.sum files (check-modules).
MODFILES  := go.mod go.sum pkg/events/go.mod pkg/events/go.sum
NATS_CLI  := github.com/nats-io/natscli/nats@v0.5.1
DEV_USER  := mediator
DEV_PASSWORD ?= triggerflow-dev
CONFIG    ?= examples/triggerflow.yaml
# requests per concurrency level in BenchmarkIngressVsRaw (split between ingress and raw)
BENCHTIME ?= 20000x
# triggers per variant in BenchmarkDispatcher
DISPATCH_N ?= 3000x
# operations per variant in BenchmarkITSMSync
ITSM_N    ?= 10000x
# email operations in BenchmarkNotifier
MAIL_N    ?= 2000x
# stored triggers in BenchmarkReplay
REPLAY_N  ?= 10000x
FUZZTIME  ?= 30s
# bench-pipeline: seconds of load per run, connections, rounds, variants (also: replay,
# fill, floor, floor-3, floor-3-2), a fixed rate (triggers/s; 0 = closed loop), the fill
# variant's triggers, a directory for profiles and stage CSVs (empty: none), and each
# service process's GOMAXPROCS (1, as deploy/k8s sets it from a service's CPU limit; 0:
# Go's default)
PIPE_SECONDS  ?= 10
PIPE_CONNS    ?= 16
PIPE_ROUNDS   ?= 2
PIPE_VARIANTS ?= limit,all,split,split-2
PIPE_RATE     ?= 0
PIPE_FILL     ?= 60000
PIPE_PROFILE  ?=
PIPE_GOMAXPROCS ?= 1
# What `make build` and `make image` stamp into the binary (`triggerflow version`).
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT    ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
BUILDINFO := github.com/triggerflow/triggerflow/internal/runtime/buildinfo
# The one go build of every binary: `make build` and the Dockerfile's build stage run
# exactly this (TestDockerfileBuildIsMakeBuild compares them), so the image is what CI tests.
GO_BUILD   = CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w -X $(BUILDINFO).version=$(VERSION) -X $(BUILDINFO).commit=$(COMMIT)"
# The image: IMAGE:TAG, built by the first of ENGINES that answers. TAG is never latest.
IMAGE     ?= ghcr.io/triggerflow/triggerflow
TAG       ?= $(VERSION)
ENGINES   ?= docker podman nerdctl

.PHONY: help run nats test test-race vet fmt-check check-modules bench bench-pipeline fuzz build image k8s-check

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

run: ## run the whole pipeline in one process (embedded JetStream) with examples/triggerflow.yaml, and a demo ITSM on :9999
	@$(GO_BUILD) -o .triggerflow/bin/triggerflow ./cmd/triggerflow
	@echo "triggerflow: ingress on http://127.0.0.1:8000/trigger_file and /v1/triggers/{EVENT}"
	@echo "triggerflow: dev credentials  user=$(DEV_USER)  password=$(DEV_PASSWORD)  (TRIGGERFLOW_MEDIATOR_PASSWORD)"
	@echo "triggerflow: embedded NATS on nats://127.0.0.1:4222, data in .triggerflow/nats; Ctrl-C stops"
	@.triggerflow/bin/triggerflow demo-sink --listen 127.0.0.1:9999 & sink=$$!; \
	trap 'kill $$sink 2>/dev/null' EXIT INT TERM; \
	TRIGGERFLOW_MEDIATOR_PASSWORD=$(DEV_PASSWORD) .triggerflow/bin/triggerflow all --config $(CONFIG)

nats: ## the stock nats CLI against `make run`'s server, e.g. make nats ARGS='stream view SCW_TRIGGERS'
	$(GO) run $(NATS_CLI) --server nats://127.0.0.1:4222 $(ARGS)

# k8s-check: an overlay's triggerflow.yaml checked as its pods read it, away from them:
# next to base/templates (mounted as templates/ in the pod), secrets not read.
OVERLAY ?= production
k8s-check: ## config check deploy/k8s/overlays/$(OVERLAY)/triggerflow.yaml as the pods see it (templates beside it, secrets not read)
	@tmp=$$(mktemp -d); trap 'rm -rf $$tmp' EXIT; \
	cp deploy/k8s/overlays/$(OVERLAY)/triggerflow.yaml $$tmp/triggerflow.yaml && cp -r deploy/k8s/base/templates $$tmp/templates && \
	$(GO) run ./cmd/triggerflow config check --no-secrets $$tmp/triggerflow.yaml

build: ## build bin/triggerflow (every service and command: `triggerflow <service>`): static, VERSION and COMMIT stamped
	$(GO_BUILD) -o bin/triggerflow ./cmd/triggerflow


image: ## build the image IMAGE:TAG (TAG defaults to VERSION; latest is refused) with docker, podman or nerdctl
	@if [ -z "$(TAG)" ] || [ "$(TAG)" = latest ]; then \
		echo "make image: TAG=$(TAG) refused: an image is tagged with its version (default: git describe), never latest; the deploy overlay names that tag" >&2; exit 2; fi
	@engine=; found=; for e in $(ENGINES); do \
		command -v $$e >/dev/null 2>&1 || continue; found="$$found $$e"; \
		if $$e info >/dev/null 2>&1; then engine=$$e; break; fi; \
	done; \
	if [ -z "$$engine" ]; then \
		if [ -n "$$found" ]; then echo "make image: found$$found but none answers (is its daemon or machine running?): start it, or build on a machine with a container engine" >&2; \
		else echo "make image: no container engine: none of $(ENGINES) is on PATH; install Docker (https://docs.docker.com/engine/install/), Podman (https://podman.io/docs/installation) or nerdctl with containerd, or build the image in CI" >&2; fi; \
		exit 1; \
	fi; \
	echo "$$engine build --build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) -t $(IMAGE):$(TAG) -f Dockerfile ."; \
	$$engine build --build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) -t $(IMAGE):$(TAG) -f Dockerfile .

# skip-module: inside a loop over $(MODULES) with the module in $$m, skips a module in which a
# PKG= other than ./... names no package (e.g. PKG=./internal/... in pkg/events), and counts
# the modules kept in $$kept; no-module fails when PKG named a package in none of them.
define skip-module
if [ "$(PKG)" != ./... ] && ! why=$$(cd $$m && $(GO) list $(PKG) 2>&1 >/dev/null); then \
	echo "== $$m skipped: PKG=$(PKG) names no package in it ($$why)"; continue; fi; \
kept=$$((kept+1))
endef
define no-module
if [ "$$kept" = 0 ]; then echo "PKG=$(PKG) names no package in any module ($(MODULES))"; exit 1; fi
endef

# go-test runs `go test <flags>` in every module; a failing module does not hide the others'.
define go-test
	@failed=""; kept=0; for m in $(MODULES); do \
		$(skip-module); \
		echo "== go test $(1) $$m"; \
		(cd $$m && $(GO) test $(1) -count=1 $(if $(T),-run '$(T)') $(PKG)) || failed="$$failed $$m"; \
	done; \
	$(no-module); \
	if [ -n "$$failed" ]; then echo "FAILED:$$failed"; exit 1; fi
endef

test: fmt-check vet check-modules ## gofmt, go vet and every test of every module (a failing module does not hide the others')
	$(call go-test,-timeout 15m)

test-race: ## every test of every module under the race detector, the triggerflow processes they start too (not part of make test)
	$(call go-test,-race -timeout 40m)

vet: ## go vet every module
	@set -e; kept=0; for m in $(MODULES); do $(skip-module); (cd $$m && $(GO) vet $(PKG)); done; $(no-module)

fmt-check: ## fail if gofmt would change a file
	@out=$$(gofmt -l $(MODULES)); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

check-modules: ## one dependency set: `go work sync` changes no go.mod, and each module builds and is tidy on its own (GOWORK=off)
	@tmp=$$(mktemp -d); for f in $(MODFILES); do mkdir -p $$tmp/$$(dirname $$f); cp $$f $$tmp/$$f; done; \
	$(GO) work sync; st=0; for f in $(MODFILES); do cmp -s $$f $$tmp/$$f || { echo "check-modules: go work sync changed $$f: the modules' dependency versions had drifted apart; commit the change"; st=1; }; done; \
	rm -rf $$tmp; exit $$st
	@set -e; for m in $(MODULES); do \
		(cd $$m && GOWORK=off $(GO) build ./... && GOWORK=off $(GO) mod tidy -diff) || { echo "check-modules: $$m does not build or is not tidy on its own (GOWORK=off)"; exit 1; }; \
	done

bench: ## benchmarks, each next to its raw JetStream limit measured in the same run (ratio)
	cd services/ingress && $(GO) test -run '^$$' -bench . -benchtime $(BENCHTIME) $(PKG)
	cd services/dispatcher && $(GO) test -run '^$$' -bench Dispatcher -benchtime $(DISPATCH_N) $(PKG)
	cd services/dispatcher && $(GO) test -run '^$$' -bench Match -benchmem $(PKG)
	cd services/itsm-sync && $(GO) test -run '^$$' -bench ITSMSync -benchtime $(ITSM_N) $(PKG)
	cd services/notifier && $(GO) test -run '^$$' -bench Notifier -benchtime $(MAIL_N) $(PKG)
	cd cmd/triggerflow && $(GO) test -run '^$$' -bench Replay -benchtime $(REPLAY_N) $(PKG)
	$(GO) test -run '^$$' -bench . -benchmem ./internal/wfi/
	$(GO) test -run '^$$' -bench Workers -benchmem ./internal/runtime/bus/
	cd pkg/events && $(GO) test -run '^$$' -bench . -benchmem -cpu 1 $(PKG)
	$(GO) test -run '^$$' -bench . -benchmem -cpu 1 ./internal/securechange/
	$(GO) test -run '^$$' -bench . -benchmem ./internal/rewrite/kvgroup/

bench-pipeline: ## whole pipeline: trigger POST to delivered ITSM call, through real processes, next to the one-hop limit (PIPE_SECONDS=3 for a quick run)
	cd cmd/triggerflow && PIPE_SECONDS=$(PIPE_SECONDS) PIPE_CONNS=$(PIPE_CONNS) PIPE_ROUNDS=$(PIPE_ROUNDS) \
		PIPE_VARIANTS=$(PIPE_VARIANTS) PIPE_RATE=$(PIPE_RATE) PIPE_FILL=$(PIPE_FILL) PIPE_PROFILE=$(abspath $(PIPE_PROFILE)) \
		PIPE_GOMAXPROCS=$(PIPE_GOMAXPROCS) \
		$(GO) test -run '^$$' -bench '^BenchmarkPipeline$$' -benchtime 1x -timeout 60m .

fuzz: ## run each fuzz target for FUZZTIME (corpus in testdata/fuzz)
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeTicketInfo$$' -fuzztime $(FUZZTIME) ./internal/securechange/
	cd services/ingress && $(GO) test -run '^$$' -fuzz '^FuzzDecodeMediatorBody$$' -fuzztime $(FUZZTIME) .
	cd services/ingress && $(GO) test -run '^$$' -fuzz '^FuzzRootIDs$$' -fuzztime $(FUZZTIME) .
	cd services/ingress && $(GO) test -run '^$$' -fuzz '^FuzzDecodeCallback$$' -fuzztime $(FUZZTIME) .
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeTicket$$' -fuzztime $(FUZZTIME) ./internal/securechange/
	$(GO) test -run '^$$' -fuzz '^FuzzParseAccessEntry$$' -fuzztime $(FUZZTIME) ./internal/securechange/
	cd services/dispatcher && $(GO) test -run '^$$' -fuzz '^FuzzInboundMatch$$' -fuzztime $(FUZZTIME) .
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./internal/config/
	$(GO) test -run '^$$' -fuzz '^FuzzParseByteSize$$' -fuzztime $(FUZZTIME) ./internal/config/
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./internal/rewrite/kvgroup/
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeReply$$' -fuzztime $(FUZZTIME) ./internal/rewrite/
	cd services/dispatcher && $(GO) test -run '^$$' -fuzz '^FuzzRoutes$$' -fuzztime $(FUZZTIME) .
	$(GO) test -run '^$$' -fuzz '^FuzzRender$$' -fuzztime $(FUZZTIME) ./internal/wfi/
	$(GO) test -run '^$$' -fuzz '^FuzzSnippet$$' -fuzztime $(FUZZTIME) ./internal/egress/
	$(GO) test -run '^$$' -fuzz '^FuzzRetryAfter$$' -fuzztime $(FUZZTIME) ./internal/egress/
	cd pkg/events && $(GO) test -run '^$$' -fuzz '^FuzzCodecMatchesEncodingJSON$$' -fuzztime $(FUZZTIME) .
