#!/usr/bin/env bash
# Faults across hosts: the real images on a compose network, each fault injected mid-round.
#
# Usage: bash docker/faults.sh      (make faults builds the images first; run it under
#                                    flock /tmp/tp0-docker.lock when others share the engine)
#
# Data: the course data set (../shared/dataset), or without it one made by gendata, each agency's
# file repeated to about FAULTS_ROWS rows (agency 5's kept as it is, so it ends early and waits
# for the draw); clients send batches of FAULTS_BATCH bets, one in flight, so an upload lasts
# seconds. Faults, each from a clean start:
#   kill-server            docker kill of the server mid-upload, docker start: every agency
#                          resumes from its stored position
#   disconnect             one client off the network for 10 s, back with its old address
#   disconnect-new-address one client off the network for 10 s, back with another address:
#                          both ends of its connection are silently dead (no FIN, no RST)
#   kill-client            a client killed while it waits for the draw, then started again
#   kill-client-cut-off    a client cut off the network mid-upload and killed there (the server
#                          never sees the close), then reconnected and started again
#   disk-full              the server's /data a small tmpfs volume, nearly filled by a filler file:
#                          uploads fail with a clear error and nothing unstored is acknowledged;
#                          the filler is deleted and the round completes
# After each: every client exits 0 with its agency's winners (counted here from the files by the
# course's has_won: number 7574), exactly one `sorteo` line, every agency's rows stored exactly
# once, byte-identical to its file. Prints PASS/FAIL per check, one `faults: | ... |` row per
# fault (also written to target/faults-rows.md, which `make reliability` puts in
# docs/reliability.md), and "N passed, M failed"; exits 1 if any failed.
#
# The project is tp0faults: containers tp0f-server, tp0f-client<n>, subnet 172.25.211.0/24
# (FAULTS_SUBNET_BASE), so a tp0 deployment is never touched. Logs: target/faults-logs/.
# Environment: COMPOSE, GENDATA, DATASET, NETCAT_IMAGE as in docker/e2e.sh; FAULTS_ROWS [24000],
# FAULTS_BATCH [10], FAULTS_TIMEOUT (seconds a round may take after its fault [120]),
# FAULTS_ONLY (space-separated fault names to run [all]).
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
GENDATA=${GENDATA:-target/x86_64-unknown-linux-gnu/release/gendata}
case $GENDATA in /*) ;; *) GENDATA=$ROOT/$GENDATA ;; esac
DATASET=${DATASET:-$ROOT/../shared/dataset}
FAULTS_ROWS=${FAULTS_ROWS:-24000}
BATCH=${FAULTS_BATCH:-10}
FAULTS_TIMEOUT=${FAULTS_TIMEOUT:-120}
FAULTS_ONLY=${FAULTS_ONLY:-kill-server disconnect disconnect-new-address kill-client kill-client-cut-off disk-full}
LOG_DIR=$ROOT/target/faults-logs
ROWS=$ROOT/target/faults-rows.md
AGENCIES=5
WORK=
COMPOSE_FILE=
OVERRIDE_FILE=
SCENARIO=none
# shellcheck source=docker/faults-lib.sh
. "$ROOT/docker/faults-lib.sh"

# ---------------------------------------------------------------- preflight and data
docker info >/dev/null 2>&1 || die "cannot reach the Docker engine"
require_images
[ -z "$(leftovers)" ] || die "something of project $PROJECT exists: remove it first (docker ps -a --filter name=$PREFIX)"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/tp0-faults.XXXXXX")
COMPOSE_FILE=$WORK/compose.yaml
OVERRIDE_FILE=$WORK/override.yaml
trap cleanup EXIT
trap 'exit 130' INT TERM
rm -rf "$LOG_DIR"
mkdir -p "$LOG_DIR" "$WORK/data" "$WORK/source" "$(dirname "$ROWS")"
: >"$ROWS.tmp"

agency_data "$WORK/source"
expected=()
rows=()
TOTAL_ROWS=0
for ((i = 1; i <= AGENCIES; i++)); do
    source=$WORK/source/agency-$i.csv
    n=$(wc -l <"$source")
    copies=$(((FAULTS_ROWS + n - 1) / n))
    [ "$i" -eq "$AGENCIES" ] && copies=1
    for ((c = 0; c < copies; c++)); do cat "$source"; done >"$WORK/data/agency-$i.csv"
    rows[i]=$(wc -l <"$WORK/data/agency-$i.csv")
    expected[i]=$(tr -d '\r' <"$WORK/data/agency-$i.csv" | awk -F, '$5 == "7574" { n++ } END { print n + 0 }')
    TOTAL_ROWS=$((TOTAL_ROWS + rows[i]))
done
info "rows per agency: ${rows[*]}; expected winners: ${expected[*]}; batches of $BATCH, one in flight"

wanted() { case " $FAULTS_ONLY " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
# start: a fresh deployment, with every uploading agency's first batches acknowledged.
start() {
    generate "${1:-}" || die "generar-compose.sh failed"
    check "$SCENARIO: compose up" up
    check "$SCENARIO: every agency is uploading" wait_log 60 'action: apuesta_enviada' 3 $(client_names)
}

# ---------------------------------------------------------------- kill-server
SCENARIO=kill-server
if wanted $SCENARIO; then
    section "$SCENARIO: docker kill of the server mid-upload, then docker start"
    start
    # Killed at once, then checked on the dead server's log. The uploads do not progress evenly
    # (one agency was seen to send all of its 25,518 bets while another sent 3,600), so one may
    # finish before the others have all logged their first batches; the fault still has to land
    # in the middle of most of them, and every agency must resume where it stood either way.
    docker kill "$SERVER" >/dev/null 2>&1
    midway=()
    for i in 1 2 3 4; do uploading "$i" && midway+=("$i"); done
    info "agencies still uploading at the kill: ${midway[*]:-none}"
    check "$SCENARIO: at least three of agencies 1 to 4 were still uploading at the kill" \
        test "${#midway[@]}" -ge 3
    before=()
    for ((i = 1; i <= AGENCIES; i++)); do before[i]=$(acked_rows "$i"); done
    sleep 2
    docker start "$SERVER" >/dev/null 2>&1
    check "$SCENARIO: the server is healthy again" wait_healthy 30 "$SERVER"
    resumed=0
    for ((i = 1; i <= AGENCIES; i++)); do
        wait_log 40 "action: hello \| result: success \| .*agency: $i \| position: [1-9]" 1 "$SERVER"
        at=$(logs_of "$SERVER" | grep -E "action: hello \| result: success \| .*agency: $i \| position: [1-9]" \
            | tail -n 1 | sed -nE 's/.*position: ([0-9]+).*/\1/p')
        if [ -n "$at" ] && [ "$at" -ge "${before[i]}" ]; then resumed=$((resumed + 1)); fi
        info "agency $i: ${before[i]} bets acknowledged at the kill, resumed at ${at:-nothing}"
    done
    check "$SCENARIO: every agency resumed at its stored position, at least what was acknowledged" \
        test "$resumed" -eq "$AGENCIES"
    finish "$SCENARIO"
    row "the server container killed mid-upload" "docker kill (SIGKILL) of the server during the 5 uploads, docker start 2 s later" \
        "every agency reconnects within its retry window and resumes at its stored position (>= its acknowledged bets); one draw; right winners" "nothing"
    teardown
fi

# ---------------------------------------------------------------- disconnect (old / new address)
# cut_off <n> <seconds> <ip>: client n off the network, back after <seconds> with address <ip>.
cut_off() {
    local name=${PREFIX}client$1
    docker network disconnect "$NETWORK" "$name" >/dev/null 2>&1 || return 1
    sleep "$2"
    docker network connect --ip "$3" "$NETWORK" "$name" >/dev/null 2>&1
}
for SCENARIO in disconnect disconnect-new-address; do
    wanted $SCENARIO || continue
    section "$SCENARIO: client3 off the network for 10 s"
    start
    old_ip=$(ip_of "${PREFIX}client3")
    new_ip=$old_ip
    [ "$SCENARIO" = disconnect-new-address ] && new_ip=$SUBNET_BASE.203
    acked=$(acked_rows 3)
    check "$SCENARIO: agency 3 is still uploading" uploading 3
    check "$SCENARIO: client3 ($old_ip) disconnected mid-upload, reconnected as $new_ip 10 s later" \
        cut_off 3 10 "$new_ip"
    check "$SCENARIO: client3 is on the network as $new_ip" test "$(ip_of "${PREFIX}client3")" = "$new_ip"
    back=$SECONDS
    wait_exited "$FAULTS_TIMEOUT" "${PREFIX}client3"
    busy=$(count_in_log "${PREFIX}client3" 'AgencyBusy')
    info "client3: $acked bets acknowledged before the cut, finished $((SECONDS - back)) s after its return; AgencyBusy refusals: $busy"
    finish "$SCENARIO"
    if [ "$SCENARIO" = disconnect ]; then
        row "a client's network cut for 10 s" "docker network disconnect of client3 mid-upload, connect again with its old address" \
            "the agency resumes (its connection survives or it reconnects at its stored position); one draw; right winners" "nothing"
    else
        row "a client's network cut, back with another address (its old connection silently dead at both ends)" \
            "docker network disconnect of client3 mid-upload, connect 10 s later with a new IP" \
            "keepalive and TCP_USER_TIMEOUT (10 s) end the dead connection on both sides; the agency reconnects ($busy AgencyBusy meanwhile) and resumes within its retry window; one draw; right winners" "nothing"
    fi
    teardown
done

# ---------------------------------------------------------------- kill-client (waiting for the draw)
SCENARIO=kill-client
if wanted $SCENARIO; then
    section "$SCENARIO: client5 killed while it waits for the draw, then started again"
    # Agencies 1 to 4 start only after the fault, so the draw cannot have happened when it hits,
    # however fast the uploads are.
    generate || die "generar-compose.sh failed"
    check "$SCENARIO: compose up of the server and client5 alone" up server client5
    check "$SCENARIO: agency 5 sent END and waits for the draw" \
        wait_log 60 'action: end_agency \| result: success \| agency: 5' 1 "$SERVER"
    sleep 1
    check "$SCENARIO: no draw yet (agencies 1 to 4 not started)" \
        test "$(count_in_log "$SERVER" 'action: sorteo')" -eq 0
    docker kill "${PREFIX}client5" >/dev/null 2>&1
    sleep 1
    docker start "${PREFIX}client5" >/dev/null 2>&1
    check "$SCENARIO: the restarted client5 is let back in (a second hello of agency 5)" \
        wait_log 30 'action: hello \| result: success \| .*agency: 5 ' 2 "$SERVER"
    check "$SCENARIO: compose up of agencies 1 to 4" up
    finish "$SCENARIO"
    row "a client container killed while it waits for the draw" "docker kill of client5 after its END (agencies 1 to 4 not started yet), docker start 1 s later, then agencies 1 to 4" \
        "the waiting session sees the close and gives up the claim; the restarted client is let in, waits and gets its winners; one draw" "nothing"
    teardown
fi

# ---------------------------------------------------------------- kill-client-cut-off
SCENARIO=kill-client-cut-off
if wanted $SCENARIO; then
    section "$SCENARIO: client2 cut off the network mid-upload, killed there, then back"
    start
    check "$SCENARIO: agency 2 is still uploading" uploading 2
    docker network disconnect "$NETWORK" "${PREFIX}client2" >/dev/null 2>&1
    docker kill "${PREFIX}client2" >/dev/null 2>&1
    sleep 1
    check "$SCENARIO: client2 reconnected to the network (another address) while stopped" \
        docker network connect --ip "$SUBNET_BASE.202" "$NETWORK" "${PREFIX}client2"
    back=$SECONDS
    docker start "${PREFIX}client2" >/dev/null 2>&1
    check "$SCENARIO: the restarted client2 is let back in within its retry window" \
        wait_log 30 'action: hello \| result: success \| .*agency: 2 ' 2 "$SERVER"
    took=$((SECONDS - back))
    busy=$(count_in_log "${PREFIX}client2" 'AgencyBusy')
    info "client2 let in $took s after its restart; AgencyBusy refusals meanwhile: $busy"
    finish "$SCENARIO"
    row "a client killed while cut off the network (the server never sees the close)" \
        "docker network disconnect of client2 mid-upload, docker kill, connect with a new IP, docker start" \
        "the old session's socket times out (keepalive, TCP_USER_TIMEOUT 10 s) and its claim lapses; the agency is let in after ${took} s ($busy AgencyBusy refusals) and resumes; one draw" "nothing"
    teardown
fi

# ---------------------------------------------------------------- disk-full
SCENARIO=disk-full
if wanted $SCENARIO; then
    . "$ROOT/docker/faults-disk.sh"
fi

# ---------------------------------------------------------------- cleanup
SCENARIO=cleanup
teardown
check "no container, network or volume of project $PROJECT is left" test -z "$(leftovers)"
if [ "$failed" -eq 0 ]; then
    mv "$ROWS.tmp" "$ROWS"
    info "rows for docs/reliability.md: $ROWS (make reliability)"
else
    rm -f "$ROWS.tmp"
fi
summary
[ "$failed" -eq 0 ]
