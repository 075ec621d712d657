# Shared by the Docker test scripts (e2e.sh, docker-path-test.sh, faults.sh): the compose command, the
# PASS/FAIL report and container queries. Sourced, not run; the caller sets TEST_NAME and LOG_DIR first.

# COMPOSE (e.g. "docker-compose") forces one; else v2 when it works, else v1.
if [ -n "${COMPOSE:-}" ]; then
    read -r -a COMPOSE_CMD <<<"$COMPOSE"
elif docker compose version >/dev/null 2>&1; then
    COMPOSE_CMD=(docker compose)
else
    COMPOSE_CMD=(docker-compose)
fi

passed=0
failed=0
pass() { printf 'PASS  %s\n' "$*"; passed=$((passed + 1)); }
fail() { printf 'FAIL  %s\n' "$*"; failed=$((failed + 1)); }
info() { printf '      %s\n' "$*"; }
section() { printf '\n== %s\n' "$*"; }
# check <description> <command...>: PASS when the command succeeds.
check() {
    local description=$1
    shift
    if "$@"; then pass "$description"; else fail "$description"; fi
}
summary() {
    if [ "$failed" -gt 0 ]; then
        printf '\nlogs of the containers (and, where kept, the engine'\''s events): %s\n' "$LOG_DIR"
    fi
    printf '\n%d passed, %d failed\n' "$passed" "$failed"
}
die() {
    printf '%s: %s\n' "$TEST_NAME" "$*" >&2
    failed=$((failed + 1))
    summary
    exit 1
}

# ---------------------------------------------------------------- containers
logs_of() { docker logs "$1" 2>&1; }
count_in_log() { logs_of "$1" | grep -cE -- "$2"; }
state_of() { docker inspect -f '{{.State.Status}}' "$1" 2>/dev/null || echo missing; }
exit_code_of() { docker inspect -f '{{.State.ExitCode}}' "$1" 2>/dev/null || echo missing; }
health_of() { docker inspect -f '{{.State.Health.Status}}' "$1" 2>/dev/null || echo missing; }

# require_images: server:latest and client:latest exist; NETCAT_IMAGE is set (busybox, else the
# project's offline tp0-netcat) unless the caller set it.
require_images() {
    local image
    for image in server:latest client:latest; do
        docker image inspect "$image" >/dev/null 2>&1 || die "image $image is missing (make docker-image)"
    done
    if [ -z "${NETCAT_IMAGE:-}" ]; then
        for image in busybox:latest tp0-netcat:latest; do
            if docker image inspect "$image" >/dev/null 2>&1; then NETCAT_IMAGE=$image && break; fi
        done
    fi
    [ -n "${NETCAT_IMAGE:-}" ] || die "no busybox:latest nor tp0-netcat:latest image (make netcat-image)"
}

# wait_exited <seconds> <container>...: until every one has stopped.
wait_exited() {
    local deadline=$((SECONDS + $1)) name busy
    shift
    while :; do
        busy=0
        for name in "$@"; do
            case $(state_of "$name") in
                exited | dead | missing) ;;
                *) busy=1 ;;
            esac
        done
        [ "$busy" -eq 0 ] && return 0
        [ "$SECONDS" -ge "$deadline" ] && return 1
        sleep 1
    done
}

# remove_project <project>: every container, volume and network labelled with the compose project.
remove_project() {
    local id
    for id in $(docker ps -aq --filter "label=com.docker.compose.project=$1"); do
        docker rm -f "$id" >/dev/null 2>&1
    done
    for id in $(docker volume ls -q --filter "label=com.docker.compose.project=$1"); do
        docker volume rm "$id" >/dev/null 2>&1
    done
    for id in $(docker network ls -q --filter "label=com.docker.compose.project=$1"); do
        docker network rm "$id" >/dev/null 2>&1
    done
}
