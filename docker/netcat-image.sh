#!/bin/sh
# Makes sure an image with a netcat exists for validar-echo-server.sh.
#
# Usage: sh docker/netcat-image.sh
#
# In order of preference:
#   1. busybox:latest is already in the engine: nothing to do;
#   2. tp0-netcat:latest (or $NETCAT_IMAGE) was built before: nothing to do;
#   3. busybox:latest can be pulled: pull it;
#   4. build tp0-netcat:latest offline, FROM scratch, around a statically linked
#      busybox found on the host ($BUSYBOX, /bin/busybox, /usr/bin/busybox or the
#      one in PATH); as root with apt-get and none found, install Debian's
#      busybox-static first.
# Exits 0 when an image is available, 1 (with the reason on stderr) otherwise.
set -eu

IMAGE=${NETCAT_IMAGE:-tp0-netcat:latest}
HERE=$(cd "$(dirname "$0")" && pwd)

have_image() {
    docker image inspect "$1" >/dev/null 2>&1
}

is_static() {
    # glibc's ldd says "not a dynamic executable" for static binaries and
    # "statically linked" for static-pie ones. Without ldd, let the build decide.
    command -v ldd >/dev/null 2>&1 || return 0
    ldd "$1" 2>&1 | grep -Eq 'not a dynamic executable|statically linked'
}

find_static_busybox() {
    for candidate in "${BUSYBOX:-}" /bin/busybox /usr/bin/busybox "$(command -v busybox 2>/dev/null || true)"; do
        if [ -n "$candidate" ] && [ -x "$candidate" ] && is_static "$candidate"; then
            printf '%s\n' "$candidate"
            return 0
        fi
    done
    return 1
}

if ! docker info >/dev/null 2>&1; then
    echo "netcat-image: cannot reach the Docker engine" >&2
    exit 1
fi

for existing in busybox:latest "$IMAGE"; do
    if have_image "$existing"; then
        echo "netcat-image: using $existing"
        exit 0
    fi
done

pull_timeout=""
if command -v timeout >/dev/null 2>&1; then
    pull_timeout="timeout 60"
fi
# shellcheck disable=SC2086 # $pull_timeout is empty or two words on purpose
if $pull_timeout docker pull busybox:latest >/dev/null 2>&1; then
    echo "netcat-image: pulled busybox:latest"
    exit 0
fi

if ! busybox_bin=$(find_static_busybox); then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "netcat-image: no registry and no static busybox; installing Debian's busybox-static" >&2
        apt-get update >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends busybox-static >/dev/null
    fi
    if ! busybox_bin=$(find_static_busybox); then
        echo "netcat-image: busybox:latest cannot be pulled and no statically linked busybox was found." >&2
        echo "netcat-image: install one (Debian: apt-get install busybox-static) or set BUSYBOX=/path/to/static/busybox." >&2
        exit 1
    fi
fi

context=$(mktemp -d "${TMPDIR:-/tmp}/tp0-netcat.XXXXXX")
trap 'rm -rf "$context"' EXIT
cp "$busybox_bin" "$context/busybox"
echo "netcat-image: building $IMAGE from $busybox_bin"
docker build -q -f "$HERE/netcat.Dockerfile" -t "$IMAGE" "$context" >/dev/null
echo "netcat-image: built $IMAGE"
