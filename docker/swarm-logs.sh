#!/bin/sh
# Prints the logs of every task of one service of stack <stack>, oldest task first: what
# `docker service logs <service>` shows, read task by task.
#
# Usage: sh docker/swarm-logs.sh <stack> <service> [raw]
#   service  server, client1, ...
#   raw      without the `<task>@<node> | ` prefix of each line
#
# Why not `docker service logs <stack>_<service>` itself: on Docker 20.10, for a service with a
# task that failed and was replaced (an agency or the server killed mid-round), it printed part of
# the lines and never returned, every time it was tried here; `docker service logs <task id>`
# of each task returns whole. The swarm keeps the last 5 tasks of each service (task history).
set -eu

[ "$#" -ge 2 ] && [ "$#" -le 3 ] || { echo "usage: $0 <stack> <service> [raw]" >&2; exit 2; }
service=$1_$2
raw=
[ "${3:-}" = raw ] && raw=--raw

tasks=$(docker service ps -q --no-trunc "$service") || exit 1
# shellcheck disable=SC2086 # $tasks is a list of ids on purpose
for task in $(docker inspect --type task -f '{{.CreatedAt.UnixNano}} {{.ID}}' $tasks | sort -n | cut -d' ' -f2); do
    docker service logs $raw "$task"
done
