# tp0 — build, images and the compose deployment.
#
#   make docker-compose-up [CLIENTS=5] [CLIENT_MODE=agency|echo|bet]   (mode: this branch's exercise)
#   make docker-compose-logs
#   make docker-compose-down
#   make swarm-up [STACK=tp0swarm] [CLIENTS=5] / make swarm-down   the same, as a Docker Swarm stack
#   make test            lint first (make lint), then unit/integration tests, a fuzz smoke run, the
#                        end-to-end test, the faults, the swarm test, the Docker-path test and the
#                        graders' workflow
#   make lint            doc-paths, cargo fmt --check, clippy -D warnings and rustdoc -D warnings
#   make fuzz-smoke      each cargo-fuzz target for FUZZ_SMOKE_SECONDS (20); fuzz-long: FUZZ_SECONDS (1800)
#   make test-strace     only the power-loss proof (tests/durability.rs, under strace)
#   make e2e             only the end-to-end test (docker/e2e.sh)
#   make faults          faults across hosts on real containers (docker/faults.sh): kill, disconnect,
#                        disk full; its rows go to target/faults-rows.md for make reliability
#   make exercise-branches   local branches ej1..ej8, one commit each on the current commit
#   make course-test     the course's grading workflow on a temporary clone (docker/course_workflow.py)
#   make doc-paths       every path the documents name exists (docker/check-doc-paths.py)
#   make picture         docs/round.svg from docs/round.dot (Graphviz)
#
# Two ways to build the images, the same images either way (FROM scratch, one static binary):
#   BUILD=host    cargo on the host compiles the static binaries, docker/server.Dockerfile and
#                 docker/client.Dockerfile pack them (fast, offline);
#   BUILD=docker  Docker alone, through server/Dockerfile and client/Dockerfile (the course's
#                 paths; no Rust needed), after docker/builder-image.sh made sure their pinned
#                 builder image exists.
# The default, BUILD=auto, is host when cargo is on PATH and docker otherwise.
#
# Docker Compose v2 (`docker compose`) is used when present, else v1 (`docker-compose`).
# Every compose call passes -p tp0: v1 cannot read the project name from the file.

SHELL := /bin/sh

PROJECT      ?= tp0
COMPOSE_FILE ?= docker-compose-dev.yaml
CLIENTS      ?= 5
# Empty: generar-compose.sh picks the mode of this branch's exercise (agency on main, see
# make exercise-branches).
CLIENT_MODE  ?=
DATA_DIR     ?= .data
STOP_TIMEOUT ?= 10
COMPOSE      ?= $(shell if docker compose version >/dev/null 2>&1; then echo "docker compose"; else echo docker-compose; fi)

# Static binaries for FROM scratch images: glibc with crt-static gives static-pie.
TARGET     := x86_64-unknown-linux-gnu
STATIC_DIR := target/$(TARGET)/release

BUILD ?= auto
ifeq ($(BUILD),auto)
BUILD_PATH := $(if $(shell command -v cargo 2>/dev/null),host,docker)
else ifneq ($(filter host docker,$(BUILD)),)
BUILD_PATH := $(BUILD)
else
$(error BUILD must be auto, host or docker, not '$(BUILD)')
endif
# The data generator: the host binary, or on the Docker path an image holding /gendata.
GENDATA_IMAGE := tp0-gendata:latest
GENDATA       := $(if $(filter host,$(BUILD_PATH)),$(STATIC_DIR)/gendata,$(GENDATA_IMAGE))

COMPOSE_CMD = $(COMPOSE) -p $(PROJECT) -f $(COMPOSE_FILE)

.PHONY: reliability default all build static images docker-image docker-image-host docker-image-docker \
        builder-image netcat-image data compose-file configs \
        docker-compose-up docker-compose-down docker-compose-logs test e2e faults docker-path-test \
        course-test exercise-branches exercise-branches-test

default: build

all: build docker-image

build:
	cargo build --release

# CARGO_TARGET_DIR is pinned so the Dockerfiles find the binaries where .dockerignore lets them through.
static:
	CARGO_TARGET_DIR=target RUSTFLAGS='-C target-feature=+crt-static' \
		cargo build --release --target $(TARGET) --bin server --bin client --bin gendata --bin recount

docker-image: docker-image-$(BUILD_PATH)

# A rebuild leaves the previous image untagged: drop those (only ours, by label). The Docker
# path's build stage is labelled tp0.stage=build, not tp0.image: its images are the layer cache.
PRUNE_OURS = docker image prune -f --filter label=tp0.image >/dev/null

docker-image-host: static
	docker build -f docker/server.Dockerfile -t server:latest .
	docker build -f docker/client.Dockerfile -t client:latest .
	@$(PRUNE_OURS)

# The build stage is tagged tp0-build:latest (a full cache hit), so that the prune drops the
# build stages of older sources and keeps the newest with its dependency layers: a source
# edit rebuilds our crates alone, and the disk holds one build stage, not one per edit.
docker-image-docker: builder-image
	docker build -f server/Dockerfile -t server:latest .
	docker build -f client/Dockerfile -t client:latest .
	docker build -q -f client/Dockerfile --target gendata -t $(GENDATA_IMAGE) . >/dev/null
	docker build -q -f client/Dockerfile --target build -t tp0-build:latest . >/dev/null
	@$(PRUNE_OURS)
	@docker image prune -f --filter label=tp0.stage=build >/dev/null

# `make docker-compose-up` on built images skips every build step: the stamp holds the images'
# IDs and is newer than every input, else the images are built again (a source edited, an image
# removed or replaced by another build). `make docker-image` always builds.
IMAGE_INPUTS := Cargo.toml Cargo.lock .dockerignore server/Dockerfile client/Dockerfile \
                docker/server.Dockerfile docker/client.Dockerfile \
                $(wildcard */Cargo.toml) $(shell find src coordinator/src -type f 2>/dev/null)
IMAGES_STAMP := target/images-$(BUILD_PATH).stamp
IMAGE_IDS     = docker image inspect -f '{{.Id}}' server:latest client:latest 2>/dev/null

images:
	@[ "$$($(IMAGE_IDS))" = "$$(cat '$(IMAGES_STAMP)' 2>/dev/null)" ] || rm -f '$(IMAGES_STAMP)'
	@$(MAKE) --no-print-directory '$(IMAGES_STAMP)'

$(IMAGES_STAMP): $(IMAGE_INPUTS)
	$(MAKE) --no-print-directory docker-image
	@mkdir -p target && $(IMAGE_IDS) >'$@'

# The pinned rust:<version>-slim-<suite> of the Dockerfiles: present, pulled, or assembled locally.
builder-image:
	sh docker/builder-image.sh

# An image with netcat for validar-echo-server.sh: busybox:latest, or tp0-netcat:latest built offline.
netcat-image:
	sh docker/netcat-image.sh

# .data/agency-N.csv: kept if present, else from .data/dataset.zip, else made by gendata.
PREPARE_DATA = sh docker/prepare-data.sh '$(DATA_DIR)' '$(CLIENTS)' '$(GENDATA)'
# Per-agency secrets in $(DATA_DIR)/secrets, created by generar-compose.sh and mounted into the
# server and each client (agency and bet modes); SECRETS=0 turns identity off.
SECRETS      ?= 1
GENERATE_ENV  = DATA_DIR='$(DATA_DIR)' SECRETS_DIR='$(DATA_DIR)/secrets' SECRETS='$(SECRETS)'
GENERATE_ARGS = '$(CLIENTS)' $(if $(CLIENT_MODE),'$(CLIENT_MODE)')
GENERATE      = $(GENERATE_ENV) sh generar-compose.sh '$(COMPOSE_FILE)' $(GENERATE_ARGS)

data: $(if $(filter host,$(BUILD_PATH)),static,docker-image-docker)
	$(PREPARE_DATA)

compose-file:
	$(GENERATE)

# The compose file bind-mounts both configs; a missing one would become a directory.
configs:
	@for f in server/config.ini client/config.yaml; do \
		[ -f "$$f" ] || { echo "$$f is missing: the compose file mounts it" >&2; exit 1; }; \
	done

# A compose file that generar-compose.sh wrote (exercise 1) is used as it is, unless
# CLIENTS, CLIENT_MODE, SECRETS or WATCH_DELAYS is given: then, or when there is none, it is
# generated anew (WATCH_DELAYS=0: no opening delay nor winners delay, see generar-compose.sh).
REGENERATE := $(filter command line environment,$(origin CLIENTS) $(origin CLIENT_MODE) $(origin SECRETS) $(origin WATCH_DELAYS))

docker-compose-up: configs images
	@if [ -n '$(REGENERATE)' ] || [ ! -f '$(COMPOSE_FILE)' ]; then \
		$(GENERATE); \
	else \
		echo "using $(COMPOSE_FILE) as it is (CLIENTS=N or CLIENT_MODE=mode generates it anew)"; \
	fi
	@clients=$$(grep -c '^  client[0-9][0-9]*:$$' '$(COMPOSE_FILE)'); \
	if grep -q ':/agency.csv:ro' '$(COMPOSE_FILE)'; then \
		sh docker/prepare-data.sh '$(DATA_DIR)' "$$clients" '$(GENDATA)'; \
	fi
	@sh docker/netcat-image.sh || echo "warning: no netcat image yet; validar-echo-server.sh will try again to make one (docker/netcat-image.sh)" >&2
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

# The same deployment as Docker Swarm stack STACK (docs/swarm.md), on a swarm this engine manages:
# generar-compose.sh writes STACK_FILE (FILE_FORMAT=stack), the agency files are prepared as for
# compose, docker/swarm-up.sh checks the node labels and runs `docker stack deploy`. SERVER_IMAGE
# and CLIENT_IMAGE (default server:latest, client:latest), RESOLVE_IMAGE (never) and REGISTRY_AUTH
# (0) are read from the environment. swarm-down removes the stack, then its bets volume (a new round next time).
STACK         ?= tp0swarm
STACK_FILE    ?= swarm-stack.yaml
RESOLVE_IMAGE ?= never
.PHONY: swarm-up swarm-down swarm-logs swarm-test
swarm-up: configs images
	@sh docker/swarm-up.sh '$(STACK)' --check
	@$(GENERATE_ENV) FILE_FORMAT=stack sh generar-compose.sh '$(STACK_FILE)' $(GENERATE_ARGS)
	@if grep -q 'target: /agency.csv$$' '$(STACK_FILE)'; then $(PREPARE_DATA); fi
	@RESOLVE_IMAGE='$(RESOLVE_IMAGE)' sh docker/swarm-up.sh '$(STACK)' '$(STACK_FILE)'

swarm-down:
	@sh docker/swarm-down.sh '$(STACK)'

# Every task's log of one service, oldest first (docker/swarm-logs.sh says why not `docker
# service logs <service>` alone): make swarm-logs [SERVICE=server|client<N>].
SERVICE ?= server
swarm-logs:
	@sh docker/swarm-logs.sh '$(STACK)' '$(SERVICE)'

# The course data set's round as a stack on a single-node swarm, an agency's task and then the
# server's killed mid-upload, and swarm-down (docker/swarm-test.sh); skipped, saying why, where
# `docker swarm init` cannot run. It makes the swarm only if there is none, and then leaves it.
# One at a time on this engine (flock, where there is one): two would share the one swarm.
swarm-test: images netcat-image
	GENDATA='$(GENDATA)' $(if $(shell command -v flock 2>/dev/null),flock /tmp/tp0-swarm-test.lock) bash docker/swarm-test.sh

# The habits that keep the code clean fail the tests too: every path the documents name exists,
# formatting, every clippy warning (the workspace's [workspace.lints] included) and every rustdoc
# warning.
.PHONY: lint
lint: doc-paths
	cargo fmt --all --check
	cargo clippy --release --workspace --all-targets -- -D warnings
	RUSTDOCFLAGS='-D warnings' cargo doc --no-deps --workspace

test: lint exercise-branches-test
	cargo test --release --workspace
	$(MAKE) --no-print-directory fuzz-smoke
	$(MAKE) --no-print-directory compose-versions
	$(MAKE) --no-print-directory e2e
	$(MAKE) --no-print-directory faults
	$(MAKE) --no-print-directory swarm-test
	$(MAKE) --no-print-directory docker-path-test
	$(MAKE) --no-print-directory course-test

# The course's graders use either Compose; the tests run both. Debian bookworm packages only v1
# (docker-compose); the v2 plugin (docker compose) comes from the workplace's installer when it is
# beside the repository (../shared/tools), else whatever the machine has is tested.
V2_INSTALLER := ../shared/tools/install-compose-v2.sh
.PHONY: compose-versions
compose-versions:
	@if ! docker compose version >/dev/null 2>&1 && [ -f '$(V2_INSTALLER)' ]; then \
		echo "compose-versions: installing the Compose v2 plugin ($(V2_INSTALLER))"; \
		bash '$(V2_INSTALLER)' || echo "compose-versions: v2 could not be installed; testing what there is" >&2; \
	fi
	@docker compose version 2>/dev/null || echo "compose-versions: no Compose v2 (docker compose)"
	@docker-compose version --short 2>/dev/null | sed 's/^/Docker Compose v1 version /' || echo "compose-versions: no Compose v1 (docker-compose)"

# The course's delivery branches ej1..ej8: the current commit plus one commit each that makes
# that exercise generar-compose.sh's default. Touches no working tree; safe to run again.
exercise-branches:
	sh docker/exercise-branches.sh

# Needs git only (no Docker, no cargo): runs the above in temporary clones.
exercise-branches-test:
	sh docker/exercise-branches-test.sh

e2e: images netcat-image
	COMPOSE='$(COMPOSE)' GENDATA='$(GENDATA)' bash docker/e2e.sh

# Each fault injected into a real compose round (project tp0faults, its own container names and
# subnet); prints `faults: |...|` rows and, when every check passes, saves them in
# target/faults-rows.md, which make reliability puts in docs/reliability.md.
faults: images netcat-image
	COMPOSE='$(COMPOSE)' GENDATA='$(GENDATA)' bash docker/faults.sh

# The course's grading workflow, in a temporary clone of HEAD, on every exercise branch, with
# Compose v2 and v1. Limits for development, from the command line or the environment:
# COURSE_BRANCHES=6,7 COURSE_ROUNDS=1 COURSE_RUNS=1 COURSE_COMPOSE=v2 COURSE_TIMEOUT=60;
# COURSE_BUILD=course|make|auto picks how the images are built (make: the host's cargo, fast).
course-test:
	python3 docker/course_workflow.py

# A fresh clone of HEAD, `make docker-compose-up` with cargo hidden from PATH (the images come
# from server/Dockerfile and client/Dockerfile), the winners checked, then `make docker-compose-down`.
docker-path-test:
	COMPOSE='$(COMPOSE)' bash docker/docker-path-test.sh

# Docker rounds timed as a user runs them: `make docker-compose-up` (images built) to the last
# client's exit, ROUNDS times after `down`; WATCH_DELAYS=0 for the round without watch delays.
ROUNDS ?= 3
.PHONY: round-time
round-time:
	CLIENTS='$(CLIENTS)' WATCH_DELAYS='$(or $(WATCH_DELAYS),1)' bash docker/round-time.sh '$(ROUNDS)'

# The Docker round section of docs/benchmarks.md: round-time for both deployments, a bare
# container start, the machine (docker/round-report.sh).
.PHONY: round-report
round-report: images
	CLIENTS='$(CLIENTS)' bash docker/round-report.sh '$(ROUNDS)'

# The benchmark: the real server and clients on 127.0.0.1, driven by the bench/ crate
# (tp0-bench), which reads their peak memory from /proc; writes docs/benchmarks.md (a headline
# table of each figure beside its floor) and four sections, each rerun alone by
# `make bench BENCH_ARGS='--only <section>'`: loopback (docs/benchmarks.png: data sets,
# sync settings and batch sizes, beside the loopback floor), agencies (docs/benchmarks-agencies.png:
# 5 to 3,000 agencies at once, shipped defaults, beside the per-agency floor), load (100 to 10,000
# agencies played by the bench's own load generator against the shipped server: its CPU and
# memory per agency) and far (docs/benchmarks-far.png: each agency behind a user-space emulated
# link, RTT up to 50 ms at 4 MB/s, shipped beside stop-and-wait). It measures
# the binaries the images ship: static-pie, built as `make static` builds them (a dynamically
# linked client needs about a fifth more CPU per agency, most of it in the loader).
# `make bench-quick` is a smoke test that writes to target/x86_64-unknown-linux-gnu/bench-quick/
# instead.
BENCH_ARGS ?=
.PHONY: bench bench-quick bench-build bench-micro
bench-build:
	CARGO_TARGET_DIR=target RUSTFLAGS='-C target-feature=+crt-static' \
		cargo build --release --workspace --target $(TARGET)

bench: bench-build
	$(STATIC_DIR)/bench $(BENCH_ARGS)

bench-quick: bench-build
	$(STATIC_DIR)/bench --quick

# The micro-benchmarks (benches/hot_paths.rs, `cargo bench -p tp0`) into their section of
# docs/benchmarks.md, which `make bench` keeps.
bench-micro:
	bash bench/micro-report.sh

# Every path README.md and docs/*.md name exists: repository files and folders, relative links,
# and Rust paths into our crates (`storage::scan`, `session::store::refused_batch`); each missing
# one is printed with its document and line (docker/check-doc-paths.py, Python 3 only).
.PHONY: doc-paths
doc-paths:
	python3 docker/check-doc-paths.py

# The README's picture of one round: docs/round.svg from its source docs/round.dot (Graphviz's dot;
# on Debian `apt-get install graphviz`). Commit both.
.PHONY: picture
picture:
	dot -Tsvg docs/round.dot -o docs/round.svg

# docs/reliability.md from the tests themselves: each reliability test (tests/hostile_input.rs,
# admission.rs, authentication.rs, crash_recovery.rs, restarts.rs, dead_peer.rs) prints one
# `reliability: |...|` table row, and a long run of the frame-decoder
# property test (FUZZ_ITERATIONS inputs) is recorded under it. The faults across hosts come from
# the last `make faults` (target/faults-rows.md, `faults: |...|` lines); without that file the
# table's previous faults rows are kept.
FUZZ_ITERATIONS ?= 10000000
FAULTS_ROWS_FILE := target/faults-rows.md
reliability:
	@set -e; rows=$$(mktemp); fuzz=$$(mktemp); faults=$$(mktemp); trap 'rm -f "$$rows" "$$fuzz" "$$faults"' EXIT; \
	cargo test --release --test hostile_input --test admission --test authentication --test crash_recovery --test restarts --test dead_peer -- --nocapture --test-threads=1 2>/dev/null \
		| grep -o 'reliability: |.*' | sed 's/^reliability: //' >"$$rows"; \
	TP0_FUZZ_ITERATIONS=$(FUZZ_ITERATIONS) cargo test --release --lib decoding_random_and_mutated 2>/dev/null \
		| grep 'test result' >"$$fuzz"; \
	if [ -f '$(FAULTS_ROWS_FILE)' ]; then \
		{ echo "From \`make faults\` on $$(date -u -r '$(FAULTS_ROWS_FILE)' '+%Y-%m-%d %H:%M UTC') (docker/faults.sh):"; echo; cat '$(FAULTS_ROWS_FILE)'; } >"$$faults"; \
	else \
		sed -n '/^<!-- faults below -->$$/,/^<!-- faults above -->$$/p' docs/reliability.md | sed '1d;$$d' \
			| grep -v '^| fault \|^|---' >"$$faults" || true; \
	fi; \
	{ sed -n '1,/^<!-- generated below -->$$/p' docs/reliability.md; \
	  echo; echo "Generated by \`make reliability\` on $$(date -u '+%Y-%m-%d %H:%M UTC') ($$(nproc) cores, $$(uname -sr))."; \
	  echo; echo '| fault or bad input | how the test injects it | observed | lost |'; echo '|---|---|---|---|'; \
	  cat "$$rows"; echo; \
	  echo "Frame decoder property run: $(FUZZ_ITERATIONS) random and mutated inputs, \`$$(cat "$$fuzz")\`"; \
	  echo "(no panic; every input that decodes re-encodes to the same bytes)."; \
	  echo; echo '### Faults across hosts (real containers, `make faults`)'; echo; \
	  echo '<!-- faults below -->'; \
	  grep -v '^| \|^$$' "$$faults" || true; echo; \
	  echo '| fault | injection | observed | lost |'; echo '|---|---|---|---|'; \
	  grep '^| ' "$$faults" || echo '| (none yet) | run `make faults`, then `make reliability` | | |'; \
	  echo '<!-- faults above -->'; \
	} >docs/reliability.md.tmp; mv docs/reliability.md.tmp docs/reliability.md; \
	echo "docs/reliability.md: $$(wc -l <"$$rows") faults, $$(grep -c '^| ' "$$faults" || true) across hosts"

# Coverage-guided fuzzing (fuzz/, its own workspace): the frame decoder, the bet validator and the
# agency-file row reader. cargo-fuzz passes rustc flags that only nightly accepts (-Z sanitizer,
# -C passes=sancov-module, -Z ...); the machines that run this have the stable toolchain alone, so
# RUSTC_BOOTSTRAP=1 lets stable rustc accept them (the flags are the same ones nightly uses).
# --sanitizer=none: the fuzzed code is safe Rust with no `unsafe`, so AddressSanitizer would find
# nothing the bounds checks do not, and slow every run; debug assertions (overflow) stay on.
# Seeds come from examples/fuzz_seeds.rs; the corpus grows in fuzz/corpus/<target> (not tracked),
# crashes land in fuzz/artifacts/<target>. cargo-fuzz is installed into ~/.cargo/bin when missing.
FUZZ_TARGETS       ?= decode bet rows
FUZZ_SMOKE_SECONDS ?= 20
FUZZ_SECONDS       ?= 1800
FUZZ_LOG_DIR       ?= /tmp
FUZZ_NICE          ?= nice -n 19
FUZZ_RUN = cd fuzz && RUSTC_BOOTSTRAP=1 $(FUZZ_NICE) cargo fuzz run --sanitizer=none
.PHONY: fuzz-install fuzz-seeds fuzz-smoke fuzz-long test-strace
fuzz-install:
	@cargo fuzz --version >/dev/null 2>&1 || cargo install cargo-fuzz --locked

fuzz-seeds:
	cargo run --release --quiet --example fuzz_seeds -- fuzz/corpus

# Fails on the first target that crashes, hangs (-timeout, seconds per input) or panics.
fuzz-smoke: fuzz-install fuzz-seeds
	@set -e; mkdir -p $(FUZZ_LOG_DIR); for t in $(FUZZ_TARGETS); do \
		echo "fuzz-smoke: $$t for $(FUZZ_SMOKE_SECONDS) s"; \
		( $(FUZZ_RUN) $$t -- -max_total_time=$(FUZZ_SMOKE_SECONDS) -timeout=10 \
			>$(FUZZ_LOG_DIR)/tp0-fuzz-smoke-$$t.log 2>&1 ) \
			|| { tail -n 40 $(FUZZ_LOG_DIR)/tp0-fuzz-smoke-$$t.log; echo "fuzz-smoke: $$t failed" >&2; exit 1; }; \
		grep -E '^#[0-9]+[[:space:]]+DONE' $(FUZZ_LOG_DIR)/tp0-fuzz-smoke-$$t.log | tail -n 1; \
	done

# One target after another, each for FUZZ_SECONDS, at the lowest priority; the last lines of each
# log are libFuzzer's final statistics (executions, corpus, cov/ft), the numbers docs/reliability.md quotes.
fuzz-long: fuzz-install fuzz-seeds
	@set -e; mkdir -p $(FUZZ_LOG_DIR); for t in $(FUZZ_TARGETS); do \
		echo "fuzz-long: $$t for $(FUZZ_SECONDS) s, log $(FUZZ_LOG_DIR)/tp0-fuzz-long-$$t.log"; \
		( $(FUZZ_RUN) $$t -- -max_total_time=$(FUZZ_SECONDS) -timeout=10 -print_final_stats=1 \
			>$(FUZZ_LOG_DIR)/tp0-fuzz-long-$$t.log 2>&1 ) \
			|| { tail -n 40 $(FUZZ_LOG_DIR)/tp0-fuzz-long-$$t.log; echo "fuzz-long: $$t failed" >&2; exit 1; }; \
		grep -E '^#[0-9]+[[:space:]]+DONE|^stat::' $(FUZZ_LOG_DIR)/tp0-fuzz-long-$$t.log; \
	done

# The power-loss proof alone: the server under strace, every ACK and END checked against the
# fdatasync calls that precede it (skipped, saying why, where strace cannot run).
test-strace:
	cargo test --release --test durability -- --nocapture
