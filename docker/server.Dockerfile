# The bets server: one statically linked binary (static-pie, glibc), the recount tool beside it,
# and nothing else.
# The Makefile's host path (cargo on the host): `make docker-image BUILD=host` compiles
# the binary, then builds from the repository root (of target/, the root .dockerignore
# sends only the static binaries):
#   docker build -f docker/server.Dockerfile -t server:latest .
# Without cargo, server/Dockerfile builds the same image by Docker alone.
#
# At run time the server reads /config.ini (mounted read-only by the compose file),
# keeps its bets in BETS_FILE (a named volume at /data in compose) and is PID 1:
# it handles SIGTERM itself. A scratch image has no shell, so the compose
# healthcheck is the binary itself: ["CMD", "/server", "healthcheck"].
FROM scratch
LABEL tp0.image="server"
COPY target/x86_64-unknown-linux-gnu/release/server /server
# The recount (docs/verifying.md): docker run --rm --entrypoint /recount -v "$PWD:/w" server:latest /w/bets.csv
COPY target/x86_64-unknown-linux-gnu/release/recount /recount
WORKDIR /
EXPOSE 12345
STOPSIGNAL SIGTERM
ENTRYPOINT ["/server"]
