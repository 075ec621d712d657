#!/bin/sh
# Makes sure the builder image that server/Dockerfile and client/Dockerfile start FROM
# (the official rust:<version>-slim-<suite>, pinned in server/Dockerfile) is in the engine.
#
# Usage: sh docker/builder-image.sh          (make docker-image calls it on the Docker path)
#
# In order:
#   1. the tag is already in the engine (pulled, or assembled here earlier): nothing to do;
#   2. `docker pull` gets it (at most PULL_TIMEOUT seconds [60]);
#   3. only when the tag is absent AND cannot be pulled (machines with no registry): assemble
#      a stand-in under that exact tag from what this machine has, so the Dockerfiles build
#      unchanged: a minimal Debian <suite> made by debootstrap (minbase, plus gcc, libc6-dev
#      and ca-certificates: what the official slim image links with), and this machine's Rust
#      toolchain of the pinned version, laid out as in the official image (rustup in
#      /usr/local/cargo/bin, the toolchain under /usr/local/rustup, the same ENV). It is
#      labelled tp0.builder=standin, so
#        docker image inspect -f '{{index .Config.Labels "tp0.builder"}}' rust:<version>-slim-<suite>
#      tells it from the real one. (Not a tp0.image label: the build stages inherit the
#      base's labels, and `docker image prune --filter label=tp0.image` must not reach them.)
#      A registry's image, once reachable, can replace it: docker rmi the tag, docker pull.
#
# The stand-in also trusts the certificate authorities this machine added locally
# (LOCAL_CA_DIR [/usr/local/share/ca-certificates]), so cargo inside reaches crates.io
# through the same TLS-inspecting proxy, if any, as the host does.
#
# Needs for step 3: root (debootstrap), debootstrap (installed with apt-get when missing and
# run as root), a Debian mirror (DEBIAN_MIRROR [http://deb.debian.org/debian]) and a rustup
# toolchain or sysroot whose rustc and cargo are the pinned version (RUST_SYSROOT forces one).
# Exits 0 when the tag exists at the end, 1 with the reason on stderr otherwise.
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
PULL_TIMEOUT=${PULL_TIMEOUT:-60}
DEBOOTSTRAP_TIMEOUT=${DEBOOTSTRAP_TIMEOUT:-1800}
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
HOST_TRIPLE=x86_64-unknown-linux-gnu

say() { echo "builder-image: $*"; }
die() { echo "builder-image: $*" >&2; exit 1; }

# The one place the version is pinned: the build stage's FROM line.
IMAGE=${BUILDER_IMAGE:-$(sed -n 's/^FROM[[:space:]]\{1,\}\(rust:[^[:space:]]*\).*/\1/p' "$ROOT/server/Dockerfile" | head -n 1)}
[ -n "$IMAGE" ] || die "no 'FROM rust:...' line in $ROOT/server/Dockerfile"
# rust:1.95.0-slim-bookworm -> version 1.95.0, suite bookworm
tag=${IMAGE#rust:}
VERSION=${tag%%-*}
SUITE=${tag##*-}
command -v docker >/dev/null 2>&1 || die "docker is not installed"
docker info >/dev/null 2>&1 || die "cannot reach the Docker engine"

if docker image inspect "$IMAGE" >/dev/null 2>&1; then
    kind=$(docker image inspect -f '{{index .Config.Labels "tp0.builder"}}' "$IMAGE" 2>/dev/null || true)
    if [ "$kind" = standin ]; then
        say "using $IMAGE (the local stand-in assembled by this script)"
    else
        say "using $IMAGE"
    fi
    exit 0
fi

if command -v timeout >/dev/null 2>&1; then
    if timeout "$PULL_TIMEOUT" docker pull "$IMAGE" >/dev/null 2>&1; then
        say "pulled $IMAGE"
        exit 0
    fi
elif docker pull "$IMAGE" >/dev/null 2>&1; then
    say "pulled $IMAGE"
    exit 0
fi

# ---------------------------------------------------------------- the stand-in
say "$IMAGE is not in the engine and cannot be pulled: assembling a stand-in under that tag"
case $VERSION in
    [0-9]*.[0-9]*.[0-9]*) ;;
    *) die "cannot read a Rust version (x.y.z) from the image tag '$IMAGE'" ;;
esac
case $tag in
    *-slim-*) ;;
    *) die "only rust:<version>-slim-<suite> tags can be assembled locally, not '$IMAGE'" ;;
esac
command -v timeout >/dev/null 2>&1 || die "timeout (coreutils) is needed to bound the steps"
[ "$(id -u)" = 0 ] || die "assembling the stand-in needs root (debootstrap); run: sudo sh $0"

# The host toolchain of exactly the pinned version: a rustup toolchain or a standalone sysroot.
version_of() { # <binary> -> its version number, e.g. 1.95.0
    "$1" -V 2>/dev/null | sed -n 's/^[a-z]* \([0-9][0-9.]*\).*/\1/p'
}
find_sysroot() {
    rustup_home=${RUSTUP_HOME:-$HOME/.rustup}
    for candidate in "${RUST_SYSROOT:-}" "$rustup_home/toolchains/$VERSION-$HOST_TRIPLE" \
        "$(rustc --print sysroot 2>/dev/null || true)" "$rustup_home/toolchains/stable-$HOST_TRIPLE"; do
        [ -n "$candidate" ] || continue
        # A rustup or standalone-installer layout (not a distribution's /usr).
        [ -f "$candidate/lib/rustlib/components" ] || continue
        if [ ! -x "$candidate/bin/rustc" ] || [ ! -x "$candidate/bin/cargo" ]; then continue; fi
        if [ "$(version_of "$candidate/bin/rustc")" = "$VERSION" ] &&
            [ "$(version_of "$candidate/bin/cargo")" = "$VERSION" ]; then
            printf '%s\n' "$candidate"
            return 0
        fi
    done
    return 1
}
if ! sysroot=$(find_sysroot); then
    have=$(rustc -V 2>/dev/null || echo "no rustc on PATH")
    die "the pinned builder is Rust $VERSION but this machine has $have; install Rust $VERSION (rustup toolchain install $VERSION) or set RUST_SYSROOT to a $VERSION sysroot"
fi
rustup_bin=$(command -v rustup 2>/dev/null || true)
[ -n "$rustup_bin" ] || [ ! -x "$HOME/.cargo/bin/rustup" ] || rustup_bin=$HOME/.cargo/bin/rustup
say "Rust $VERSION from $sysroot${rustup_bin:+, rustup from $rustup_bin}"

if ! command -v debootstrap >/dev/null 2>&1; then
    command -v apt-get >/dev/null 2>&1 || die "debootstrap is missing and there is no apt-get to install it"
    say "installing debootstrap with apt-get"
    timeout 300 apt-get update >/dev/null || die "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y --no-install-recommends debootstrap >/dev/null ||
        die "apt-get install debootstrap failed"
fi

work=$(mktemp -d "${TMPDIR:-/var/tmp}/tp0-builder.XXXXXX")
rootfs=$work/rootfs
# debootstrap mounts /proc and /sys inside the target; never delete through a mount.
cleanup() {
    awk -v root="$rootfs" 'index($2, root) == 1 { print $2 }' /proc/mounts | sort -r |
        while read -r mountpoint; do umount -l "$mountpoint" 2>/dev/null || true; done
    if awk -v root="$rootfs" 'index($2, root) == 1 { found = 1 } END { exit !found }' /proc/mounts; then
        echo "builder-image: $rootfs still has mounts; left in place" >&2
    else
        rm -rf --one-file-system "$work"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "debootstrap --variant=minbase $SUITE from $DEBIAN_MIRROR (a few minutes)"
if ! timeout "$DEBOOTSTRAP_TIMEOUT" debootstrap --variant=minbase --include=ca-certificates,gcc,libc6-dev \
    "$SUITE" "$rootfs" "$DEBIAN_MIRROR" >"$work/debootstrap.log" 2>&1; then
    tail -n 20 "$work/debootstrap.log" >&2
    die "debootstrap of Debian $SUITE failed (log above; DEBIAN_MIRROR=$DEBIAN_MIRROR)"
fi

# The certificate authorities this machine adds to Debian's (LOCAL_CA_DIR, e.g. a proxy that
# inspects TLS on the way to crates.io) are trusted inside too: cargo in the build stage must
# reach the registry the way this machine does. The official image would not have them.
LOCAL_CA_DIR=${LOCAL_CA_DIR:-/usr/local/share/ca-certificates}
if [ -d "$LOCAL_CA_DIR" ] && [ -n "$(find "$LOCAL_CA_DIR" -name '*.crt' 2>/dev/null | head -n 1)" ]; then
    cp -R "$LOCAL_CA_DIR/." "$rootfs/usr/local/share/ca-certificates/"
    timeout 120 chroot "$rootfs" update-ca-certificates >"$work/ca.log" 2>&1 ||
        { cat "$work/ca.log" >&2; die "update-ca-certificates in the stand-in failed"; }
    say "trusting this machine's local certificate authorities from $LOCAL_CA_DIR"
fi

# As in debian:<suite>-slim: no documentation, no package lists or caches, now or on later installs.
mkdir -p "$rootfs/etc/dpkg/dpkg.cfg.d"
cat >"$rootfs/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
find "$rootfs/usr/share/doc" -mindepth 1 ! -name copyright ! -type d -delete 2>/dev/null || true
find "$rootfs/usr/share/doc" -mindepth 1 -type d -empty -delete 2>/dev/null || true
rm -rf "$rootfs/usr/share/man"/* "$rootfs/usr/share/info"/* "$rootfs/var/lib/apt/lists"/* \
    "$rootfs/var/cache/apt"/*.bin "$rootfs/var/cache/apt/archives"/*.deb "$rootfs/var/log"/*.log
find "$rootfs/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} + 2>/dev/null || true

# The toolchain, as rustup-init --profile minimal leaves it: rustc, rust-std and cargo only.
rustup_home=$rootfs/usr/local/rustup
cargo_home=$rootfs/usr/local/cargo
toolchain=$VERSION-$HOST_TRIPLE
mkdir -p "$rustup_home/toolchains/$toolchain" "$cargo_home/bin"
cp -a "$sysroot/." "$rustup_home/toolchains/$toolchain/"
rustlib=$rustup_home/toolchains/$toolchain/lib/rustlib
kept=$work/components
: >"$kept"
while read -r component; do
    case $component in
        rustc-* | cargo-* | "rust-std-$HOST_TRIPLE")
            echo "$component" >>"$kept"
            continue
            ;;
    esac
    # Each installed component lists its files and folders in its manifest.
    if [ -f "$rustlib/manifest-$component" ]; then
        sed -n -e 's/^file://p' -e 's/^dir://p' "$rustlib/manifest-$component" | while read -r path; do
            rm -rf "${rustup_home:?}/toolchains/$toolchain/$path"
        done
        rm -f "$rustlib/manifest-$component"
    fi
done <"$rustlib/components"
mv "$kept" "$rustlib/components"
if [ -f "$rustlib/multirust-config.toml" ]; then
    awk 'BEGIN { RS = ""; ORS = "\n\n" }
         !/\[\[components\]\]/ || /pkg = "(rustc|cargo|rust-std)"/' \
        "$rustlib/multirust-config.toml" >"$work/multirust-config.toml"
    mv "$work/multirust-config.toml" "$rustlib/multirust-config.toml"
fi
rm -rf "$rustup_home/toolchains/$toolchain/share/doc" "$rustup_home/toolchains/$toolchain/share/man"
[ -x "$rustup_home/toolchains/$toolchain/bin/cargo" ] || die "cargo is missing from $sysroot"

if [ -n "$rustup_bin" ]; then
    # rustup and its proxies (hard links, as rustup-init makes them) choose the default toolchain.
    cp "$rustup_bin" "$cargo_home/bin/rustup"
    for proxy in cargo cargo-clippy cargo-fmt cargo-miri clippy-driver rls rust-analyzer rust-gdb \
        rust-gdbgui rust-lldb rustc rustdoc rustfmt; do
        ln "$cargo_home/bin/rustup" "$cargo_home/bin/$proxy"
    done
    cat >"$rustup_home/settings.toml" <<EOF
version = "12"
default_toolchain = "$toolchain"
profile = "minimal"

[overrides]
EOF
else
    # No rustup on this machine: the toolchain's own binaries, through the same PATH entry.
    for binary in "$rustup_home/toolchains/$toolchain/bin"/*; do
        ln -s "/usr/local/rustup/toolchains/$toolchain/bin/$(basename "$binary")" "$cargo_home/bin/"
    done
fi
# The official image lets any user build (chmod -R a+w on both homes).
chmod -R a+w "$rustup_home" "$cargo_home"

say "importing $IMAGE"
# shellcheck disable=SC2016 # $PATH is literal: the image's PATH, as the official one sets it
if ! tar -C "$rootfs" --numeric-owner -cf - . | timeout 600 docker import \
    --change 'ENV RUSTUP_HOME=/usr/local/rustup' \
    --change 'ENV CARGO_HOME=/usr/local/cargo' \
    --change 'ENV PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change "ENV RUST_VERSION=$VERSION" \
    --change 'LABEL tp0.builder=standin' \
    --change "LABEL tp0.builder.source=\"debootstrap $SUITE minbase + this machine's Rust $VERSION\"" \
    --change 'CMD ["bash"]' \
    - "$IMAGE" >/dev/null; then
    die "docker import of $IMAGE failed"
fi

# The stand-in must do what the Dockerfiles ask of the official image.
if ! timeout 120 docker run --rm "$IMAGE" sh -c 'cargo --version && rustc --version && cc --version >/dev/null' \
    >"$work/check.log" 2>&1; then
    cat "$work/check.log" >&2
    docker rmi "$IMAGE" >/dev/null 2>&1 || true
    die "the assembled $IMAGE cannot run cargo, rustc and cc (output above); removed it"
fi
say "built $IMAGE ($(docker image inspect -f '{{.Size}}' "$IMAGE" | awk '{ printf "%.0f MB", $1 / 1e6 }')): $(head -n 1 "$work/check.log")"
