#!/bin/sh
# Makes sure <data_dir>/agency-1.csv ... agency-<clients>.csv exist for the compose file.
#
# Usage: sh docker/prepare-data.sh <data_dir> <clients> <gendata>
#   data_dir  where the compose file's clients read their bets (.data)
#   clients   how many agency files are needed
#   gendata   the data generator: its binary (target/.../release/gendata), or where
#             there is no such file, a Docker image whose entrypoint is gendata
#             (tp0-gendata:latest, from client/Dockerfile's target gendata)
#
# Each missing file comes, in order, from
#   1. <data_dir>/dataset.zip (the course's archive: agency-N.csv at its top level
#      or in a folder), unpacked with unzip or, without it, python3 -m zipfile;
#   2. gendata: a deterministic data set (GEN_BETS bets per agency [10000],
#      seed GEN_SEED [7574]); what it prints (the winners) is kept in
#      <data_dir>/generated.txt. The image runs as the calling user, so the files
#      are the caller's.
# Files already present are never overwritten.
set -eu

usage() {
    echo "usage: $0 <data_dir> <clients> <gendata>" >&2
    exit 2
}

[ "$#" -eq 3 ] || usage
data_dir=$1
clients=$2
gendata=$3
case $clients in
    '' | *[!0-9]*) usage ;;
esac

missing() {
    i=1
    while [ "$i" -le "$clients" ]; do
        [ -f "$data_dir/agency-$i.csv" ] || return 0
        i=$((i + 1))
    done
    return 1
}

# Copies the agency-N.csv files found anywhere under $1 that $data_dir lacks.
take_missing_from() {
    i=1
    while [ "$i" -le "$clients" ]; do
        target="$data_dir/agency-$i.csv"
        if [ ! -f "$target" ]; then
            found=$(find "$1" -type f -name "agency-$i.csv" | head -n 1)
            if [ -n "$found" ]; then
                cp "$found" "$target"
                chmod 644 "$target"
                echo "prepare-data: $target from $2"
            fi
        fi
        i=$((i + 1))
    done
}

mkdir -p "$data_dir"
if ! missing; then
    echo "prepare-data: using the agency files already in $data_dir"
    exit 0
fi

scratch=$(mktemp -d "${TMPDIR:-/tmp}/tp0-data.XXXXXX")
trap 'rm -rf "$scratch"' EXIT

if [ -f "$data_dir/dataset.zip" ]; then
    mkdir "$scratch/zip"
    if command -v unzip >/dev/null 2>&1; then
        unzip -q "$data_dir/dataset.zip" -d "$scratch/zip"
    elif command -v python3 >/dev/null 2>&1; then
        python3 -m zipfile -e "$data_dir/dataset.zip" "$scratch/zip"
    else
        echo "prepare-data: cannot unpack $data_dir/dataset.zip: neither unzip nor python3 is installed" >&2
        exit 1
    fi
    take_missing_from "$scratch/zip" "$data_dir/dataset.zip"
fi

# gendata <out_dir> <agencies> <bets> <seed>, from the binary or the image.
run_gendata() {
    if [ -x "$gendata" ]; then
        "$gendata" "$@"
    else
        out=$(cd "$1" && pwd)
        shift
        # Bounded where timeout exists: a wedged engine must not hang the make that called us.
        bound=
        if command -v timeout >/dev/null 2>&1; then bound="timeout 300"; fi
        # shellcheck disable=SC2086 # $bound is empty or two words on purpose
        $bound docker run --rm --user "$(id -u):$(id -g)" --network none \
            -v "$out:/out" "$gendata" /out "$@"
    fi
}

if missing; then
    if [ ! -x "$gendata" ] && ! docker image inspect "$gendata" >/dev/null 2>&1; then
        echo "prepare-data: agency files are missing in $data_dir and there is no gendata binary or image '$gendata' (make docker-image builds it)" >&2
        exit 1
    fi
    mkdir "$scratch/gen"
    run_gendata "$scratch/gen" "$clients" "${GEN_BETS:-10000}" "${GEN_SEED:-7574}" >"$scratch/gen.txt"
    cp "$scratch/gen.txt" "$data_dir/generated.txt"
    take_missing_from "$scratch/gen" "gendata (seed ${GEN_SEED:-7574}; winners in $data_dir/generated.txt)"
fi

if missing; then
    echo "prepare-data: still missing agency files in $data_dir" >&2
    exit 1
fi
