# tp0 — build, images and the compose deployment.
#
#   make docker-compose-up [CLIENTS=5] [CLIENT_MODE=agency|echo|bet]
#   make docker-compose-logs
#   make docker-compose-down
#   make test            unit/integration tests, then the end-to-end test
#   make e2e             only the end-to-end test (docker/e2e.sh)
#
# Docker Compose v2 (`docker compose`) is used when present, else v1 (`docker-compose`).
# Every compose call passes -p tp0: v1 cannot read the project name from the file.

SHELL := /bin/sh

PROJECT      ?= tp0
COMPOSE_FILE ?= docker-compose-dev.yaml
CLIENTS      ?= 5
CLIENT_MODE  ?= agency
DATA_DIR     ?= .data
STOP_TIMEOUT ?= 10
COMPOSE      ?= $(shell if docker compose version >/dev/null 2>&1; then echo "docker compose"; else echo docker-compose; fi)

# Static binaries for FROM scratch images: glibc with crt-static gives static-pie.
TARGET     := x86_64-unknown-linux-gnu
STATIC_DIR := target/$(TARGET)/release
GENDATA    := $(STATIC_DIR)/gendata

COMPOSE_CMD = $(COMPOSE) -p $(PROJECT) -f $(COMPOSE_FILE)

.PHONY: reliability default all build static docker-image netcat-image data compose-file configs \
        docker-compose-up docker-compose-down docker-compose-logs test e2e

default: build

all: build docker-image

build:
	cargo build --release

# CARGO_TARGET_DIR is pinned so the Dockerfiles find the binaries where .dockerignore lets them through.
static:
	CARGO_TARGET_DIR=target RUSTFLAGS='-C target-feature=+crt-static' \
		cargo build --release --target $(TARGET) --bin server --bin client --bin gendata

# A rebuild leaves the previous image untagged: drop those (only ours, by label).
docker-image: static
	docker build -f docker/server.Dockerfile -t server:latest .
	docker build -f docker/client.Dockerfile -t client:latest .
	@docker image prune -f --filter label=tp0.image >/dev/null

# An image with netcat for validar-echo-server.sh: busybox:latest, or tp0-netcat:latest built offline.
netcat-image:
	sh docker/netcat-image.sh

# .data/agency-N.csv: kept if present, else from .data/dataset.zip, else made by gendata.
PREPARE_DATA = sh docker/prepare-data.sh '$(DATA_DIR)' '$(CLIENTS)' '$(GENDATA)'
# SECRETS=1: per-agency secrets in $(DATA_DIR)/secrets, mounted into the server and each client.
SECRETS      ?=
SECRETS_DIR  := $(if $(SECRETS),$(DATA_DIR)/secrets,)
GENERATE     = DATA_DIR='$(DATA_DIR)' SECRETS_DIR='$(SECRETS_DIR)' sh generar-compose.sh '$(COMPOSE_FILE)' '$(CLIENTS)' '$(CLIENT_MODE)'

data: static
	$(PREPARE_DATA)

compose-file:
	$(GENERATE)

# The compose file bind-mounts both configs; a missing one would become a directory.
configs:
	@for f in server/config.ini client/config.yaml; do \
		[ -f "$$f" ] || { echo "$$f is missing: the compose file mounts it" >&2; exit 1; }; \
	done

# A compose file that generar-compose.sh wrote (exercise 1) is used as it is, unless
# CLIENTS or CLIENT_MODE is given: then, or when there is none, it is generated anew.
REGENERATE := $(filter command line environment,$(origin CLIENTS) $(origin CLIENT_MODE) $(origin SECRETS))

docker-compose-up: configs docker-image
	@if [ -n '$(REGENERATE)' ] || [ ! -f '$(COMPOSE_FILE)' ]; then \
		$(GENERATE); \
	else \
		echo "using $(COMPOSE_FILE) as it is (CLIENTS=N or CLIENT_MODE=mode generates it anew)"; \
	fi
	@clients=$$(grep -c '^  client[0-9][0-9]*:$$' '$(COMPOSE_FILE)'); \
	if grep -q 'CLI_MODE=agency' '$(COMPOSE_FILE)'; then \
		sh docker/prepare-data.sh '$(DATA_DIR)' "$$clients" '$(GENDATA)'; \
	fi
	@if [ -n '$(SECRETS_DIR)' ]; then sh docker/make-secrets.sh '$(SECRETS_DIR)' "$$(grep -c '^  client[0-9][0-9]*:$$' '$(COMPOSE_FILE)')"; fi
	@sh docker/netcat-image.sh || echo "warning: no netcat image; validar-echo-server.sh fails until 'make netcat-image' works" >&2
	$(COMPOSE_CMD) up -d

docker-compose-down:
	@if [ -f '$(COMPOSE_FILE)' ]; then \
		$(COMPOSE_CMD) stop -t $(STOP_TIMEOUT) && \
		$(COMPOSE_CMD) down -v --remove-orphans; \
	else \
		echo "no $(COMPOSE_FILE): nothing to stop"; \
	fi

docker-compose-logs:
	$(COMPOSE_CMD) logs -f

test:
	cargo test --release --workspace
	$(MAKE) --no-print-directory e2e

e2e: docker-image netcat-image
	COMPOSE='$(COMPOSE)' GENDATA='$(GENDATA)' bash docker/e2e.sh

# The benchmark: the real server and clients on 127.0.0.1 (src/bin/bench.rs); writes
# docs/benchmarks.md and docs/benchmarks.png. `target/release/bench --quick` is a smoke test.
.PHONY: bench
bench:
	cargo build --release --bins
	target/release/bench

# docs/reliability.md from the tests themselves: each reliability test prints one table row, and a
# long run of the frame-decoder property test (FUZZ_ITERATIONS inputs) is recorded under it.
FUZZ_ITERATIONS ?= 10000000
reliability:
	@set -e; rows=$$(mktemp); fuzz=$$(mktemp); trap 'rm -f "$$rows" "$$fuzz"' EXIT; \
	cargo test --release --test reliability -- --nocapture --test-threads=1 2>/dev/null \
		| grep -o 'reliability: |.*' | sed 's/^reliability: //' >"$$rows"; \
	TP0_FUZZ_ITERATIONS=$(FUZZ_ITERATIONS) cargo test --release --lib decoding_random_and_mutated 2>/dev/null \
		| grep 'test result' >"$$fuzz"; \
	{ sed -n '1,/^<!-- generated below -->$$/p' docs/reliability.md; \
	  echo; echo "Generated by \`make reliability\` on $$(date -u '+%Y-%m-%d %H:%M UTC') ($$(nproc) cores, $$(uname -sr))."; \
	  echo; echo '| fault or bad input | how the test injects it | observed | lost |'; echo '|---|---|---|---|'; \
	  cat "$$rows"; echo; \
	  echo "Frame decoder property run: $(FUZZ_ITERATIONS) random and mutated inputs, \`$$(cat "$$fuzz")\`"; \
	  echo "(no panic; every input that decodes re-encodes to the same bytes)."; \
	} >docs/reliability.md.tmp; mv docs/reliability.md.tmp docs/reliability.md; \
	echo "docs/reliability.md: $$(wc -l <"$$rows") faults"
