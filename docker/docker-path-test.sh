#!/usr/bin/env bash
# The Docker path, as on a machine with Docker and no Rust: in a fresh clone of the current
# commit, `make docker-compose-up` with cargo hidden from PATH, then the winners, the draw,
# the echo check and `make docker-compose-down`.
#
# Usage: bash docker/docker-path-test.sh          (the last step of make test)
#
#   1. git clone of this repository into a temporary folder, at HEAD (uncommitted changes
#      are not part of it: a warning says so);
#   2. PATH without any folder that holds cargo (rustup's ~/.cargo/bin goes; a folder such
#      as /usr/bin that also holds other tools is replaced by a copy of it without cargo);
#   3. agency data: the course data set (../shared/dataset beside the repository) copied to
#      the clone's .data/agency-N.csv, winners 2, 3, 3, 2, 0; without it none is copied and
#      make generates it with the tp0-gendata image, whose winners are in .data/generated.txt;
#   4. `make docker-compose-up`: builds through server/Dockerfile and client/Dockerfile (the
#      builder image is assembled first if the engine lacks it: docker/builder-image.sh);
#   5. the 5 clients exit 0, each logs `action: consulta_ganadores | result: success |
#      cant_ganadores: N` with its winners, `compose logs | grep sorteo` shows one draw,
#      validar-echo-server.sh succeeds;
#   6. `make docker-compose-down`: exit code 0 for the server, nothing of the project left.
# Prints PASS/FAIL per check and ends with "N passed, M failed"; exits 1 if any failed.
#
# It builds and tags server:latest, client:latest and tp0-gendata:latest and uses the compose
# project tp0 (containers server, client1...): it refuses to start while a tp0 deployment
# exists. It takes no lock; callers that share the engine serialize around it.
#
# Environment: COMPOSE (compose command; detected), DATASET (course data folder
# [../shared/dataset]), UP_TIMEOUT (seconds for make docker-compose-up, a cold build
# included [3000]), CLIENTS_TIMEOUT (seconds for the clients to finish [300]).
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PROJECT=tp0
AGENCIES=5
DATASET=${DATASET:-$ROOT/../shared/dataset}
UP_TIMEOUT=${UP_TIMEOUT:-3000}
CLIENTS_TIMEOUT=${CLIENTS_TIMEOUT:-300}
LOG_DIR=$ROOT/target/docker-path-logs

TEST_NAME=docker-path-test
# shellcheck source=docker/lib.sh
. "$ROOT/docker/lib.sh"

# ---------------------------------------------------------------- helpers
WORK=
CLONE=

tp0_leftovers() {
    docker ps -aq --filter "label=com.docker.compose.project=$PROJECT"
    docker volume ls -q --filter "label=com.docker.compose.project=$PROJECT"
    docker network ls -q --filter "label=com.docker.compose.project=$PROJECT"
}

# Runs in the clone with the PATH that has no cargo and none of the caller's make settings
# (a `make test BUILD=host` must not leak into it through MAKEFLAGS).
in_clone() {
    (cd "$CLONE" && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u BUILD -u GENDATA -u CARGO \
        -u RUSTUP_TOOLCHAIN PATH="$NO_CARGO_PATH" "$@")
}

cleanup() {
    if [ -n "$CLONE" ] && [ -f "$CLONE/docker-compose-dev.yaml" ]; then
        "${COMPOSE_CMD[@]}" -p "$PROJECT" -f "$CLONE/docker-compose-dev.yaml" down -v --remove-orphans -t 5 \
            >>"$LOG_DIR/cleanup.log" 2>&1
    fi
    # Files the containers wrote into the clone are the caller's (gendata runs as the caller).
    if [ -n "$WORK" ]; then rm -rf "$WORK"; fi
}


# Compose v2 writes ESC[2K before every logs line even into a pipe: strip ANSI codes first.
strip_ansi() { sed 's/\x1b\[[0-9;?]*[A-Za-z]//g'; }

winners_in_file() { tr -d '\r' <"$1" | awk -F, '$5 == "7574" { n++ } END { print n + 0 }'; }

# ---------------------------------------------------------------- preflight
for tool in docker git make awk grep sed tr timeout mktemp; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool is not installed"
done
docker info >/dev/null 2>&1 || die "cannot reach the Docker engine"
"${COMPOSE_CMD[@]}" version >/dev/null 2>&1 || die "compose command '${COMPOSE_CMD[*]}' does not work"
git -C "$ROOT" rev-parse --verify -q HEAD >/dev/null || die "$ROOT is not a git work tree with a commit"
if [ -n "$(tp0_leftovers)" ]; then
    die "a $PROJECT deployment exists: run 'make docker-compose-down' first"
fi
for name in server $(seq -f 'client%g' 1 "$AGENCIES"); do
    docker container inspect "$name" >/dev/null 2>&1 && die "a container named $name exists; remove it first"
done

rm -rf "$LOG_DIR"
mkdir -p "$LOG_DIR"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tp0-docker-path.XXXXXX")
CLONE=$WORK/tp0
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- 1. the clone
head=$(git -C "$ROOT" rev-parse HEAD)
if [ -n "$(git -C "$ROOT" status --porcelain --untracked-files=no)" ]; then
    info "warning: $ROOT has uncommitted changes; this tests the commit $head without them"
fi
if ! timeout 120 git clone -q --no-checkout "$ROOT" "$CLONE" >"$LOG_DIR/clone.log" 2>&1 ||
    ! git -C "$CLONE" checkout -q --detach "$head" >>"$LOG_DIR/clone.log" 2>&1; then
    die "cannot clone $ROOT at $head (see $LOG_DIR/clone.log)"
fi
info "clone of $(git -C "$ROOT" rev-parse --short HEAD) in $CLONE; compose: ${COMPOSE_CMD[*]}"

# ---------------------------------------------------------------- 2. PATH without cargo
mkdir -p "$WORK/path"
NO_CARGO_PATH=
shadow=0
IFS=: read -r -a path_dirs <<<"$PATH"
for dir in "${path_dirs[@]}"; do
    if [ -z "$dir" ] || [ ! -d "$dir" ]; then continue; fi
    case $dir in "$HOME/.cargo/bin" | "$HOME/.cargo/bin/") continue ;; esac
    if [ -e "$dir/cargo" ]; then
        # The folder holds other tools too (e.g. /usr/bin): link them all but the Rust ones.
        shadow=$((shadow + 1))
        mkdir "$WORK/path/$shadow"
        for entry in "$dir"/*; do
            case ${entry##*/} in cargo | cargo-* | rustc | rustdoc | rustup | rust-*) continue ;; esac
            ln -s "$entry" "$WORK/path/$shadow/"
        done
        dir=$WORK/path/$shadow
    fi
    NO_CARGO_PATH=${NO_CARGO_PATH:+$NO_CARGO_PATH:}$dir
done
if PATH=$NO_CARGO_PATH command -v cargo >/dev/null 2>&1; then
    die "cargo is still on the reduced PATH: $NO_CARGO_PATH"
fi
pass "cargo is hidden: PATH=$NO_CARGO_PATH"
for tool in docker make git sh; do
    PATH=$NO_CARGO_PATH command -v "$tool" >/dev/null 2>&1 || die "the reduced PATH lost $tool"
done

# ---------------------------------------------------------------- 3. the data
expected=()
mkdir -p "$CLONE/.data"
if [ -f "$DATASET/agency-1.csv" ]; then
    for ((i = 1; i <= AGENCIES; i++)); do
        cp "$DATASET/agency-$i.csv" "$CLONE/.data/agency-$i.csv" || die "cannot copy $DATASET/agency-$i.csv"
    done
    # The course publishes its winners per agency.
    expected=("" 2 3 3 2 0)
    counted=()
    for ((i = 1; i <= AGENCIES; i++)); do counted+=("$(winners_in_file "$CLONE/.data/agency-$i.csv")"); done
    check "the course data set, from $DATASET, holds the published winners 2 3 3 2 0 (counted: ${counted[*]})" \
        test "${counted[*]}" = "2 3 3 2 0"
    data=course
else
    info "no course data at $DATASET: make generates it with the tp0-gendata image"
    data=generated
fi

# ---------------------------------------------------------------- 4. make docker-compose-up
started=$SECONDS
in_clone timeout "$UP_TIMEOUT" make docker-compose-up COMPOSE="${COMPOSE_CMD[*]}" >"$LOG_DIR/make-up.log" 2>&1
status=$?
took=$((SECONDS - started))
check "make docker-compose-up without cargo exits 0 (status $status, ${took} s, log: $LOG_DIR/make-up.log)" \
    test "$status" -eq 0
if [ "$status" -ne 0 ]; then
    tail -n 15 "$LOG_DIR/make-up.log" | sed 's/^/        /'
fi
check "the images came from server/Dockerfile and client/Dockerfile" \
    grep -q 'docker build -f server/Dockerfile -t server:latest' "$LOG_DIR/make-up.log"
# target/ may hold the Makefile's images stamp (target/images-docker.stamp), nothing else.
compiled_on_host() {
    [ -d "$CLONE/target" ] && [ -n "$(find "$CLONE/target" -mindepth 1 ! -name 'images-*.stamp' -print -quit)" ]
}
check "nothing was compiled on the host (target/ holds at most the images stamp)" \
    eval '! compiled_on_host'

if [ "$data" = generated ]; then
    for ((i = 1; i <= AGENCIES; i++)); do
        expected[i]=$(sed -nE "s/^agency $i: ([0-9]+) winners?\$/\1/p" "$CLONE/.data/generated.txt" 2>/dev/null)
    done
    check "the tp0-gendata image wrote the data and its winners (.data/generated.txt: ${expected[*]:1})" \
        test -n "${expected[*]:1}" -a -f "$CLONE/.data/agency-$AGENCIES.csv"
fi

# ---------------------------------------------------------------- 5. the round
clients=()
for ((i = 1; i <= AGENCIES; i++)); do clients+=("client$i"); done
started=$SECONDS
check "all $AGENCIES clients finish within $CLIENTS_TIMEOUT s" wait_exited "$CLIENTS_TIMEOUT" "${clients[@]}"
info "the clients took $((SECONDS - started)) s after make returned"
codes=()
for name in "${clients[@]}"; do codes+=("$(exit_code_of "$name")"); done
for ((i = 1; i <= AGENCIES; i++)); do
    docker logs "client$i" >"$LOG_DIR/client$i.log" 2>&1
    check "client$i exited with code 0 (got ${codes[i - 1]})" test "${codes[i - 1]}" = 0
    got=$(grep -E 'action: consulta_ganadores \| result: success \| cant_ganadores: [0-9]+' "$LOG_DIR/client$i.log" \
        | sed -nE 's/.*cant_ganadores: ([0-9]+).*/\1/p' | tail -n 1)
    check "client$i logged consulta_ganadores success with cant_ganadores ${got:-missing}, expected ${expected[i]:-?}" \
        test "${got:-x}" = "${expected[i]:-y}"
done
# The README's command, from the clone's root (its .env names the project and the file).
in_clone timeout 60 "${COMPOSE_CMD[@]}" logs --no-color 2>&1 | strip_ansi >"$LOG_DIR/compose-logs.log"
grep sorteo "$LOG_DIR/compose-logs.log" >"$LOG_DIR/sorteo.log"
draws=$(grep -c 'action: sorteo | result: success' "$LOG_DIR/sorteo.log")
info "compose logs | grep sorteo:"
sed 's/^/        /' "$LOG_DIR/sorteo.log"
check "compose logs | grep sorteo shows one draw (got $draws)" test "$draws" -eq 1
validar=$(in_clone timeout 60 sh validar-echo-server.sh 2>"$LOG_DIR/validar.err")
check "validar-echo-server.sh succeeds (printed: $validar)" \
    test "$validar" = "action: test_echo_server | result: success"

# ---------------------------------------------------------------- 6. make docker-compose-down
docker logs -f server >"$LOG_DIR/server.log" 2>&1 &
follower=$!
docker wait server >"$WORK/server.exit" 2>/dev/null &
waiter=$!
started=$SECONDS
in_clone timeout 120 make docker-compose-down COMPOSE="${COMPOSE_CMD[*]}" >"$LOG_DIR/make-down.log" 2>&1
status=$?
# The server is gone once down returns; if it is not, do not wait for it forever.
for _ in $(seq 30); do kill -0 "$waiter" 2>/dev/null || break; sleep 1; done
kill "$waiter" "$follower" 2>/dev/null
wait "$waiter" "$follower" 2>/dev/null
check "make docker-compose-down exits 0 (status $status, $((SECONDS - started)) s)" test "$status" -eq 0
server_exit=$(cat "$WORK/server.exit" 2>/dev/null)
check "the server exited with code 0 (got ${server_exit:-missing})" test "${server_exit:-x}" = 0
check "the server logged its shutdown last" \
    grep -Eq 'action: shutdown \| result: success \| resource: server' <(tail -n 1 "$LOG_DIR/server.log")
leftovers=$(tp0_leftovers)
check "nothing of project $PROJECT is left (containers, volumes, networks)" test -z "$leftovers"

summary
[ "$failed" -eq 0 ]
