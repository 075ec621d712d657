#!/bin/bash
# Times Docker rounds as a user runs them: from `make docker-compose-up` (images already built)
# to the last client's exit, each round after `make docker-compose-down`.
#
# Usage: bash docker/round-time.sh [rounds]          (make round-time ROUNDS=3 WATCH_DELAYS=0)
# Environment: CLIENTS (5), WATCH_DELAYS (1: the watched round; 0: as fast as it can), COMPOSE,
# FLOOR (1: after each round, the Docker floor: the same compose file, every process told by its
# environment to exit at once, timed from `compose up -d` to the last container's exit).
# Prints one line per round (and floor) and the best; exits 1 if a round fails (a client's exit
# code is not 0, or the server did not log exactly one sorteo).
set -euo pipefail
cd "$(dirname "$0")/.."
# Run as a user would, not as a sub-make of `make round-time` (whose variables would travel).
unset MAKEFLAGS MFLAGS MAKELEVEL
source docker/lib.sh

rounds=${1:-3}
clients=${CLIENTS:-5}
watch=${WATCH_DELAYS:-1}
floor=${FLOOR:-0}
case $rounds in '' | *[!0-9]* | 0) echo "round-time: rounds must be a positive number" >&2; exit 2 ;; esac

make_quiet() { make --no-print-directory -s "$@" >/dev/null; }
now_ms() { date +%s%3N; }

# One untimed `up` builds whatever is missing (images, data, the netcat image) and writes the
# compose file; the timed ones then run plain `make docker-compose-up`, which uses it as it is.
make_quiet docker-compose-down
make_quiet docker-compose-up CLIENTS="$clients" WATCH_DELAYS="$watch"
make_quiet docker-compose-down
unset CLIENTS WATCH_DELAYS

names=()
for ((i = 1; i <= clients; i++)); do names+=("client$i"); done
# The floor's compose file: the round's, each service given a setting it rejects at once (the
# server a port that is no port, each client a mode that is no mode), so each process starts
# and exits and nothing else runs. Paths in it stay relative to the repository.
floor_file=target/round-floor.yaml
if [ "$floor" = 1 ]; then
    mkdir -p target
    awk '/^  server:$/ { svc = "server" } /^  client[0-9]+:$/ { svc = "client" }
        { print }
        /^    environment:$/ { print (svc == "server" ? "      - SERVER_PORT=exit-at-once" : "      - CLI_MODE=exit-at-once") }' \
        docker-compose-dev.yaml >"$floor_file"
fi
floor_compose() { "${COMPOSE_CMD[@]}" --project-directory . -p tp0 -f "$floor_file" "$@"; }
best_floor=
# Milliseconds since the epoch of a container's start or end, as the engine recorded it.
engine_ms() { date -d "$(docker inspect -f "{{.State.$2}}" "$1")" +%s%3N; }
seconds() { printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)); }
best=
for ((r = 1; r <= rounds; r++)); do
    start=$(now_ms)
    make_quiet docker-compose-up
    up=$(($(now_ms) - start))
    codes=$(docker wait "${names[@]}" | tr '\n' ' ')
    elapsed=$(($(now_ms) - start))
    draws=$(docker logs server 2>&1 | grep -c 'action: sorteo | result: success' || true)
    # Where the time went: the engine's own start times of the server and the clients.
    server_started=$(engine_ms server StartedAt)
    client_starts=$(for n in "${names[@]}"; do engine_ms "$n" StartedAt; done | sort -n)
    first_client=$(head -1 <<<"$client_starts")
    last_client=$(tail -1 <<<"$client_starts")
    last_exit=$(for n in "${names[@]}"; do engine_ms "$n" FinishedAt; done | sort -n | tail -1)
    make_quiet docker-compose-down
    if [ "$(echo "$codes" | tr -d ' 0')" != "" ] || [ "$draws" != 1 ]; then
        echo "round $r: FAIL (client exit codes: $codes; sorteo lines: $draws)" >&2
        exit 1
    fi
    printf 'round %d: %s s (make docker-compose-up returned after %s s; up to the server start %s s, server start to the last client start %s s, first client start to the last exit %s s)\n' \
        "$r" "$(seconds "$elapsed")" "$(seconds "$up")" "$(seconds $((server_started - start)))" \
        "$(seconds $((last_client - server_started)))" "$(seconds $((last_exit - first_client)))"
    if [ -z "$best" ] || [ "$elapsed" -lt "$best" ]; then best=$elapsed; fi
    if [ "$floor" = 1 ]; then
        start=$(now_ms)
        floor_compose up -d >/dev/null 2>&1
        docker wait server "${names[@]}" >/dev/null
        elapsed=$(($(now_ms) - start))
        floor_compose down -v -t 1 >/dev/null 2>&1
        printf 'floor %d: %s s (compose up -d to the last container'"'"'s exit, every process exiting at once)\n' "$r" "$(seconds "$elapsed")"
        if [ -z "$best_floor" ] || [ "$elapsed" -lt "$best_floor" ]; then best_floor=$elapsed; fi
    fi
done
printf 'best of %d (%d clients, WATCH_DELAYS=%s): %d.%03d s\n' "$rounds" "$clients" "$watch" \
    $((best / 1000)) $((best % 1000))
if [ "$floor" = 1 ]; then
    printf 'best floor of %d: %s s\n' "$rounds" "$(seconds "$best_floor")"
fi
