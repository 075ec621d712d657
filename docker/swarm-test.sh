#!/usr/bin/env bash
# The round as a Docker Swarm stack on a single-node swarm: `make swarm-up`, faults, `make swarm-down`.
#
# Usage: bash docker/swarm-test.sh      (make swarm-test builds the images first)
#
# Skipped, saying why, where `docker swarm init` cannot run. Where this engine is in no swarm, the
# test makes one (`docker swarm init --advertise-addr 127.0.0.1`, after creating docker_gwbridge on
# a fixed 10.x subnet so that it cannot take a 172.x range a compose project names) and leaves it,
# and removes docker_gwbridge, at the end; a swarm that was there is kept, as are node labels it had
# (labels swarm-up added to it are removed). The stack is tp0swarmtest (SWARM_STACK): its objects
# are named and labelled with it, so no compose project (tp0, tp0faults) is touched.
#
# Data: the course data set (../shared/dataset), or without it one made by gendata; clients send
# batches of SWARM_BATCH [4] bets, one in flight (a client config of the test's), so an upload
# lasts seconds. Two rounds, each from `make swarm-up` (WATCH_DELAYS=0) to `make swarm-down`:
#   1. client1's task killed (docker kill) mid-upload: Swarm starts a new task, which resumes at
#      its stored position;
#   2. the server's task killed mid-upload: Swarm starts a new one on the same volume, which
#      recovers the stored bets, and every agency resumes.
# After each: every agency's newest task exits 0 with its winners (the course's 2, 3, 3, 2, 0),
# `docker service logs` of the server's tasks shows exactly one `sorteo`, each agency's rows in the bets
# file on the server's volume are byte-identical to its file (none lost, none doubled), and (round 1)
# validar-echo-server.sh succeeds on the stack's network; then `make swarm-down` leaves nothing
# labelled with the stack and removes nothing else: decoys named like the stack's objects but not
# of it (a service, secret, config, network, volume) and every swarm object that was there before
# stay. Prints PASS/FAIL per check and "N passed, M failed";
# exits 1 if any failed. Logs: target/swarm-logs/.
# Environment: GENDATA, DATASET, NETCAT_IMAGE as in docker/e2e.sh; SWARM_BATCH, SWARM_TIMEOUT
# (seconds a round may take after its fault [180]), SWARM_STACK, SWARM_GWBRIDGE_SUBNET
# [10.201.0.0/24], SWARM_ADDR_POOL [10.200.0.0/16] (the overlay networks' pool of a swarm made here).
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
GENDATA=${GENDATA:-target/x86_64-unknown-linux-gnu/release/gendata}
case $GENDATA in /*) ;; *) GENDATA=$ROOT/$GENDATA ;; esac
DATASET=${DATASET:-$ROOT/../shared/dataset}
BATCH=${SWARM_BATCH:-4}
SWARM_TIMEOUT=${SWARM_TIMEOUT:-180}
STACK=${SWARM_STACK:-tp0swarmtest}
GWBRIDGE_SUBNET=${SWARM_GWBRIDGE_SUBNET:-10.201.0.0/24}
ADDR_POOL=${SWARM_ADDR_POOL:-10.200.0.0/16}
LOG_DIR=$ROOT/target/swarm-logs
AGENCIES=5
DECOY_LABEL=tp0.swarm-test=decoy
WORK=
MADE_SWARM=0
MADE_GWBRIDGE=0
LABELS_BEFORE=
NODE=
# bets_file, stored_rows_of and wait_for come from docker/faults-lib.sh; the reporting (pass, fail,
# check, summary, die) and the container queries from docker/lib.sh, which it sources.
# shellcheck source=docker/faults-lib.sh
. "$ROOT/docker/faults-lib.sh"
TEST_NAME=swarm-test

skip() {
    printf 'swarm-test: skipped: %s\n' "$*"
    exit 0
}

# ---------------------------------------------------------------- the swarm
# make_swarm: this engine in a swarm it manages, made here if it is in none (else skip).
make_swarm() {
    local state output
    state=$(docker info -f '{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}' 2>/dev/null) \
        || skip "cannot reach the Docker engine"
    case $state in
        'active true') info "using the swarm this engine is in (kept afterwards)" ;;
        active*) skip "this engine is a swarm worker, where no stack can be deployed" ;;
        inactive*)
            if ! docker network inspect docker_gwbridge >/dev/null 2>&1; then
                docker network create --subnet "$GWBRIDGE_SUBNET" \
                    --opt com.docker.network.bridge.name=docker_gwbridge \
                    --opt com.docker.network.bridge.enable_icc=false \
                    --opt com.docker.network.bridge.enable_ip_masquerade=true \
                    docker_gwbridge >/dev/null 2>&1 && MADE_GWBRIDGE=1
            fi
            if ! output=$(docker swarm init --advertise-addr 127.0.0.1 --default-addr-pool "$ADDR_POOL" 2>&1); then
                remove_gwbridge
                skip "docker swarm init cannot run here: $output"
            fi
            MADE_SWARM=1
            info "made a single-node swarm (left at the end); docker_gwbridge on $GWBRIDGE_SUBNET"
            ;;
        *) skip "the engine's swarm is in state '$state'" ;;
    esac
    NODE=$(docker info -f '{{.Swarm.NodeID}}')
    LABELS_BEFORE=$(node_labels)
}

node_labels() { docker node inspect -f '{{range $k, $v := .Spec.Labels}}{{$k}} {{end}}' "$NODE" 2>/dev/null; }

remove_gwbridge() {
    local tries
    [ "$MADE_GWBRIDGE" -eq 1 ] || return 0
    # The swarm's own endpoints on it go a moment after `swarm leave`.
    for tries in 1 2 3 4 5 6 7 8 9 10; do
        docker network rm docker_gwbridge >/dev/null 2>&1 && return 0
        sleep 1
    done
    echo "swarm-test: could not remove docker_gwbridge (docker network rm docker_gwbridge)" >&2
}

cleanup() {
    local label id
    make -s -C "$ROOT" swarm-down STACK="$STACK" >/dev/null 2>&1
    for id in $(docker service ls -q --filter "label=$DECOY_LABEL" 2>/dev/null); do docker service rm "$id" >/dev/null 2>&1; done
    for id in $(docker secret ls -q --filter "label=$DECOY_LABEL" 2>/dev/null); do docker secret rm "$id" >/dev/null 2>&1; done
    for id in $(docker config ls -q --filter "label=$DECOY_LABEL" 2>/dev/null); do docker config rm "$id" >/dev/null 2>&1; done
    for id in $(docker network ls -q --filter "label=$DECOY_LABEL"); do docker network rm "$id" >/dev/null 2>&1; done
    for id in $(docker volume ls -q --filter "label=$DECOY_LABEL"); do docker volume rm "$id" >/dev/null 2>&1; done
    if [ "$MADE_SWARM" -eq 1 ]; then
        docker swarm leave --force >/dev/null 2>&1
        remove_gwbridge
    elif [ -n "$NODE" ]; then
        for label in $(node_labels); do
            case " $LABELS_BEFORE " in
                *" $label "*) ;;
                *) docker node update --label-rm "$label" "$NODE" >/dev/null 2>&1 ;;
            esac
        done
    fi
    if [ -n "$WORK" ]; then rm -rf "$WORK"; fi
}

# ---------------------------------------------------------------- the stack's tasks
# container_of <service>: the newest container of the stack's service (its current task).
container_of() {
    docker ps -aq --filter "label=com.docker.swarm.service.name=${STACK}_$1" | head -n 1
}
# service_logs <service>: every task's log lines, through docker service logs (docker/swarm-logs.sh;
# bounded: a log read must not hang the test).
service_logs() { timeout 120 sh "$ROOT/docker/swarm-logs.sh" "$STACK" "$1" raw 2>&1; }
# count_in_service <service> <pattern>: lines of every task of the service matching the pattern.
count_in_service() { service_logs "$1" | grep -cE -- "$2"; }
# acked_in <container>: bets its client logged as acknowledged.
acked_in() {
    logs_of "$1" | sed -nE 's/.*action: apuesta_enviada \| result: success \| cantidad: ([0-9]+).*/\1/p' \
        | awk '{ n += $1 } END { print n + 0 }'
}
# ended_in <container> <n>: the server task logged agency n's END.
ended_in() { [ "$(count_in_log "$1" "action: end_agency \| result: success \| agency: $2 ")" -gt 0 ]; }
# uploading_all: agencies 1 to 4 each have three batches acknowledged (agency 5's file is small).
uploading_all() {
    local i c
    for i in 1 2 3 4; do
        c=$(container_of "client$i")
        [ -n "$c" ] && [ "$(count_in_log "$c" 'action: apuesta_enviada \| result: success')" -ge 3 ] || return 1
    done
}
# replaced <service> <old container>: the service runs a newer container than the old one.
replaced() {
    local now
    now=$(container_of "$1")
    [ -n "$now" ] && [ "$now" != "$2" ] && [ "$(state_of "$now")" = running ]
}
# resumed_at <server container> <n> <at least>: agency n's last hello there resumed at a position
# of at least that many bets (and more than none).
resumed_at() {
    local at
    at=$(logs_of "$1" | grep -E "action: hello \| result: success \| .*agency: $2 \| position: " | tail -n 1 \
        | sed -nE 's/.*position: ([0-9]+).*/\1/p')
    [ -n "$at" ] && [ "$at" -gt 0 ] && [ "$at" -ge "$3" ]
}
position_of() {
    logs_of "$1" | grep -E "action: hello \| result: success \| .*agency: $2 \| position: " | tail -n 1 \
        | sed -nE 's/.*position: ([0-9]+).*/\1/p'
}
healthy() { [ "$(health_of "$1")" = healthy ]; }
# clients_done: every agency's newest task exited 0 (a failed one is replaced, so not done).
clients_done() {
    local i c
    for ((i = 1; i <= AGENCIES; i++)); do
        c=$(container_of "client$i")
        [ -n "$c" ] && [ "$(state_of "$c")" = exited ] && [ "$(exit_code_of "$c")" = 0 ] || return 1
    done
}

# ---------------------------------------------------------------- the round and its end
swarm_up() {
    SERVER_CONFIG=$ROOT/server/config.ini CLIENT_CONFIG=$WORK/client.yaml WATCH_DELAYS=0 \
        make -s -C "$ROOT" swarm-up STACK="$STACK" STACK_FILE="$WORK/stack.yaml" CLIENTS="$AGENCIES" \
        CLIENT_MODE=agency DATA_DIR="$WORK/data" GENDATA="$GENDATA" >>"$WORK/make.log" 2>&1
}

# deploy: make swarm-up, or the end of the test with its output.
deploy() {
    if swarm_up; then
        pass "$ROUND: make swarm-up deploys stack $STACK"
    else
        tail -n 20 "$WORK/make.log"
        die "$ROUND: make swarm-up failed"
    fi
}

swarm_down() {
    make -s -C "$ROOT" swarm-down STACK="$STACK" >"$WORK/down.log" 2>&1 && return 0
    cat "$WORK/down.log"
    return 1
}

# secrets_of <service>: the names of the Swarm secrets its tasks are given.
secrets_of() {
    docker service inspect -f '{{range .Spec.TaskTemplate.ContainerSpec.Secrets}}{{.SecretName}} {{end}}' "${STACK}_$1"
}
# own_secrets_only: the server holds the agencies' secrets file alone, each client its agency's.
own_secrets_only() {
    local i got bad=0
    got=$(secrets_of server)
    [ "$got" = "${STACK}_agencies_secrets " ] || { info "server: $got"; bad=1; }
    for ((i = 1; i <= AGENCIES; i++)); do
        got=$(secrets_of "client$i")
        [ "$got" = "${STACK}_agency_${i}_secret " ] || { info "client$i: $got"; bad=1; }
    done
    [ "$bad" -eq 0 ]
}

save_service_logs() { # <round>
    local service
    for service in server $(for ((i = 1; i <= AGENCIES; i++)); do echo "client$i"; done); do
        service_logs "$service" >"$LOG_DIR/$1-$service.log"
    done
}

# finish <round>: each agency's winners from its newest task, one draw, every row stored once.
finish() {
    local i c got bad=0 bets=$WORK/bets.csv draws
    check "$1: every agency's newest task exits 0 within ${SWARM_TIMEOUT}s" wait_for "$SWARM_TIMEOUT" clients_done
    for ((i = 1; i <= AGENCIES; i++)); do
        c=$(container_of "client$i")
        got=$(logs_of "$c" | sed -nE 's/.*action: consulta_ganadores \| result: success \| cant_ganadores: ([0-9]+).*/\1/p' | tail -n 1)
        check "$1: client$i's task exits $(exit_code_of "$c") with ${got:-no} winners (expected ${expected[i]})" \
            test "$(exit_code_of "$c")" = 0 -a "${got:-x}" = "${expected[i]}"
    done
    draws=$(count_in_service server 'action: sorteo \| result: success')
    check "$1: docker service logs of ${STACK}_server's tasks show exactly one 'sorteo' (got $draws)" test "$draws" -eq 1
    bets_file "$(container_of server)" >"$bets"
    for ((i = 1; i <= AGENCIES; i++)); do
        if ! cmp -s <(stored_rows_of "$bets" "$i") "$WORK/data/agency-$i.csv"; then
            info "agency $i: stored $(stored_rows_of "$bets" "$i" | wc -l) rows, $(stored_rows_of "$bets" "$i" | sort | uniq -d | wc -l) of them doubled; its file has ${rows[i]}"
            bad=1
        fi
    done
    check "$1: every agency's rows stored exactly once, byte-identical to its file ($(wc -l <"$bets") of $TOTAL_ROWS rows, $(sort "$bets" | uniq -d | wc -l) doubled)" \
        test "$bad" -eq 0 -a "$(wc -l <"$bets")" -eq "$TOTAL_ROWS"
    save_service_logs "$1"
}

# ---------------------------------------------------------------- swarm-down removes its own alone
# swarm_objects: every service, secret, config and swarm network, and every volume, by id and name.
swarm_objects() {
    docker service ls --format '{{.ID}} {{.Name}}'
    docker secret ls --format '{{.ID}} {{.Name}}'
    docker config ls --format '{{.ID}} {{.Name}}'
    docker network ls --filter scope=swarm --format '{{.ID}} {{.Name}}'
    docker volume ls --format 'volume {{.Name}}'
}
stack_left() {
    local filter="label=com.docker.stack.namespace=$STACK"
    docker service ls -q --filter "$filter"
    docker secret ls -q --filter "$filter"
    docker config ls -q --filter "$filter"
    docker network ls -q --filter "$filter"
    docker ps -aq --filter "$filter"
    docker volume ls -q --filter "$filter"
}
make_decoys() {
    local name=${STACK}_decoy
    printf 'decoy\n' | docker secret create --label "$DECOY_LABEL" "$name" - >/dev/null &&
        printf 'decoy\n' | docker config create --label "$DECOY_LABEL" "$name" - >/dev/null &&
        docker network create --driver overlay --label "$DECOY_LABEL" "$name" >/dev/null &&
        docker volume create --label "$DECOY_LABEL" "$name" >/dev/null &&
        docker service create -q --detach --no-resolve-image --name "$name" --label "$DECOY_LABEL" \
            --replicas 0 --entrypoint /server server:latest >/dev/null
}
# still_there <file of swarm_objects lines>: each of them exists now.
still_there() {
    local missing
    missing=$(comm -23 <(sort "$1") <(swarm_objects | sort))
    [ -z "$missing" ] || { info "gone: $(echo "$missing" | tr '\n' ' ')"; return 1; }
}

# down <round>: make swarm-down, then nothing of the stack left and everything else kept.
down() {
    local before=$WORK/objects-before
    # Everything but the stack's own (named after it), and the decoys, named so too.
    swarm_objects | grep -vE " ${STACK}_[a-z0-9_]+\$" >"$before"
    swarm_objects | grep -E " ${STACK}_decoy\$" >>"$before"
    local started=$SECONDS
    check "$1: make swarm-down succeeds" swarm_down
    info "make swarm-down took $((SECONDS - started)) s"
    check "$1: nothing labelled with stack $STACK is left (services, secrets, configs, network, containers, volume)" \
        test -z "$(stack_left)"
    check "$1: every other object stays: $(wc -l <"$before") services, secrets, configs, swarm networks and volumes, the decoys among them" \
        still_there "$before"
    check "$1: the images server:latest and client:latest stay" images_there
}
validar_on_stack() {
    NETWORK=${STACK}_testing_net sh "$ROOT/validar-echo-server.sh" >"$WORK/validar.log" 2>&1 && return 0
    info "validar-echo-server.sh: $(cat "$WORK/validar.log")"
    return 1
}
images_there() { docker image inspect server:latest client:latest >/dev/null 2>&1; }

# ---------------------------------------------------------------- preflight and data
command -v docker >/dev/null 2>&1 || skip "docker is not installed"
docker info >/dev/null 2>&1 || skip "cannot reach the Docker engine"
require_images
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tp0-swarm.XXXXXX")
trap cleanup EXIT
trap 'exit 130' INT TERM
make_swarm
[ -z "$(stack_left)" ] || die "something of stack $STACK exists: make swarm-down STACK=$STACK"
rm -rf "$LOG_DIR"
mkdir -p "$LOG_DIR" "$WORK/data"

if [ -f "$DATASET/agency-1.csv" ]; then
    cp "$DATASET"/agency-[1-5].csv "$WORK/data/" || die "cannot copy the course data set"
    info "data: the course data set ($DATASET)"
else
    [ -x "$GENDATA" ] || die "no course data at $DATASET and no gendata at $GENDATA"
    "$GENDATA" "$WORK/data" "$AGENCIES" 5000 75 >/dev/null || die "gendata failed"
    info "data: generated by gendata (5000 bets per agency)"
fi
expected=()
rows=()
TOTAL_ROWS=0
for ((i = 1; i <= AGENCIES; i++)); do
    rows[i]=$(wc -l <"$WORK/data/agency-$i.csv")
    expected[i]=$(tr -d '\r' <"$WORK/data/agency-$i.csv" | awk -F, '$5 == "7574" { n++ } END { print n + 0 }')
    TOTAL_ROWS=$((TOTAL_ROWS + rows[i]))
done
if [ -f "$DATASET/agency-1.csv" ]; then
    check "the course data holds the published winners 2 3 3 2 0 (counted: ${expected[*]:1})" \
        test "${expected[*]:1}" = "2 3 3 2 0"
fi
info "rows per agency: ${rows[*]:1}; batches of $BATCH, one in flight"
sed -E -e "s/^( +maxAmount:).*/\1 $BATCH/" -e 's/^( +window:).*/\1 1/' "$ROOT/client/config.yaml" >"$WORK/client.yaml"
check "decoys named like the stack's objects, not of it: a service, secret, config, network and volume ${STACK}_decoy" \
    make_decoys

# ================================================================ 1. an agency's task killed
ROUND=agency-killed
section "$ROUND: make swarm-up, client1's task killed mid-upload"
started=$SECONDS
deploy
check "$ROUND: each agency's task holds its own secret alone, the server's the agencies' secrets file" own_secrets_only
check "$ROUND: every agency is uploading (first batches acknowledged)" wait_for 90 uploading_all
info "deployed to uploading: $((SECONDS - started)) s"
victim=$(container_of client1)
docker kill "$victim" >/dev/null 2>&1
acked=$(acked_in "$victim")
server=$(container_of server)
check "$ROUND: client1's task killed mid-upload ($acked bets acknowledged, agency 1's END not received)" \
    test "$acked" -gt 0 -a "$(count_in_log "$server" 'action: end_agency \| result: success \| agency: 1 ')" -eq 0
killed=$SECONDS
check "$ROUND: Swarm starts client1 again in a new task (restart_policy on-failure)" wait_for 30 replaced client1 "$victim"
check "$ROUND: the new task resumes at the stored position (>= the $acked acknowledged)" \
    wait_for 30 resumed_at "$server" 1 "$acked"
info "client1: killed with $acked bets acknowledged; its new task resumed at $(position_of "$server" 1), $((SECONDS - killed)) s after the kill"
finish "$ROUND"
info "round: $((SECONDS - started)) s from make swarm-up"
check "$ROUND: validar-echo-server.sh succeeds on the stack's attachable network" validar_on_stack
down "$ROUND"

# ================================================================ 2. the server's task killed
ROUND=server-killed
section "$ROUND: make swarm-up, the server's task killed mid-upload"
started=$SECONDS
deploy
check "$ROUND: every agency is uploading (first batches acknowledged)" wait_for 90 uploading_all
victim=$(container_of server)
docker kill "$victim" >/dev/null 2>&1
check "$ROUND: a new round after swarm-down (nueva_ronda, nothing recovered)" \
    test "$(count_in_log "$victim" 'action: nueva_ronda \| result: success')" -eq 1 \
    -a "$(count_in_log "$victim" 'action: recover_bets')" -eq 0
midway=()
before=()
for ((i = 1; i <= AGENCIES; i++)); do
    before[i]=$(acked_in "$(container_of "client$i")")
    if [ "$i" -le 4 ] && ! ended_in "$victim" "$i"; then midway+=("$i"); fi
done
info "agencies still uploading at the kill: ${midway[*]:-none}; acknowledged: ${before[*]:1}"
check "$ROUND: at least three of agencies 1 to 4 were still uploading at the kill" test "${#midway[@]}" -ge 3
killed=$SECONDS
check "$ROUND: Swarm starts the server again in a new task" wait_for 60 replaced server "$victim"
server=$(container_of server)
check "$ROUND: the new server task turns healthy" wait_for 60 healthy "$server"
info "the new server task is healthy $((SECONDS - killed)) s after the kill"
check "$ROUND: the new server task recovered the stored bets from the volume (recover_bets)" \
    test "$(count_in_log "$server" 'action: recover_bets \| result: success')" -eq 1
resumed=0
for i in "${midway[@]}"; do
    if wait_for 60 resumed_at "$server" "$i" "${before[i]}"; then resumed=$((resumed + 1)); fi
    info "agency $i: ${before[i]} bets acknowledged at the kill, resumed at $(position_of "$server" "$i")"
done
check "$ROUND: every agency uploading at the kill resumed at its stored position (>= acknowledged)" \
    test "$resumed" -eq "${#midway[@]}"
finish "$ROUND"
info "round: $((SECONDS - started)) s from make swarm-up"
down "$ROUND"

info "the whole test: $SECONDS s"
summary
[ "$failed" -eq 0 ]
