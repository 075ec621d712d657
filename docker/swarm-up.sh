#!/bin/sh
# Deploys a stack file that generar-compose.sh wrote (FILE_FORMAT=stack) as Docker Swarm stack
# <stack>: `make swarm-up` generates the file and prepares the agency files, then runs this.
#
# Usage: sh docker/swarm-up.sh <stack> <stack file>
#        sh docker/swarm-up.sh <stack> --check     only the first two checks below, which
#                                                  make swarm-up runs before writing anything
#
# Refuses, saying what to do, where this engine is not a swarm manager or the stack already
# exists (its configs and secrets are immutable Swarm objects: a new round is `make swarm-down`,
# then up). Each service is placed by a node label: the server on tp0.server=true, client N on
# tp0.agency.N=true. A label that no node has would leave its service pending with no error, so
# it is checked here: on a single-node swarm the node is given the missing labels; on several
# nodes the missing ones are listed with the `docker node update` line that adds each.
#
# RESOLVE_IMAGE (never, the default; always; changed) goes to `docker stack deploy
# --resolve-image`: never keeps the engine from asking a registry about the local images
# server:latest and client:latest; with SERVER_IMAGE and CLIENT_IMAGE naming a registry's
# images, always pins each service to the digest it finds there (docs/swarm.md). REGISTRY_AUTH=1
# adds --with-registry-auth: the nodes get this client's registry login (after `docker login`).
set -eu

[ "$#" -eq 2 ] || { echo "usage: $0 <stack> <stack file>|--check" >&2; exit 2; }
stack=$1
file=$2
resolve=${RESOLVE_IMAGE:-never}

say() { echo "swarm-up: $*"; }
refuse() { echo "swarm-up: $*" >&2; exit 1; }

state=$(docker info -f '{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}' 2>/dev/null) \
    || refuse "cannot reach the Docker engine"
case $state in
    'active true') ;;
    active*) refuse "this node is a swarm worker: run it on a manager (docker node ls there)" ;;
    *) refuse "this engine is not in a swarm ($state): docker swarm init --advertise-addr <this host's address> first (127.0.0.1 for one host)" ;;
esac
if [ -n "$(docker stack ps -q "$stack" 2>/dev/null)" ] \
    || [ -n "$(docker secret ls -q --filter "label=com.docker.stack.namespace=$stack")" ] \
    || [ -n "$(docker config ls -q --filter "label=com.docker.stack.namespace=$stack")" ]; then
    refuse "stack $stack exists: make swarm-down STACK=$stack first"
fi
[ "$file" != --check ] || exit 0
[ -f "$file" ] || refuse "no stack file $file (generar-compose.sh with FILE_FORMAT=stack writes it)"

# The labels the file's placement constraints name, e.g. tp0.server and tp0.agency.3.
labels=$(sed -nE 's/^ *- node\.labels\.([A-Za-z0-9._-]+) == true$/\1/p' "$file" | sort -u)
nodes=$(docker node ls -q)
missing=
for label in $labels; do
    found=
    for node in $nodes; do
        if [ "$(docker node inspect -f "{{index .Spec.Labels \"$label\"}}" "$node")" = true ]; then
            found=1
            break
        fi
    done
    [ -n "$found" ] || missing="$missing $label"
done
if [ -n "$missing" ]; then
    if [ "$(echo "$nodes" | wc -w)" -eq 1 ]; then
        args=
        for label in $missing; do args="$args --label-add $label=true"; done
        # shellcheck disable=SC2086 # $args is a list of options on purpose
        docker node update $args "$nodes" >/dev/null
        say "labelled the swarm's only node:$missing"
    else
        echo "swarm-up: no node has these labels, so their services would never be placed:" >&2
        for label in $missing; do
            echo "    docker node update --label-add $label=true <node>" >&2
        done
        exit 1
    fi
fi

auth=
[ "${REGISTRY_AUTH:-0}" = 1 ] && auth=--with-registry-auth
# shellcheck disable=SC2086 # $auth is empty or one option
docker stack deploy --resolve-image "$resolve" $auth -c "$file" "$stack"
say "stack $stack deployed; logs: docker service logs -f ${stack}_server (or ${stack}_client<N>), or make swarm-logs"
