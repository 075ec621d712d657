#!/bin/bash
# The Docker round section of docs/benchmarks.md: `make round-time` for the watched deployment and
# for WATCH_DELAYS=0, each round followed by the Docker floor (the same compose file, every process
# exiting at once: FLOOR=1 of round-time.sh), plus what one bare container start costs on this
# engine, with the machine and the commands. Replaces the section between its markers (or adds it
# before the closing part), and the Docker row of the headline table.
#
# Usage: bash docker/round-report.sh [rounds]        (make round-report ROUNDS=3)
# Environment: CLIENTS (5), COMPOSE. Exits 1 if a round fails (nothing is written then).
set -euo pipefail
cd "$(dirname "$0")/.."
unset MAKEFLAGS MFLAGS MAKELEVEL

rounds=${1:-3}
clients=${CLIENTS:-5}
report=docs/benchmarks.md
begin='<!-- docker:begin -->'
end='<!-- docker:end -->'
source docker/lib.sh
load_start=$(cut -d' ' -f1-3 /proc/loadavg)

watched=$(CLIENTS=$clients WATCH_DELAYS=1 FLOOR=1 bash docker/round-time.sh "$rounds")
fast=$(CLIENTS=$clients WATCH_DELAYS=0 FLOOR=1 bash docker/round-time.sh "$rounds")

# One container of the client image, started bare: no compose, no volume, no command to run.
probe_start() {
    local network=$1 name=tp0-start-probe total=0
    for _ in 1 2 3; do
        docker rm -f "$name" >/dev/null 2>&1 || true
        docker create --name "$name" --network "$network" client:latest >/dev/null
        local t0
        t0=$(date +%s%3N)
        docker start "$name" >/dev/null
        total=$((total + $(date +%s%3N) - t0))
        docker rm -f "$name" >/dev/null
    done
    echo $((total / 3))
}
# As many containers as the round has clients, started at once.
probe_together() {
    local network=$1 names=() t0 i
    for ((i = 1; i <= clients; i++)); do names+=("tp0-start-probe-$i"); done
    docker rm -f "${names[@]}" >/dev/null 2>&1 || true
    for name in "${names[@]}"; do docker create --name "$name" --network "$network" client:latest >/dev/null; done
    t0=$(date +%s%3N)
    for name in "${names[@]}"; do docker start "$name" >/dev/null & done
    wait
    echo $(($(date +%s%3N) - t0))
    docker rm -f "${names[@]}" >/dev/null
}
docker network create tp0-start-probe >/dev/null
bridge_ms=$(probe_start tp0-start-probe)
none_ms=$(probe_start none)
together_ms=$(probe_together tp0-start-probe)
docker network rm tp0-start-probe >/dev/null
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

rows() { # the round lines of round-time.sh as table rows
    grep '^round ' | sed -E 's/^round ([0-9]+): ([0-9.]+) s \(make docker-compose-up returned after ([0-9.]+) s; up to the server start ([0-9.]+) s, server start to the last client start ([0-9.]+) s, first client start to the last exit ([0-9.]+) s\)$/| '"$1"' | \1 | \2 | \3 | \4 | \5 | \6 |/'
}
best() { grep '^best of' | sed -E 's/.*: ([0-9.]+) s$/\1/'; }
best_floor() { grep '^best floor' | sed -E 's/.*: ([0-9.]+) s$/\1/'; }
floors() { grep '^floor ' | sed -E 's/^floor [0-9]+: ([0-9.]+) s.*/\1/' | paste -sd' ' | sed 's/ /, /g'; }
minus() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%+.3f", a - b }'; }
watched_best=$(best <<<"$watched") watched_floor=$(best_floor <<<"$watched")
fast_best=$(best <<<"$fast") fast_floor=$(best_floor <<<"$fast")
fast_over=$(minus "$fast_best" "$fast_floor")
verdict=$(awk -v d="$fast_over" 'BEGIN { print (d <= 0.3 ? "PASS" : "MISS") }')
headline_row="| Docker round, \`WATCH_DELAYS=0\`, $clients agencies, best of $rounds (difference, not ratio) | $fast_best s | $fast_floor s | $fast_over s | ≤ floor + 0.3 s |"

section=$(
    cat <<EOF
$begin
## The Docker round

From \`make docker-compose-up\` with the images already built to the last client's exit, $clients agencies
on the course dataset, each round after \`make docker-compose-down\` (\`docker/round-time.sh\`). The engine's
own start times of the containers split each round: the make steps and \`compose up\` up to the server's
start, the wait from it to the last client's start (compose starts the clients once the server has
started), and the round inside the containers, from the first client's start to the last exit. The watched
deployment is the generated one (\`OPENING_DELAY=2s\`, \`WINNERS_DELAY=200ms\`: a round a reader can attach
to); \`WATCH_DELAYS=0\` generates it without them.

| deployment | round | total (s) | \`make docker-compose-up\` returned (s) | to the server's start (s) | server start → last client start (s) | first client start → last exit (s) |
|---|---:|---:|---:|---:|---:|---:|
$(rows watched <<<"$watched")
$(rows 'WATCH_DELAYS=0' <<<"$fast")

**The Docker floor**: the same compose file (\`target/round-floor.yaml\`: server and $clients clients, the same images,
volumes and network), each process told by its environment to exit at once (the server \`SERVER_PORT=exit-at-once\`,
each client \`CLI_MODE=exit-at-once\`: each rejects its setting and exits), timed from \`compose up -d\` to the last
container's exit, right after each round above. What is left of a round over it is tp0's own work and the make
steps the floor does not run (\`make docker-compose-up\` checks the images, the data and the compose file).

| deployment | best round (s) | best floor (s) | round − floor (s) | floors (s) |
|---|---:|---:|---:|---|
| watched | $watched_best | $watched_floor | $(minus "$watched_best" "$watched_floor") | $(floors <<<"$watched") |
| \`WATCH_DELAYS=0\` | $fast_best | $fast_floor | $fast_over | $(floors <<<"$fast") |

- **$verdict** — \`WATCH_DELAYS=0\` round at most 0.3 s over the floor: $fast_best s − $fast_floor s = $fast_over s.
- Best watched round: $watched_best s; best \`WATCH_DELAYS=0\` round: $fast_best s (target 1.5 s).
- One bare container of the client image (no compose, no volume) takes ${bridge_ms} ms to \`docker start\` on a
  bridge network and ${none_ms} ms with no network (mean of 3); $clients of them started at once take ${together_ms} ms
  in all. A round starts the server's container and then its clients' (the fourth column), and before that
  compose creates the network and the containers: on this engine the container starts alone come close to
  the 1.5 s target before any of our code runs. The last column still holds the later clients' container
  starts; the round itself (the uploads, the draw and the winners) is the rest of it.

Machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'; true)), Linux $(uname -r),
Docker $(docker version -f '{{.Server.Version}}' 2>/dev/null || echo '?') with the storage driver
$(docker info -f '{{.Driver}}' 2>/dev/null || echo '?'), $("${COMPOSE_CMD[@]}" version 2>/dev/null | head -1). Measured $(date -u '+%Y-%m-%d %H:%M UTC') at
commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . ':!docs' 2>/dev/null || echo ' + uncommitted changes'); load average (1/5/15 min) $load_start at the start, $load_end at the end.

Command: \`make round-report\` (this section; \`make round-time\` and \`make round-time WATCH_DELAYS=0\`
print the rounds alone).
$end
EOF
)

tmp=$(mktemp)
printf '%s\n' "$section" >"$tmp.section"
bash bench/merge-section.sh "$report" docker "$tmp.section"
rm -f "$tmp.section"
cp "$report" "$tmp"
# The headline's Docker row: replaced, or added after the table's last row.
awk -v row="$headline_row" '
    /^<!-- headline:begin -->$/ { in_h = 1 }
    in_h && /^\| Docker round/ { if (!done) print row; done = 1; next }
    in_h && /^<!-- headline:end -->$/ { if (!done) print row; done = 1; in_h = 0 }
    { print }' "$tmp" >"$tmp.2" && mv "$tmp.2" "$tmp"
mv "$tmp" "$report"
printf '%s\n%s\n' "$watched" "$fast"
echo "wrote the Docker round section of $report"
