# The agency client: one statically linked binary (static-pie, glibc) and nothing else.
# The Makefile's host path (cargo on the host): `make docker-image BUILD=host` compiles
# the binary, then builds from the repository root:
#   docker build -f docker/client.Dockerfile -t client:latest .
# Without cargo, client/Dockerfile builds the same image by Docker alone.
#
# At run time the client reads /config.yaml (mounted read-only by the compose file),
# and in agency mode its bets from /agency.csv (CLI_DATA_FILE). It resolves the
# server's name through Docker's embedded DNS (checked with a static glibc binary).
FROM scratch
LABEL tp0.image="client"
COPY target/x86_64-unknown-linux-gnu/release/client /client
WORKDIR /
STOPSIGNAL SIGTERM
ENTRYPOINT ["/client"]
