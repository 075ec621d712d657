#!/bin/sh
# Checks that the server answers as an echo server (exercise 3).
#
# Usage: sh validar-echo-server.sh
#
# Sends one line with netcat from a throwaway container attached to the compose
# network, so neither netcat on the host nor a published port is needed, and prints
# exactly one of
#   action: test_echo_server | result: success      (exit 0)
#   action: test_echo_server | result: fail         (exit 1)
# Diagnostics go to stderr. Every step is bounded in time.
#
# Environment (defaults in brackets):
#   NETWORK       compose network       [tp0_testing_net]
#   SERVER_HOST   server's name there   [server]
#   SERVER_PORT   server's port         [12345]
#   NETCAT_IMAGE  image with sh and nc  [busybox:latest if present, else
#                                        tp0-netcat:latest if present, else what
#                                        docker/netcat-image.sh makes: busybox:latest
#                                        pulled, or tp0-netcat:latest built offline]
#   ECHO_TIMEOUT  seconds for the exchange [10]
#   NETCAT_BUILD_TIMEOUT  seconds for docker/netcat-image.sh [300] (it may install
#                 Debian's busybox-static with apt-get when run as root)
set -u

NETWORK=${NETWORK:-tp0_testing_net}
SERVER_HOST=${SERVER_HOST:-server}
SERVER_PORT=${SERVER_PORT:-12345}
ECHO_TIMEOUT=${ECHO_TIMEOUT:-10}
NETCAT_BUILD_TIMEOUT=${NETCAT_BUILD_TIMEOUT:-300}
# The project's offline netcat image and the script that makes it, found beside this one
# (so it works from any folder and through `sh path/to/validar-echo-server.sh`).
OFFLINE_IMAGE=tp0-netcat:latest
netcat_builder=$(cd "$(dirname "$0")" 2>/dev/null && pwd)/docker/netcat-image.sh

result() {
    echo "action: test_echo_server | result: $1"
    if [ "$1" = success ]; then exit 0; else exit 1; fi
}

fail() {
    echo "validar-echo-server: $*" >&2
    result fail
}

# Bounds a host command in time when coreutils' timeout exists (not on every host).
bounded() {
    limit=$1
    shift
    if command -v timeout >/dev/null 2>&1; then
        timeout "$limit" "$@"
    else
        "$@"
    fi
}

command -v docker >/dev/null 2>&1 || fail "docker is not installed"
bounded 15 docker info >/dev/null 2>&1 || fail "cannot reach the Docker engine"
bounded 15 docker network inspect "$NETWORK" >/dev/null 2>&1 \
    || fail "network $NETWORK does not exist (is the system up? make docker-compose-up)"

# Prints the first image with a netcat that the engine already has.
present_image() {
    for candidate in busybox:latest "$OFFLINE_IMAGE"; do
        if bounded 15 docker image inspect "$candidate" >/dev/null 2>&1; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

image=${NETCAT_IMAGE:-}
if [ -z "$image" ]; then
    image=$(present_image) || image=
fi
if [ -z "$image" ]; then
    if [ -f "$netcat_builder" ]; then
        # Pulls busybox:latest or, with no registry, builds the offline image; its progress
        # goes to stderr, so stdout keeps its one result line.
        echo "validar-echo-server: no netcat image yet; making one with $netcat_builder" >&2
        bounded "$NETCAT_BUILD_TIMEOUT" env NETCAT_IMAGE="$OFFLINE_IMAGE" sh "$netcat_builder" >&2 \
            || fail "no netcat image: $netcat_builder could not make one (see above)"
        image=$(present_image) || fail "no netcat image: $netcat_builder succeeded but neither busybox:latest nor $OFFLINE_IMAGE exists"
    elif bounded 60 docker pull busybox:latest >/dev/null 2>&1; then
        image=busybox:latest
    else
        fail "no netcat image: busybox:latest cannot be pulled and $netcat_builder, which builds one offline, is missing"
    fi
fi

# A message no earlier run could have left behind.
message="tp0 echo check $$ $(date +%s)"

# Inside the container: nc -w bounds the connection attempt, timeout the whole
# exchange; outside, timeout bounds docker itself. The script's arguments are
# passed as positional parameters, never spliced into the command text.
# shellcheck disable=SC2016 # $1..$4 are expanded by the container's shell
reply=$(bounded $(( ECHO_TIMEOUT + 20 )) docker run --rm --network "$NETWORK" \
    --entrypoint sh "$image" -c \
    'printf "%s\n" "$1" | timeout "$4" nc -w 3 "$2" "$3"' \
    sh "$message" "$SERVER_HOST" "$SERVER_PORT" "$ECHO_TIMEOUT" 2>/dev/null)
status=$?

if [ "$reply" = "$message" ]; then
    result success
fi
if [ -z "$reply" ]; then
    fail "no reply from $SERVER_HOST:$SERVER_PORT on $NETWORK (exit status $status)"
fi
fail "unexpected reply from $SERVER_HOST:$SERVER_PORT: '$reply'"
