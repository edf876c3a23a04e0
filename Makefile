# One entry point. Every target installs what is missing first (pinned, from PyPI and npm only) and is a
# fast no-op when everything is there.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
STAMPS := .stamps

# The project's solc (tools/solc), the npm binaries (anvil, forge, cast) and the virtualenv come first.
export PATH := $(CURDIR)/tools/solc:$(CURDIR)/node_modules/.bin:$(CURDIR)/$(VENV)/bin:$(PATH)
# py-solc-x (ape-solidity) looks for solc-v<version> here instead of downloading a compiler.
export SOLCX_BINARY_PATH := $(CURDIR)/tools/solc/solcx

.PHONY: setup test test-forge test-python gas gas-snapshot incentives simulate sweep bench-agents bench-sim bench-engine bench-env clean

setup: $(STAMPS)/npm $(STAMPS)/python

$(STAMPS)/npm: package.json package-lock.json
	@mkdir -p $(STAMPS)
	# `npm install` honours package-lock.json; `npm ci` would refuse it because some per-platform Foundry
	# packages the lock cannot record do not exist on the registry.
	npm install --no-audit --no-fund --loglevel=error
	@touch $@

$(STAMPS)/python: pyproject.toml requirements.lock
	@mkdir -p $(STAMPS)
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -c requirements.lock -e '.[test]'
	@touch $@

## Run every test: Solidity (forge, incl. invariants) then Python (ape test on anvil, incl. Hypothesis).
test: setup test-forge test-python

test-forge: setup
	forge test

test-python: setup
	# ape-solidity can miss a change to a contract that another one only imports: compile afresh.
	ape compile --force -v WARNING
	ape test

## Gas of every operation on the real EAS bytecode; last line: `happy-path gas: N`.
gas: setup
	ape run gas -v WARNING

## Rewrite gas-snapshot.json (the tests fail when gas differs from it).
gas-snapshot: setup
	ape run gas -v WARNING --update-snapshot

## Every deviation from the rules against honest play, each on a fresh deployment; last line:
## `profitable deviations: N` (README: Incentives).
incentives: setup
	ape run incentives -v WARNING

## Event-to-transaction latency of live agents; last line: `event-to-tx p99 ms: X`.
bench-agents: setup
	ape run bench_agents -v WARNING

## The market at 10, 100 and 1000 agents; last line: `deals/s at 100 agents: X`.
bench-sim: setup
	ape run bench_sim -v WARNING

## The bench market on the chain (10, 100, 1000 agents) and in memory (100, 10000): whether the backends agree
## on deals, memory deals/s and speedup at 100 agents, cost per deal as the market grows, the memory run's peak.
bench-engine: setup
	ape run bench_engine -v WARNING

## The learning environment (agents.learning.market_env) played with random valid actions, 3 episodes of its
## default market on the memory backend; last line: `env agent-steps/s: X` (README: The learning environment).
bench-env: setup
	$(VENV)/bin/python -m agents.learning.bench_env

simulate: setup
	ape run simulate -v WARNING

## Which cost-plus margin gives providers the best Sortino (25 runs on a local Ray, ~6 min on 2 cores;
## README: Sweeps); results.parquet and sweep.html in runs/sweeps/margin/. Reruns resume.
sweep: setup
	ape run sweep sweeps/margin.yaml

## Deploy to a live network and record it (README: Deploying to a testnet).
## make deploy NETWORK=base:sepolia:node ACCOUNT=alias [ARGS=--dry-run]
.PHONY: deploy
deploy: setup
	@test -n "$(NETWORK)" -a -n "$(ACCOUNT)" || { echo "usage: make deploy NETWORK=base:sepolia:node ACCOUNT=alias [ARGS=--dry-run]"; exit 2; }
	ape run deploy --network $(NETWORK) --account $(ACCOUNT) --with-test-token $(ARGS)

clean:
	rm -rf out cache .build $(STAMPS)
