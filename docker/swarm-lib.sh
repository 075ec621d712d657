# Helpers of docker/swarm-test.sh (sourced, not run): the single-node swarm it makes or uses and
# what it leaves, the stack's tasks and their logs, the checks each round ends with, and the
# checks that `make swarm-down` removes the stack's objects alone. See docker/swarm-test.sh for
# what is run and the variables it sets first (ROOT, STACK, WORK, AGENCIES, ...).
# shellcheck shell=bash

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
# position_of <server container> <n>: where agency n's last hello there resumed, in bets.
position_of() {
    logs_of "$1" | grep -E "action: hello \| result: success \| .*agency: $2 \| position: " | tail -n 1 \
        | sed -nE 's/.*position: ([0-9]+).*/\1/p'
}
# resumed_at <server container> <n> <at least>: agency n's last hello there resumed at a position
# of at least that many bets (and more than none).
resumed_at() {
    local at
    at=$(position_of "$1" "$2")
    [ -n "$at" ] && [ "$at" -gt 0 ] && [ "$at" -ge "$3" ]
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

