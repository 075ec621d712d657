# Helpers of docker/faults.sh (sourced, not run): reporting, the compose file of the project
# tp0faults (its own container names and subnet, so it never meets a tp0 deployment), waits, and
# the checks every fault ends with. See docker/faults.sh for what is run.
# shellcheck shell=bash

PROJECT=tp0faults
PREFIX=tp0f-
NETWORK=${PROJECT}_testing_net
SUBNET_BASE=${FAULTS_SUBNET_BASE:-172.25.211}
SERVER=${PREFIX}server

# ---------------------------------------------------------------- reporting
# pass, fail, info, section, check, summary, die, COMPOSE_CMD, the container queries, wait_exited
# and remove_project come from docker/lib.sh.
TEST_NAME=faults
# shellcheck source=docker/lib.sh
. "$ROOT/docker/lib.sh"

# row <fault> <injection> <observed> <lost>: one table row for docs/reliability.md.
row() {
    local line="| $1 | $2 | $3 | $4 |"
    printf 'faults: %s\n' "$line"
    printf '%s\n' "$line" >>"$ROWS.tmp"
}

# ---------------------------------------------------------------- docker helpers
compose() {
    local files=(-f "$COMPOSE_FILE")
    if [ -f "$OVERRIDE_FILE" ]; then files+=(-f "$OVERRIDE_FILE"); fi
    "${COMPOSE_CMD[@]}" -p "$PROJECT" "${files[@]}" "$@"
}

leftovers() {
    docker ps -aq --filter "label=com.docker.compose.project=$PROJECT"
    docker ps -aq --filter "name=^${PREFIX}"
    docker volume ls -q --filter "label=com.docker.compose.project=$PROJECT"
    docker network ls -q --filter "label=com.docker.compose.project=$PROJECT"
    docker network ls -q --filter "name=^${NETWORK}\$"
}

teardown() {
    # The filler holds the disk-full volume: it goes first, or the volume could not be removed.
    docker rm -f "${PREFIX}filler" >/dev/null 2>&1
    if [ -n "$COMPOSE_FILE" ] && [ -f "$COMPOSE_FILE" ]; then
        compose down -v --remove-orphans -t 2 >>"$WORK/compose.log" 2>&1
    fi
    rm -f "$OVERRIDE_FILE"
}

cleanup() {
    local id
    teardown
    for id in $(docker ps -aq --filter "name=^${PREFIX}"); do
        docker rm -f "$id" >/dev/null 2>&1
    done
    remove_project "$PROJECT"
    if [ -n "$WORK" ]; then rm -rf "$WORK"; fi
}

ip_of() {
    docker inspect -f "{{with index .NetworkSettings.Networks \"$NETWORK\"}}{{.IPAddress}}{{end}}" "$1" 2>/dev/null
}
client_names() { local i; for ((i = 1; i <= AGENCIES; i++)); do echo "${PREFIX}client$i"; done; }

save_logs() {
    local name
    for name in "$SERVER" $(client_names); do logs_of "$name" >"$LOG_DIR/$SCENARIO-${name#"$PREFIX"}.log"; done
}

# A fault must land mid-upload, and on a fast machine an agency's whole upload took 1.5 s: a
# half-second poll over five clients let one finish before the fault (kill-client-cut-off failed
# once in CI on 2026-12-06), so the harness looks again after 0.1 s.
wait_log() { # <seconds> <pattern> <count> <container>...
    local deadline=$((SECONDS + $1)) pattern=$2 count=$3 name
    shift 3
    for name in "$@"; do
        while [ "$(count_in_log "$name" "$pattern")" -lt "$count" ]; do
            [ "$SECONDS" -ge "$deadline" ] && return 1
            sleep 0.1
        done
    done
}

wait_healthy() { # <seconds> <container>
    local deadline=$((SECONDS + $1))
    until [ "$(health_of "$2")" = healthy ]; do
        [ "$SECONDS" -ge "$deadline" ] && return 1
        sleep 0.5
    done
}

# ---------------------------------------------------------------- the deployment
# generate [tmpfs size]: the compose file of generar-compose.sh, renamed into this project (its
# container names, its subnet) and, with a size, the server's /data on a tmpfs volume of that size.
generate() {
    rm -f "$OVERRIDE_FILE"
    SERVER_CONFIG=$ROOT/server/config.ini CLIENT_CONFIG=$ROOT/client/config.yaml \
        DATA_DIR=$WORK/data SECRETS_DIR=$WORK/secrets WATCH_DELAYS=0 \
        sh "$ROOT/generar-compose.sh" "$WORK/generated.yaml" "$AGENCIES" agency >/dev/null || return 1
    sed -E -e "s/^( +container_name: )(server|client[0-9]+)\$/\1${PREFIX}\2/" \
        -e "s#172\.25\.125\.0/24#${SUBNET_BASE}.0/24#" "$WORK/generated.yaml" >"$COMPOSE_FILE"
    if [ -n "${1:-}" ]; then
        sed -i -E 's#^      - /data$#      - bets:/data#' "$COMPOSE_FILE"
        printf '\nvolumes:\n  bets:\n    driver_opts:\n      type: tmpfs\n      device: tmpfs\n      o: "size=%s"\n' \
            "$1" >>"$COMPOSE_FILE"
    fi
    # Small batches, one in flight: each agency's upload lasts long enough to be hit mid-way.
    {
        echo "services:"
        for ((i = 1; i <= AGENCIES; i++)); do
            printf '  client%d:\n    environment:\n' "$i"
            printf '      - CLI_BATCH_MAXAMOUNT=%s\n      - CLI_BATCH_WINDOW=1\n' "$BATCH"
        done
    } >"$OVERRIDE_FILE"
}

# up [service...]: compose up -d of every service, or of those named.
up() { compose up -d "$@" >>"$WORK/compose.log" 2>&1; }

# sent <n>: batches agency n's client logged as acknowledged (all its runs).
sent() { count_in_log "${PREFIX}client$1" 'action: apuesta_enviada \| result: success'; }
# acked_rows <n>: bets agency n's client logged as acknowledged.
acked_rows() {
    logs_of "${PREFIX}client$1" | sed -nE 's/.*action: apuesta_enviada \| result: success \| cantidad: ([0-9]+).*/\1/p' \
        | awk '{ n += $1 } END { print n + 0 }'
}

# uploading <n>...: none of these agencies has sent END yet (the fault hits mid-upload).
uploading() {
    local n
    for n in "$@"; do
        [ "$(count_in_log "$SERVER" "action: end_agency \| result: success \| agency: $n ")" -eq 0 ] || return 1
    done
}

# bets_file <container with /data>: the bets file's bytes, to stdout.
bets_file() {
    docker run --rm --volumes-from "$1" --network none --entrypoint cat "$NETCAT_IMAGE" /data/bets.csv 2>/dev/null
}

# stored_rows_of <bets file> <n>: agency n's stored rows without the agency column (CRLF kept).
stored_rows_of() { grep -a "^$2," "$1" | sed "s/^$2,//"; }

# ---------------------------------------------------------------- the checks of every fault
# finish <fault>: every client exits 0, one draw, each agency's winners, each row stored once.
finish() {
    local i name got bad=0 bets=$WORK/bets.csv
    check "$1: every client finishes within ${FAULTS_TIMEOUT}s" wait_exited "$FAULTS_TIMEOUT" $(client_names)
    for ((i = 1; i <= AGENCIES; i++)); do
        name=${PREFIX}client$i
        got=$(logs_of "$name" | sed -nE 's/.*action: consulta_ganadores \| result: success \| cant_ganadores: ([0-9]+).*/\1/p' | tail -n 1)
        check "$1: client$i exits 0 (got $(exit_code_of "$name")) with ${got:-no} winners (expected ${expected[i]})" \
            test "$(exit_code_of "$name")" = 0 -a "${got:-x}" = "${expected[i]}"
    done
    check "$1: exactly one 'sorteo' line (got $(count_in_log "$SERVER" 'action: sorteo \| result: success'))" \
        test "$(count_in_log "$SERVER" 'action: sorteo \| result: success')" -eq 1
    bets_file "${2:-$SERVER}" >"$bets"
    for ((i = 1; i <= AGENCIES; i++)); do
        if ! cmp -s <(stored_rows_of "$bets" "$i") "$WORK/data/agency-$i.csv"; then
            info "agency $i: stored $(stored_rows_of "$bets" "$i" | wc -l) rows, its file has ${rows[i]}"
            bad=1
        fi
    done
    check "$1: every agency's rows stored exactly once, byte-identical to its file ($(wc -l <"$bets") rows)" \
        test "$bad" -eq 0 -a "$(wc -l <"$bets")" -eq "$TOTAL_ROWS"
    save_logs
}

wait_for() { # <seconds> <command...>: until the command succeeds.
    local deadline=$((SECONDS + $1))
    shift
    until "$@"; do
        [ "$SECONDS" -ge "$deadline" ] && return 1
        sleep 0.5
    done
}

# The agencies' files into <dir>: the course data set when present (five agencies), else
# AGENCIES agencies of 5,000 bets each made by gendata.
agency_data() { # <dir>
    if [ -f "$DATASET/agency-1.csv" ]; then
        cp "$DATASET"/agency-[1-5].csv "$1/" || die "cannot copy the course data set"
        info "data: the course data set ($DATASET)"
    else
        [ -x "$GENDATA" ] || die "no course data at $DATASET and no gendata at $GENDATA"
        "$GENDATA" "$1" "$AGENCIES" 5000 75 >/dev/null || die "gendata failed"
        info "data: generated by gendata (5000 bets per agency)"
    fi
}
