# Shared by the Docker test scripts (e2e.sh, docker-path-test.sh, faults.sh): the compose command and the
# PASS/FAIL report. Sourced, not run; the caller sets TEST_NAME and LOG_DIR first.

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
