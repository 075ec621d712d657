#!/bin/sh
# Writes a Docker Compose file for the server and N agency clients (exercise 1).
#
# Usage: generar-compose.sh <output> <clients> [mode]
#   output   path of the compose file to write (e.g. docker-compose-dev.yaml)
#   clients  number of clients, 0 or more (0: the server alone)
#   mode     client mode: echo, bet or agency; the environment variable CLIENT_MODE
#            gives it when the argument is left out, else this branch's exercise does
#            (default_exercise below: main delivers 8, agency mode)
#
# Paths mounted into the containers, relative to the output file's directory
# unless absolute; override them through the environment:
#   SERVER_CONFIG  server config            (default ./server/config.ini)
#   CLIENT_CONFIG  client config            (default ./client/config.yaml)
#   DATA_DIR       agency-N.csv files       (default ./.data; agency mode only)
#   SECRETS_DIR    per-agency secrets (default ./.data/secrets): the server mounts
#                  SECRETS_DIR/secrets (agency=secret lines) and client N only
#                  SECRETS_DIR/agency-N.secret, so no agency can act as another. Missing
#                  secrets are created here (docker/make-secrets.sh; existing ones are kept).
#                  Used in the modes that say which agency they are (agency, bet);
#                  SECRETS=0 turns identity off (any connection may act as any agency)
#   WATCH_DELAYS   1 (default): the round opens 2 s after every agency has connected and
#                  winners are released 200 ms after the draw is logged, so that a
#                  `logs -f` started right after `up -d` sees the whole round live and in
#                  order; 0: both off (the round runs as fast as it can)
#   FILE_FORMAT    compose (default), or stack: the same deployment as a Docker Swarm stack
#                  file for `docker stack deploy` (docker/stack-file.sh, docs/swarm.md), with
#                  NODE_DATA_DIR, where the agency files are on the agencies' nodes
#                  (default: DATA_DIR, made absolute)
#
# The environment of each container holds only what this deployment decides; each
# variable overrides the same key of the mounted config file (see the comments there):
#   server   AGENCIES, BETS_FILE (/data, a volume of the container: it lives as long as
#            the container, so a restart resumes the round and `down` + `up` starts a new
#            one), OPENING_DELAY and WINNERS_DELAY (WATCH_DELAYS), SECRETS_FILE
#   clients  CLI_ID; CLI_MODE unless the mode is agency (the client's default); the bet in
#            bet mode; CLI_SECRET_FILE with secrets
#
# The clients start with the server (depends_on: service_started), not after its health check
# (which Docker polls once a second): a client that connects before the server listens retries
# every 50 ms to 1 s, logging `result: in_progress`, so the round starts as soon as it can.
#
# The file uses the Compose Specification (no `version:` key), which both
# docker-compose v1.27+ and `docker compose` v2 read. It cannot name the project
# for v1, so run it with `-p tp0`: the network is then tp0_testing_net.
set -eu

usage() {
    echo "usage: $0 <output> <clients> [agency|echo|bet]" >&2
    exit 2
}

if [ "$#" -lt 2 ] || [ "$#" -gt 3 ]; then
    usage
fi

output=$1
clients=$2
# The exercise this branch delivers; `make exercise-branches` rewrites this one line on each
# ejN branch so that the course's plain `generar-compose.sh <output> <clients>` runs exercise N.
default_exercise=8
# Exercises 1-4 echo, 5 sends one bet, 6-8 upload the agency's file.
case $default_exercise in
    1 | 2 | 3 | 4) default_mode=echo ;;
    5) default_mode=bet ;;
    *) default_mode=agency ;;
esac
mode=${3:-${CLIENT_MODE:-$default_mode}}

[ -n "$output" ] || usage
case $clients in
    '' | *[!0-9]*) echo "$0: clients must be a whole number, got '$clients'" >&2; usage ;;
esac
# Drop leading zeros so "010" is ten, not an octal surprise in $(( )).
clients=$(printf '%s' "$clients" | sed 's/^0*//')
clients=${clients:-0}
case $mode in
    agency | echo | bet) ;;
    *) echo "$0: unknown mode '$mode'" >&2; usage ;;
esac
file_format=${FILE_FORMAT:-compose}
case $file_format in
    compose | stack) ;;
    *) echo "$0: FILE_FORMAT must be compose or stack, got '$file_format'" >&2; exit 2 ;;
esac
watch_delays=${WATCH_DELAYS:-1}
case $watch_delays in
    0 | 1) ;;
    *) echo "$0: WATCH_DELAYS must be 0 or 1, got '$watch_delays'" >&2; exit 2 ;;
esac

# A bind-mount source must start with . or / to be read as a path, not a volume name.
as_path() {
    case $1 in
        /* | ./* | ../* | '~'*) printf '%s' "$1" ;;
        *) printf './%s' "$1" ;;
    esac
}
server_config=$(as_path "${SERVER_CONFIG:-./server/config.ini}")
client_config=$(as_path "${CLIENT_CONFIG:-./client/config.yaml}")
data_dir=$(as_path "${DATA_DIR:-./.data}")
data_dir=${data_dir%/}
secrets_dir=
case ${SECRETS:-1} in
    0) ;;
    1)
        if [ "$mode" != echo ] && [ "$clients" -gt 0 ]; then
            secrets_dir=$(as_path "${SECRETS_DIR:-./.data/secrets}")
            secrets_dir=${secrets_dir%/}
        fi
        ;;
    *) echo "$0: SECRETS must be 0 or 1, got '${SECRETS}'" >&2; exit 2 ;;
esac

# Sample bets for bet mode (exercise 5): deterministic, one per client.
bet_env() {
    i=$1
    case $(( (i - 1) % 5 )) in
        0) nombre="Santiago Lionel"; apellido="Lorca" ;;
        1) nombre="Agustin Emanuel"; apellido="Zambrano" ;;
        2) nombre="Camila Rocio"; apellido="Rivera" ;;
        3) nombre="Tiago Nicolas"; apellido="Gomez" ;;
        *) nombre="Maria Sol"; apellido="Fernandez" ;;
    esac
    documento=$(( 30904464 + i ))
    nacimiento=$(printf '19%02d-%02d-%02d' $(( 70 + i % 30 )) $(( 1 + i % 12 )) $(( 1 + i % 28 )))
    numero=$(( (7574 + 1237 * (i - 1)) % 10000 ))
    cat <<EOF
      - NOMBRE=$nombre
      - APELLIDO=$apellido
      - DOCUMENTO=$documento
      - NACIMIENTO=$nacimiento
      - NUMERO=$numero
EOF
}

# server_environment <secrets file>: the server's environment, the same in both files but
# for where its secrets file is mounted.
server_environment() {
    echo "    environment:"
    echo "      - BETS_FILE=/data/bets.csv"
    # With no clients the draw has nobody to wait for; leave AGENCIES to config.ini.
    if [ "$clients" -gt 0 ]; then
        echo "      - AGENCIES=$clients"
        if [ "$watch_delays" = 1 ]; then
            echo "      - OPENING_DELAY=2s"
            echo "      - WINNERS_DELAY=200ms"
        fi
    fi
    if [ -n "$secrets_dir" ]; then
        echo "      - SECRETS_FILE=$1"
    fi
}

# client_environment <n> <secret file>: client n's environment, the same in both files but for
# where its secret is mounted.
client_environment() {
    echo "    environment:"
    echo "      - CLI_ID=$1"
    case $mode in
        echo) echo "      - CLI_MODE=echo" ;;
        bet) echo "      - CLI_MODE=bet"; bet_env "$1" ;;
    esac
    if [ -n "$secrets_dir" ]; then
        echo "      - CLI_SECRET_FILE=$2"
    fi
}

# The server's network, health check and grace period, the same in a compose and a stack file.
server_health() {
    cat <<EOF
    networks:
      - testing_net
    healthcheck:
      test: ["CMD", "/server", "healthcheck"]
      interval: 1s
      timeout: 3s
      retries: 30
      start_period: 2s
    stop_grace_period: 10s
EOF
}

write_compose() {
    cat <<EOF
# Generated by generar-compose.sh: $clients client(s), mode $mode, watch delays $watch_delays.
# Start: docker compose -f <this file> up -d   (v1: docker-compose; the project is tp0, from .env)
# Each environment variable below overrides the same key of the mounted config file.
services:
  server:
    container_name: server
    image: server:latest
    entrypoint: ["/server"]
EOF
    server_environment /secrets
    cat <<EOF
    volumes:
      - $server_config:/config.ini:ro
      - /data
EOF
    if [ -n "$secrets_dir" ]; then
        echo "      - $secrets_dir/secrets:/secrets:ro"
    fi
    server_health

    i=1
    while [ "$i" -le "$clients" ]; do
        cat <<EOF

  client$i:
    container_name: client$i
    image: client:latest
    entrypoint: ["/client"]
EOF
        client_environment "$i" /secret
        cat <<EOF
    volumes:
      - $client_config:/config.yaml:ro
EOF
        if [ "$mode" = agency ]; then
            echo "      - $data_dir/agency-$i.csv:/agency.csv:ro"
        fi
        if [ -n "$secrets_dir" ]; then
            echo "      - $secrets_dir/agency-$i.secret:/secret:ro"
        fi
        cat <<EOF
    networks:
      - testing_net
    depends_on:
      server:
        condition: service_started
    stop_grace_period: 10s
EOF
        i=$(( i + 1 ))
    done

    cat <<EOF

networks:
  testing_net:
    ipam:
      driver: default
      config:
        - subnet: 172.25.125.0/24
EOF
}

# The secrets the file mounts must exist before `up`, or Docker would mount directories in
# their place; paths in the file are relative to its own directory.
if [ -n "$secrets_dir" ]; then
    case $secrets_dir in
        /*) secrets_on_disk=$secrets_dir ;;
        *) secrets_on_disk=$(dirname "$output")/$secrets_dir ;;
    esac
    sh "$(dirname "$0")/docker/make-secrets.sh" "$secrets_on_disk" "$clients" >/dev/null
fi

writer=write_compose
if [ "$file_format" = stack ]; then
    . "$(dirname "$0")/docker/stack-file.sh"
    writer=write_stack
fi
# Write to a temporary file first so a failure never leaves half a compose file.
tmp="$output.tmp.$$"
trap 'rm -f "$tmp"' EXIT
"$writer" >"$tmp"
mv "$tmp" "$output"
trap - EXIT
echo "generar-compose: wrote $output ($file_format, $clients client(s), mode $mode${secrets_dir:+, secrets in $secrets_dir})"
