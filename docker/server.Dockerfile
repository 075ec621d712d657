# The bets server: one statically linked binary (static-pie, glibc) and nothing else.
# Build from the repository root after `make docker-image` compiled it (the root
# .dockerignore sends only the two static binaries as build context):
#   docker build -f docker/server.Dockerfile -t server:latest .
#
# At run time the server reads /config.ini (mounted read-only by the compose file),
# keeps its bets in BETS_FILE (a named volume at /data in compose) and is PID 1:
# it handles SIGTERM itself. A scratch image has no shell, so the compose
# healthcheck is the binary itself: ["CMD", "/server", "healthcheck"].
FROM scratch
LABEL tp0.image="server"
COPY target/x86_64-unknown-linux-gnu/release/server /server
WORKDIR /
EXPOSE 12345
STOPSIGNAL SIGTERM
ENTRYPOINT ["/server"]
