# pairgate — `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help
BIN := node_modules/.bin
export NPM_CONFIG_UPDATE_NOTIFIER := false
export NPM_CONFIG_FUND := false
export NPM_CONFIG_AUDIT := false

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

.PHONY: install
install: node_modules/.installed ## Install dependencies from package-lock.json (npm ci)

.PHONY: gen
gen: install ## Regenerate src/gen/ from proto/ (buf + ts-proto)
	bash scripts/gen.sh

.PHONY: build
build: install ## Compile TypeScript to dist/
	rm -rf dist
	$(BIN)/tsc -p tsconfig.build.json
	chmod +x dist/src/cli/main.js dist/clients/node/main.js 2>/dev/null || true

.PHONY: typecheck
typecheck: install ## Type-check everything (src, clients, tests, scripts)
	$(BIN)/tsc -p tsconfig.json

.PHONY: lint
lint: install ## buf lint (STANDARD) + buf breaking (against contract/) + eslint
	$(BIN)/buf lint
	$(BIN)/buf breaking --against contract/pairgate-v1.json
	$(BIN)/eslint --max-warnings 0 .

.PHONY: test
test: build check-gen typecheck ## Gen freshness, type-check, then all tests (unit, storage, integration, e2e); ends with "N passed, N failed"
	$(BIN)/mocha

.PHONY: check-gen
check-gen: install ## Fail if src/gen/ is stale
	bash scripts/check-gen.sh

.PHONY: contract-snapshot
contract-snapshot: install ## Record proto/ as the released contract (contract/pairgate-v1.json); only when releasing
	bash scripts/contract-snapshot.sh

# The Python used for clients/python: $PAIRGATE_PYTHON, else Debian's /usr/bin/python3, else python3.
PYTHON ?= $(or $(PAIRGATE_PYTHON),$(wildcard /usr/bin/python3),python3)

.PHONY: python-stubs
python-stubs: ## Generate clients/python/gen/ (git-ignored) from proto/ with grpc_tools.protoc
	$(PYTHON) clients/python/generate.py

.PHONY: client-pack
client-pack: install ## Build the @pairgate/client package and npm-pack it into dist/pack/
	bash scripts/pack-client.sh dist/pack

.PHONY: check
check: lint typecheck check-gen test ## Everything CI should run

.PHONY: run
run: build ## Install, build and start the daemon in the foreground (state in PAIRGATE_HOME, default ./.pairgate; its config.json if present; extra flags: ARGS="--log-level debug")
	PAIRGATE_HOME="$${PAIRGATE_HOME:-$(CURDIR)/.pairgate}" node dist/src/cli/main.js serve $(ARGS)

.PHONY: soak
soak: build ## Crash soak: 1,000 SIGKILLs of a real daemon under concurrent traffic; prints acked/lost/partial counts
	node --import tsx test/crash/soak.ts

.PHONY: bench
bench: build ## Benchmarks (see README, Performance)
	node dist/bench/run.js

.PHONY: clean
clean: ## Remove build output
	rm -rf dist

.PHONY: help
help: ## List targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'
