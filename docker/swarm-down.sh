#!/bin/sh
# Removes Docker Swarm stack <stack> and what belongs to it alone: its services, network,
# secrets and configs (`docker stack rm`), then, once its containers are gone, its bets volume
# on this node, so that the next `make swarm-up` starts a new round, as `make docker-compose-down`
# (down -v) does for compose. Only objects labelled com.docker.stack.namespace=<stack> are
# touched, never by name.
#
# Usage: sh docker/swarm-down.sh <stack> [seconds to wait, 60]
#
# `docker stack rm` of Docker 20.10 returns at once, while the tasks still stop (each gets its
# stop_grace_period, 10 s); the wait makes the removal whole before this returns, so an `up`
# right after finds no network or volume in use. On several nodes the volume is on the server's
# node (labelled tp0.server=true): there, `docker volume rm <stack>_bets`.
set -eu

[ "$#" -ge 1 ] && [ "$#" -le 2 ] || { echo "usage: $0 <stack> [seconds]" >&2; exit 2; }
stack=$1
wait_seconds=${2:-60}
filter="label=com.docker.stack.namespace=$stack"

case $(docker info -f '{{.Swarm.LocalNodeState}}' 2>/dev/null) in
    active) ;;
    *) echo "swarm-down: this engine is not in a swarm: nothing to remove"; exit 0 ;;
esac

# The stack's objects in the swarm, one id a line: what `docker stack rm` removes.
objects() {
    docker service ls -q --filter "$filter"
    docker network ls -q --filter "$filter"
    docker secret ls -q --filter "$filter"
    docker config ls -q --filter "$filter"
}
# Those and the stack's containers on this node, still stopping after a removal.
left() {
    objects
    docker ps -aq --filter "$filter"
}

if [ -n "$(objects)" ]; then
    docker stack rm "$stack"
fi
waited=0
while [ -n "$(left)" ]; do
    if [ "$waited" -ge "$wait_seconds" ]; then
        echo "swarm-down: stack $stack still has objects after ${wait_seconds}s:" >&2
        left >&2
        exit 1
    fi
    sleep 1
    waited=$((waited + 1))
done
for volume in $(docker volume ls -q --filter "$filter"); do
    docker volume rm "$volume" >/dev/null
    echo "swarm-down: removed volume $volume"
done
echo "swarm-down: stack $stack removed (${waited}s)"
