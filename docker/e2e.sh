#!/usr/bin/env bash
# End-to-end test of the deployment: the real images on a real compose network.
#
# Usage: bash docker/e2e.sh        (make e2e builds the images first)
#
# Runs, each from a clean start and cleaned up afterwards:
#   1. agency mode, 5 clients on the course data set (../shared/dataset beside the
#      repository, copied to a temporary folder) or, without it, on a data set made
#      by gendata: every client exits 0, one draw, the right winners per agency, no
#      failure logged, every bet on the volume, validar-echo-server.sh succeeds while
#      the server runs, a restarted server recovers its bets, `compose stop` ends it
#      with exit code 0 and its shutdown logged, then validar-echo-server.sh fails;
#   2. echo mode (exercises 1-4) with loop.amount and loop.period set through env;
#   3. graceful stop (exercise 4): `docker stop -t 20` on a busy client,
#      `compose stop -t 1` on the rest, then `make docker-compose-down`;
#   4. exercise 2: an edited config.yaml (read-only bind mount) takes effect when
#      the container restarts, with no rebuild;
#   5. agency secrets (on by default; here with an explicit SECRETS_DIR): agencies with their
#      own secrets upload; a client holding another agency's secret is refused.
# Prints PASS/FAIL per check and ends with "N passed, M failed"; exits 1 if any failed.
#
# The compose project is tp0, as with `make docker-compose-up`, so the run refuses
# to start while anything of a tp0 deployment exists (make docker-compose-down).
# Nothing is written into the repository but the logs, kept in target/e2e-logs/.
#
# Environment: COMPOSE (compose command; detected), GENDATA (the gendata binary),
# DATASET (course data folder [../shared/dataset]), E2E_TIMEOUT (seconds the
# agency run may take [240]), NETCAT_IMAGE (as in validar-echo-server.sh),
# E2E_SERVER_CONFIG and E2E_CLIENT_CONFIG (the configs to mount [server/config.ini,
# client/config.yaml]).
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PROJECT=tp0
NETWORK=${PROJECT}_testing_net
GENDATA=${GENDATA:-target/x86_64-unknown-linux-gnu/release/gendata}
case $GENDATA in /*) ;; *) GENDATA=$ROOT/$GENDATA ;; esac
DATASET=${DATASET:-$ROOT/../shared/dataset}
E2E_TIMEOUT=${E2E_TIMEOUT:-240}
LOG_DIR=$ROOT/target/e2e-logs
SERVER_CONFIG_FILE=${E2E_SERVER_CONFIG:-$ROOT/server/config.ini}
CLIENT_CONFIG_FILE=${E2E_CLIENT_CONFIG:-$ROOT/client/config.yaml}
ECHO_PERIOD=100ms
SLOW_PERIOD=500ms
# How a process says it closed everything after SIGTERM.
SERVER_SHUTDOWN='action: shutdown \| result: success \| resource: server'
CLIENT_SHUTDOWN='action: shutdown \| result: success \| client_id: '

TEST_NAME=e2e
# shellcheck source=docker/lib.sh
. "$ROOT/docker/lib.sh"

# ---------------------------------------------------------------- docker helpers
WORK=
EVENTS_PID=
COMPOSE_FILE=
OVERRIDE_FILE=
SCENARIO="none"

compose() {
    local files=(-f "$COMPOSE_FILE")
    if [ -f "$OVERRIDE_FILE" ]; then files+=(-f "$OVERRIDE_FILE"); fi
    "${COMPOSE_CMD[@]}" -p "$PROJECT" "${files[@]}" "$@"
}

# Lists whatever of the tp0 project exists: containers, volumes, networks.
tp0_leftovers() {
    docker ps -aq --filter "label=com.docker.compose.project=$PROJECT"
    docker volume ls -q --filter "label=com.docker.compose.project=$PROJECT"
    docker network ls -q --filter "label=com.docker.compose.project=$PROJECT"
    docker network ls -q --filter "name=^${NETWORK}\$"
}

# Removes what the current scenario created: containers, network, volume.
teardown() {
    if [ -n "$COMPOSE_FILE" ] && [ -f "$COMPOSE_FILE" ]; then
        compose down -v --remove-orphans -t 5 >>"$WORK/compose.log" 2>&1
    fi
    rm -f "$OVERRIDE_FILE"
}

cleanup() {
    teardown
    if [ -n "$EVENTS_PID" ]; then kill "$EVENTS_PID" 2>/dev/null; fi
    # Anything still labelled with the project goes too.
    remove_project "$PROJECT"
    if [ -n "$WORK" ]; then rm -rf "$WORK"; fi
}


# Saves the named containers' logs as $LOG_DIR/<scenario>-<name>.log.
save_logs() {
    local name
    for name in "$@"; do logs_of "$name" >"$LOG_DIR/$SCENARIO-$name.log"; done
}


# wait_log <seconds> <pattern> <count> <container>...: until each logged count matches.
wait_log() {
    local deadline=$((SECONDS + $1)) pattern=$2 count=$3 name
    shift 3
    for name in "$@"; do
        while [ "$(count_in_log "$name" "$pattern")" -lt "$count" ]; do
            [ "$SECONDS" -ge "$deadline" ] && return 1
            sleep 1
        done
    done
}

# wait_healthy <seconds> <container>
wait_healthy() {
    local deadline=$((SECONDS + $1))
    until [ "$(health_of "$2")" = healthy ]; do
        [ "$SECONDS" -ge "$deadline" ] && return 1
        sleep 1
    done
}

# ---------------------------------------------------------------- predicates
all_zero() {
    local code
    for code in "$@"; do [ "$code" = 0 ] || return 1; done
}

exit_codes_zero() {
    local name codes=()
    for name in "$@"; do codes+=("$(exit_code_of "$name")"); done
    all_zero "${codes[@]}"
}

no_fail_logged() {
    local name bad=0
    for name in "$@"; do
        if logs_of "$name" | grep -E 'result: fail' >"$WORK/fail-lines"; then
            info "$name logged failures:"
            head -n 5 "$WORK/fail-lines" | sed 's/^/        /'
            bad=1
        fi
    done
    [ "$bad" -eq 0 ]
}

# shutdown_logged <container>...: the log ends with the server's or a client's closing line.
# (No grep -q after a pipe: with pipefail its early exit would fail the pipeline.)
shutdown_logged() {
    local name pattern last
    for name in "$@"; do
        case $name in
            server) pattern=$SERVER_SHUTDOWN ;;
            *) pattern=$CLIENT_SHUTDOWN ;;
        esac
        last=$(logs_of "$name" | tail -n 1)
        if ! grep -Eq -- "$pattern" <<<"$last"; then
            info "$name: its last line does not match '$pattern': $last"
            return 1
        fi
    done
}

validar_prints() {
    local want=$1 want_status=$2 output status
    output=$(sh "$ROOT/validar-echo-server.sh" 2>"$WORK/validar.err")
    status=$?
    if [ "$output" = "action: test_echo_server | result: $want" ] && [ "$status" -eq "$want_status" ]; then
        return 0
    fi
    info "validar-echo-server.sh printed '$output' (exit $status); stderr: $(cat "$WORK/validar.err")"
    return 1
}

# echo_client_ok <n> <amount>: client<n> got every echo, finished its loop and exited 0.
echo_client_ok() {
    local name="client$1" got finished
    got=$(count_in_log "$name" "action: receive_message \| result: success \| client_id: $1 ")
    finished=$(count_in_log "$name" "action: loop_finished \| result: success \| client_id: $1\b")
    info "$name: $got echoes, loop_finished $finished time(s), exit code $(exit_code_of "$name")"
    [ "$got" -eq "$2" ] && [ "$finished" -eq 1 ] && exit_codes_zero "$name"
}

# Winners in an agency file, by the course's rule: has_won is number == 7574.
winners_in_file() {
    tr -d '\r' <"$1" | awk -F, '$5 == "7574" { n++ } END { print n + 0 }'
}

# ---------------------------------------------------------------- the scenarios' setup
generate() { # <clients> <mode> [client config]
    rm -f "$OVERRIDE_FILE"
    SERVER_CONFIG=$SERVER_CONFIG_FILE \
        CLIENT_CONFIG=${3:-$CLIENT_CONFIG_FILE} \
        DATA_DIR=$WORK/data \
        SECRETS_DIR=${SECRETS_DIR:-} \
        sh "$ROOT/generar-compose.sh" "$COMPOSE_FILE" "$1" "$2" >/dev/null
}

# override_clients <n> <VAR=value>...: extra environment for client1..client<n>.
override_clients() {
    local n=$1 i kv
    shift
    {
        echo "services:"
        for ((i = 1; i <= n; i++)); do
            printf '  client%d:\n    environment:\n' "$i"
            for kv in "$@"; do printf '      - %s\n' "$kv"; done
        done
    } >"$OVERRIDE_FILE"
}

up() { compose up -d >>"$WORK/compose.log" 2>&1; }

client_names() { # <n>: prints client1 ... client<n>, one a line
    local i
    for ((i = 1; i <= $1; i++)); do echo "client$i"; done
}

# ---------------------------------------------------------------- preflight
for tool in docker make awk grep sed tr; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool is not installed"
done
docker info >/dev/null 2>&1 || die "cannot reach the Docker engine"
"${COMPOSE_CMD[@]}" version >/dev/null 2>&1 || die "compose command '${COMPOSE_CMD[*]}' does not work"
# A bind mount of a missing file would make Docker create a directory in its place.
for file in "$SERVER_CONFIG_FILE" "$CLIENT_CONFIG_FILE"; do
    [ -f "$file" ] || die "$file is missing"
done
require_images
export NETCAT_IMAGE
if [ -n "$(tp0_leftovers)" ]; then
    die "a $PROJECT deployment exists (containers, volumes or network $NETWORK): run 'make docker-compose-down' first"
fi
for name in server client1 client2 client3 client4 client5; do
    docker container inspect "$name" >/dev/null 2>&1 && die "a container named $name exists; remove it first"
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/tp0-e2e.XXXXXX")
COMPOSE_FILE=$WORK/compose.yaml
OVERRIDE_FILE=$WORK/override.yaml
trap cleanup EXIT
trap 'exit 130' INT TERM
rm -rf "$LOG_DIR"
mkdir -p "$LOG_DIR" "$WORK/data"
# What the engine did to the project's containers (who stopped or killed what, with
# which signal), for diagnosing a failure.
docker events --filter "label=com.docker.compose.project=$PROJECT" --filter type=container \
    --filter event=start --filter event=kill --filter event=die --filter event=oom \
    --format '{{.Time}} {{.Action}} {{index .Actor.Attributes "name"}}{{with index .Actor.Attributes "signal"}} signal={{.}}{{end}}{{with index .Actor.Attributes "exitCode"}} exit={{.}}{{end}}' \
    >"$LOG_DIR/docker-events.log" 2>&1 &
EVENTS_PID=$!
info "compose: ${COMPOSE_CMD[*]}; netcat image: $NETCAT_IMAGE; logs: $LOG_DIR"

# ================================================================ 1. agency mode
SCENARIO="agency"
section "agency mode: 5 clients upload, one draw, the winners per agency"
AGENCIES=5
expected=()
if [ -f "$DATASET/agency-1.csv" ]; then
    for ((i = 1; i <= AGENCIES; i++)); do
        cp "$DATASET/agency-$i.csv" "$WORK/data/agency-$i.csv" || die "cannot copy $DATASET/agency-$i.csv"
        expected[i]=$(winners_in_file "$WORK/data/agency-$i.csv")
    done
    info "data: the course data set, from $DATASET"
    # The course publishes its winners per agency: 2, 3, 3, 2, 0.
    check "the course data holds the published winners 2 3 3 2 0 (counted: ${expected[*]})" \
        test "${expected[*]}" = "2 3 3 2 0"
else
    [ -x "$GENDATA" ] || die "no course data at $DATASET and no gendata at $GENDATA (make docker-image builds it)"
    "$GENDATA" "$WORK/data" "$AGENCIES" "${GEN_BETS:-5000}" "${GEN_SEED:-75}" >"$WORK/gendata.out" \
        || die "gendata failed"
    info "data: generated by gendata (${GEN_BETS:-5000} bets per agency, seed ${GEN_SEED:-75})"
    for ((i = 1; i <= AGENCIES; i++)); do
        expected[i]=$(sed -nE "s/^agency $i: ([0-9]+) winners?\$/\1/p" "$WORK/gendata.out")
        counted=$(winners_in_file "$WORK/data/agency-$i.csv")
        check "gendata's report for agency $i (${expected[i]:-none}) matches its file ($counted)" \
            test "${expected[i]:-x}" = "$counted"
    done
fi
total_bets=0
for ((i = 1; i <= AGENCIES; i++)); do
    total_bets=$((total_bets + $(tr -d '\r' <"$WORK/data/agency-$i.csv" | grep -c .)))
done
info "expected winners per agency: ${expected[*]}; $total_bets bets in all"

generate "$AGENCIES" agency
check "by default each agency gets its own secret (the server mounts all, client1 only its own)" \
    grep -q 'SECRETS_FILE=/secrets' "$COMPOSE_FILE"
mapfile -t clients < <(client_names "$AGENCIES")
started=$SECONDS
check "compose up: the server and the clients start (the clients do not wait for the health check)" up
check "the server's health check turns healthy" wait_healthy 30 server
check "all $AGENCIES clients finish within ${E2E_TIMEOUT} s" wait_exited "$E2E_TIMEOUT" "${clients[@]}"
info "the clients took $((SECONDS - started)) s"
for ((i = 1; i <= AGENCIES; i++)); do
    check "client$i exited with code 0 (got $(exit_code_of "client$i"))" exit_codes_zero "client$i"
done
draws=$(count_in_log server 'action: sorteo \| result: success')
check "the server logged 'action: sorteo | result: success' exactly once (got $draws)" test "$draws" -eq 1
for ((i = 1; i <= AGENCIES; i++)); do
    got=$(logs_of "client$i" | grep -E 'action: consulta_ganadores \| result: success' \
        | sed -nE 's/.*cant_ganadores: ([0-9]+).*/\1/p' | tail -n 1)
    check "client$i: cant_ganadores ${got:-missing}, expected ${expected[i]}" test "${got:-x}" = "${expected[i]}"
done
check "no 'result: fail' in any log" no_fail_logged server "${clients[@]}"
stored=$(docker run --rm --volumes-from server --entrypoint sh "$NETCAT_IMAGE" \
    -c 'tr -cd "\n" < /data/bets.csv | wc -c' 2>/dev/null | tr -d ' ')
check "every bet is on the volume (${stored:-no} of $total_bets rows in /data/bets.csv)" \
    test "${stored:-x}" = "$total_bets"
check "validar-echo-server.sh succeeds while the server runs" validar_prints success 0

docker restart -t 10 server >/dev/null 2>&1
check "the server restarts and turns healthy again" wait_healthy 30 server
recovered=$(logs_of server | grep -E 'action: recover_bets \| result: success' | tail -n 1 \
    | sed -nE 's/.*\| bets: ([0-9]+).*/\1/p')
check "the restarted server recovered its bets from the volume (${recovered:-none} of $total_bets)" \
    test "${recovered:-x}" = "$total_bets"
draws=$(count_in_log server 'action: sorteo \| result: success')
recovered_draws=$(count_in_log server 'action: recover_draw \| result: success')
check "the restart recovered the draw (recover_draw: $recovered_draws) and did not draw again (sorteo: $draws)" \
    test "$draws" -eq 1 -a "$recovered_draws" -eq 1
check "validar-echo-server.sh succeeds after the restart" validar_prints success 0

started=$SECONDS
compose stop -t 10 >>"$WORK/compose.log" 2>&1
check "compose stop -t 10 ends the server with exit code 0 (got $(exit_code_of server) in $((SECONDS - started)) s)" \
    exit_codes_zero server
check "the server logged its shutdown last" shutdown_logged server
check "validar-echo-server.sh fails once the server is down" validar_prints fail 1
save_logs server "${clients[@]}"

# A plain `down` (no -v, what the course's tooling types) then `up`: a new, empty round.
old_volume=$(docker inspect server --format '{{range .Mounts}}{{if eq .Destination "/data"}}{{.Name}}{{end}}{{end}}' 2>/dev/null)
compose down >>"$WORK/compose.log" 2>&1
started=$SECONDS
check "compose up after a plain down" up
check "all $AGENCIES clients finish the new round within ${E2E_TIMEOUT} s" wait_exited "$E2E_TIMEOUT" "${clients[@]}"
info "the new round took $((SECONDS - started)) s"
check "the server started a new round (action: nueva_ronda), recovering nothing" \
    test "$(count_in_log server 'action: nueva_ronda \| result: success')" -eq 1 \
    -a "$(count_in_log server 'action: recover_bets')" -eq 0
draws=$(count_in_log server 'action: sorteo \| result: success')
check "the new round drew once (got $draws)" test "$draws" -eq 1
for ((i = 1; i <= AGENCIES; i++)); do
    got=$(logs_of "client$i" | grep -E 'action: consulta_ganadores \| result: success' \
        | sed -nE 's/.*cant_ganadores: ([0-9]+).*/\1/p' | tail -n 1)
    check "new round, client$i: exit code $(exit_code_of "client$i"), cant_ganadores ${got:-missing} (expected ${expected[i]})" \
        test "$(exit_code_of "client$i")" = 0 -a "${got:-x}" = "${expected[i]}"
done
stored=$(docker run --rm --volumes-from server --entrypoint sh "$NETCAT_IMAGE" \
    -c 'tr -cd "\n" < /data/bets.csv | wc -c' 2>/dev/null | tr -d ' ')
check "the new round's volume holds each bet once (${stored:-no} of $total_bets rows)" \
    test "${stored:-x}" = "$total_bets"
check "no 'result: fail' in any log of the new round" no_fail_logged server "${clients[@]}"
SCENARIO="agency-new-round"
save_logs server "${clients[@]}"
teardown
# The first round's volume, left by the plain down, is this test's to remove.
if [ -n "$old_volume" ]; then docker volume rm "$old_volume" >/dev/null 2>&1; fi

# ================================================================ 2. echo mode
SCENARIO="echo"
section "echo mode (exercises 1-4): 3 clients, CLI_LOOP_AMOUNT=3, CLI_LOOP_PERIOD=$ECHO_PERIOD"
LOOP_AMOUNT=3
generate 3 echo
override_clients 3 "CLI_LOOP_AMOUNT=$LOOP_AMOUNT" "CLI_LOOP_PERIOD=$ECHO_PERIOD"
mapfile -t clients < <(client_names 3)
check "compose up" up
check "the echo clients finish within 60 s" wait_exited 60 "${clients[@]}"
for ((i = 1; i <= 3; i++)); do
    check "client$i: $LOOP_AMOUNT echoes received, loop finished, exit code 0" echo_client_ok "$i" "$LOOP_AMOUNT"
done
check "no 'result: fail' in any log" no_fail_logged server "${clients[@]}"
save_logs server "${clients[@]}"
teardown

# ================================================================ 3. graceful stop
SCENARIO="stop"
section "graceful stop (exercise 4): docker stop -t 20, compose stop -t 1, make docker-compose-down"
generate 2 echo
override_clients 2 "CLI_LOOP_AMOUNT=100000" "CLI_LOOP_PERIOD=$SLOW_PERIOD"
check "compose up" up
check "both clients are exchanging messages" wait_log 30 'action: receive_message' 2 client1 client2
started=$SECONDS
docker stop -t 20 client1 >/dev/null 2>&1
took=$((SECONDS - started))
check "docker stop -t 20 client1: exit code $(exit_code_of client1) after ${took} s (0, before the SIGKILL)" \
    exit_codes_zero client1
check "client1 logged its shutdown last" shutdown_logged client1
started=$SECONDS
compose stop -t 1 >>"$WORK/compose.log" 2>&1
check "compose stop -t 1: exit codes client2 $(exit_code_of client2), server $(exit_code_of server)" \
    exit_codes_zero client2 server
check "client2 and the server logged their shutdown last" shutdown_logged client2 server
check "no 'result: fail' in any log" no_fail_logged server client1 client2
save_logs server client1 client2
teardown

# make docker-compose-down on a running deployment; docker wait catches the exit codes.
SCENARIO="make-down"
generate 2 echo
override_clients 2 "CLI_LOOP_AMOUNT=100000" "CLI_LOOP_PERIOD=$SLOW_PERIOD"
check "compose up" up
wait_log 30 'action: receive_message' 1 client1 client2
watchers=()
for name in server client1 client2; do
    docker logs -f "$name" >"$LOG_DIR/$SCENARIO-$name.log" 2>&1 &
    watchers+=($!)
    docker wait "$name" >"$WORK/wait-$name" 2>/dev/null &
    watchers+=($!)
done
started=$SECONDS
make -s -C "$ROOT" docker-compose-down PROJECT="$PROJECT" COMPOSE="${COMPOSE_CMD[*]}" \
    COMPOSE_FILE="$COMPOSE_FILE" STOP_TIMEOUT=10 >>"$WORK/compose.log" 2>&1
wait "${watchers[@]}"
codes=()
for name in server client1 client2; do codes+=("$(cat "$WORK/wait-$name")"); done
check "make docker-compose-down: exit codes server, client1, client2 = ${codes[*]} ($((SECONDS - started)) s)" \
    all_zero "${codes[@]}"
check "make docker-compose-down removed the containers, the network and the volume" test -z "$(tp0_leftovers)"
check "the server logged its shutdown last" grep -Eq -- "$SERVER_SHUTDOWN" <(tail -n 1 "$LOG_DIR/$SCENARIO-server.log")
for name in client1 client2; do
    check "$name logged its shutdown last" grep -Eq -- "$CLIENT_SHUTDOWN" <(tail -n 1 "$LOG_DIR/$SCENARIO-$name.log")
done
teardown

# ================================================================ 4. config remount
SCENARIO="config"
section "exercise 2: an edited config.yaml takes effect on restart, without a rebuild"
# write_client_config <amount>: client/config.yaml with loop.amount and loop.period set.
write_client_config() {
    sed -E -e "s/^([[:space:]]+amount:).*/\1 $1/" -e "s/^([[:space:]]+period:).*/\1 \"$ECHO_PERIOD\"/" \
        "$CLIENT_CONFIG_FILE" >"$WORK/config.yaml.new"
    # Replaced as editors do, a new inode: the container's next start must see it.
    mv "$WORK/config.yaml.new" "$WORK/config.yaml"
}
write_client_config 2
generate 1 echo "$WORK/config.yaml"
check "compose up" up
image_before=$(docker inspect -f '{{.Image}}' client1 2>/dev/null)
wait_exited 60 client1
first=$(count_in_log client1 'action: receive_message \| result: success')
check "with loop.amount 2 in config.yaml client1 echoes 2 messages (got $first)" test "$first" -eq 2
write_client_config 4
docker start client1 >/dev/null 2>&1
sleep 1
wait_exited 60 client1
second=$(($(count_in_log client1 'action: receive_message \| result: success') - first))
check "loop.amount edited to 4, client1 restarted: it echoes 4 messages (got $second)" test "$second" -eq 4
check "the same image before and after (no rebuild)" \
    test "$(docker inspect -f '{{.Image}}' client1 2>/dev/null)" = "$image_before"
check "client1 exited with code 0" exit_codes_zero client1
save_logs server client1
teardown

# ================================================================ secrets
section "agency secrets (given explicitly): each agency uploads with its own secret, another's is refused"
sh "$ROOT/docker/make-secrets.sh" "$WORK/secrets" 2 >/dev/null
SECRETS_DIR=$WORK/secrets generate 2 agency
check "the compose file mounts the secrets" grep -q 'SECRETS_FILE=/secrets' "$COMPOSE_FILE"
check "compose up" up
check "both agencies finish within 120 s" wait_exited 120 client1 client2
check "client1 and client2 exited with code 0" exit_codes_zero client1 client2
check "one draw" test "$(count_in_log server 'action: sorteo \| result: success')" -eq 1
impostor_log=$WORK/impostor.log
docker run --rm --network "${PROJECT}_testing_net" \
    -e CLI_ID=1 -e CLI_SERVER_ADDRESS=server:12345 -e CLI_RETRY_TIMEOUT=2s -e CLI_SECRET_FILE=/secret \
    -v "$WORK/secrets/agency-2.secret:/secret:ro" -v "$WORK/data/agency-1.csv:/agency.csv:ro" \
    client:latest >"$impostor_log" 2>&1
impostor_exit=$?
check "a client with agency 2's secret claiming agency 1 exits 1 (got $impostor_exit)" test "$impostor_exit" -eq 1
check "it is told why: Unauthorized" grep -q 'Unauthorized' "$impostor_log"
check "the server logs the refused authentication" test "$(count_in_log server 'action: authenticate \| result: fail')" -ge 1
save_logs server client1 client2
teardown

# ================================================================ check mode
section "CLI_MODE=check: the client image checks a mounted agency file, with no network and no server"
check_log=$WORK/check.log
docker run --rm --network none -e CLI_MODE=check -v "$WORK/data/agency-1.csv:/agency.csv:ro" \
    client:latest >"$check_log" 2>&1
good_exit=$?
check "agency 1's file: exit 0 (got $good_exit)" test "$good_exit" -eq 0
check "it logs the check's success" grep -q 'action: check_agency_file | result: success' "$check_log"
printf 'nombre,apellido,documento,nacimiento,numero\r\nAna,Lorca,1,1999-03-17,7574\r\n\r\nBo,Diaz,2,2001-02-29,1\r\n' \
    >"$WORK/check.csv"
docker run --rm --network none -e CLI_MODE=check -v "$WORK/check.csv:/agency.csv:ro" \
    client:latest >"$check_log" 2>&1
bad_exit=$?
check "a file with a date that does not exist: exit 1 (got $bad_exit)" test "$bad_exit" -eq 1
check "the bad row is named by its editor line and field" grep -q 'row: 4 | field: nacimiento' "$check_log"

# ================================================================ cleanup
section "cleanup"
check "no container, network or volume of project $PROJECT is left" test -z "$(tp0_leftovers)"

summary
[ "$failed" -eq 0 ]
