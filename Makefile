# flashsale: run `make dev` for the local stack and `make test` for everything.
# Node tools come from package-lock.json (npm ci), Go modules from go.mod.

SHELL := /bin/bash
.DEFAULT_GOAL := help
GO ?= go

# Functions: every folder under functions/ becomes build/<name>/bootstrap.
FUNCTIONS  := $(patsubst functions/%/,%,$(wildcard functions/*/))
BOOTSTRAPS := $(FUNCTIONS:%=build/%/bootstrap)

# Quiet, offline-friendly CDK.
export CDK_DISABLE_CLI_TELEMETRY := true
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20

# Context for synth/deploy, e.g. make deploy CDK_ARGS='-c stage=prod -c alarmEmail=ops@example.com'
CDK_ARGS ?=

# Where `make test` runs its own emulators, so it can run beside `make dev`.
TEST_DYNAMODB_PORT ?= 8100
TEST_SQS_PORT      ?= 9424
export TEST_DYNAMODB_PORT TEST_SQS_PORT

# Extra arguments for `make dev`, e.g. make dev ARGS='--port 3001 --data .flashsale/data'
ARGS ?=

# package.json's postinstall writes node_modules/go.mod last (it keeps the go
# tool out of node_modules), so it marks a complete install.
NPM_STAMP := node_modules/go.mod

.PHONY: help dev test build synth deploy bench soak demo invoke lint clean FORCE

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

# npm ci only when node_modules is missing or older than the lock file.
$(NPM_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	@test -f $@ || { echo "npm ci did not run package.json's postinstall" >&2; exit 1; }
	@touch $@

dev: $(NPM_STAMP) ## run the whole stack locally (Ctrl-C stops it)
	$(GO) run ./cmd/flashsale dev $(ARGS)

# lint comes first, so CI (.ci/run → make test) fails fast on it.
test: lint $(NPM_STAMP) build bin/flashsale ## lint, then run every test against fresh emulators
	scripts/test.sh

build: $(BOOTSTRAPS) ## build every function as an arm64 Lambda bootstrap
	@if [ -z "$(FUNCTIONS)" ]; then echo "no functions/ yet: nothing to build"; fi

build/%/bootstrap: FORCE
	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) build -tags lambda.norpc -trimpath -ldflags='-s -w' -o $@ ./functions/$*

# The CLI as a binary, so `make test` can stop the emulators by its PID.
bin/flashsale: FORCE
	$(GO) build -o $@ ./cmd/flashsale

synth: $(NPM_STAMP) build ## synthesize the CloudFormation template into cdk.out/ (offline)
	npx cdk synth --quiet $(CDK_ARGS)

deploy: $(NPM_STAMP) build ## deploy the stack to the AWS account in your environment
	npx cdk deploy $(CDK_ARGS)

bench: $(NPM_STAMP) build ## run the benchmark suite and rewrite docs/BENCHMARKS.md (about 3 minutes)
	$(GO) run ./cmd/flashsale bench $(ARGS)

soak: $(NPM_STAMP) ## 10 minutes of mixed traffic on a local stack; fails if RSS or goroutines keep growing; writes its section of docs/BENCHMARKS.md
	$(GO) run ./cmd/flashsale soak $(ARGS)

demo: $(NPM_STAMP) ## play a whole flash sale on the local stack (starts one if none runs) and check the invariants
	$(GO) run ./cmd/flashsale demo $(ARGS)

# e.g. make invoke FN=reserve EVENT=events/reserve.json
invoke: ## feed a sample event from events/ to one function on the running local stack
	@test -n "$(FN)" -a -n "$(EVENT)" || { echo "usage: make invoke FN=<function> EVENT=events/<file>.json" >&2; exit 2; }
	$(GO) run ./cmd/flashsale invoke --function $(FN) --event $(EVENT)

# staticcheck is pinned in go.mod's tool block, so `go tool` builds the same
# version everywhere; it honours //lint:ignore <check> <reason> directives.
lint: ## go vet, gofmt, go mod tidy and staticcheck checks
	$(GO) vet ./...
	@unformatted=$$(gofmt -l $$(git ls-files --cached --others --exclude-standard '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	@$(GO) mod tidy -diff || { echo "go.mod/go.sum are not tidy: run go mod tidy" >&2; exit 1; }
	$(GO) tool staticcheck ./...

clean: ## remove build outputs (keeps .flashsale/ keys and node_modules)
	rm -rf build bin cdk.out

FORCE:
