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
# exits 1 if any failed. Logs: target/swarm-logs/. The helpers are in docker/swarm-lib.sh.
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
# shellcheck source=docker/swarm-lib.sh
. "$ROOT/docker/swarm-lib.sh"

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

agency_data "$WORK/data"
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
